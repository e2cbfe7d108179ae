//! The pool a case runs against: the lab pool (library `labpool`, started
//! in-process per case on a free loopback port) or, when `XENAPI_URL` is set,
//! a real pool.
//!
//! The `/labpool/` admin API dumps every object (`GET /labpool/objects`); the
//! harness snapshots it before a case and after its destroy, and anything new
//! is a leftover. Against a real pool only these `/labpool/` checks are
//! skipped.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value as Json;

use crate::HarnessError;

/// The admin endpoint that dumps every object of the lab pool.
pub const DUMP_PATH: &str = "/labpool/objects";

/// Classes whose new objects are not leftovers: XAPI keeps finished tasks and
/// messages on its own schedule, whoever created them.
pub const TRANSIENT_CLASSES: &[&str] = &["task", "message", "event"];

/// Credentials the harness starts the lab pool with.
pub const LAB_USERNAME: &str = "root";
pub const LAB_PASSWORD: &str = "labpool";

/// The pool of one test case.
pub enum LabPool {
    /// A lab pool served in this process on its own runtime (stopped on drop).
    Lab {
        url: String,
        pool: Option<labpool::RunningPool>,
        runtime: tokio::runtime::Runtime,
    },
    /// A real pool from the environment; admin checks are skipped.
    Real {
        url: String,
        username: String,
        password: String,
        /// Further `XENAPI_*` / `TF_VAR_*` settings passed through unchanged.
        extra: Vec<(String, String)>,
    },
}

/// Names of pool objects a test configuration refers to. On the lab pool they
/// are the default inventory's; against a real pool they come from
/// `XENAPI_TEST_TEMPLATE`, `XENAPI_TEST_WINDOWS_TEMPLATE`, `XENAPI_TEST_NETWORK`
/// and `XENAPI_TEST_SR` (the same variables override them on the lab pool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolNames {
    /// A Linux template with cloud-init and a guest agent.
    pub template: String,
    /// A Windows template with cloudbase-init and a sysprep-capable agent.
    pub windows_template: String,
    /// A network with DHCP.
    pub network: String,
    /// A shared SR for new disks.
    pub sr: String,
}

impl PoolNames {
    /// The names for this environment (see the type's docs).
    pub fn from_env() -> PoolNames {
        let get = |key: &str, default: &str| {
            std::env::var(key)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        PoolNames {
            template: get("XENAPI_TEST_TEMPLATE", "labpool Ubuntu 24.04 cloud-init"),
            windows_template: get(
                "XENAPI_TEST_WINDOWS_TEMPLATE",
                "labpool Windows Server 2022 cloudbase-init",
            ),
            network: get(
                "XENAPI_TEST_NETWORK",
                "Pool-wide network associated with eth0",
            ),
            sr: get("XENAPI_TEST_SR", "Shared NFS storage"),
        }
    }
}

/// The objects present in the pool at one moment: `class/uuid` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub objects: BTreeSet<String>,
}

impl LabPool {
    /// A real pool when `XENAPI_URL` is set, otherwise a fresh lab pool with
    /// the default inventory.
    pub fn start() -> Result<LabPool, HarnessError> {
        if let Ok(url) = std::env::var("XENAPI_URL")
            && !url.is_empty()
        {
            let username = std::env::var("XENAPI_USERNAME").unwrap_or_default();
            let password = std::env::var("XENAPI_PASSWORD").unwrap_or_default();
            let extra = std::env::vars()
                .filter(|(k, _)| {
                    (k.starts_with("XENAPI_") || k.starts_with("TF_VAR_"))
                        && !matches!(
                            k.as_str(),
                            "XENAPI_URL" | "XENAPI_USERNAME" | "XENAPI_PASSWORD"
                        )
                })
                .collect();
            return Ok(LabPool::Real {
                url,
                username,
                password,
                extra,
            });
        }
        Self::start_lab(labpool::Config {
            username: LAB_USERNAME.to_string(),
            password: LAB_PASSWORD.to_string(),
            ..labpool::Config::default()
        })
    }

    /// Starts a lab pool in-process with `config` (e.g. another inventory or
    /// boot time). Listens on loopback only.
    pub fn start_lab(mut config: labpool::Config) -> Result<LabPool, HarnessError> {
        if !config.listen.ip().is_loopback() {
            config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("labpool")
            .enable_all()
            .build()
            .map_err(|e| HarnessError::LabPool(format!("tokio runtime: {e}")))?;
        let pool = runtime
            .block_on(labpool::LabPool::start(config))
            .map_err(|e| HarnessError::LabPool(e.to_string()))?;
        Ok(LabPool::Lab {
            url: pool.base_url().to_string(),
            pool: Some(pool),
            runtime,
        })
    }

    /// The running lab pool (call counters, member URLs...); `None` for a real pool.
    pub fn running(&self) -> Option<&labpool::RunningPool> {
        match self {
            LabPool::Lab { pool, .. } => pool.as_ref(),
            LabPool::Real { .. } => None,
        }
    }

    /// The base URL of the pool master.
    pub fn url(&self) -> &str {
        match self {
            LabPool::Lab { url, .. } | LabPool::Real { url, .. } => url,
        }
    }

    /// True for the lab pool (admin API available).
    pub fn is_lab(&self) -> bool {
        matches!(self, LabPool::Lab { .. })
    }

    /// The environment that points the provider at this pool.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        match self {
            LabPool::Lab { url, pool, .. } => vec![
                ("XENAPI_URL".to_string(), url.clone()),
                (
                    "XENAPI_USERNAME".to_string(),
                    pool.as_ref()
                        .map_or(LAB_USERNAME, |p| p.username())
                        .to_string(),
                ),
                (
                    "XENAPI_PASSWORD".to_string(),
                    pool.as_ref()
                        .map_or(LAB_PASSWORD, |p| p.password())
                        .to_string(),
                ),
            ],
            LabPool::Real {
                url,
                username,
                password,
                extra,
            } => {
                let mut env = vec![
                    ("XENAPI_URL".to_string(), url.clone()),
                    ("XENAPI_USERNAME".to_string(), username.clone()),
                    ("XENAPI_PASSWORD".to_string(), password.clone()),
                ];
                env.extend(extra.iter().cloned());
                env
            }
        }
    }

    /// GETs an admin endpoint (`/labpool/...`) of the lab pool as JSON.
    /// `Ok(None)` against a real pool.
    pub fn admin_get(&self, path: &str) -> Result<Option<Json>, HarnessError> {
        let LabPool::Lab { url, .. } = self else {
            return Ok(None);
        };
        let response = http_client()?
            .get(format!("{url}{path}"))
            .send()
            .map_err(|e| HarnessError::LabPool(format!("GET {path}: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .map_err(|e| HarnessError::LabPool(format!("GET {path}: {e}")))?;
        if !status.is_success() {
            return Err(HarnessError::LabPool(format!(
                "GET {path}: HTTP {status}: {body}"
            )));
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| HarnessError::LabPool(format!("GET {path}: invalid JSON: {e}")))
    }

    /// POSTs (or PUTs / DELETEs) JSON to an admin endpoint of the lab pool;
    /// `Ok(None)` against a real pool.
    pub fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Json,
    ) -> Result<Option<Json>, HarnessError> {
        let LabPool::Lab { url, .. } = self else {
            return Ok(None);
        };
        let response = http_client()?
            .request(method.clone(), format!("{url}{path}"))
            .json(body)
            .send()
            .map_err(|e| HarnessError::LabPool(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| HarnessError::LabPool(format!("{method} {path}: {e}")))?;
        if !status.is_success() {
            return Err(HarnessError::LabPool(format!(
                "{method} {path}: HTTP {status}: {text}"
            )));
        }
        if text.trim().is_empty() {
            return Ok(Some(Json::Null));
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| HarnessError::LabPool(format!("{method} {path}: invalid JSON: {e}")))
    }

    /// Appends a fault rule (`{"method": "VIF.create", "error": "...", "count": 1}`);
    /// `Ok(false)` against a real pool (the case should then skip the fault part).
    pub fn inject_fault(&self, rule: &Json) -> Result<bool, HarnessError> {
        Ok(self
            .admin_send(reqwest::Method::POST, "/labpool/faults/rules", rule)?
            .is_some())
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) -> Result<(), HarnessError> {
        self.admin_send(reqwest::Method::DELETE, "/labpool/faults", &Json::Null)
            .map(|_| ())
    }

    /// What the simulated guest of a VM read and reported
    /// (`GET /labpool/guest/<vm-uuid>`); `Ok(None)` against a real pool.
    pub fn guest(&self, vm_uuid: &str) -> Result<Option<Json>, HarnessError> {
        self.admin_get(&format!("/labpool/guest/{vm_uuid}"))
    }

    /// XAPI calls per method since the start (or the last reset);
    /// `Ok(None)` against a real pool.
    pub fn call_counts(&self) -> Result<Option<Json>, HarnessError> {
        self.admin_get("/labpool/counts")
    }

    /// Every object in the lab pool (empty against a real pool).
    pub fn snapshot(&self) -> Result<Snapshot, HarnessError> {
        Ok(match self.admin_get(DUMP_PATH)? {
            Some(dump) => snapshot_of_dump(&dump),
            None => Snapshot::default(),
        })
    }

    /// Objects present now that were not in `baseline` (empty against a real pool).
    /// Objects the pool makes for itself are not leftovers: XAPI's sysprep
    /// ISO SR (see [`pool_owned`]).
    pub fn leftovers(&self, baseline: &Snapshot) -> Result<Vec<String>, HarnessError> {
        if !self.is_lab() {
            return Ok(Vec::new());
        }
        let Some(dump) = self.admin_get(DUMP_PATH)? else {
            return Ok(Vec::new());
        };
        let now = snapshot_of_dump(&dump);
        let owned = pool_owned(&dump);
        Ok(now
            .objects
            .difference(&baseline.objects)
            .filter(|o| {
                let class = o.split('/').next().unwrap_or_default();
                !TRANSIENT_CLASSES
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(class))
                    && !owned.contains(*o)
            })
            .cloned()
            .collect())
    }
}

impl Drop for LabPool {
    fn drop(&mut self) {
        if let LabPool::Lab { pool, runtime, .. } = self
            && let Some(pool) = pool.take()
        {
            runtime.block_on(pool.shutdown());
        }
    }
}

/// A blocking HTTP client for the admin API and for tests' own XAPI calls.
///
/// The workspace builds reqwest without a built-in rustls crypto provider
/// (the XAPI client chooses its own), so the process-wide default is set to
/// aws-lc-rs here first.
pub fn http_client() -> Result<reqwest::blocking::Client, HarnessError> {
    // Fails only when a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| HarnessError::LabPool(format!("HTTP client: {e}")))
}

/// `class/uuid` of the objects XAPI creates for itself and keeps by design:
/// `VM.sysprep`'s local ISO SR `SYSPREP-<host>-<hex>`, its PBDs and the ISO
/// VDIs in it (XAPI forgets those at its next scan or restart; reference
/// xapi.md §8). The dump groups records by class, keyed by reference.
pub fn pool_owned(dump: &Json) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let table = |class: &str| {
        dump.as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(class))
                    .map(|(_, v)| v)
            })
            .and_then(Json::as_object)
    };
    let mut srs = BTreeSet::new();
    for (r, rec) in table("SR").into_iter().flatten() {
        let name = rec.get("name_label").and_then(Json::as_str).unwrap_or("");
        if name.starts_with("SYSPREP-")
            && let Some(uuid) = rec.get("uuid").and_then(Json::as_str)
        {
            srs.insert(r.clone());
            out.insert(format!("SR/{uuid}"));
        }
    }
    for class in ["PBD", "VDI"] {
        for (_, rec) in table(class).into_iter().flatten() {
            let sr = rec.get("SR").and_then(Json::as_str).unwrap_or("");
            if srs.contains(sr)
                && let Some(uuid) = rec.get("uuid").and_then(Json::as_str)
            {
                out.insert(format!("{class}/{uuid}"));
            }
        }
    }
    out
}

/// Collects `class/uuid` for every JSON object carrying a string `uuid`,
/// naming the class by the nearest enclosing object key (the dump groups
/// records by class).
pub fn snapshot_of_dump(dump: &Json) -> Snapshot {
    fn walk(class: &str, value: &Json, out: &mut BTreeSet<String>) {
        match value {
            Json::Object(map) => {
                if let Some(uuid) = map.get("uuid").and_then(Json::as_str) {
                    out.insert(format!("{class}/{uuid}"));
                }
                for (key, child) in map {
                    let child_class = if child.is_object() || child.is_array() {
                        // Records keyed by reference keep their class name.
                        if key.starts_with("OpaqueRef:") {
                            class
                        } else {
                            key.as_str()
                        }
                    } else {
                        continue;
                    };
                    walk(child_class, child, out);
                }
            }
            Json::Array(list) => {
                for child in list {
                    walk(class, child, out);
                }
            }
            _ => {}
        }
    }
    let mut objects = BTreeSet::new();
    walk("", dump, &mut objects);
    Snapshot { objects }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_names_objects_by_class() {
        let dump = json!({
            "VM": {"OpaqueRef:1": {"uuid": "u1", "VIFs": ["OpaqueRef:9"]},
                   "OpaqueRef:2": {"uuid": "u2"}},
            "VIF": [{"uuid": "u9", "MAC": "02:00:00:00:00:01"}],
            "counts": {"VM.start": 3}
        });
        let s = snapshot_of_dump(&dump);
        let got: Vec<_> = s.objects.iter().cloned().collect();
        assert_eq!(got, vec!["VIF/u9", "VM/u1", "VM/u2"]);
    }

    #[test]
    fn leftovers_are_the_difference() {
        let before = snapshot_of_dump(&json!({"VM": [{"uuid": "a"}]}));
        let after = snapshot_of_dump(&json!({"VM": [{"uuid": "a"}, {"uuid": "b"}]}));
        let diff: Vec<_> = after.objects.difference(&before.objects).cloned().collect();
        assert_eq!(diff, vec!["VM/b"]);
    }
}

#[cfg(test)]
mod pool_owned_tests {
    use super::*;

    #[test]
    fn sysprep_sr_its_pbds_and_isos_are_pool_owned() {
        let dump = serde_json::json!({
            "SR": {
                "OpaqueRef:s1": {"uuid": "sr-1", "name_label": "SYSPREP-host-1-ab12"},
                "OpaqueRef:s2": {"uuid": "sr-2", "name_label": "Shared NFS storage"}
            },
            "PBD": {
                "OpaqueRef:p1": {"uuid": "pbd-1", "SR": "OpaqueRef:s1"},
                "OpaqueRef:p2": {"uuid": "pbd-2", "SR": "OpaqueRef:s2"}
            },
            "VDI": {
                "OpaqueRef:v1": {"uuid": "vdi-1", "SR": "OpaqueRef:s1"},
                "OpaqueRef:v2": {"uuid": "vdi-2", "SR": "OpaqueRef:s2"}
            }
        });
        let owned = pool_owned(&dump);
        let want: BTreeSet<String> = ["SR/sr-1", "PBD/pbd-1", "VDI/vdi-1"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(owned, want);
        assert!(pool_owned(&serde_json::json!({})).is_empty());
    }
}
