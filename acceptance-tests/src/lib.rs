//! Acceptance-test harness for `terraform-provider-xenapi`, in the spirit of
//! HashiCorp's terraform-plugin-testing, driving the **real** Terraform CLI.
//!
//! - [`cli`] discovers the CLIs (`TF_ACC_TERRAFORM_PATH`, the Terraform 1.15
//!   wrapper from `scripts/install-tools`, `terraform` on `PATH`); every
//!   [`TestCase`] runs once per CLI found.
//! - [`workdir`] gives each run a temp dir with its own CLI configuration
//!   (`TF_CLI_CONFIG_FILE`) whose `dev_overrides` point at the provider binary
//!   built from this workspace, or a `TF_REATTACH_PROVIDERS` value for a
//!   provider served in-process.
//! - [`case`] runs steps: write config, `plan -out` + plan checks, `apply`,
//!   state checks, the `-refresh=false` and refreshing plans that must be
//!   empty, imports (`terraform import` and `import` blocks) verified against
//!   the prior state, expected errors with their diagnostics, `destroy` and a
//!   CheckDestroy hook.
//! - [`labpool`] starts the lab pool (or targets a real pool from
//!   `XENAPI_URL` / `XENAPI_USERNAME` / `XENAPI_PASSWORD`) and checks through its
//!   admin API that a test left nothing behind.
//!
//! Nothing is gated on `TF_ACC`: `cargo test` runs these tests.
//!
//! Environment knobs (as in terraform-plugin-testing where one exists):
//! `TF_ACC_TERRAFORM_PATH`, `TF_ACC_PROVIDER_BINARY`, `TF_ACC_TEMP_DIR`,
//! `TF_ACC_PERSIST_WORKING_DIR`, `TF_ACC_LOG` (becomes `TF_LOG` for the CLI),
//! `TF_ACC_COMMAND_TIMEOUT` (seconds per CLI command, default 600).

pub mod case;
pub mod cli;
pub mod json;
pub mod labpool;
pub mod provider;
pub mod reattach;
pub mod workdir;

use std::path::PathBuf;

pub use case::{Ctx, ImportKind, ImportStep, Step, TestCase};
pub use cli::{TerraformCli, Version};
pub use json::{Diagnostic, Plan, State};
pub use labpool::{LabPool, PoolNames};
pub use provider::{PROVIDER_ADDRESS, PROVIDER_SOURCE, required_providers_block};
pub use workdir::{CommandOutput, ProviderMode, WorkDir};

/// Everything that can go wrong in the harness itself or in a test step.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Terraform CLI discovery: {0}")]
    Discovery(String),
    #[error("provider binary: {0}")]
    Provider(String),
    #[error("{}", .0.describe())]
    Command(Box<CommandOutput>),
    #[error("`terraform {}` did not finish within {seconds} s", args.join(" "))]
    Timeout { args: Vec<String>, seconds: u64 },
    #[error("{what}: invalid JSON: {message}")]
    Json { what: String, message: String },
    #[error("check failed: {0}")]
    Check(String),
    #[error("lab pool: {0}")]
    LabPool(String),
}

/// `terraform { required_providers { xenapi = ... } }` followed by `body`.
pub fn config(body: &str) -> String {
    format!("{}\n{body}", required_providers_block())
}
