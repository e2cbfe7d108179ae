//! `xapi-labpool`: runs a lab pool until killed. The first stdout line is the base URL.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// A faithful XAPI pool simulator.
#[derive(Parser, Debug)]
#[command(name = "xapi-labpool", version, about)]
struct Cli {
    /// Address of the master's listener; members listen on the same IP.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Accepted user name.
    #[arg(long, default_value = "root")]
    username: String,
    /// Accepted password.
    #[arg(long, default_value = "labpool")]
    password: String,
    /// Inventory file (JSON) replacing the default inventory.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Print the default inventory as JSON and exit.
    #[arg(long)]
    print_default_inventory: bool,
    /// Simulated guest boot time in seconds.
    #[arg(long, default_value_t = 0.2)]
    boot_seconds: f64,
    /// Latency added to every call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Persist the pool to this file and reload it on start.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Serve HTTPS with a generated self-signed certificate.
    #[arg(long)]
    tls: bool,
    /// Write the generated certificate (PEM) here (with --tls).
    #[arg(long)]
    cert_out: Option<PathBuf>,
    /// Delay before answering a failed login, in milliseconds (XAPI waits 5000).
    #[arg(long, default_value_t = 0)]
    auth_failure_delay_ms: u64,
    /// Simulated XAPI for VM.sysprep: full (>= 25.33: 4 params, enabled), no-timeout
    /// (25.24-25.25 with vm-sysprep-enabled=true: 3 params), disabled (25.26-25.32 as
    /// installed: "API call is disabled"), no-timeout-disabled (25.24-25.25 as installed),
    /// absent (< 25.24: MESSAGE_METHOD_UNKNOWN).
    #[arg(long, default_value = "full")]
    sysprep_mode: labpool::api::sysprep::SysprepMode,
    /// xapi.conf vm-sysprep-wait: seconds between inserting the sysprep CD and notifying
    /// the guest (XAPI's default is 5).
    #[arg(long, default_value_t = 0.1)]
    sysprep_wait_seconds: f64,
    /// Simulated time sysprep runs inside a Windows guest before it shuts down, in seconds.
    #[arg(long, default_value_t = 0.3)]
    sysprep_guest_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_default_inventory {
        println!(
            "{}",
            serde_json::to_string_pretty(&labpool::Inventory::default_pool())?
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LABPOOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    if cli.cert_out.is_some() && !cli.tls {
        anyhow::bail!("--cert-out needs --tls");
    }
    let inventory = match &cli.inventory {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading inventory {}", p.display()))?;
            Some(
                serde_json::from_str::<labpool::Inventory>(&text)
                    .with_context(|| format!("parsing inventory {}", p.display()))?,
            )
        }
        None => None,
    };
    let cfg = labpool::Config {
        listen: cli.listen,
        username: cli.username,
        password: cli.password,
        inventory,
        boot_seconds: cli.boot_seconds,
        latency_ms: cli.latency_ms,
        state_file: cli.state_file,
        tls: cli.tls,
        cert_out: cli.cert_out,
        auth_failure_delay_ms: cli.auth_failure_delay_ms,
        sysprep: labpool::api::sysprep::SysprepConfig {
            mode: cli.sysprep_mode,
            wait_seconds: cli.sysprep_wait_seconds,
            guest_seconds: cli.sysprep_guest_seconds,
            ..Default::default()
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let pool = labpool::LabPool::start(cfg).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", pool.base_url())?;
            out.flush()?;
        }
        tracing::info!(hosts = ?pool.host_urls(), "lab pool running");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        pool.shutdown().await;
        Ok(())
    })
}
