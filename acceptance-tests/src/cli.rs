//! Discovery of the Terraform CLIs the acceptance tests run with.
//!
//! The order mirrors terraform-plugin-testing's `DiscoverConfig`, extended to a
//! matrix: `TF_ACC_TERRAFORM_PATH` (one path, or several separated by `:`)
//! selects exactly those binaries; otherwise every CLI found among
//! `.tools/bin/terraform-1.15` (installed by `scripts/install-tools`) and
//! `terraform` on `PATH` is used, one entry per distinct version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::HarnessError;

/// A Terraform executable and the version it reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerraformCli {
    /// The executable (absolute path).
    pub path: PathBuf,
    /// `major.minor.patch` as printed by `terraform version -json`.
    pub version: Version,
}

impl fmt::Display for TerraformCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Terraform v{} ({})", self.version, self.path.display())
    }
}

/// A Terraform release number (pre-release suffixes are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// Parses `1.15.5`, `v1.15.5` or `1.16.0-alpha1`.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Where the CLIs were looked for, for error messages.
#[derive(Debug, Default)]
pub struct Discovery {
    pub clis: Vec<TerraformCli>,
    /// Candidates that exist but failed to report a version, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
    /// True when `TF_ACC_TERRAFORM_PATH` chose the set.
    pub explicit: bool,
}

/// The workspace root (the directory holding the virtual `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The wrapper that `scripts/install-tools` writes for Terraform 1.15.
pub fn bundled_terraform_115() -> PathBuf {
    workspace_root().join(".tools/bin/terraform-1.15")
}

/// Finds `name` on `PATH` like a shell would.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Asks an executable for its version with `version -json`.
pub fn probe(path: &Path) -> Result<TerraformCli, HarnessError> {
    let output = Command::new(path)
        .args(["version", "-json"])
        // An absent or broken CLI configuration must not break the probe.
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            program: path.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(HarnessError::Discovery(format!(
            "{} version -json exited with {}: {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| HarnessError::Discovery(format!("{} version -json: {e}", path.display())))?;
    let text = json
        .get("terraform_version")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            HarnessError::Discovery(format!(
                "{} version -json has no terraform_version",
                path.display()
            ))
        })?;
    let version = Version::parse(text).ok_or_else(|| {
        HarnessError::Discovery(format!("{}: unparsable version {text:?}", path.display()))
    })?;
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(TerraformCli { path, version })
}

/// Discovers the CLI matrix from the environment (see the module docs).
pub fn discover() -> Discovery {
    let explicit = std::env::var("TF_ACC_TERRAFORM_PATH")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(list) = &explicit {
        candidates.extend(list.split(':').filter(|p| !p.is_empty()).map(PathBuf::from));
    } else {
        candidates.push(bundled_terraform_115());
        if let Some(on_path) = which("terraform") {
            candidates.push(on_path);
        }
    }
    discover_from(&candidates, explicit.is_some())
}

/// Probes the given candidates; with `explicit` a missing file is an error
/// entry, otherwise missing files are silently absent.
pub fn discover_from(candidates: &[PathBuf], explicit: bool) -> Discovery {
    let mut discovery = Discovery {
        explicit,
        ..Discovery::default()
    };
    for candidate in candidates {
        if !candidate.exists() {
            if explicit {
                discovery
                    .rejected
                    .push((candidate.clone(), "does not exist".to_string()));
            }
            continue;
        }
        match probe(candidate) {
            Ok(cli) => {
                let duplicate = discovery
                    .clis
                    .iter()
                    .any(|known| known.version == cli.version || known.path == cli.path);
                if !duplicate {
                    discovery.clis.push(cli);
                }
            }
            Err(e) => discovery.rejected.push((candidate.clone(), e.to_string())),
        }
    }
    discovery.clis.sort_by_key(|c| std::cmp::Reverse(c.version));
    discovery
}

/// The CLI matrix for a test run, computed once per test binary.
///
/// Fails (rather than silently running nothing) when no CLI is usable, or when
/// the default discovery did not find Terraform 1.15 (run `scripts/install-tools`).
pub fn matrix() -> Result<&'static [TerraformCli], HarnessError> {
    static MATRIX: std::sync::OnceLock<Result<Vec<TerraformCli>, String>> =
        std::sync::OnceLock::new();
    let result = MATRIX.get_or_init(|| {
        let discovery = discover();
        let rejected: Vec<String> = discovery
            .rejected
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect();
        if discovery.explicit && !discovery.rejected.is_empty() {
            return Err(format!(
                "TF_ACC_TERRAFORM_PATH names unusable CLIs: {}",
                rejected.join("; ")
            ));
        }
        if discovery.clis.is_empty() {
            return Err(format!(
                "no Terraform CLI found (run scripts/install-tools, or set TF_ACC_TERRAFORM_PATH){}",
                if rejected.is_empty() {
                    String::new()
                } else {
                    format!("; rejected: {}", rejected.join("; "))
                }
            ));
        }
        if !discovery.explicit && !discovery.clis.iter().any(|c| c.version.at_least(1, 15)) {
            return Err(format!(
                "Terraform 1.15 not found at {} (run scripts/install-tools); found: {}",
                bundled_terraform_115().display(),
                discovery
                    .clis
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        eprintln!(
            "acceptance-tests: Terraform CLI matrix: {}",
            discovery
                .clis
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(discovery.clis)
    });
    match result {
        Ok(clis) => Ok(clis.as_slice()),
        Err(message) => Err(HarnessError::Discovery(message.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            Version::parse("1.15.5"),
            Some(Version {
                major: 1,
                minor: 15,
                patch: 5
            })
        );
        assert_eq!(Version::parse("v1.11.4").map(|v| v.minor), Some(11));
        assert_eq!(
            Version::parse("1.16.0-alpha20260101").map(|v| v.to_string()),
            Some("1.16.0".to_string())
        );
        assert_eq!(Version::parse("1.15"), None);
        assert_eq!(Version::parse("1.15.5.1"), None);
        assert_eq!(Version::parse("one.two.three"), None);
    }

    #[test]
    fn version_ordering() {
        let a = Version::parse("1.11.4").expect("valid version");
        let b = Version::parse("1.15.5").expect("valid version");
        assert!(a < b);
        assert!(b.at_least(1, 15));
        assert!(!a.at_least(1, 12));
    }

    #[test]
    fn explicit_missing_binary_is_rejected() {
        let d = discover_from(&[PathBuf::from("/nonexistent/terraform")], true);
        assert!(d.clis.is_empty());
        assert_eq!(d.rejected.len(), 1);
        let d = discover_from(&[PathBuf::from("/nonexistent/terraform")], false);
        assert!(d.rejected.is_empty());
    }

    #[test]
    fn a_binary_that_is_not_terraform_is_rejected() {
        let d = discover_from(&[PathBuf::from("/bin/false")], true);
        assert!(d.clis.is_empty());
        assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
    }
}
