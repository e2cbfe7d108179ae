//! Shared helpers: start the in-process lab pool, build clients, drive its admin API.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use xapi::{Client, Config, RetryPolicy, TlsOptions};

pub const USER: &str = "root";
pub const PASSWORD: &str = "labpool";
pub const LINUX_TEMPLATE: &str = "labpool Ubuntu 24.04 cloud-init";
pub const DEFAULT_TEMPLATE: &str = "Debian Bookworm 12";
pub const WINDOWS_TEMPLATE: &str = "labpool Windows Server 2022 cloudbase-init";
pub const GIB: i64 = 1 << 30;
pub const MIB: i64 = 1 << 20;

/// A running in-process lab pool.
pub struct Lab {
    pub pool: labpool::RunningPool,
    pub url: String,
    admin: reqwest::Client,
}

impl Lab {
    /// Starts a plain-HTTP lab pool with a short simulated boot time.
    pub async fn start() -> Lab {
        let cfg = labpool::Config {
            boot_seconds: 0.2,
            ..labpool::Config::default()
        };
        let pool = labpool::LabPool::start(cfg).await.expect("lab pool starts");
        let url = pool.base_url().to_string();
        Lab {
            pool,
            url,
            admin: reqwest::Client::new(),
        }
    }

    /// Starts a lab pool that simulates the given `VM.sysprep` version.
    pub async fn start_with_sysprep(mode: labpool::api::sysprep::SysprepMode) -> Lab {
        let cfg = labpool::Config {
            boot_seconds: 0.2,
            sysprep: labpool::api::sysprep::SysprepConfig {
                mode,
                ..Default::default()
            },
            ..labpool::Config::default()
        };
        let pool = labpool::LabPool::start(cfg).await.expect("lab pool starts");
        let url = pool.base_url().to_string();
        Lab {
            pool,
            url,
            admin: reqwest::Client::new(),
        }
    }

    /// Starts an HTTPS lab pool; returns it with its certificate PEM.
    pub async fn start_tls() -> (Lab, String) {
        let cfg = labpool::Config {
            boot_seconds: 0.2,
            tls: true,
            ..labpool::Config::default()
        };
        let pool = labpool::LabPool::start(cfg).await.expect("lab pool starts");
        let url = pool.base_url().to_string();
        let pem = pool
            .cert_pem()
            .expect("TLS lab pool has a certificate")
            .to_string();
        let admin = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        (Lab { pool, url, admin }, pem)
    }

    /// Base URL of a member (non-master) host.
    pub fn member_url(&self) -> String {
        self.pool.member_url().expect("the lab pool has members")
    }

    /// The URL of the host with this name label (from `/labpool/hosts`).
    pub async fn host_url(&self, name: &str) -> String {
        let hosts = self.admin_get("hosts").await;
        hosts
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name_label"] == name)
            .map(|h| h["url"].as_str().unwrap().to_string())
            .unwrap()
    }

    pub fn config(&self) -> Config {
        Config::new(&self.url, USER, PASSWORD)
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
            })
    }

    pub fn client(&self) -> Client {
        Client::new(self.config()).unwrap()
    }

    pub fn client_with_tls(&self, tls: TlsOptions) -> Client {
        Client::new(self.config().with_tls(tls)).unwrap()
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/labpool/{}", self.url.trim_end_matches('/'), path)
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let r = self.admin.get(self.admin_url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .admin
            .post(self.admin_url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Installs fault rules (replacing earlier ones).
    pub async fn faults(&self, faults: Value) {
        self.admin_post("faults", faults).await;
    }

    pub async fn clear_faults(&self) {
        let r = self
            .admin
            .delete(self.admin_url("faults"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    pub async fn expire_sessions(&self) {
        self.admin_post("sessions/expire", json!({})).await;
    }

    /// Makes the host with this name label the master.
    pub async fn move_master(&self, host_name: &str) {
        self.admin_post("master", json!({ "host": host_name }))
            .await;
    }

    /// Per-method call counts seen by the lab pool.
    pub async fn counts(&self) -> BTreeMap<String, u64> {
        let v = self.admin_get("counts").await;
        serde_json::from_value(v).unwrap_or_default()
    }

    pub async fn reset_counts(&self) {
        self.admin_post("counts/reset", json!({})).await;
    }
}

/// The reference of a template by name.
pub async fn template(c: &Client, name: &str) -> xapi::VmRef {
    let refs = c.vm().get_by_name_label(name).await.unwrap();
    assert_eq!(refs.len(), 1, "template {name:?}");
    refs[0].clone()
}

/// A provisioned, halted VM cloned from the Linux template.
pub async fn new_vm(c: &Client, name: &str) -> xapi::VmRef {
    let tpl = template(c, LINUX_TEMPLATE).await;
    let vm = c.vm().clone(&tpl, name).await.unwrap();
    c.vm().provision(&vm).await.unwrap();
    vm
}
