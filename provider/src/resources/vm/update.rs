//! Update in place. Live changes are applied on the running VM; changes XAPI
//! allows only while halted shut the VM down (clean, hard after
//! `shutdown_timeout`), are applied, and the VM is started again — the plan
//! has already warned (or refused when `restart_on_update = false`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use schema::{AttributePath, Diagnostics, Value};
use xapi::{MemoryLimits, PowerState, SrRef, VmRef};

use super::config_drive as drive;
use super::cpu::{CpuState, steps};
use super::create::{
    apply_cpu_steps, default_sr, vbds_direct, vm_vbds_direct, wait_for_guest_and_remove_drive,
};
use super::disks;
use super::memory_limits::{MemoryChange, classify, limits_from_state};
use super::network_interfaces::{self as nics, NicAction};
use super::plan::{halted_only_changes, match_prior_disk, power_state};
use super::power::{self, Deadline, cancellable};
use super::read;
use super::schema::{attr, disk, nic, to};
use super::values::{Known, at, bool_at, elements, int_at, opt_str, set, str_at, str_map};
use super::{DEFAULT_UPDATE_TIMEOUT, DRIVE_REMOVED_KEY, StepError, StepResult, XapiContext};
use crate::framework::{Context, NewState, UpdateRequest};
use crate::mac::MacPrefix;
use crate::pool::Pool;
use crate::provider_config::ProviderConfig;

/// The operation.
pub async fn update(
    ctx: &Context,
    pool: &Arc<Pool>,
    req: &UpdateRequest<'_>,
    diags: &mut Diagnostics,
) -> NewState {
    let deadline = Deadline::after(super::timeout(
        req.config,
        to::UPDATE,
        DEFAULT_UPDATE_TIMEOUT,
    ));
    let result = run(ctx, pool, req, &deadline, diags).await;
    pool.invalidate();
    match result {
        Ok(state) => NewState::new(state),
        Err(e) => {
            let name = opt_str(req.prior_state, attr::NAME_LABEL).unwrap_or_default();
            e.context(format!("updating VM {name:?}")).push(diags);
            // Keep what is true now, so the next plan starts from reality.
            match read::read(pool, req.prior_state).await {
                Ok(Some(s)) => NewState::new(s),
                _ => NewState::new(req.prior_state.clone()),
            }
        }
    }
}

fn merged_tracked(
    actual: &BTreeMap<String, String>,
    prior: Option<BTreeMap<String, String>>,
    planned: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let prior = prior.unwrap_or_default();
    let planned = planned.unwrap_or_default();
    if prior.is_empty() && planned.is_empty() {
        return None;
    }
    let mut out = actual.clone();
    for k in prior.keys() {
        if !planned.contains_key(k) {
            out.remove(k);
        }
    }
    out.extend(planned);
    (out != *actual).then_some(out)
}

async fn run(
    ctx: &Context,
    pool: &Arc<Pool>,
    req: &UpdateRequest<'_>,
    deadline: &Deadline,
    diags: &mut Diagnostics,
) -> StepResult<Value> {
    let (prior, planned, config) = (req.prior_state, req.planned_state, req.config);
    let client = pool.client().await?;
    let Known::Value(uuid) = str_at(prior, attr::ID) else {
        return Err(StepError::new(
            "No VM id",
            "The prior state has no VM UUID.",
        ));
    };
    let vm: VmRef = client
        .vm()
        .get_by_uuid(&uuid)
        .await
        .ctx(format!("looking up VM {uuid}"))?;
    let mut rec = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    let target_power = power_state(planned);
    let reasons = halted_only_changes(prior, planned);
    let was_running = rec.power_state == PowerState::Running;
    if was_running && !reasons.is_empty() && target_power == "running" {
        let allowed = bool_at(config, attr::RESTART_ON_UPDATE)
            .value()
            .unwrap_or(true);
        if !allowed {
            let names: Vec<String> = reasons.iter().map(|r| r.name.clone()).collect();
            return Err(StepError::at(
                reasons[0].path.clone(),
                "Change needs a VM restart",
                format!(
                    "changing {} needs the VM halted, and restart_on_update = false",
                    names.join(", ")
                ),
            ));
        }
    }
    if was_running && (!reasons.is_empty() || target_power == "halted") {
        let names: Vec<&str> = reasons.iter().map(|r| r.name.as_str()).collect();
        tracing::info!(vm = %uuid, halted_only = ?names, target = %target_power, "shutting the VM down for the update");
        power::shutdown_step(ctx, client, &vm, &rec.power_state, config, deadline).await?;
        rec = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    }
    let running = rec.power_state == PowerState::Running;
    // Hot-plugs need the guest's PV drivers; a VM that has just booted may not
    // have reported them yet. Waited for (events) only when a hot-plug is due.
    let hotplug = HotplugGate {
        needed: running,
        vm: vm.clone(),
        deadline: *deadline,
        done: std::sync::atomic::AtomicBool::new(false),
    };

    let guard = pool.mutation().await;
    // Plain setters.
    if let Some(n) = opt_str(planned, attr::NAME_LABEL)
        && n != rec.name_label
    {
        client
            .vm()
            .set_name_label(&vm, &n)
            .await
            .ctx("setting name_label")?;
    }
    let desc = opt_str(planned, attr::NAME_DESCRIPTION).unwrap_or_default();
    if desc != rec.name_description {
        client
            .vm()
            .set_name_description(&vm, &desc)
            .await
            .ctx("setting name_description")?;
    }
    if !at(planned, attr::TAGS).is_null() {
        let mut want = super::values::str_list(planned, attr::TAGS);
        want.sort();
        let mut have = rec.tags.clone();
        have.sort();
        if want != have {
            client.vm().set_tags(&vm, &want).await.ctx("setting tags")?;
        }
    }
    if let Some(oc) = merged_tracked(
        &rec.other_config,
        str_map(prior, attr::OTHER_CONFIG),
        str_map(planned, attr::OTHER_CONFIG),
    ) {
        client
            .vm()
            .set_other_config(&vm, &oc)
            .await
            .ctx("setting other_config")?;
    }
    // A VM of unknown provenance (imported) records the configured template.
    if !rec.other_config.contains_key(super::TEMPLATE_KEY)
        && let Some(t) = opt_str(planned, attr::TEMPLATE)
    {
        client
            .vm()
            .add_to_other_config(&vm, super::TEMPLATE_KEY, &t)
            .await
            .ctx("recording the template")?;
    }
    let settings = super::settings_json(config);
    if rec.other_config.get(super::SETTINGS_KEY) != Some(&settings) {
        client
            .vm()
            .remove_from_other_config(&vm, super::SETTINGS_KEY)
            .await
            .ctx("recording the settings")?;
        client
            .vm()
            .add_to_other_config(&vm, super::SETTINGS_KEY, &settings)
            .await
            .ctx("recording the settings")?;
    }
    if let Some(xs) = merged_tracked(
        &rec.xenstore_data,
        str_map(prior, attr::XENSTORE_DATA),
        str_map(planned, attr::XENSTORE_DATA),
    ) {
        client
            .vm()
            .set_xenstore_data(&vm, &xs)
            .await
            .ctx("setting xenstore_data")?;
    }
    if opt_str(planned, attr::AFFINITY_HOST) != opt_str(prior, attr::AFFINITY_HOST) {
        let host = match opt_str(planned, attr::AFFINITY_HOST) {
            Some(h) => {
                pool.resolve_host(&h)
                    .await
                    .map_err(|e| {
                        StepError::at(
                            AttributePath::new(attr::AFFINITY_HOST),
                            e.summary(),
                            e.to_string(),
                        )
                    })?
                    .0
            }
            None => xapi::Ref::null(),
        };
        client
            .vm()
            .set_affinity(&vm, &host)
            .await
            .ctx("setting the affinity host")?;
    }
    let mut hvm = rec.hvm_boot_params.clone();
    if let Some(f) = opt_str(planned, attr::BOOT_FIRMWARE) {
        hvm.insert("firmware".into(), f);
    }
    if let Some(o) = opt_str(planned, attr::BOOT_ORDER) {
        hvm.insert("order".into(), o);
    }
    if hvm != rec.hvm_boot_params {
        client
            .vm()
            .set_hvm_boot_params(&vm, &hvm)
            .await
            .ctx("setting HVM_boot_params")?;
    }
    if let Some(sb) = bool_at(planned, attr::SECURE_BOOT).value()
        && (rec.platform.get("secureboot").map(String::as_str) == Some("true")) != sb
    {
        let mut p = rec.platform.clone();
        p.insert("secureboot".into(), sb.to_string());
        client
            .vm()
            .set_platform(&vm, &p)
            .await
            .ctx("setting platform:secureboot")?;
        rec.platform = p;
    }

    // Memory.
    if let Some(target) = limits_from_state(at(planned, attr::MEMORY)) {
        let current = MemoryLimits::of(&rec);
        match classify(&current, &target) {
            MemoryChange::None => {}
            MemoryChange::DynamicOnly => client
                .vm()
                .set_memory_dynamic_range(&vm, target.dynamic_min, target.dynamic_max)
                .await
                .ctx("changing the dynamic memory range (VM.set_memory_dynamic_range)")?,
            MemoryChange::Static => client
                .vm()
                .set_memory_limits(&vm, target)
                .await
                .ctx("setting the memory limits (VM.set_memory_limits)")?,
        }
    }

    // vCPUs.
    let current_cpu = CpuState {
        at_startup: rec.vcpus_at_startup,
        max: rec.vcpus_max,
        cores_per_socket: rec
            .platform
            .get("cores-per-socket")
            .and_then(|c| c.parse().ok()),
    };
    let target_cpu = CpuState {
        at_startup: int_at(planned, attr::VCPUS)
            .value()
            .unwrap_or(current_cpu.at_startup),
        max: int_at(planned, attr::VCPUS_MAX)
            .value()
            .unwrap_or(current_cpu.max),
        cores_per_socket: match int_at(planned, attr::CORES_PER_SOCKET) {
            Known::Value(c) => Some(c),
            Known::Null => None,
            Known::Unknown => current_cpu.cores_per_socket,
        },
    };
    apply_cpu_steps(
        client,
        &vm,
        &steps(&current_cpu, &target_cpu, running),
        &rec.platform,
    )
    .await?;

    // Disks.
    let mut target_sr = TargetSr::new(pool, opt_str(planned, attr::SR));
    let cfg_disks = elements(config, attr::DISK).to_vec();
    let prior_disks = elements(prior, attr::DISK).to_vec();
    let mut vbds = vbds_direct(client, &rec.vbds).await?;
    let mut matched_prior = BTreeSet::new();
    let mut disk_devices = Vec::new();
    for (i, d) in elements(planned, attr::DISK).iter().enumerate() {
        let size = int_at(d, disk::SIZE).value().unwrap_or(0);
        let prior_entry = match_prior_disk(&cfg_disks, &prior_disks, i);
        let existing_uuid = prior_entry.and_then(|p| opt_str(p, disk::VDI_UUID));
        let dev_cfg = opt_str(d, disk::DEVICE);
        let existing = match &existing_uuid {
            Some(u) => vbds
                .iter()
                .find(|(_, _, v)| v.as_ref().is_some_and(|(_, r)| r.uuid == *u)),
            None => dev_cfg.as_ref().and_then(|dev| {
                vbds.iter().find(|(_, b, v)| {
                    b.userdevice == *dev && b.vbd_type == xapi::VbdType::Disk && v.is_some()
                })
            }),
        };
        if let Some(u) = &existing_uuid {
            matched_prior.insert(u.clone());
        }
        if let Some((_, b, Some((vdi_ref, vdi)))) = existing {
            if size > vdi.virtual_size {
                client
                    .vdi()
                    .resize(vdi_ref, size)
                    .await
                    .ctx(format!("growing disk {} to {size} bytes", b.userdevice))?;
            } else if size < vdi.virtual_size {
                return Err(StepError::at(
                    AttributePath::new(attr::DISK)
                        .index(i as i64)
                        .attr(disk::SIZE),
                    "Disks cannot shrink",
                    format!(
                        "disk {} is {} bytes; XAPI can only grow a disk.",
                        b.userdevice, vdi.virtual_size
                    ),
                ));
            }
            if existing_uuid.is_none() {
                disks::mark_entry(client, vdi_ref, Some("template")).await?;
            }
            disk_devices.push(b.userdevice.clone());
            continue;
        }
        let used: BTreeSet<String> = vbds.iter().map(|(_, b, _)| b.userdevice.clone()).collect();
        let device = dev_cfg.unwrap_or_else(|| disks::first_free_device(&used, &["3"]));
        let dsr = match opt_str(d, disk::SR) {
            Some(t) => {
                pool.resolve_sr(&t)
                    .await
                    .map_err(|e| {
                        StepError::at(
                            AttributePath::new(attr::DISK)
                                .index(i as i64)
                                .attr(disk::SR),
                            e.summary(),
                            e.to_string(),
                        )
                    })?
                    .0
            }
            None => target_sr.get().await?,
        };
        let name = opt_str(d, disk::NAME_LABEL)
            .unwrap_or_else(|| format!("{} disk {device}", rec.name_label));
        hotplug.ready(ctx, client).await?;
        disks::create_disk(client, &vm, &uuid, &dsr, size, &name, &device, running).await?;
        vbds = vm_vbds_direct(client, &vm).await?;
        disk_devices.push(device);
    }
    for p in &prior_disks {
        let Some(u) = opt_str(p, disk::VDI_UUID) else {
            continue;
        };
        if matched_prior.contains(&u) {
            continue;
        }
        if let Some((vbd, b, Some((vdi_ref, vdi)))) = vbds
            .iter()
            .find(|(_, _, v)| v.as_ref().is_some_and(|(_, r)| r.uuid == u))
        {
            if disks::is_created_disk(vdi) {
                hotplug.ready(ctx, client).await?;
                disks::destroy_disk(client, Some((vbd, b)), vdi_ref).await?;
            } else {
                disks::mark_entry(client, vdi_ref, None).await?;
            }
        }
    }
    if !at(planned, attr::CDROM).is_null() {
        let wanted = match opt_str(planned, attr::CDROM) {
            Some(t) if !t.is_empty() => Some(
                pool.resolve_vdi(&t)
                    .await
                    .map_err(|e| {
                        StepError::at(AttributePath::new(attr::CDROM), e.summary(), e.to_string())
                    })?
                    .0,
            ),
            _ => None,
        };
        disks::set_cdrom(client, &vm, &vbds, wanted.as_ref()).await?;
    }

    // Interfaces.
    let prior_nics = elements(prior, attr::NETWORK_INTERFACE).to_vec();
    let mut vifs = Vec::new();
    for r in &rec.vifs {
        vifs.push((
            r.clone(),
            client.vif().get_record(r).await.ctx("reading a VIF")?,
        ));
    }
    let specs = nics::specs(config);
    let prefix: MacPrefix = ctx
        .provider_data::<ProviderConfig>()
        .and_then(|c| c.mac_prefix().ok())
        .unwrap_or_default();
    let mut in_use: Option<crate::mac::MacSet> = None;
    let mut macs = Vec::new();
    let mut kept_devices = BTreeSet::new();
    let mut vif_changed = false;
    for n in &specs {
        let device = n.effective_device().value().unwrap_or(n.index as i64);
        kept_devices.insert(device);
        let p = nics::prior_by_device(&prior_nics, device);
        let action = nics::action(n, p);
        let prior_mac = p.and_then(|p| opt_str(p, nic::MAC));
        let old_vif = vifs.iter().find(|(_, v)| v.device == device.to_string());
        if action == NicAction::Keep && old_vif.is_some() {
            macs.push(prior_mac.unwrap_or_default());
            continue;
        }
        vif_changed = true;
        hotplug.ready(ctx, client).await?;
        if let Some((r, v)) = old_vif {
            nics::destroy_vif(client, r, running && v.currently_attached).await?;
        }
        let configured = match &n.mac {
            Known::Value(m) => Some(m.clone()),
            _ => prior_mac,
        };
        if in_use.is_none() {
            in_use = Some(nics::pool_macs(pool).await?);
        }
        let set_ = in_use.get_or_insert_with(crate::mac::MacSet::new);
        let mac = nics::choose_mac(n.index, configured.as_deref(), &prefix, set_)?;
        let text = match &n.network {
            Known::Value(t) => t.clone(),
            _ => String::new(),
        };
        let (net_ref, net) = pool.resolve_network(&text).await.map_err(|e| {
            StepError::at(
                AttributePath::new(attr::NETWORK_INTERFACE)
                    .index(n.index as i64)
                    .attr(nic::NETWORK),
                e.summary(),
                e.to_string(),
            )
        })?;
        nics::create_vif(
            client,
            &vm,
            &net_ref,
            &text,
            net.mtu,
            device,
            &mac,
            n.mtu.value(),
            running,
        )
        .await?;
        macs.push(mac);
    }
    for p in &prior_nics {
        let Some(d) = int_at(p, nic::DEVICE).value() else {
            continue;
        };
        if kept_devices.contains(&d) {
            continue;
        }
        if let Some((r, v)) = vifs.iter().find(|(_, v)| v.device == d.to_string()) {
            vif_changed = true;
            hotplug.ready(ctx, client).await?;
            nics::destroy_vif(client, r, running && v.currently_attached).await?;
        }
    }

    // Config drive: rebuilt in place when its contents change.
    let mut planned_macs = planned.clone();
    if let Some(Value::List(items)) = planned_macs.get_mut(attr::NETWORK_INTERFACE) {
        for (item, mac) in items.iter_mut().zip(&macs) {
            if !matches!(str_at(item, nic::MAC), Known::Value(_)) {
                set(item, nic::MAC, Value::from(mac.as_str()));
            }
        }
    }
    let new_drive = drive::drive_from(&planned_macs, &uuid, &drive::macs_of(&planned_macs))?;
    let old_drive = drive::drive_from(prior, &uuid, &drive::macs_of(prior))
        .ok()
        .flatten();
    let rec_now = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    let vbds = vbds_direct(client, &rec_now.vbds).await?;
    let current = drive::find_drive(&vbds, &uuid);
    let removed_on_purpose = rec_now
        .other_config
        .get(DRIVE_REMOVED_KEY)
        .map(String::as_str)
        == Some("true");
    let mut drive_attached = false;
    // The current drive stays attached as it is (contents unchanged).
    let mut drive_kept = false;
    match (&new_drive, current) {
        (None, Some((vbd, b, vdi, _))) => {
            drive::remove(client, vbd, running && b.currently_attached, vdi).await?
        }
        (None, None) => {}
        (Some(_), None) if removed_on_purpose && drive::remove_after_boot(planned) => {}
        (Some(new), cur) => {
            let new_image = drive::image(new)?;
            let same = match (&old_drive, cur) {
                (Some(old), Some(_)) => drive::image(old).ok().as_ref() == Some(&new_image),
                _ => false,
            };
            drive_kept = same;
            if !same {
                hotplug.ready(ctx, client).await?;
                let used: BTreeSet<String> =
                    vbds.iter().map(|(_, b, _)| b.userdevice.clone()).collect();
                let device = disks::first_free_device(&used, &["3"]);
                let sr = target_sr.get().await?;
                drive::attach(
                    client,
                    &vm,
                    &uuid,
                    &sr,
                    &device,
                    new_image,
                    running,
                    deadline.remaining(),
                )
                .await?;
                drive_attached = true;
                if let Some((vbd, b, vdi, _)) = cur {
                    drive::remove(client, vbd, running && b.currently_attached, vdi).await?;
                }
            }
        }
    }
    drop(guard);

    // Power.
    let rec = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    let mut started = false;
    if target_power == "running" && rec.power_state != PowerState::Running {
        if rec.power_state == PowerState::Halted {
            cancellable(ctx, "starting the VM", power::start(client, &vm, deadline)).await?;
        } else {
            return Err(StepError::new(
                "Cannot start the VM",
                format!(
                    "The VM is {} (resume it or shut it down first).",
                    power::state_text(&rec.power_state)
                ),
            ));
        }
        started = true;
    } else if target_power == "halted" && rec.power_state != PowerState::Halted {
        power::shutdown_step(ctx, client, &vm, &rec.power_state, config, deadline).await?;
    }
    // `remove_after_boot`: a drive still attached (new, rebuilt, or kept while
    // the VM was halted) goes once the guest agent has reported.
    // Known from the drive step above: power changes do not touch VBDs.
    let drive_present = drive_attached || drive_kept;
    let remove = drive_present && drive::remove_after_boot(planned);
    if target_power == "running" && (started || vif_changed || drive_attached || remove) {
        wait_for_guest_and_remove_drive(ctx, client, &vm, &uuid, config, &specs, remove, deadline)
            .await?;
    }

    // Sysprep (added to an existing VM, or run = "on_change" with a changed
    // unattend); it leaves the VM in the target power state.
    let sysprep_decision = super::sysprep::decide(config, prior);
    super::sysprep::run_if_decided(
        ctx,
        client,
        &vm,
        config,
        &sysprep_decision,
        target_power == "running",
        &specs,
        deadline,
        diags,
    )
    .await?;

    tracing::info!(vm = %uuid, started, vif_changed, drive_attached, "VM updated");
    read::state_after_apply(
        pool,
        &vm,
        planned,
        &disk_devices,
        &sysprep_decision,
        "The VM no longer exists.",
    )
    .await
}

/// Waits once for PV drivers before the first hot-plug of an update.
struct HotplugGate {
    needed: bool,
    vm: VmRef,
    deadline: Deadline,
    done: std::sync::atomic::AtomicBool,
}

impl HotplugGate {
    async fn ready(&self, ctx: &Context, client: &xapi::Client) -> StepResult<()> {
        use std::sync::atomic::Ordering;
        if !self.needed || self.done.load(Ordering::Relaxed) {
            return Ok(());
        }
        cancellable(
            ctx,
            "waiting for the guest's PV drivers",
            power::wait_for_pv_drivers(client, &self.vm, &self.deadline),
        )
        .await?;
        self.done.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The SR new disks and a rebuilt config drive go to: the configured `sr`, or
/// the pool's default SR. Looked up only when something is created, so an
/// update that creates nothing needs no SR (and works on a pool without a
/// default SR).
struct TargetSr<'a> {
    pool: &'a Pool,
    configured: Option<String>,
    resolved: Option<SrRef>,
}

impl<'a> TargetSr<'a> {
    fn new(pool: &'a Pool, configured: Option<String>) -> Self {
        TargetSr {
            pool,
            configured,
            resolved: None,
        }
    }

    async fn get(&mut self) -> StepResult<SrRef> {
        if let Some(sr) = &self.resolved {
            return Ok(sr.clone());
        }
        let sr = match &self.configured {
            Some(text) => {
                self.pool
                    .resolve_sr(text)
                    .await
                    .map_err(|e| {
                        StepError::at(AttributePath::new(attr::SR), e.summary(), e.to_string())
                    })?
                    .0
            }
            None => default_sr(self.pool).await?.0,
        };
        self.resolved = Some(sr.clone());
        Ok(sr)
    }
}
