//! `bench`: XAPI call counts and wall-clock ratios of terraform-provider-xenapi
//! against the lab pool with injected per-call latency. Not a test: it prints
//! figures (see bench/README.md). Parts:
//!
//! A. raw refresh of N VMs through the pool layer: targeted per-VM reads
//!    (what a provider without a snapshot does) vs the shared snapshot;
//! B. `terraform plan` of N data-source lookups;
//! C. `terraform apply` / refresh (`plan`) / `destroy` of N `xenapi_vm`.
//!
//! Usage: `cargo build -p terraform-provider-xenapi && cargo run -p bench --release --
//! [--latency-ms 20] [--sizes 10,50] [--terraform PATH] [--skip-terraform] [--skip-vms]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use labpool::{Config, LabPool, RunningPool};
use terraform_provider_xenapi::pool::{ClassKey, Pool, PoolOptions};
use terraform_provider_xenapi::provider_config::{ConnectionSettings, Password, TlsVerification};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Terraform's default parallelism.
const PARALLELISM: usize = 10;
const READY_TEMPLATE: &str = "labpool Ubuntu 24.04 cloud-init";
const NETWORK: &str = "Pool-wide network associated with eth0";

struct Args {
    latency_ms: u64,
    sizes: Vec<usize>,
    terraform: String,
    skip_terraform: bool,
    skip_vms: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        latency_ms: 20,
        sizes: vec![10, 50],
        terraform: "terraform".into(),
        skip_terraform: false,
        skip_vms: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--latency-ms" => args.latency_ms = it.next().context("--latency-ms N")?.parse()?,
            "--sizes" => {
                args.sizes = it
                    .next()
                    .context("--sizes 10,50")?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?
            }
            "--terraform" => args.terraform = it.next().context("--terraform PATH")?,
            "--skip-terraform" => args.skip_terraform = true,
            "--skip-vms" => args.skip_vms = true,
            other => bail!("unknown argument {other:?} (see bench/README.md)"),
        }
    }
    Ok(args)
}

async fn start_lab(latency_ms: u64) -> Result<RunningPool> {
    Ok(LabPool::start(Config {
        latency_ms,
        ..Config::default()
    })
    .await?)
}

fn settings(lab: &RunningPool) -> Result<ConnectionSettings> {
    Ok(ConnectionSettings {
        url: url::Url::parse(lab.base_url())?,
        username: lab.username().into(),
        password: Password::new(lab.password()),
        tls: TlsVerification::SystemRoots,
    })
}

/// `GET`/`POST` on the lab pool's `/labpool/` admin API.
async fn admin(lab: &RunningPool, method: &str, path: &str) -> Result<serde_json::Value> {
    let url = url::Url::parse(lab.base_url())?;
    let addr = format!(
        "{}:{}",
        url.host_str().context("host")?,
        url.port_or_known_default().context("port")?
    );
    let mut s = tokio::net::TcpStream::connect(&addr).await?;
    s.write_all(
        format!("{method} /labpool/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("admin {path}: {head}");
    }
    Ok(serde_json::from_str(body)?)
}

type Counts = BTreeMap<String, u64>;

async fn counts(lab: &RunningPool) -> Result<Counts> {
    Ok(serde_json::from_value(admin(lab, "GET", "counts").await?)?)
}

async fn reset(lab: &RunningPool) -> Result<()> {
    admin(lab, "POST", "counts/reset").await.map(|_| ())
}

fn total(c: &Counts) -> u64 {
    c.iter()
        .filter(|(m, _)| !m.starts_with("session."))
        .map(|(_, n)| n)
        .sum()
}

fn show(c: &Counts) -> String {
    c.iter()
        .filter(|(m, _)| !m.starts_with("session."))
        .map(|(m, n)| format!("{m}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Measure {
    label: String,
    n: usize,
    wall: Duration,
    counts: Counts,
}

impl Measure {
    fn print(&self) {
        println!(
            "{:<44} N={:<3} {:>8.0} ms  {:>5} calls  [{}]",
            self.label,
            self.n,
            self.wall.as_secs_f64() * 1000.0,
            total(&self.counts),
            show(&self.counts)
        );
    }
}

// ---------------------------------------------------------------- part A

async fn make_vms(pool: &Arc<Pool>, n: usize) -> Result<Vec<xapi::VmRef>> {
    let (template, _) = pool.resolve_template(READY_TEMPLATE).await?;
    let (network, _) = pool.resolve_network(NETWORK).await?;
    let client = pool.client().await?.clone();
    let limit = Arc::new(Semaphore::new(PARALLELISM));
    let mut set = JoinSet::new();
    for i in 0..n {
        let (client, template, network, limit) = (
            client.clone(),
            template.clone(),
            network.clone(),
            limit.clone(),
        );
        set.spawn(async move {
            let _p = limit.acquire().await?;
            let vm = client.vm().clone(&template, &format!("bench-{i}")).await?;
            client.vm().provision(&vm).await?;
            let mac = format!("02:be:00:00:{:02x}:{:02x}", i / 256, i % 256);
            client
                .vif()
                .create(&xapi::VifCreate::new(&vm, &network, 0, mac))
                .await?;
            anyhow::Ok(vm)
        });
    }
    let mut vms = Vec::new();
    while let Some(r) = set.join_next().await {
        vms.push(r??);
    }
    pool.invalidate();
    Ok(vms)
}

/// What one VM refresh needs: the VM, its VIFs, VBDs, their VDIs and the
/// guest metrics, read with targeted calls.
async fn targeted_refresh(client: xapi::Client, vm: xapi::VmRef) -> Result<()> {
    let rec = client.get_record::<xapi::Vm>(&vm).await?;
    for vif in &rec.vifs {
        client.get_record::<xapi::Vif>(vif).await?;
    }
    for vbd in &rec.vbds {
        let b = client.get_record::<xapi::Vbd>(vbd).await?;
        if !b.vdi.is_null() {
            client.get_record::<xapi::Vdi>(&b.vdi).await?;
        }
    }
    if !rec.guest_metrics.is_null() {
        client
            .get_record::<xapi::VmGuestMetrics>(&rec.guest_metrics)
            .await?;
    }
    Ok(())
}

/// The same through the shared snapshot.
async fn snapshot_refresh(pool: Arc<Pool>, vm: xapi::VmRef) -> Result<()> {
    pool.prefetch(&[
        ClassKey::of::<xapi::Vm>(),
        ClassKey::of::<xapi::Vif>(),
        ClassKey::of::<xapi::Vbd>(),
        ClassKey::of::<xapi::Vdi>(),
        ClassKey::of::<xapi::VmGuestMetrics>(),
    ])
    .await?;
    let rec = pool.record::<xapi::Vm>(&vm).await?.context("VM gone")?;
    for vif in &rec.vifs {
        pool.record::<xapi::Vif>(vif).await?;
    }
    for vbd in &rec.vbds {
        if let Some(b) = pool.record::<xapi::Vbd>(vbd).await? {
            pool.record::<xapi::Vdi>(&b.vdi).await?;
        }
    }
    pool.record::<xapi::VmGuestMetrics>(&rec.guest_metrics)
        .await?;
    Ok(())
}

async fn part_a(args: &Args) -> Result<Vec<Measure>> {
    let mut out = Vec::new();
    for &n in &args.sizes {
        let lab = start_lab(args.latency_ms).await?;
        let setup = Pool::new(settings(&lab)?, PoolOptions::default());
        let vms = make_vms(&setup, n).await?;
        let client = setup.client().await?.clone();

        reset(&lab).await?;
        let t = Instant::now();
        let limit = Arc::new(Semaphore::new(PARALLELISM));
        let mut set = JoinSet::new();
        for vm in vms.clone() {
            let (client, limit) = (client.clone(), limit.clone());
            set.spawn(async move {
                let _p = limit.acquire().await?;
                targeted_refresh(client, vm).await
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        out.push(Measure {
            label: "A. refresh, targeted reads (no snapshot)".into(),
            n,
            wall: t.elapsed(),
            counts: counts(&lab).await?,
        });

        // A fresh pool (as in a new provider process), logged in first.
        let pool = Pool::new(settings(&lab)?, PoolOptions::default());
        pool.client().await?;
        reset(&lab).await?;
        let t = Instant::now();
        let mut set = JoinSet::new();
        for vm in vms {
            let (pool, limit) = (pool.clone(), limit.clone());
            set.spawn(async move {
                let _p = limit.acquire().await?;
                snapshot_refresh(pool, vm).await
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        out.push(Measure {
            label: "A. refresh, shared snapshot".into(),
            n,
            wall: t.elapsed(),
            counts: counts(&lab).await?,
        });
        lab.shutdown().await;
    }
    Ok(out)
}

// ---------------------------------------------------------- parts B and C

fn provider_dir() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .to_path_buf();
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug");
    if !dir.join("terraform-provider-xenapi").exists() {
        bail!(
            "{} not found: run `cargo build -p terraform-provider-xenapi` first",
            dir.join("terraform-provider-xenapi").display()
        );
    }
    Ok(dir)
}

struct Tf {
    dir: tempfile::TempDir,
    binary: String,
}

impl Tf {
    fn new(binary: &str, lab: &RunningPool, body: &str) -> Result<Tf> {
        let dir = tempfile::tempdir()?;
        let rc = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"registry.terraform.io/xenapi/xenapi\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            provider_dir()?.display()
        );
        std::fs::write(dir.path().join("terraform.rc"), rc)?;
        let main = format!(
            "terraform {{\n  required_providers {{\n    xenapi = {{ source = \"xenapi/xenapi\" }}\n  }}\n}}\n\
             provider \"xenapi\" {{\n  url = \"{}\"\n  username = \"{}\"\n  password = \"{}\"\n}}\n{body}",
            lab.base_url(),
            lab.username(),
            lab.password()
        );
        std::fs::write(dir.path().join("main.tf"), main)?;
        Ok(Tf {
            dir,
            binary: binary.to_string(),
        })
    }

    fn run(&self, args: &[&str]) -> Result<Duration> {
        let t = Instant::now();
        let out = Command::new(&self.binary)
            .args(args)
            .arg("-no-color")
            .arg("-input=false")
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraform.rc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .with_context(|| format!("running {}", self.binary))?;
        let wall = t.elapsed();
        if !out.status.success() {
            bail!(
                "terraform {} failed:\n{}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(wall)
    }
}

async fn part_b(args: &Args) -> Result<Vec<Measure>> {
    let mut out = Vec::new();
    for &n in &args.sizes {
        let lab = start_lab(args.latency_ms).await?;
        let templates = [
            "Debian Bookworm 12",
            "Ubuntu Noble Numbat 24.04",
            "Other install media",
            READY_TEMPLATE,
        ];
        let mut body = String::new();
        for i in 0..n {
            let t = templates[i % templates.len()];
            body.push_str(&format!(
                "data \"xenapi_template\" \"t{i}\" {{\n  name_label = \"{t}\"\n}}\n\
                 data \"xenapi_network\" \"n{i}\" {{\n  name_label = \"{NETWORK}\"\n}}\n"
            ));
        }
        let tf = Tf::new(&args.terraform, &lab, &body)?;
        reset(&lab).await?;
        let wall = tokio::task::block_in_place(|| tf.run(&["plan"]))?;
        out.push(Measure {
            label: format!("B. terraform plan, {n} templates + {n} networks"),
            n,
            wall,
            counts: counts(&lab).await?,
        });
        lab.shutdown().await;
    }
    Ok(out)
}

async fn part_c(args: &Args) -> Result<Vec<Measure>> {
    let mut out = Vec::new();
    for &n in &args.sizes {
        let lab = start_lab(args.latency_ms).await?;
        let body = format!(
            "resource \"xenapi_vm\" \"vm\" {{\n  count = {n}\n  name_label = \"bench-${{count.index}}\"\n  \
             template = \"{READY_TEMPLATE}\"\n  memory = {{ static_max = 1073741824 }}\n  \
             network_interface {{\n    network = \"{NETWORK}\"\n  }}\n}}\n"
        );
        let tf = Tf::new(&args.terraform, &lab, &body)?;
        reset(&lab).await?;
        let wall = tokio::task::block_in_place(|| tf.run(&["apply", "-auto-approve"]))?;
        out.push(Measure {
            label: "C. terraform apply (create) xenapi_vm".into(),
            n,
            wall,
            counts: counts(&lab).await?,
        });
        reset(&lab).await?;
        let wall = tokio::task::block_in_place(|| tf.run(&["plan", "-detailed-exitcode"]))?;
        out.push(Measure {
            label: "C. terraform plan (refresh, no changes)".into(),
            n,
            wall,
            counts: counts(&lab).await?,
        });
        reset(&lab).await?;
        let wall = tokio::task::block_in_place(|| tf.run(&["destroy", "-auto-approve"]))?;
        out.push(Measure {
            label: "C. terraform destroy".into(),
            n,
            wall,
            counts: counts(&lab).await?,
        });
        lab.shutdown().await;
    }
    Ok(out)
}

fn ratios(all: &[Measure]) {
    let mut labels: Vec<&str> = Vec::new();
    for m in all {
        if !labels.contains(&m.label.as_str()) {
            labels.push(&m.label);
        }
    }
    println!("\nratios (largest N vs smallest N):");
    for label in labels {
        let of: Vec<&Measure> = all.iter().filter(|m| m.label == label).collect();
        if let (Some(a), Some(b)) = (of.first(), of.last())
            && a.n != b.n
        {
            println!(
                "  {label:<44} N {}->{}: wall x{:.2}, calls x{:.2}",
                a.n,
                b.n,
                b.wall.as_secs_f64() / a.wall.as_secs_f64().max(1e-9),
                total(&b.counts) as f64 / (total(&a.counts).max(1)) as f64
            );
        }
    }
    let targeted: Vec<&Measure> = all
        .iter()
        .filter(|m| m.label.contains("targeted"))
        .collect();
    for t in targeted {
        if let Some(s) = all
            .iter()
            .find(|m| m.n == t.n && m.label.contains("shared snapshot"))
        {
            println!(
                "  refresh N={}: targeted/snapshot wall x{:.2}, calls {} vs {}",
                t.n,
                t.wall.as_secs_f64() / s.wall.as_secs_f64().max(1e-9),
                total(&t.counts),
                total(&s.counts)
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    println!(
        "lab pool latency {} ms per call, sizes {:?}, parallelism {PARALLELISM}",
        args.latency_ms, args.sizes
    );
    let mut all = part_a(&args).await?;
    for m in &all {
        m.print();
    }
    if !args.skip_terraform {
        let b = part_b(&args).await?;
        for m in &b {
            m.print();
        }
        all.extend(b);
        if !args.skip_vms {
            match part_c(&args).await {
                Ok(c) => {
                    for m in &c {
                        m.print();
                    }
                    all.extend(c);
                }
                Err(e) => println!("C. xenapi_vm: not measured: {e:#}"),
            }
        }
    }
    ratios(&all);
    Ok(())
}
