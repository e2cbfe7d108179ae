//! Starting and stopping a lab pool: listeners per host, TLS, state persistence.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::{Db, rs};
use crate::error::LabPoolError;
use crate::http::{self, AppState};
use crate::inventory::Inventory;
use crate::pool::{Settings, Shared};

/// Lab pool configuration (the CLI flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Address of the master's listener (`127.0.0.1:0` picks a free port). Member hosts
    /// listen on the same IP with ports of their own.
    pub listen: SocketAddr,
    /// Accepted user name (default `root`).
    pub username: String,
    /// Accepted password (default `labpool`).
    pub password: String,
    /// Inventory (default: [`Inventory::default_pool`]).
    pub inventory: Option<Inventory>,
    /// Simulated guest boot time in seconds (default 0.2).
    pub boot_seconds: f64,
    /// Latency added to every RPC call in milliseconds.
    pub latency_ms: u64,
    /// Persist the pool here and reload it on start.
    pub state_file: Option<PathBuf>,
    /// Serve HTTPS with a generated certificate.
    pub tls: bool,
    /// Where to write the generated certificate (PEM).
    pub cert_out: Option<PathBuf>,
    /// Delay before a failed login is answered (XAPI waits 5 s; default 0).
    pub auth_failure_delay_ms: u64,
    /// `VM.sysprep`: simulated XAPI version (`--sysprep-mode`) and timings.
    pub sysprep: crate::api::sysprep::SysprepConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "root".into(),
            password: "labpool".into(),
            inventory: None,
            boot_seconds: 0.2,
            latency_ms: 0,
            state_file: None,
            tls: false,
            cert_out: None,
            auth_failure_delay_ms: 0,
            sysprep: Default::default(),
        }
    }
}

/// Entry point of the library API.
pub struct LabPool;

impl LabPool {
    /// Starts a lab pool on the current tokio runtime.
    pub async fn start(cfg: Config) -> Result<RunningPool, LabPoolError> {
        start(cfg).await
    }
}

/// A running lab pool. Dropping it stops the listeners.
pub struct RunningPool {
    base_url: String,
    host_urls: Vec<String>,
    cert_pem: Option<String>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    state_file: Option<PathBuf>,
    username: String,
    password: String,
}

impl RunningPool {
    /// The master's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every host's URL, in listener order (the master's is `base_url`).
    pub fn host_urls(&self) -> &[String] {
        &self.host_urls
    }

    /// A URL of a pool member (not the master), for `HOST_IS_SLAVE` tests.
    pub fn member_url(&self) -> Option<String> {
        let master = self.master_address();
        self.host_urls
            .iter()
            .find(|u| !u.ends_with(&master))
            .cloned()
    }

    /// The current master's address (`127.0.0.1:port`).
    pub fn master_address(&self) -> String {
        let db = self.shared.lock_db();
        db.all("pool")
            .next()
            .and_then(|(_, p)| db.get("host", rs(p, "master")).ok())
            .map(|h| rs(h, "address").to_string())
            .unwrap_or_default()
    }

    /// The `/labpool/` admin base URL.
    pub fn admin_url(&self) -> String {
        format!("{}/labpool", self.base_url)
    }

    /// The generated TLS certificate (PEM) with `tls`.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Accepted user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Accepted password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Per-method call counts.
    pub fn call_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.counts()
    }

    /// Resets the call counts.
    pub fn reset_call_counts(&self) {
        self.shared.reset_counts()
    }

    /// Stops the listeners and saves the state file.
    pub async fn shutdown(mut self) {
        self.stop_now();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        save_state(&self.shared, self.state_file.as_deref());
    }

    fn stop_now(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for RunningPool {
    fn drop(&mut self) {
        self.stop_now();
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn load_state(path: &std::path::Path) -> Result<Option<Db>, LabPoolError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(path).map_err(|e| LabPoolError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| LabPoolError::State {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

fn save_state(shared: &Shared, path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    let text = {
        let db = shared.lock_db();
        serde_json::to_vec(&*db)
    };
    match text {
        Ok(t) => {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, t)
                .and_then(|_| std::fs::rename(&tmp, path))
                .is_err()
            {
                tracing::warn!(path = %path.display(), "cannot write the state file");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot serialise the state"),
    }
}

/// Rebuilds the pool from its inventory (admin reset).
pub fn reset(shared: &Arc<Shared>) {
    let db = shared.inventory.build();
    shared.replace_db(db);
    shared.reset_counts();
    *shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = Default::default();
}

fn tls_setup(cfg: &Config) -> Result<(tokio_rustls::TlsAcceptor, String), LabPoolError> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| LabPoolError::Tls(e.to_string()))?;
    let cert_pem = ck.cert.pem();
    let key_der = ck.signing_key.serialize_der();
    if let Some(p) = &cfg.cert_out {
        std::fs::write(p, &cert_pem)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = vec![ck.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LabPoolError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| LabPoolError::Tls(e.to_string()))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(server)), cert_pem))
}

async fn start(cfg: Config) -> Result<RunningPool, LabPoolError> {
    let inventory = cfg
        .inventory
        .clone()
        .unwrap_or_else(Inventory::default_pool);
    inventory.validate().map_err(|m| LabPoolError::Inventory {
        path: "<inventory>".into(),
        message: m,
    })?;
    let loaded = match &cfg.state_file {
        Some(p) => load_state(p)?,
        None => None,
    };
    let db = match loaded {
        Some(db) => db,
        None => inventory.build(),
    };
    let settings = Settings {
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        boot_seconds: cfg.boot_seconds,
        latency_ms: cfg.latency_ms,
        auth_failure_delay_ms: cfg.auth_failure_delay_ms,
        sysprep: cfg.sysprep.clone(),
    };
    let shared = Shared::new(db, settings, inventory);
    let (tls, cert_pem) = if cfg.tls {
        let (a, p) = tls_setup(&cfg)?;
        (Some(a), Some(p))
    } else {
        (None, None)
    };
    let scheme = if cfg.tls { "https" } else { "http" };
    let n_hosts = crate::pool::host_order(&shared.lock_db()).len();
    // Bind: the master's listener on cfg.listen, the members on the same IP.
    let master_ref = {
        let db = shared.lock_db();
        db.all("pool")
            .next()
            .map(|(_, p)| rs(p, "master").to_string())
            .unwrap_or_default()
    };
    let order = crate::pool::host_order(&shared.lock_db());
    let master_idx = order.iter().position(|h| *h == master_ref).unwrap_or(0);
    let mut listeners = Vec::with_capacity(n_hosts);
    let mut addrs = vec![String::new(); n_hosts];
    for (i, slot) in addrs.iter_mut().enumerate() {
        let addr = if i == master_idx {
            cfg.listen
        } else {
            SocketAddr::new(cfg.listen.ip(), 0)
        };
        let l = http::bind(addr).await.map_err(|e| LabPoolError::Bind {
            addr: addr.to_string(),
            source: e,
        })?;
        *slot = l.local_addr()?.to_string();
        listeners.push(l);
    }
    *shared.addresses.lock().unwrap_or_else(|e| e.into_inner()) = addrs.clone();
    shared.assign_addresses();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let app = http::router(AppState {
            shared: shared.clone(),
            host_index: i,
            scheme,
        });
        tasks.push(tokio::spawn(http::serve(
            l,
            app,
            tls.clone(),
            stop_rx.clone(),
        )));
    }
    // Guests of running VMs restored from a state file boot again.
    let pending: Vec<(String, u64)> = {
        let mut db = shared.lock_db();
        let running: Vec<String> = db
            .all("VM")
            .filter(|(_, v)| {
                rs(v, "power_state") == "Running" && !crate::db::rb(v, "is_control_domain")
            })
            .map(|(r, _)| r.clone())
            .collect();
        running
            .into_iter()
            .map(|vm| {
                let b = crate::guest::begin_boot(&mut db, &vm);
                (vm, b)
            })
            .collect()
    };
    for (vm, b) in pending {
        crate::guest::schedule_boot(shared.clone(), vm, b);
    }
    if let Some(path) = cfg.state_file.clone() {
        let sh = shared.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = u64::MAX;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => { save_state(&sh, Some(&path)); return; }
                }
                let g = sh.lock_db().generation;
                if g != last {
                    save_state(&sh, Some(&path));
                    last = g;
                }
            }
        }));
    }
    let host_urls: Vec<String> = addrs.iter().map(|a| format!("{scheme}://{a}")).collect();
    Ok(RunningPool {
        base_url: host_urls[master_idx].clone(),
        host_urls,
        cert_pem,
        shared,
        stop: stop_tx,
        tasks,
        state_file: cfg.state_file,
        username: cfg.username,
        password: cfg.password,
    })
}
