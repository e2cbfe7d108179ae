//! Shared by the pool-layer and data-source tests: an in-process lab pool,
//! connection settings for it, and its `/labpool/` admin API over HTTP.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use labpool::{Config, LabPool, RunningPool};
use terraform_provider_xenapi::pool::{Pool, PoolOptions};
use terraform_provider_xenapi::provider_config::{
    ConnectionSettings, Password, ProviderConfig, TlsVerification,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts a lab pool with the default inventory.
pub async fn start_lab() -> RunningPool {
    LabPool::start(Config::default())
        .await
        .expect("lab pool starts")
}

/// Connection settings for the lab pool.
pub fn settings(lab: &RunningPool) -> ConnectionSettings {
    ConnectionSettings {
        url: url::Url::parse(lab.base_url()).expect("lab URL"),
        username: lab.username().to_string(),
        password: Password::new(lab.password()),
        tls: TlsVerification::SystemRoots,
    }
}

/// A provider configuration pointing at the lab pool.
pub fn provider_config(lab: &RunningPool) -> ProviderConfig {
    let s = settings(lab);
    ProviderConfig {
        url: Some(s.url),
        username: Some(s.username),
        password: Some(s.password),
        ..ProviderConfig::default()
    }
}

/// A private pool (not the process registry) with these options.
pub fn private_pool(lab: &RunningPool, options: PoolOptions) -> Arc<Pool> {
    Pool::new(settings(lab), options)
}

/// `GET` on the admin API, parsed as JSON.
pub async fn admin_get(lab: &RunningPool, path: &str) -> serde_json::Value {
    admin_request(lab, "GET", path).await
}

/// `POST` on the admin API with an empty body.
pub async fn admin_post(lab: &RunningPool, path: &str) -> serde_json::Value {
    admin_request(lab, "POST", path).await
}

async fn admin_request(lab: &RunningPool, method: &str, path: &str) -> serde_json::Value {
    let url = url::Url::parse(lab.base_url()).expect("lab URL");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    );
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("admin connect");
    let request = format!(
        "{method} /labpool/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("admin write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("admin read");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "admin {path}: {head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).expect("admin JSON")
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Call counts per method from `GET /labpool/counts`.
pub async fn counts(lab: &RunningPool) -> BTreeMap<String, u64> {
    let v = admin_get(lab, "counts").await;
    serde_json::from_value(v).expect("counts map")
}

/// Resets the counts (`POST /labpool/counts/reset`).
pub async fn reset_counts(lab: &RunningPool) {
    admin_post(lab, "counts/reset").await;
}

/// Total calls, without logins/logouts (session housekeeping).
pub fn total_without_session(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(m, _)| !m.starts_with("session."))
        .map(|(_, n)| n)
        .sum()
}
