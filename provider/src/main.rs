//! terraform-provider-xenapi: the provider binary.
//!
//! - no arguments: serve as a plugin started by Terraform / OpenTofu / Pulumi's
//!   bridge (go-plugin handshake on stdout, logs on stderr);
//! - `--debug [--address HOST/NAMESPACE/TYPE]`: serve for `TF_REATTACH_PROVIDERS`;
//! - `docs [--out DIR]`: write registry-format documentation;
//! - `--version`, `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use terraform_provider_xenapi::catalog::XenapiProvider;
use terraform_provider_xenapi::logging::{self, LogFormat};
use terraform_provider_xenapi::pool;
use terraform_provider_xenapi::server::{self, HandshakeError, ServerError};

/// Provider address printed in the `--debug` reattach line by default.
const DEFAULT_ADDRESS: &str = "registry.terraform.io/xenapi/xenapi";

/// How long shutdown waits for `session.logout` on the pools this process used.
const LOGOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

const USAGE: &str = "\
terraform-provider-xenapi: Terraform/OpenTofu provider for XCP-ng and XenServer

Usage:
  terraform-provider-xenapi                      (run by Terraform; not by hand)
  terraform-provider-xenapi --debug [--address HOST/NAMESPACE/TYPE]
                                                 serve for TF_REATTACH_PROVIDERS
  terraform-provider-xenapi docs [--out DIR]     write registry docs (default: docs)
  terraform-provider-xenapi --version | --help
";

enum Command {
    Plugin,
    Debug { address: String },
    Docs { out: PathBuf },
    Version,
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None => Ok(Command::Plugin),
        Some("--help" | "-h" | "help") => Ok(Command::Help),
        Some("--version" | "-V" | "version") => Ok(Command::Version),
        Some("--debug") => match &args[1..] {
            [] => Ok(Command::Debug {
                address: DEFAULT_ADDRESS.to_owned(),
            }),
            [flag, addr] if flag == "--address" => Ok(Command::Debug {
                address: addr.clone(),
            }),
            _ => Err("--debug takes only --address HOST/NAMESPACE/TYPE".to_owned()),
        },
        Some("docs") => match &args[1..] {
            [] => Ok(Command::Docs {
                out: PathBuf::from("docs"),
            }),
            [flag, dir] if flag == "--out" => Ok(Command::Docs {
                out: PathBuf::from(dir),
            }),
            _ => Err("docs takes only --out DIR".to_owned()),
        },
        Some(other) => Err(format!("unknown argument {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("terraform-provider-xenapi {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Docs { out } => match terraform_provider_xenapi::docs::generate_docs(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plugin => run_server(false, DEFAULT_ADDRESS),
        Command::Debug { address } => run_server(true, &address),
    }
}

fn run_server(debug: bool, address: &str) -> ExitCode {
    logging::init(if debug {
        LogFormat::Human
    } else {
        LogFormat::Hclog
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let provider = Arc::new(XenapiProvider::new());
    let result = runtime.block_on(async {
        let served = if debug {
            server::serve_debug(provider, address).await
        } else {
            server::serve_plugin(provider).await
        };
        // End the XAPI sessions this process opened (if any), without holding
        // up Terraform's shutdown: go-plugin expects the process gone quickly.
        let _ = tokio::time::timeout(LOGOUT_GRACE, pool::logout_all()).await;
        served
    });
    // Don't wait for stray tasks (e.g. connections the client never closed).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServerError::Handshake(e @ HandshakeError::NotStartedByTerraform)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "provider server failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line() {
        assert!(matches!(parse(&[]), Ok(Command::Plugin)));
        assert!(
            matches!(parse(&["--debug"]), Ok(Command::Debug { address }) if address == DEFAULT_ADDRESS)
        );
        assert!(
            matches!(parse(&["--debug", "--address", "example.com/a/xenapi"]), Ok(Command::Debug { address }) if address == "example.com/a/xenapi")
        );
        assert!(
            matches!(parse(&["docs", "--out", "x"]), Ok(Command::Docs { out }) if out.as_path() == std::path::Path::new("x"))
        );
        assert!(
            matches!(parse(&["docs"]), Ok(Command::Docs { out }) if out.as_path() == std::path::Path::new("docs"))
        );
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--debug", "x"]).is_err());
        assert!(matches!(parse(&["--version"]), Ok(Command::Version)));
    }
}
