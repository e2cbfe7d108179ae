//! The pool a case runs against: the lab pool (`xapi-labpool`, started per
//! case on a free loopback port) or, when `XENAPI_URL` is set, a real pool.
//!
//! Lab pool contract relied on (shared/DESIGN.md): `xapi-labpool --listen
//! 127.0.0.1:0` prints its base URL as the first stdout line; credentials are
//! `root` / `labpool` unless `--username` / `--password` are given; an admin
//! API under `/labpool/` dumps every object as JSON. Against a real pool only
//! the `/labpool/` checks are skipped.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value as Json;

use crate::HarnessError;
use crate::cli::workspace_root;
use crate::provider::target_debug_dir;

/// The admin endpoint that dumps every object of the lab pool.
pub const DUMP_PATH: &str = "/labpool/dump";

/// Credentials the harness starts the lab pool with.
pub const LAB_USERNAME: &str = "root";
pub const LAB_PASSWORD: &str = "labpool";

/// The pool of one test case.
pub enum LabPool {
    /// A lab pool process owned by this value (killed on drop).
    Lab { url: String, child: Child },
    /// A real pool from the environment; admin checks are skipped.
    Real {
        url: String,
        username: String,
        password: String,
        /// Further `XENAPI_*` / `TF_VAR_*` settings passed through unchanged.
        extra: Vec<(String, String)>,
    },
}

/// The objects present in the pool at one moment: `class/uuid` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub objects: BTreeSet<String>,
}

impl LabPool {
    /// A real pool when `XENAPI_URL` is set, otherwise a fresh lab pool.
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
        Self::start_lab(&[])
    }

    /// Starts `xapi-labpool` with extra arguments (e.g. `--inventory FILE`).
    pub fn start_lab(extra_args: &[&str]) -> Result<LabPool, HarnessError> {
        let binary = labpool_binary()?;
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--username", LAB_USERNAME, "--password", LAB_PASSWORD])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: binary.to_path_buf(),
                source,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| HarnessError::LabPool("no stdout pipe".to_string()))?;
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let read = reader.read_line(&mut first);
        let url = first.trim().to_string();
        if read.is_err() || !(url.starts_with("http://") || url.starts_with("https://")) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HarnessError::LabPool(format!(
                "xapi-labpool did not print its base URL first (got {url:?})"
            )));
        }
        // Keep draining stdout so the lab pool never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while matches!(reader.read_line(&mut sink), Ok(n) if n > 0) {
                sink.clear();
            }
        });
        Ok(LabPool::Lab { url, child })
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
            LabPool::Lab { url, .. } => vec![
                ("XENAPI_URL".to_string(), url.clone()),
                ("XENAPI_USERNAME".to_string(), LAB_USERNAME.to_string()),
                ("XENAPI_PASSWORD".to_string(), LAB_PASSWORD.to_string()),
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
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| HarnessError::LabPool(e.to_string()))?;
        let response = client
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

    /// Every object in the lab pool (empty against a real pool).
    pub fn snapshot(&self) -> Result<Snapshot, HarnessError> {
        Ok(match self.admin_get(DUMP_PATH)? {
            Some(dump) => snapshot_of_dump(&dump),
            None => Snapshot::default(),
        })
    }

    /// Objects present now that were not in `baseline` (empty against a real pool).
    pub fn leftovers(&self, baseline: &Snapshot) -> Result<Vec<String>, HarnessError> {
        if !self.is_lab() {
            return Ok(Vec::new());
        }
        let now = self.snapshot()?;
        Ok(now.objects.difference(&baseline.objects).cloned().collect())
    }
}

impl Drop for LabPool {
    fn drop(&mut self) {
        if let LabPool::Lab { child, .. } = self {
            // The process may already be gone; nothing else to do then.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// The lab pool binary, built once per test process (or `TF_ACC_LABPOOL_BINARY`).
pub fn labpool_binary() -> Result<&'static std::path::Path, HarnessError> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = BINARY.get_or_init(|| {
        if let Some(explicit) = std::env::var_os("TF_ACC_LABPOOL_BINARY") {
            return Ok(PathBuf::from(explicit));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(&cargo)
            .current_dir(workspace_root())
            .args(["build", "--quiet", "-p", "labpool", "--bin", "xapi-labpool"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", PathBuf::from(&cargo).display()))?;
        if !output.status.success() {
            return Err(format!(
                "cargo build -p labpool failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(target_debug_dir().join("xapi-labpool"))
    });
    match result {
        Ok(path) => Ok(path.as_path()),
        Err(message) => Err(HarnessError::LabPool(message.clone())),
    }
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
