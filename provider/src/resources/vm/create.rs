//! Create: resolve every reference first (nothing is created when a name is
//! wrong), clone or copy the template, set everything while the VM is halted
//! (one boot), provision disks, create VIFs with provider-chosen MACs, attach
//! the config drive, start, wait. A failure part-way destroys what was made
//! and returns the XAPI error with context.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use schema::{AttributePath, Diagnostics, Value};
use xapi::{Client, NetworkRecord, NetworkRef, PowerState, SrRef, VdiRef, VmRecord, VmRef};

use super::config_drive as drive;
use super::cpu::{CpuSpec, CpuState, CpuStep};
use super::disks;
use super::memory_limits::MemorySpec;
use super::network_interfaces::{self as nics, NicSpec};
use super::power::{self, Deadline, GuestWait, cancellable};
use super::read;
use super::schema::{attr, disk, mem, nic, to};
use super::values::{Known, at, bool_at, elements, int_at, opt_str, str_map};
use super::{
    CLONE_TYPE_KEY, DEFAULT_CREATE_TIMEOUT, DRIVE_REMOVED_KEY, OWNER_KEY, OWNER_VALUE, SR_KEY,
    StepError, StepResult, TEMPLATE_KEY, TEMPLATE_UUID_KEY, VM_KEY, XapiContext,
};
use crate::framework::{Context, CreateRequest, NewState};
use crate::mac::MacPrefix;
use crate::pool::Pool;
use crate::provider_config::ProviderConfig;

/// References resolved before anything is created.
struct Resolved {
    template: VmRef,
    template_rec: VmRecord,
    sr: SrRef,
    sr_uuid: String,
    networks: Vec<(NetworkRef, NetworkRecord)>,
    affinity: Option<xapi::HostRef>,
    cdrom: Option<Option<VdiRef>>,
    disk_srs: Vec<Option<SrRef>>,
}

/// The pool's default SR, or an error asking for `sr`.
pub async fn default_sr(pool: &Pool) -> StepResult<(SrRef, String)> {
    let pools = pool.all::<xapi::Pool>().await.ctx("reading the pool")?;
    let sr = pools
        .values()
        .next()
        .map(|p| p.default_sr.clone())
        .filter(|r| !r.is_null())
        .ok_or_else(|| {
            StepError::at(
                AttributePath::new(attr::SR),
                "No default SR",
                "The pool has no default SR; set sr.",
            )
        })?;
    let rec = pool
        .record::<xapi::Sr>(&sr)
        .await
        .ctx("reading the default SR")?
        .ok_or_else(|| StepError::new("No default SR", "The pool's default SR does not exist."))?;
    Ok((sr, rec.uuid))
}

fn at_path(path: AttributePath) -> impl FnOnce(crate::pool::PoolError) -> StepError {
    move |e| StepError::at(path, e.summary(), e.to_string())
}

async fn resolve(pool: &Pool, config: &Value) -> StepResult<Resolved> {
    let template_text = opt_str(config, attr::TEMPLATE).unwrap_or_default();
    let (template, template_rec) = pool
        .resolve_template(&template_text)
        .await
        .map_err(at_path(AttributePath::new(attr::TEMPLATE)))?;
    let (sr, sr_uuid) = match opt_str(config, attr::SR) {
        Some(t) => {
            let (r, rec) = pool
                .resolve_sr(&t)
                .await
                .map_err(at_path(AttributePath::new(attr::SR)))?;
            (r, rec.uuid)
        }
        None => default_sr(pool).await?,
    };
    let mut networks = Vec::new();
    for n in nics::specs(config) {
        let text = n.network.value_text();
        let found = pool.resolve_network(&text).await.map_err(at_path(
            AttributePath::new(attr::NETWORK_INTERFACE)
                .index(n.index as i64)
                .attr(nic::NETWORK),
        ))?;
        networks.push(found);
    }
    let affinity = match opt_str(config, attr::AFFINITY_HOST) {
        Some(h) => Some(
            pool.resolve_host(&h)
                .await
                .map_err(at_path(AttributePath::new(attr::AFFINITY_HOST)))?
                .0,
        ),
        None => None,
    };
    let cdrom = match opt_str(config, attr::CDROM) {
        None => None,
        Some(t) if t.is_empty() => Some(None),
        Some(t) => Some(Some(
            pool.resolve_vdi(&t)
                .await
                .map_err(at_path(AttributePath::new(attr::CDROM)))?
                .0,
        )),
    };
    let mut disk_srs = Vec::new();
    for (i, d) in elements(config, attr::DISK).iter().enumerate() {
        disk_srs.push(match opt_str(d, disk::SR) {
            Some(t) => Some(
                pool.resolve_sr(&t)
                    .await
                    .map_err(at_path(
                        AttributePath::new(attr::DISK)
                            .index(i as i64)
                            .attr(disk::SR),
                    ))?
                    .0,
            ),
            None => None,
        });
    }
    Ok(Resolved {
        template,
        template_rec,
        sr,
        sr_uuid,
        networks,
        affinity,
        cdrom,
        disk_srs,
    })
}

trait Text {
    fn value_text(&self) -> String;
}
impl Text for Known<String> {
    fn value_text(&self) -> String {
        match self {
            Known::Value(s) => s.clone(),
            _ => String::new(),
        }
    }
}

/// Rewrites the provisioning XML so that every `sr=""` names `sr_uuid`
/// (XAPI does not substitute the default SR; the CLI does the same rewrite).
pub fn rewrite_provision_sr(xml: &str, sr_uuid: &str) -> String {
    xml.replace("sr=\"\"", &format!("sr=\"{sr_uuid}\""))
        .replace("sr=''", &format!("sr=\"{sr_uuid}\""))
}

/// What a failing create has to remove.
#[derive(Default)]
struct Made {
    vm: Option<VmRef>,
    loose_vdis: Vec<VdiRef>,
}

/// Removes a half-created VM: hard shutdown, every disk of it (they were all
/// made for it: clones, provisioned, new, the config drive), then the VM.
async fn cleanup(client: &Client, made: &Made) -> Result<(), String> {
    let mut problems = Vec::new();
    for vdi in &made.loose_vdis {
        if let Err(e) = client.vdi().destroy(vdi).await
            && !e.is_not_found()
        {
            problems.push(format!("destroying VDI: {e}"));
        }
    }
    let Some(vm) = &made.vm else {
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        };
    };
    let rec = match client.vm().get_record(vm).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(format!("reading the VM: {e}")),
    };
    if matches!(
        rec.power_state,
        PowerState::Running | PowerState::Paused | PowerState::Suspended
    ) && let Err(e) = client.vm().hard_shutdown(vm).await
    {
        problems.push(format!("hard shutdown: {e}"));
    }
    for vbd in &rec.vbds {
        let Ok(b) = client.vbd().get_record(vbd).await else {
            continue;
        };
        if b.vbd_type != xapi::VbdType::Disk || b.vdi.is_null() {
            continue;
        }
        if let Err(e) = client.vdi().destroy(&b.vdi).await
            && !e.is_not_found()
        {
            problems.push(format!("destroying a disk: {e}"));
        }
    }
    if let Err(e) = client.vm().destroy(vm).await
        && !e.is_not_found()
    {
        problems.push(format!("destroying the VM: {e}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The operation (see the module docs).
pub async fn create(
    ctx: &Context,
    pool: &Arc<Pool>,
    req: &CreateRequest<'_>,
    diags: &mut Diagnostics,
) -> NewState {
    let name = opt_str(req.config, attr::NAME_LABEL).unwrap_or_default();
    let deadline = Deadline::after(super::timeout(
        req.config,
        to::CREATE,
        DEFAULT_CREATE_TIMEOUT,
    ));
    let mut made = Made::default();
    let result = run(ctx, pool, req, &deadline, &mut made, diags).await;
    pool.invalidate();
    match result {
        Ok(state) => NewState::new(state),
        Err(e) => {
            let mut e = e.context(format!("creating VM {name:?}"));
            if made.vm.is_some() || !made.loose_vdis.is_empty() {
                match pool.client().await {
                    Ok(client) => match cleanup(client, &made).await {
                        Ok(()) => {
                            e.detail
                                .push_str(" (everything created so far was removed)");
                        }
                        Err(p) => {
                            e.detail.push_str(&format!(
                                " (removing what was created failed: {p}; look for objects with \
                                 other_config {OWNER_KEY}={OWNER_VALUE})"
                            ));
                        }
                    },
                    Err(p) => e.detail.push_str(&format!(" (cleanup impossible: {p})")),
                }
                pool.invalidate();
            }
            e.push(diags);
            NewState::gone()
        }
    }
}

async fn run(
    ctx: &Context,
    pool: &Arc<Pool>,
    req: &CreateRequest<'_>,
    deadline: &Deadline,
    made: &mut Made,
    diags: &mut Diagnostics,
) -> StepResult<Value> {
    let config = req.config;
    let client = pool.client().await?;
    let r = resolve(pool, config).await?;

    // Everything that can be checked before creating anything.
    let limits = MemorySpec::from_value(at(config, attr::MEMORY))
        .resolve(r.template_rec.memory_static_min)
        .map_err(|m| {
            StepError::at(
                AttributePath::new(attr::MEMORY).attr(mem::STATIC_MIN),
                "Invalid memory limits",
                m,
            )
        })?;
    let template_cpu = CpuState {
        at_startup: r.template_rec.vcpus_at_startup,
        max: r.template_rec.vcpus_max,
        cores_per_socket: r
            .template_rec
            .platform
            .get("cores-per-socket")
            .and_then(|c| c.parse().ok()),
    };
    let cpu = CpuSpec::from_value(config).resolve(&template_cpu);
    if let Some(cps) = cpu.cores_per_socket
        && (cps < 1 || cpu.max % cps != 0)
    {
        return Err(StepError::at(
            AttributePath::new(attr::CORES_PER_SOCKET),
            "Invalid cores per socket",
            format!(
                "cores_per_socket ({cps}{}) does not divide vcpus_max ({}).",
                if at(config, attr::CORES_PER_SOCKET).is_null() {
                    ", the template's"
                } else {
                    ""
                },
                cpu.max
            ),
        ));
    }
    let prefix: MacPrefix = match ctx.provider_data::<ProviderConfig>() {
        Some(c) => c
            .mac_prefix()
            .map_err(|e| StepError::new("Provider configuration", e.to_string()))?,
        None => MacPrefix::Local,
    };
    let nic_specs: Vec<NicSpec> = nics::specs(config);
    let mut in_use = nics::pool_macs(pool).await?;
    let mut macs = Vec::new();
    for n in &nic_specs {
        let configured = match &n.mac {
            Known::Value(m) => Some(m.as_str()),
            _ => None,
        };
        if let Some(m) = configured
            && let Ok(mac) = crate::mac::MacAddress::parse(m)
            && in_use.contains(&mac)
        {
            diags.warning_at(
                AttributePath::new(attr::NETWORK_INTERFACE)
                    .index(n.index as i64)
                    .attr(nic::MAC),
                "MAC address already in use",
                format!("Another VIF in the pool already uses {m}; two interfaces with the same MAC on one network do not work."),
            );
        }
        let mac = nics::choose_mac(n.index, configured, &prefix, &mut in_use)?;
        macs.push(mac);
    }

    // Clone or copy.
    let name = opt_str(config, attr::NAME_LABEL).unwrap_or_default();
    let guard = pool.mutation().await;
    let full = opt_str(config, attr::CLONE_TYPE).as_deref() == Some("full");
    let vm = if full {
        client
            .vm()
            .copy_async(&r.template, &name, &r.sr, deadline.remaining())
            .await
            .ctx("copying the template (VM.copy)")?
    } else {
        client
            .vm()
            .clone_async(&r.template, &name, deadline.remaining())
            .await
            .ctx("cloning the template (VM.clone)")?
    };
    made.vm = Some(vm.clone());
    let rec = client
        .vm()
        .get_record(&vm)
        .await
        .ctx("reading the new VM")?;
    let vm_uuid = rec.uuid.clone();
    tracing::info!(vm = %vm_uuid, name = %name, template = %r.template_rec.uuid, full, "VM made from the template");

    // other_config: markers, recorded inputs, the user's keys, provisioning SR.
    let mut oc = rec.other_config.clone();
    if let Some(user) = str_map(config, attr::OTHER_CONFIG) {
        oc.extend(user);
    }
    oc.insert(OWNER_KEY.into(), OWNER_VALUE.into());
    oc.insert(
        TEMPLATE_KEY.into(),
        opt_str(config, attr::TEMPLATE).unwrap_or_default(),
    );
    oc.insert(TEMPLATE_UUID_KEY.into(), r.template_rec.uuid.clone());
    if let Some(c) = opt_str(config, attr::CLONE_TYPE) {
        oc.insert(CLONE_TYPE_KEY.into(), c);
    }
    if let Some(s) = opt_str(config, attr::SR) {
        oc.insert(SR_KEY.into(), s);
    }
    oc.insert(super::SETTINGS_KEY.into(), super::settings_json(config));
    if let Some(xml) = oc.get("disks").cloned() {
        oc.insert("disks".into(), rewrite_provision_sr(&xml, &r.sr_uuid));
    }
    client
        .vm()
        .set_other_config(&vm, &oc)
        .await
        .ctx("setting other_config")?;
    // Unset means empty (the clone inherited the template's description).
    let description = opt_str(config, attr::NAME_DESCRIPTION).unwrap_or_default();
    if description != rec.name_description {
        client
            .vm()
            .set_name_description(&vm, &description)
            .await
            .ctx("setting name_description")?;
    }
    client
        .vm()
        .set_memory_limits(&vm, limits)
        .await
        .ctx("setting the memory limits (VM.set_memory_limits)")?;
    apply_cpu_steps(
        client,
        &vm,
        &super::cpu::steps(&template_cpu, &cpu, false),
        &rec.platform,
    )
    .await?;
    let mut platform = client
        .vm()
        .get_record(&vm)
        .await
        .ctx("reading the VM")?
        .platform;
    let mut hvm = rec.hvm_boot_params.clone();
    let mut platform_changed = false;
    if let Some(sb) = bool_at(config, attr::SECURE_BOOT).value() {
        platform.insert("secureboot".into(), sb.to_string());
        platform_changed = true;
    }
    if platform_changed {
        client
            .vm()
            .set_platform(&vm, &platform)
            .await
            .ctx("setting platform")?;
    }
    let mut hvm_changed = false;
    if let Some(f) = opt_str(config, attr::BOOT_FIRMWARE) {
        hvm.insert("firmware".into(), f);
        hvm_changed = true;
    }
    if let Some(o) = opt_str(config, attr::BOOT_ORDER) {
        hvm.insert("order".into(), o);
        hvm_changed = true;
    }
    if hvm_changed {
        client
            .vm()
            .set_hvm_boot_params(&vm, &hvm)
            .await
            .ctx("setting HVM_boot_params")?;
    }
    if let Some(xs) = str_map(config, attr::XENSTORE_DATA) {
        let mut data = rec.xenstore_data.clone();
        data.extend(xs);
        client
            .vm()
            .set_xenstore_data(&vm, &data)
            .await
            .ctx("setting xenstore_data")?;
    }
    if !at(config, attr::TAGS).is_null() {
        let tags = super::values::str_list(config, attr::TAGS);
        client.vm().set_tags(&vm, &tags).await.ctx("setting tags")?;
    }
    if let Some(h) = &r.affinity {
        client
            .vm()
            .set_affinity(&vm, h)
            .await
            .ctx("setting the affinity host")?;
    }
    if rec.is_a_template {
        client
            .vm()
            .provision_async(&vm, deadline.remaining())
            .await
            .ctx("provisioning the disks (VM.provision)")?;
    }

    // Disks: mark the VM's own disks, resize / add entries.
    let rec = client.vm().get_record(&vm).await.ctx("reading the VM")?;
    let mut vbds = vbds_direct(client, &rec.vbds).await?;
    for (_, b, vdi) in &vbds {
        if b.vbd_type == xapi::VbdType::Disk
            && let Some((vr, v)) = vdi
            && !v.sharable
        {
            mark_vdi(client, vr, &vm_uuid).await?;
        }
    }
    let mut disk_devices: Vec<String> = Vec::new();
    for (i, d) in elements(config, attr::DISK).iter().enumerate() {
        let size = int_at(d, disk::SIZE).value().unwrap_or(0);
        let dev_cfg = opt_str(d, disk::DEVICE);
        let existing = dev_cfg.as_ref().and_then(|dev| {
            vbds.iter().find(|(_, b, v)| {
                b.userdevice == *dev && b.vbd_type == xapi::VbdType::Disk && v.is_some()
            })
        });
        if let Some((_, _, Some((vdi_ref, vdi)))) = existing {
            if size < vdi.virtual_size {
                return Err(StepError::at(
                    AttributePath::new(attr::DISK)
                        .index(i as i64)
                        .attr(disk::SIZE),
                    "Disks cannot shrink",
                    format!(
                        "The template's disk {} is {} bytes; disk[{i}].size asks for {size}. \
                         XAPI can only grow a disk.",
                        vdi.uuid, vdi.virtual_size
                    ),
                ));
            }
            if size > vdi.virtual_size {
                client.vdi().resize(vdi_ref, size).await.ctx(format!(
                    "growing disk {} to {size} bytes",
                    b_dev(dev_cfg.as_deref())
                ))?;
            }
            disks::mark_entry(client, vdi_ref, Some("template")).await?;
            disk_devices.push(dev_cfg.clone().unwrap_or_default());
            continue;
        }
        let used: BTreeSet<String> = vbds.iter().map(|(_, b, _)| b.userdevice.clone()).collect();
        let device = dev_cfg.unwrap_or_else(|| disks::first_free_device(&used, &["3"]));
        let sr = r
            .disk_srs
            .get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(|| r.sr.clone());
        let disk_name =
            opt_str(d, disk::NAME_LABEL).unwrap_or_else(|| format!("{name} disk {device}"));
        disks::create_disk(client, &vm, &vm_uuid, &sr, size, &disk_name, &device, false)
            .await
            .map_err(|e| e.context(format!("disk[{i}]")))?;
        vbds = vm_vbds_direct(client, &vm).await?;
        disk_devices.push(device);
    }
    if let Some(wanted) = &r.cdrom {
        disks::set_cdrom(client, &vm, &vbds, wanted.as_ref()).await?;
    }

    // VIFs: the template's are replaced by the configured ones.
    for vif in &rec.vifs {
        client
            .vif()
            .destroy(vif)
            .await
            .ctx("removing the template's VIFs")?;
    }
    for (n, ((net_ref, net), mac)) in nic_specs.iter().zip(r.networks.iter().zip(&macs)) {
        nics::create_vif(
            client,
            &vm,
            net_ref,
            &n.network.value_text(),
            net.mtu,
            n.effective_device().value().unwrap_or(n.index as i64),
            mac,
            n.mtu.value(),
            false,
        )
        .await?;
    }

    // Config drive.
    if let Some(d) = drive::drive_from(config, &vm_uuid, &macs)? {
        let image = drive::image(&d)?;
        let vbds = vm_vbds_direct(client, &vm).await?;
        let used: BTreeSet<String> = vbds.iter().map(|(_, b, _)| b.userdevice.clone()).collect();
        let device = disks::first_free_device(&used, &["3"]);
        drive::attach(
            client,
            &vm,
            &vm_uuid,
            &r.sr,
            &device,
            image,
            false,
            deadline.remaining(),
        )
        .await?;
    }
    // Sysprep needs an empty CD drive; XAPI cannot hot-plug one into a
    // running HVM guest, so it is made now, while the VM is halted.
    let sysprep_decision = super::sysprep::decide(config, &Value::Null);
    if sysprep_decision.runs_sysprep() {
        super::sysprep::ensure_empty_cd(client, &vm, &super::owned_other_config(&[]))
            .await
            .map_err(StepError::from)?;
    }
    drop(guard);

    // Power on and wait.
    let planned_power = super::plan::power_state(req.planned_state);
    if planned_power == "running" {
        cancellable(ctx, "starting the VM", power::start(client, &vm, deadline)).await?;
        let remove = drive::wanted(config) && drive::remove_after_boot(config);
        wait_for_guest_and_remove_drive(
            ctx, client, &vm, &vm_uuid, config, &nic_specs, remove, deadline,
        )
        .await?;
    }

    // Sysprep after the first boot; it leaves the VM in the planned power
    // state, and a running guest reports its addresses again.
    super::sysprep::run_if_decided(
        ctx,
        client,
        &vm,
        config,
        &sysprep_decision,
        planned_power == "running",
        &nic_specs,
        deadline,
        diags,
    )
    .await?;

    tracing::info!(vm = %vm_uuid, power = %planned_power, "VM created");
    // The state, as a refresh would see it.
    read::state_after_apply(
        pool,
        &vm,
        req.planned_state,
        &disk_devices,
        &sysprep_decision,
        "The new VM no longer exists.",
    )
    .await
}

fn b_dev(d: Option<&str>) -> String {
    d.unwrap_or("?").to_owned()
}

/// VBD records (and VDI records) read directly, bypassing the snapshot (used
/// while the VM is being changed).
pub async fn vbds_direct(
    client: &Client,
    refs: &[xapi::VbdRef],
) -> StepResult<Vec<disks::VbdInfo>> {
    let mut out = Vec::new();
    for r in refs {
        let b = client.vbd().get_record(r).await.ctx("reading a VBD")?;
        let vdi = if b.vdi.is_null() || b.empty {
            None
        } else {
            Some((
                b.vdi.clone(),
                client.vdi().get_record(&b.vdi).await.ctx("reading a VDI")?,
            ))
        };
        out.push((r.clone(), b, vdi));
    }
    Ok(out)
}

/// The VM's VBD (and VDI) records as they are now: the VM record is read again
/// and its VBDs through [`vbds_direct`].
pub async fn vm_vbds_direct(client: &Client, vm: &VmRef) -> StepResult<Vec<disks::VbdInfo>> {
    let rec = client.vm().get_record(vm).await.ctx("reading the VM")?;
    vbds_direct(client, &rec.vbds).await
}

/// Marks a VDI as made for this VM (destroyed with it).
pub async fn mark_vdi(client: &Client, vdi: &VdiRef, vm_uuid: &str) -> StepResult<()> {
    for (k, v) in [(OWNER_KEY, OWNER_VALUE), (VM_KEY, vm_uuid)] {
        client
            .call_void(
                "VDI.remove_from_other_config",
                vec![serde_json::json!(vdi), serde_json::json!(k)],
            )
            .await
            .ctx("marking the VM's disks")?;
        client
            .vdi()
            .add_to_other_config(vdi, k, v)
            .await
            .ctx("marking the VM's disks")?;
    }
    Ok(())
}

/// Applies CPU steps; `platform` is the VM's current platform map.
pub async fn apply_cpu_steps(
    client: &Client,
    vm: &VmRef,
    steps: &[CpuStep],
    platform: &BTreeMap<String, String>,
) -> StepResult<()> {
    for s in steps {
        match *s {
            CpuStep::SetMax(n) => client
                .vm()
                .set_vcpus_max(vm, n)
                .await
                .ctx("setting VCPUs_max")?,
            CpuStep::SetAtStartup(n) => client
                .vm()
                .set_vcpus_at_startup(vm, n)
                .await
                .ctx("setting VCPUs_at_startup")?,
            CpuStep::SetLive(n) => client
                .vm()
                .set_vcpus_number_live(vm, n)
                .await
                .ctx("changing the vCPU count live")?,
            CpuStep::SetCoresPerSocket(c) => {
                let mut p = platform.clone();
                match c {
                    Some(c) => p.insert("cores-per-socket".into(), c.to_string()),
                    None => p.remove("cores-per-socket"),
                };
                client
                    .vm()
                    .set_platform(vm, &p)
                    .await
                    .ctx("setting platform:cores-per-socket")?;
            }
        }
    }
    Ok(())
}

/// Waits for the guest as configured (`wait_for_guest`, `expected_ip_cidr`,
/// and the agent when the config drive goes after boot), then removes the
/// drive when `remove` says so.
#[allow(clippy::too_many_arguments)]
pub async fn wait_for_guest_and_remove_drive(
    ctx: &Context,
    client: &Client,
    vm: &VmRef,
    vm_uuid: &str,
    config: &Value,
    nic_specs: &[NicSpec],
    remove: bool,
    deadline: &Deadline,
) -> StepResult<()> {
    let wait = GuestWait::from_config(config, nic_specs, remove);
    cancellable(
        ctx,
        "waiting for the guest",
        power::wait_for_guest(client, vm, &wait, deadline),
    )
    .await?;
    if remove {
        remove_drive_after_boot(client, vm, vm_uuid).await?;
    }
    Ok(())
}

/// Detaches and destroys the config drive (after the guest agent reported)
/// and records that it was removed on purpose.
pub async fn remove_drive_after_boot(client: &Client, vm: &VmRef, vm_uuid: &str) -> StepResult<()> {
    let vbds = vm_vbds_direct(client, vm).await?;
    if let Some((vbd, b, vdi, _)) = drive::find_drive(&vbds, vm_uuid) {
        drive::remove(client, vbd, b.currently_attached, vdi).await?;
    }
    client
        .call_void(
            "VM.remove_from_other_config",
            vec![serde_json::json!(vm), serde_json::json!(DRIVE_REMOVED_KEY)],
        )
        .await
        .ctx("recording the drive removal")?;
    client
        .vm()
        .add_to_other_config(vm, DRIVE_REMOVED_KEY, "true")
        .await
        .ctx("recording the drive removal")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_xml_gets_the_sr() {
        let xml = r#"<provision><disk device="0" size="8589934592" sr="" bootable="true" type="system"/></provision>"#;
        let out = rewrite_provision_sr(xml, "sr-uuid");
        assert!(out.contains(r#"sr="sr-uuid""#));
        assert!(!out.contains(r#"sr="""#));
        let kept = r#"<disk sr="other"/>"#;
        assert_eq!(rewrite_provision_sr(kept, "x"), kept);
    }
}
