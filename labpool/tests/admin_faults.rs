//! The /labpool/ admin API, fault injection, TLS and the state file.
mod common;

use std::sync::Arc;

use common::Pool;
use serde_json::json;

#[tokio::test]
async fn counts_dump_and_reset() {
    let p = Pool::start().await;
    p.admin_post("counts/reset", json!({})).await;
    p.ok("VM.get_all", json!([])).await;
    p.ok("VM.get_all", json!([])).await;
    let counts = p.admin_get("counts").await;
    assert_eq!(counts["VM.get_all"], 2);
    assert_eq!(p.pool.call_counts()["VM.get_all"], 2);
    let dump = p.admin_get("objects").await;
    assert!(dump["VM"].as_object().unwrap().len() > 5);
    assert!(dump.get("session").is_none(), "sessions are secrets");
    let c = p.clone_of("Debian Bookworm 12", "temp").await;
    p.admin_post("reset", json!({})).await;
    // the pool is rebuilt: sessions are gone, the clone too
    assert_eq!(
        p.err("VM.get_record", json!([c])).await,
        vec!["SESSION_INVALID", p.session.as_str()]
    );
    let s = p
        .call_raw("session.login_with_password", json!(["root", "labpool"]))
        .await
        .unwrap();
    let vms = p
        .call_raw("VM.get_by_name_label", json!([s, "temp"]))
        .await
        .unwrap();
    assert!(vms.as_array().unwrap().is_empty());
    assert!(p.admin_get("counts").await.get("VM.get_all").is_none());
}

#[tokio::test]
async fn injected_errors_and_latency() {
    let p = Pool::start().await;
    p.admin_post(
        "faults/rules",
        json!({"method": "VIF.create", "error": "INTERNAL_ERROR", "params": ["injected"], "count": 1}),
    )
    .await;
    let vm = p.linux_vm("f").await;
    let net = p.network0().await;
    assert_eq!(
        p.vif(&vm, "0", "", &net).await.unwrap_err(),
        vec!["INTERNAL_ERROR", "injected"]
    );
    p.vif(&vm, "0", "", &net).await.unwrap();
    p.admin_post("faults", json!({"latency_ms": 150})).await;
    let t0 = std::time::Instant::now();
    p.ok("VM.get_all", json!([])).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(140));
    p.http
        .delete(format!("{}/labpool/faults", p.url()))
        .send()
        .await
        .unwrap();
    let f = p.admin_get("faults").await;
    assert_eq!(f["latency_ms"], 0);
}

#[tokio::test]
async fn dropped_connections_before_and_after() {
    let p = Pool::start().await;
    p.admin_post(
        "faults/rules",
        json!({"method": "VM.get_all", "drop": "before", "count": 1}),
    )
    .await;
    let body = json!({"jsonrpc":"2.0","method":"VM.get_all","params":[p.session],"id":1});
    let r = p
        .http
        .post(format!("{}/jsonrpc", p.url()))
        .json(&body)
        .send()
        .await;
    assert!(r.is_err(), "connection dropped");
    assert!(p.call("VM.get_all", json!([])).await.is_ok());
    // after: the call ran, the answer was lost
    p.admin_post(
        "faults/rules",
        json!({"method": "VM.clone", "drop": "after", "count": 1}),
    )
    .await;
    let t = p.by_name("VM", "Debian Bookworm 12").await;
    let body =
        json!({"jsonrpc":"2.0","method":"VM.clone","params":[p.session, t, "lost-answer"],"id":1});
    let r = p
        .http
        .post(format!("{}/jsonrpc", p.url()))
        .json(&body)
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(
        p.ok("VM.get_by_name_label", json!(["lost-answer"]))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn expire_sessions_and_move_master() {
    let p = Pool::start().await;
    let r = p.admin_post("sessions/expire", json!({})).await;
    assert!(r["expired"].as_u64().unwrap() >= 1);
    assert_eq!(
        p.err("VM.get_all", json!([])).await,
        vec!["SESSION_INVALID", p.session.as_str()]
    );
    let hosts = p.admin_get("hosts").await;
    let second = hosts[1].clone();
    let r = p
        .admin_post("master", json!({"host": second["name_label"]}))
        .await;
    assert_eq!(r["address"], second["address"]);
    // the old master now refuses with the new master's address
    let e = p
        .call_raw("session.login_with_password", json!(["root", "labpool"]))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        vec![
            "HOST_IS_SLAVE".to_string(),
            second["address"].as_str().unwrap().to_string()
        ]
    );
    let new_url = second["url"].as_str().unwrap();
    assert!(
        p.call_at(
            new_url,
            "session.login_with_password",
            json!(["root", "labpool"])
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn tls_with_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let pool = labpool::LabPool::start(labpool::Config {
        tls: true,
        cert_out: Some(cert.clone()),
        ..labpool::Config::default()
    })
    .await
    .unwrap();
    assert!(pool.base_url().starts_with("https://127.0.0.1:"));
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(Some(pem.as_str()), pool.cert_pem());
    // a TLS client trusting the written certificate can log in
    let mut roots = rustls::RootCertStore::empty();
    let der = pem_to_der(&pem);
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let addr = pool.base_url().trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","labpool"],"id":1}"#;
    let req = format!(
        "POST /jsonrpc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).await.ok();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"result\":\"OpaqueRef:"), "{out}");
    pool.shutdown().await;
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in b64.bytes().filter(|c| *c != b'=') {
        buf = (buf << 6) | T.iter().position(|t| *t == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test]
async fn state_file_persists_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let cfg = labpool::Config {
        state_file: Some(state.clone()),
        ..labpool::Config::default()
    };
    let p = Pool::start_with(cfg.clone()).await;
    let vm = p.clone_of("Debian Bookworm 12", "persisted").await;
    let Pool { pool, .. } = p;
    pool.shutdown().await;
    let p2 = Pool::start_with(cfg).await;
    assert_eq!(p2.by_name("VM", "persisted").await, vm);
}
