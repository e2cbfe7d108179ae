//! Power: start, clean shutdown with a hard fallback after
//! `shutdown_timeout`, and the waits for the guest (agent up, addresses in
//! `expected_ip_cidr`). Every wait is driven by XAPI events (`event.from`
//! through the client's task and object waits), never by sleeping, and stops
//! when Terraform cancels the operation.

use std::future::Future;
use std::time::{Duration, Instant};

use schema::{AttributePath, Diagnostics, Value};
use xapi::{Client, PowerState, VmGuestMetrics, VmGuestMetricsRecord, VmRef};

use super::network_interfaces::{Ipv4Net, NicSpec};
use super::schema::attr;
use super::values::opt_str;
use super::{StepError, StepResult, XapiContext};
use crate::framework::Context;

/// Plan-time check of `power_state`.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    if let Some(p) = opt_str(config, attr::POWER_STATE)
        && p != "running"
        && p != "halted"
    {
        diags.error_at(
            AttributePath::new(attr::POWER_STATE),
            "Invalid power state",
            format!("power_state must be \"running\" or \"halted\", got {p:?}."),
        );
    }
}

/// The schema's spelling of a XAPI power state.
pub fn state_text(p: &PowerState) -> &'static str {
    match p {
        PowerState::Running => "running",
        PowerState::Halted => "halted",
        PowerState::Paused => "paused",
        PowerState::Suspended => "suspended",
        _ => "unknown",
    }
}

/// Longest wait for a running guest's PV drivers before a hot-plug.
pub const PV_DRIVER_WAIT: Duration = Duration::from_secs(120);

/// A deadline for one operation (create, update, delete).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    total: Duration,
}

impl Deadline {
    /// `total` from now.
    pub fn after(total: Duration) -> Self {
        Deadline {
            end: Instant::now() + total,
            total,
        }
    }
    /// Time left (at least one second, so that a last wait can still report).
    pub fn remaining(&self) -> Duration {
        self.end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1))
    }
    /// The whole limit.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// Runs `fut` unless Terraform cancels the operation first.
pub async fn cancellable<T>(
    ctx: &Context,
    what: &str,
    fut: impl Future<Output = StepResult<T>>,
) -> StepResult<T> {
    tokio::select! {
        r = fut => r,
        () = ctx.cancelled() => Err(StepError::new(
            "Operation cancelled",
            format!("Terraform asked the provider to stop while {what}."),
        )),
    }
}

/// Waits for a task and then removes its record (best effort).
async fn finish(client: &Client, task: &xapi::TaskRef, wait: Duration) -> Result<(), xapi::Error> {
    let outcome = client.await_task(task, wait).await.map(|_| ());
    if !matches!(outcome, Err(xapi::Error::Timeout { .. }))
        && let Err(e) = client.task().destroy(task).await
    {
        tracing::debug!(error = %e, "task.destroy failed");
    }
    outcome
}

/// `Async.VM.start` and wait for its task.
pub async fn start(client: &Client, vm: &VmRef, deadline: &Deadline) -> StepResult<()> {
    let task = client
        .vm()
        .start_async(vm, false, false)
        .await
        .ctx("starting the VM")?;
    finish(client, &task, deadline.remaining())
        .await
        .ctx("starting the VM")
}

/// [`shutdown`] as a step of an operation: with the resource's
/// `shutdown_timeout` (from `resource`, its configuration or prior state),
/// stopped by Terraform's cancellation.
pub async fn shutdown_step(
    ctx: &Context,
    client: &Client,
    vm: &VmRef,
    current: &PowerState,
    resource: &Value,
    deadline: &Deadline,
) -> StepResult<()> {
    cancellable(
        ctx,
        "shutting the VM down",
        shutdown(
            client,
            vm,
            current,
            super::shutdown_timeout(resource),
            deadline,
        ),
    )
    .await
}

/// Clean shutdown, hard shutdown if the guest does not finish within
/// `shutdown_timeout` (or cannot shut down cleanly). A halted VM is left alone.
pub async fn shutdown(
    client: &Client,
    vm: &VmRef,
    current: &PowerState,
    shutdown_timeout: Duration,
    deadline: &Deadline,
) -> StepResult<()> {
    match current {
        PowerState::Halted => return Ok(()),
        PowerState::Running if !shutdown_timeout.is_zero() => {
            let clean = async {
                let task = client.vm().clean_shutdown_async(vm).await?;
                finish(client, &task, shutdown_timeout.min(deadline.remaining())).await
            }
            .await;
            match clean {
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::info!(error = %e, "clean shutdown did not finish; hard shutdown");
                }
            }
        }
        _ => {}
    }
    // The clean attempt may have finished just now: only a still-running VM
    // gets the hard shutdown.
    let rec = client.vm().get_record(vm).await.ctx("reading the VM")?;
    if rec.power_state == PowerState::Halted {
        return Ok(());
    }
    let task = client
        .vm()
        .hard_shutdown_async(vm)
        .await
        .ctx("shutting the VM down (hard)")?;
    finish(client, &task, deadline.remaining())
        .await
        .ctx("shutting the VM down (hard)")
}

/// What to wait for after a start.
#[derive(Debug, Clone, Default)]
pub struct GuestWait {
    /// Wait until the guest agent reports (`wait_for_guest`, `remove_after_boot`).
    pub agent: bool,
    /// (VIF device, network) pairs: an IPv4 address inside must be reported.
    pub addresses: Vec<(String, Ipv4Net)>,
}

impl GuestWait {
    /// From a configuration/plan: `wait_for_guest` and each `expected_ip_cidr`.
    pub fn from_config(obj: &Value, nics: &[NicSpec], remove_drive: bool) -> Self {
        let agent =
            super::values::bool_at(obj, attr::WAIT_FOR_GUEST).value() == Some(true) || remove_drive;
        let addresses = nics
            .iter()
            .filter_map(|n| {
                let net = Ipv4Net::parse(n.expected_ip_cidr.as_deref()?).ok()?;
                let dev = n.effective_device().value()?;
                Some((dev.to_string(), net))
            })
            .collect();
        GuestWait { agent, addresses }
    }

    /// Whether there is anything to wait for.
    pub fn is_empty(&self) -> bool {
        !self.agent && self.addresses.is_empty()
    }

    fn satisfied(&self, gm: &VmGuestMetricsRecord) -> bool {
        self.addresses
            .iter()
            .all(|(dev, net)| net.first_match(&gm.ipv4_addresses(dev)).is_some())
    }
}

/// Waits (on events) until the guest agent reports and every expected address
/// is there.
pub async fn wait_for_guest(
    client: &Client,
    vm: &VmRef,
    wait: &GuestWait,
    deadline: &Deadline,
) -> StepResult<()> {
    if wait.is_empty() {
        return Ok(());
    }
    let rec = client
        .wait_for::<xapi::Vm>(vm, deadline.remaining(), |r| {
            !r.guest_metrics.is_null() || r.power_state != PowerState::Running
        })
        .await
        .map_err(|e| guest_wait_error(e, deadline))?;
    if rec.power_state != PowerState::Running {
        return Err(StepError::new(
            "VM stopped while waiting for its guest",
            format!(
                "The VM is {} instead of running.",
                state_text(&rec.power_state)
            ),
        ));
    }
    if wait.addresses.is_empty() {
        return Ok(());
    }
    client
        .wait_for::<VmGuestMetrics>(&rec.guest_metrics, deadline.remaining(), |gm| {
            wait.satisfied(gm)
        })
        .await
        .map_err(|e| {
            let want: Vec<String> = wait
                .addresses
                .iter()
                .map(|(d, n)| format!("device {d} in {}/{}", n.addr, n.prefix))
                .collect();
            guest_wait_error(e, deadline).context(format!(
                "waiting for the guest to report addresses ({})",
                want.join(", ")
            ))
        })?;
    Ok(())
}

/// Waits until a running VM's guest agent reports PV drivers, which XAPI
/// needs before it hot-plugs or unplugs a VIF or VBD (`VM_MISSING_PV_DRIVERS`
/// otherwise). Event-driven; bounded by the operation's deadline.
pub async fn wait_for_pv_drivers(
    client: &Client,
    vm: &VmRef,
    deadline: &Deadline,
) -> StepResult<()> {
    // A VM whose guest never runs an agent would otherwise hold the update
    // for the whole operation limit.
    let limit = deadline.remaining().min(PV_DRIVER_WAIT);
    let missing = |e: xapi::Error| match e {
        xapi::Error::Timeout { .. } => StepError::new(
            "Guest has no PV drivers",
            format!(
                "The VM is running, but its guest agent did not report PV drivers within \
                 {limit:?}; XAPI cannot hot-plug or unplug VIFs and disks without them \
                 (VM_MISSING_PV_DRIVERS). Install the guest agent, or set power_state = \
                 \"halted\" for this change."
            ),
        ),
        other => StepError::xapi("waiting for PV drivers before a hot-plug", other),
    };
    let rec = client
        .wait_for::<xapi::Vm>(vm, limit, |r| {
            !r.guest_metrics.is_null() || r.power_state != PowerState::Running
        })
        .await
        .map_err(missing)?;
    if rec.power_state != PowerState::Running {
        return Ok(());
    }
    client
        .wait_for::<VmGuestMetrics>(&rec.guest_metrics, limit, |gm| {
            gm.pv_drivers_detected || gm.pv_drivers_version.contains_key("major")
        })
        .await
        .map_err(missing)?;
    Ok(())
}

fn guest_wait_error(e: xapi::Error, deadline: &Deadline) -> StepError {
    match e {
        xapi::Error::Timeout { .. } => StepError::new(
            "Timed out waiting for the guest",
            format!(
                "The guest did not report within the operation's time limit ({:?}); raise \
                 timeouts or check the guest agent.",
                deadline.total()
            ),
        ),
        other => StepError::xapi("waiting for the guest agent", other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_state_validation() {
        let mut d = Diagnostics::new();
        validate(
            &Value::object([(attr::POWER_STATE, Value::from("paused"))]),
            &mut d,
        );
        assert_eq!(d.len(), 1);
        let mut d = Diagnostics::new();
        validate(
            &Value::object([(attr::POWER_STATE, Value::from("halted"))]),
            &mut d,
        );
        assert!(d.is_empty());
    }

    #[test]
    fn guest_wait_checks_every_expected_address() {
        let w = GuestWait {
            agent: true,
            addresses: vec![
                ("0".into(), Ipv4Net::parse("10.0.0.0/24").unwrap()),
                ("1".into(), Ipv4Net::parse("0.0.0.0/0").unwrap()),
            ],
        };
        let mut gm = VmGuestMetricsRecord::default();
        gm.networks.insert("0/ip".into(), "10.0.0.5".into());
        assert!(!w.satisfied(&gm));
        gm.networks.insert("1/ipv4/0".into(), "169.254.1.1".into());
        assert!(!w.satisfied(&gm));
        gm.networks.insert("1/ipv4/1".into(), "192.168.1.9".into());
        assert!(w.satisfied(&gm));
    }
}
