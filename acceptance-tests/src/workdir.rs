//! A Terraform working directory: a temp dir with its own CLI configuration,
//! and the commands a test runs in it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::HarnessError;
use crate::cli::TerraformCli;
use crate::json::Diagnostic;
use crate::provider::{PROVIDER_ADDRESS, dev_overrides_config, provider_binary};

/// How Terraform reaches the provider.
#[derive(Clone, Debug)]
pub enum ProviderMode {
    /// The built binary through a CLI configuration with `dev_overrides`:
    /// Terraform starts the provider itself (handshake, AutoMTLS, Shutdown).
    DevOverrides,
    /// An already running provider through `TF_REATTACH_PROVIDERS` (the JSON
    /// value); Terraform neither starts nor stops it.
    Reattach(String),
    /// No provider of ours: configurations use only Terraform's built-ins
    /// (the harness's self-tests).
    None,
}

/// One finished CLI command.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    pub args: Vec<String>,
    /// The exit code; `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The diagnostics of a `-json` command (streamed UI messages), or of
    /// `validate -json` (one document).
    pub fn json_diagnostics(&self) -> Vec<Diagnostic> {
        crate::json::diagnostics_from_output(&self.stdout)
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "`terraform {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".to_string()),
            tail(&self.stdout, 6000),
            tail(&self.stderr, 6000)
        )
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The outcome of `plan -detailed-exitcode`.
#[derive(Clone, Debug)]
pub struct DetailedPlan {
    /// True for exit code 0 (no changes).
    pub empty: bool,
    pub output: CommandOutput,
}

/// Environment variables that would change what the CLI does behind the test's
/// back; they are removed from every command's environment.
const SCRUBBED_ENV: &[&str] = &[
    "TF_CLI_ARGS",
    "TF_WORKSPACE",
    "TF_DATA_DIR",
    "TF_REATTACH_PROVIDERS",
    "TF_LOG",
    "TF_LOG_PATH",
    "TF_LOG_CORE",
    "TF_LOG_PROVIDER",
    "TF_PLUGIN_CACHE_DIR",
    "TERRAFORM_CONFIG",
    "TF_DISABLE_PLUGIN_TLS",
    "TF_VAR_",
];

/// A per-test working directory bound to one CLI.
pub struct WorkDir {
    cli: TerraformCli,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    mode: ProviderMode,
    env: BTreeMap<String, String>,
    removed_env: Vec<String>,
    timeout: Duration,
    history: Vec<CommandOutput>,
}

impl WorkDir {
    /// Creates the temp dir (under `TF_ACC_TEMP_DIR` when set) and its CLI
    /// configuration. For [`ProviderMode::DevOverrides`] this builds (or finds)
    /// the provider binary.
    pub fn new(cli: &TerraformCli, mode: ProviderMode) -> Result<WorkDir, HarnessError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("tfacc-");
        let dir = match std::env::var_os("TF_ACC_TEMP_DIR") {
            Some(base) => builder.tempdir_in(base),
            None => builder.tempdir(),
        }
        .map_err(|source| HarnessError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let path = dir.path().to_path_buf();
        let config_dir = path.join(".cli");
        let cli_config = match &mode {
            ProviderMode::DevOverrides => {
                let binary = provider_binary()?;
                dev_overrides_config(binary, &config_dir.join("plugins"))?
            }
            // Reattached providers are unmanaged; the CLI needs no installation
            // settings for them.
            ProviderMode::Reattach(_) | ProviderMode::None => String::new(),
        };
        write(&config_dir.join("terraform.rc"), &cli_config)?;
        let work = path.join("work");
        create_dir(&work)?;
        let timeout = std::env::var("TF_ACC_COMMAND_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(600));
        Ok(WorkDir {
            cli: cli.clone(),
            dir: Some(dir),
            path,
            mode,
            env: BTreeMap::new(),
            removed_env: Vec::new(),
            timeout,
            history: Vec::new(),
        })
    }

    /// The CLI this directory runs.
    pub fn cli(&self) -> &TerraformCli {
        &self.cli
    }

    /// The directory holding the configuration and the state.
    pub fn work_dir(&self) -> PathBuf {
        self.path.join("work")
    }

    /// Sets an environment variable for every later command (and so for the
    /// provider processes Terraform starts).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.removed_env.retain(|k| k != key);
        self.env.insert(key.to_string(), value.to_string());
    }

    /// Removes an inherited environment variable from every later command.
    pub fn remove_env(&mut self, key: &str) {
        self.env.remove(key);
        self.removed_env.push(key.to_string());
    }

    /// Every command run so far.
    pub fn history(&self) -> &[CommandOutput] {
        &self.history
    }

    /// Replaces the configuration: removes every `*.tf` file, writes `main.tf`.
    pub fn write_config(&self, hcl: &str) -> Result<(), HarnessError> {
        let work = self.work_dir();
        let entries = std::fs::read_dir(&work).map_err(|source| HarnessError::Io {
            path: work.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "tf") {
                std::fs::remove_file(&p).map_err(|source| HarnessError::Io {
                    path: p.clone(),
                    source,
                })?;
            }
        }
        write(&work.join("main.tf"), hcl)
    }

    /// Writes (or replaces) one file in the working directory.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<(), HarnessError> {
        write(&self.work_dir().join(name), contents)
    }

    /// Copies every regular file of `dir` (not recursive) into the working directory.
    pub fn copy_config_dir(&self, dir: &Path) -> Result<(), HarnessError> {
        let entries = std::fs::read_dir(dir).map_err(|source| HarnessError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_state = name.starts_with("terraform.tfstate") || name.starts_with('.');
            if p.is_file() && !is_state {
                let target = self.work_dir().join(entry.file_name());
                std::fs::copy(&p, &target).map_err(|source| HarnessError::Io {
                    path: target.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cli.path);
        cmd.args(args).current_dir(self.work_dir());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if SCRUBBED_ENV
                .iter()
                .any(|s| key == *s || (s.ends_with('_') && key.starts_with(s)))
                || key.starts_with("TF_CLI_ARGS_")
            {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", self.path.join(".cli/terraform.rc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1");
        if let Ok(level) = std::env::var("TF_ACC_LOG") {
            cmd.env("TF_LOG", level);
        }
        if let ProviderMode::Reattach(value) = &self.mode {
            cmd.env("TF_REATTACH_PROVIDERS", value);
        }
        for key in &self.removed_env {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `terraform ARGS` in the working directory and records it; a non-zero
    /// exit is not an error here (see [`WorkDir::run_ok`]).
    pub fn run(&mut self, args: &[&str]) -> Result<CommandOutput, HarnessError> {
        let started = Instant::now();
        let mut child = self
            .command(args)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: self.cli.path.clone(),
                source,
            })?;
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > self.timeout => {
                    // Best effort: the process may have exited meanwhile.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HarnessError::Timeout {
                        args: args.iter().map(|a| a.to_string()).collect(),
                        seconds: self.timeout.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(source) => {
                    return Err(HarnessError::Spawn {
                        program: self.cli.path.clone(),
                        source,
                    });
                }
            }
        };
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let output = CommandOutput {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: status.code(),
            stdout: join(stdout),
            stderr: join(stderr),
            duration: started.elapsed(),
        };
        self.history.push(output.clone());
        Ok(output)
    }

    /// Runs `terraform ARGS` and fails unless it exits 0.
    pub fn run_ok(&mut self, args: &[&str]) -> Result<CommandOutput, HarnessError> {
        let output = self.run(args)?;
        if output.success() {
            Ok(output)
        } else {
            Err(HarnessError::Command(Box::new(output)))
        }
    }

    /// `terraform init`; needed only for reattached providers or other
    /// dependencies (dev_overrides need none).
    pub fn init(&mut self) -> Result<CommandOutput, HarnessError> {
        self.run_ok(&["init", "-input=false", "-no-color"])
    }

    /// `terraform plan -out=tfplan` (with `extra` arguments), then
    /// `terraform show -json tfplan`.
    pub fn plan_saved(&mut self, extra: &[&str]) -> Result<Json, HarnessError> {
        let mut args = vec!["plan", "-input=false", "-no-color", "-out=tfplan"];
        args.extend_from_slice(extra);
        self.run_ok(&args)?;
        self.show_json(Some("tfplan"))
    }

    /// `terraform apply tfplan` (the saved plan from [`WorkDir::plan_saved`]).
    pub fn apply_saved(&mut self) -> Result<CommandOutput, HarnessError> {
        self.run_ok(&["apply", "-input=false", "-no-color", "tfplan"])
    }

    /// `terraform apply -auto-approve` (with `extra` arguments).
    pub fn apply(&mut self, extra: &[&str]) -> Result<CommandOutput, HarnessError> {
        let mut args = vec!["apply", "-input=false", "-no-color", "-auto-approve"];
        args.extend_from_slice(extra);
        self.run_ok(&args)
    }

    /// `terraform show -json [FILE]`.
    pub fn show_json(&mut self, file: Option<&str>) -> Result<Json, HarnessError> {
        let mut args = vec!["show", "-json", "-no-color"];
        if let Some(file) = file {
            args.push(file);
        }
        let output = self.run_ok(&args)?;
        serde_json::from_str(&output.stdout).map_err(|e| HarnessError::Json {
            what: format!("terraform {}", args.join(" ")),
            message: e.to_string(),
        })
    }

    /// The current state as `terraform show -json` prints it.
    pub fn state(&mut self) -> Result<Json, HarnessError> {
        self.show_json(None)
    }

    /// The raw state file (`terraform.tfstate`), if any.
    pub fn raw_state(&self) -> Option<String> {
        std::fs::read_to_string(self.work_dir().join("terraform.tfstate")).ok()
    }

    /// `terraform plan -detailed-exitcode` (`refresh = false` adds
    /// `-refresh=false`). Exit 1 is an error.
    pub fn plan_detailed(&mut self, refresh: bool) -> Result<DetailedPlan, HarnessError> {
        let mut args = vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"];
        if !refresh {
            args.push("-refresh=false");
        }
        let output = self.run(&args)?;
        match output.code {
            Some(0) => Ok(DetailedPlan {
                empty: true,
                output,
            }),
            Some(2) => Ok(DetailedPlan {
                empty: false,
                output,
            }),
            _ => Err(HarnessError::Command(Box::new(output))),
        }
    }

    /// `terraform import ADDRESS ID`.
    pub fn import(&mut self, address: &str, id: &str) -> Result<CommandOutput, HarnessError> {
        self.run_ok(&["import", "-input=false", "-no-color", address, id])
    }

    /// `terraform destroy -auto-approve`.
    pub fn destroy(&mut self) -> Result<CommandOutput, HarnessError> {
        self.run_ok(&["destroy", "-input=false", "-no-color", "-auto-approve"])
    }

    /// Removes the state files (for an import into a fresh state).
    pub fn remove_state(&self) -> Result<(), HarnessError> {
        for name in ["terraform.tfstate", "terraform.tfstate.backup", "tfplan"] {
            let p = self.work_dir().join(name);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|source| HarnessError::Io {
                    path: p.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Keeps the directory after the test (as `TF_ACC_PERSIST_WORKING_DIR` does).
    pub fn persist(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.path.clone()
    }

    /// The provider address the CLI config overrides.
    pub fn provider_address(&self) -> &'static str {
        PROVIDER_ADDRESS
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("TF_ACC_PERSIST_WORKING_DIR").is_some() {
            let path = self.persist();
            eprintln!(
                "acceptance-tests: kept working directory {}",
                path.display()
            );
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn write(path: &Path, contents: &str) -> Result<(), HarnessError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, contents).map_err(|source| HarnessError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(path).map_err(|source| HarnessError::Io {
        path: path.to_path_buf(),
        source,
    })
}
