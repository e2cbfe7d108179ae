//! The provider under test: where its binary is, and how Terraform is pointed
//! at it (a CLI configuration with `dev_overrides`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::HarnessError;
use crate::cli::workspace_root;

/// The provider's full source address (as Terraform resolves `xenapi/xenapi`).
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/xenapi/xenapi";
/// The same short source as OpenTofu resolves it.
pub const PROVIDER_ADDRESS_OPENTOFU: &str = "registry.opentofu.org/xenapi/xenapi";
/// The short source used in `required_providers`.
pub const PROVIDER_SOURCE: &str = "xenapi/xenapi";
/// The Cargo package and binary name.
pub const PROVIDER_PACKAGE: &str = "terraform-provider-xenapi";

/// The `terraform { required_providers { ... } }` block every test config needs.
pub fn required_providers_block() -> String {
    format!(
        "terraform {{\n  required_providers {{\n    xenapi = {{\n      source = \"{PROVIDER_SOURCE}\"\n    }}\n  }}\n}}\n"
    )
}

/// The directory Cargo writes debug binaries to.
pub fn target_debug_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug")
}

/// The provider binary for this test run.
///
/// `TF_ACC_PROVIDER_BINARY` names a prebuilt binary (for example a release
/// build). Otherwise the binary is built once per test process with
/// `cargo build -p terraform-provider-xenapi --bin terraform-provider-xenapi`
/// (a no-op when it is fresh), so a test never runs a stale provider.
pub fn provider_binary() -> Result<&'static Path, HarnessError> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = BINARY.get_or_init(|| {
        locate_or_build().map_err(|e| match e {
            HarnessError::Provider(message) => message,
            other => other.to_string(),
        })
    });
    match result {
        Ok(path) => Ok(path.as_path()),
        Err(message) => Err(HarnessError::Provider(message.clone())),
    }
}

fn locate_or_build() -> Result<PathBuf, HarnessError> {
    if let Some(explicit) = std::env::var_os("TF_ACC_PROVIDER_BINARY") {
        let path = PathBuf::from(explicit);
        if !path.is_file() {
            return Err(HarnessError::Provider(format!(
                "TF_ACC_PROVIDER_BINARY={} is not a file",
                path.display()
            )));
        }
        return Ok(std::fs::canonicalize(&path).unwrap_or(path));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "-p",
            PROVIDER_PACKAGE,
            "--bin",
            PROVIDER_PACKAGE,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            program: PathBuf::from(&cargo),
            source,
        })?;
    if !output.status.success() {
        return Err(HarnessError::Provider(format!(
            "cargo build -p {PROVIDER_PACKAGE} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let path = target_debug_dir().join(PROVIDER_PACKAGE);
    if !path.is_file() {
        return Err(HarnessError::Provider(format!(
            "cargo build succeeded but {} does not exist",
            path.display()
        )));
    }
    Ok(path)
}

/// A CLI configuration file whose `dev_overrides` make Terraform run the
/// given provider binary for [`PROVIDER_ADDRESS`], without `init`.
///
/// `dev_overrides` names a directory and Terraform picks the first file in it
/// whose name starts with `terraform-provider-xenapi`; to make that choice
/// unambiguous the binary is linked alone into `bin_dir`.
pub fn dev_overrides_config(binary: &Path, bin_dir: &Path) -> Result<String, HarnessError> {
    std::fs::create_dir_all(bin_dir).map_err(|source| HarnessError::Io {
        path: bin_dir.to_path_buf(),
        source,
    })?;
    let link = bin_dir.join(PROVIDER_PACKAGE);
    if !link.exists() {
        std::os::unix::fs::symlink(binary, &link).map_err(|source| HarnessError::Io {
            path: link.clone(),
            source,
        })?;
    }
    // Both hostnames: `xenapi/xenapi` means registry.terraform.io to Terraform
    // and registry.opentofu.org to OpenTofu (TF_ACC_TERRAFORM_PATH may name a
    // `tofu`).
    let dir = hcl_string(&bin_dir.to_string_lossy());
    Ok(format!(
        "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_ADDRESS}\" = {dir}\n    \"{PROVIDER_ADDRESS_OPENTOFU}\" = {dir}\n  }}\n  direct {{}}\n}}\n"
    ))
}

/// An HCL/JSON double-quoted string literal (HCL accepts JSON escapes, and
/// `${` / `%{` are escaped so no template interpolation happens).
pub fn hcl_string(text: &str) -> String {
    let json = serde_json::Value::String(text.to_string()).to_string();
    json.replace("${", "$${").replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_are_escaped() {
        assert_eq!(hcl_string("a\"b"), "\"a\\\"b\"");
        assert_eq!(hcl_string("${x}"), "\"$${x}\"");
        assert_eq!(hcl_string("%{if}"), "\"%%{if}\"");
        assert_eq!(hcl_string("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn dev_overrides_point_at_a_directory_with_only_the_provider() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("built-provider");
        std::fs::write(&fake, b"").expect("write");
        let bin_dir = dir.path().join("bin");
        let config = dev_overrides_config(&fake, &bin_dir).expect("config");
        assert!(config.contains(PROVIDER_ADDRESS));
        assert!(config.contains(&*bin_dir.to_string_lossy()));
        let entries: Vec<_> = std::fs::read_dir(&bin_dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(entries, vec![std::ffi::OsString::from(PROVIDER_PACKAGE)]);
        // Idempotent: a second call reuses the link.
        dev_overrides_config(&fake, &bin_dir).expect("second config");
    }
}
