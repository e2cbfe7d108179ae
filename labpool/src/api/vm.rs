//! VM lifecycle (X `ocaml/xapi/xapi_vm_lifecycle.ml`, `xapi_vm.ml`, `xapi_vm_clone.ml`,
//! `xapi_templates.ml`, `message_forwarding.ml`): the operation gate, create, clone, copy,
//! provision, destroy, power operations, VCPU setters.

use std::collections::BTreeMap;

use crate::api::hostpool::{create_message, host_free_memory, refresh_host_memory};
use crate::api::storage;
use crate::db::{Db, new_ref, new_uuid, rb, ri, rmap, rs, rset};
use crate::dispatch::{Ctx, Effect, Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::value::{NULL_REF, Record, Value, now_datetime};

/// Every VM operation that can appear in `allowed_operations`.
const OPS: &[&str] = &[
    "snapshot",
    "clone",
    "copy",
    "revert",
    "checkpoint",
    "snapshot_with_quiesce",
    "provision",
    "start",
    "start_on",
    "pause",
    "unpause",
    "clean_shutdown",
    "clean_reboot",
    "hard_shutdown",
    "hard_reboot",
    "suspend",
    "resume",
    "resume_on",
    "pool_migrate",
    "migrate_send",
    "changing_dynamic_range",
    "changing_static_range",
    "changing_shadow_memory",
    "changing_NVRAM",
    "make_into_template",
    "export",
    "metadata_export",
    "destroy",
    "create_vtpm",
    "sysprep",
];

/// `allowed_power_states` (X `xapi_vm_lifecycle.ml` L32-98), lower case, in XAPI's order.
pub fn allowed_power_states(op: &str, control_domain: bool) -> &'static [&'static str] {
    match op {
        "changing_VCPUs" | "changing_static_range" | "changing_memory_limits" => {
            if control_domain {
                &["halted", "running"]
            } else {
                &["halted"]
            }
        }
        "changing_shadow_memory"
        | "changing_NVRAM"
        | "make_into_template"
        | "provision"
        | "start"
        | "start_on"
        | "create_vtpm" => &["halted"],
        "clean_reboot"
        | "clean_shutdown"
        | "pause"
        | "suspend"
        | "changing_VCPUs_live"
        | "changing_memory_live"
        | "changing_shadow_memory_live"
        | "pool_migrate"
        | "call_plugin"
        | "sysprep"
        | "send_sysrq"
        | "send_trigger" => &["running"],
        "changing_dynamic_range" => &["halted", "running"],
        "clone" | "copy" => &["halted"],
        "destroy" | "export" | "create_template" => &["halted", "suspended"],
        "hard_reboot" => &["paused", "running"],
        "hard_shutdown" | "shutdown" | "checkpoint" | "get_boot_record" => {
            &["paused", "suspended", "running"]
        }
        "unpause" => &["paused"],
        "resume" | "resume_on" | "csvm" => &["suspended"],
        "migrate_send" => &["halted", "suspended", "running"],
        _ => &["halted", "paused", "running", "suspended"],
    }
}

const TEMPLATE_OPS: &[&str] = &[
    "changing_dynamic_range",
    "changing_static_range",
    "changing_memory_limits",
    "changing_shadow_memory",
    "changing_VCPUs",
    "changing_NVRAM",
    "clone",
    "copy",
    "export",
    "metadata_export",
    "provision",
];

/// Whether the VM is a default template (`is_default_template` or
/// `other_config:default_template=true`).
pub fn is_default_template(rec: &Record) -> bool {
    rb(rec, "is_default_template")
        || rmap(rec, "other_config")
            .get("default_template")
            .map(String::as_str)
            == Some("true")
}

/// Whether the guest reported PV drivers (`PV_drivers_version` has `major` and `minor`).
pub fn has_pv_drivers(db: &Db, vm: &str) -> bool {
    let Ok(rec) = db.get("VM", vm) else {
        return false;
    };
    db.get("VM_guest_metrics", rs(rec, "guest_metrics"))
        .map(|gm| {
            let v = rmap(gm, "PV_drivers_version");
            v.contains_key("major") && v.contains_key("minor")
        })
        .unwrap_or(false)
}

/// The operation gate: the first failing check wins, in XAPI's order.
pub fn check_operation(db: &Db, vm: &str, op: &str) -> ApiResult<()> {
    let rec = db.get("VM", vm)?;
    if let Some(v) = rmap(rec, "blocked_operations").get(op) {
        return Err(ApiError::new(codes::OPERATION_BLOCKED, [vm, v.as_str()]));
    }
    let control = rb(rec, "is_control_domain");
    let actual = rs(rec, "power_state").to_lowercase();
    let allowed = allowed_power_states(op, control);
    if !allowed.contains(&actual.as_str()) {
        return Err(ApiError::new(
            codes::VM_BAD_POWER_STATE,
            [vm.to_string(), allowed.join(", "), actual],
        ));
    }
    let template = rb(rec, "is_a_template");
    let snapshot = rb(rec, "is_a_snapshot");
    if template
        && !snapshot
        && !TEMPLATE_OPS.contains(&op)
        && (op != "destroy" || is_default_template(rec))
    {
        return Err(ApiError::new(codes::VM_IS_TEMPLATE, [vm, op]));
    }
    if op == "provision" && !template {
        return Err(ApiError::bare(codes::ONLY_PROVISION_TEMPLATE));
    }
    if control
        && matches!(
            op,
            "changing_VCPUs"
                | "destroy"
                | "clone"
                | "copy"
                | "hard_shutdown"
                | "clean_shutdown"
                | "clean_reboot"
                | "hard_reboot"
                | "suspend"
                | "pause"
        )
    {
        return Err(ApiError::new(
            codes::OPERATION_NOT_ALLOWED,
            ["This operation is not allowed on dom0"],
        ));
    }
    if matches!(op, "clean_shutdown" | "clean_reboot")
        && rs(rec, "domain_type") == "hvm"
        && actual == "running"
        && !has_pv_drivers(db, vm)
    {
        let other = db
            .get("VM_guest_metrics", rs(rec, "guest_metrics"))
            .map(|gm| rmap(gm, "other"))
            .unwrap_or_default();
        let has = |k: &str| other.get(k).map(String::as_str) == Some("1");
        let ok = if op == "clean_shutdown" {
            has("feature-shutdown") || has("feature-poweroff")
        } else {
            has("feature-shutdown") || has("feature-reboot")
        };
        if !ok {
            return Err(ApiError::new(codes::VM_LACKS_FEATURE, [vm]));
        }
    }
    Ok(())
}

/// Recomputes `allowed_operations` of a VM (and of its VBDs and VIFs).
pub fn refresh_allowed_operations(db: &mut Db, vm: &str) {
    if !db.exists("VM", vm) {
        return;
    }
    let ops: Vec<&str> = OPS
        .iter()
        .copied()
        .filter(|op| check_operation(db, vm, op).is_ok())
        .collect();
    let cur = db
        .get("VM", vm)
        .map(|r| rset(r, "allowed_operations"))
        .unwrap_or_default();
    if cur != ops {
        let _ = db.update("VM", vm, |rec| {
            rec.insert("allowed_operations".into(), Value::str_set(ops));
        });
    }
    let (vbds, vifs) = match db.get("VM", vm) {
        Ok(r) => (rset(r, "VBDs"), rset(r, "VIFs")),
        Err(_) => return,
    };
    for b in vbds {
        storage::refresh_vbd_ops(db, &b);
    }
    for v in vifs {
        crate::api::vif::refresh_vif_ops(db, &v);
    }
}

fn vm_arg(ctx: &Ctx, a: &[Value]) -> ApiResult<String> {
    args::obj(ctx.db, "VM", a, 0)
}

/// Registers the VM calls.
pub fn register(r: &mut Registry) {
    r.sync("VM.create", &["args"], 0, true, |ctx, a| {
        let m = args::ctor(a)?;
        vm_create(ctx.db, &m).map(Value::Str)
    });
    r.sync("VM.clone", &["vm", "new_name"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        let name = args::string(a, 1)?;
        check_operation(ctx.db, &vm, "clone")?;
        copy_vm(ctx.db, &vm, &name, DiskMode::Clone).map(Value::Str)
    });
    r.sync("VM.copy", &["vm", "new_name", "sr"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        let name = args::string(a, 1)?;
        let sr = args::string(a, 2)?;
        check_operation(ctx.db, &vm, "copy")?;
        let sr = if ctx.db.exists("SR", &sr) {
            Some(sr)
        } else {
            None
        };
        if let Some(s) = &sr
            && storage::is_iso_sr(ctx.db, s)
        {
            return Err(ApiError::new(
                codes::OPERATION_NOT_ALLOWED,
                ["Cannot copy a VM's disks to an ISO SR"],
            ));
        }
        copy_vm(ctx.db, &vm, &name, DiskMode::Copy(sr)).map(Value::Str)
    });
    r.sync("VM.provision", &["vm"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        provision(ctx.db, &vm)?;
        Ok(Value::s(""))
    });
    r.sync("VM.destroy", &["self"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        destroy(ctx.db, &vm)?;
        Ok(Value::s(""))
    });
    r.sync(
        "VM.set_is_a_template",
        &["self", "value"],
        0,
        false,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let v = args::boolean(a, 1)?;
            if v {
                check_operation(ctx.db, &vm, "make_into_template")?;
            }
            ctx.db.set("VM", &vm, "is_a_template", Value::Bool(v))?;
            refresh_allowed_operations(ctx.db, &vm);
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.start",
        &["vm", "start_paused", "force"],
        0,
        true,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let paused = args::boolean(a, 1)?;
            let force = args::boolean(a, 2)?;
            start(ctx, &vm, None, paused, force, "start")?;
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.start_on",
        &["vm", "host", "start_paused", "force"],
        0,
        true,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let host = args::obj(ctx.db, "host", a, 1)?;
            let paused = args::boolean(a, 2)?;
            let force = args::boolean(a, 3)?;
            start(ctx, &vm, Some(host), paused, force, "start_on")?;
            Ok(Value::s(""))
        },
    );
    for (name, op) in [
        ("VM.clean_shutdown", "clean_shutdown"),
        ("VM.hard_shutdown", "hard_shutdown"),
        ("VM.shutdown", "shutdown"),
    ] {
        r.sync(name, &["vm"], 0, true, move |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            check_operation(ctx.db, &vm, op)?;
            halt(ctx.db, &vm)?;
            Ok(Value::s(""))
        });
    }
    for (name, op) in [
        ("VM.clean_reboot", "clean_reboot"),
        ("VM.hard_reboot", "hard_reboot"),
    ] {
        r.sync(name, &["vm"], 0, true, move |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            check_operation(ctx.db, &vm, op)?;
            reboot(ctx, &vm)?;
            Ok(Value::s(""))
        });
    }
    r.sync("VM.pause", &["vm"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        check_operation(ctx.db, &vm, "pause")?;
        set_power(ctx.db, &vm, "Paused")?;
        Ok(Value::s(""))
    });
    r.sync("VM.unpause", &["vm"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        check_operation(ctx.db, &vm, "unpause")?;
        set_power(ctx.db, &vm, "Running")?;
        Ok(Value::s(""))
    });
    r.sync("VM.suspend", &["vm"], 0, true, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        check_operation(ctx.db, &vm, "suspend")?;
        suspend(ctx.db, &vm)?;
        Ok(Value::s(""))
    });
    r.sync(
        "VM.resume",
        &["vm", "start_paused", "force"],
        0,
        true,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let paused = args::boolean(a, 1)?;
            check_operation(ctx.db, &vm, "resume")?;
            resume(ctx, &vm, paused)?;
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.set_VCPUs_max",
        &["self", "value"],
        0,
        false,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let n = args::int(a, 1)?;
            check_operation(ctx.db, &vm, "changing_VCPUs")?;
            let at = ri(ctx.db.get("VM", &vm)?, "VCPUs_at_startup");
            if n < 1 || n < at {
                return Err(vcpu_invalid(n));
            }
            ctx.db.set("VM", &vm, "VCPUs_max", Value::Int(n))?;
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.set_VCPUs_at_startup",
        &["self", "value"],
        0,
        false,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let n = args::int(a, 1)?;
            let rec = ctx.db.get("VM", &vm)?;
            if rb(rec, "is_control_domain") {
                return Err(ApiError::new(
                    codes::OPERATION_NOT_ALLOWED,
                    ["set_VCPUs_at_startup is not allowed on dom0"],
                ));
            }
            if n < 1 || n > ri(rec, "VCPUs_max") {
                return Err(vcpu_invalid(n));
            }
            ctx.db.set("VM", &vm, "VCPUs_at_startup", Value::Int(n))?;
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.set_VCPUs_number_live",
        &["self", "nvcpu"],
        0,
        true,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let n = args::int(a, 1)?;
            check_operation(ctx.db, &vm, "changing_VCPUs_live")?;
            let rec = ctx.db.get("VM", &vm)?;
            if n < 1 || n > ri(rec, "VCPUs_max") {
                return Err(vcpu_invalid(n));
            }
            let metrics = rs(rec, "metrics").to_string();
            ctx.db.set("VM", &vm, "VCPUs_at_startup", Value::Int(n))?;
            let _ = ctx.db.update("VM_metrics", &metrics, |m| {
                m.insert("VCPUs_number".into(), Value::Int(n));
            });
            Ok(Value::s(""))
        },
    );
    r.sync("VM.get_allowed_VIF_devices", &["vm"], 0, false, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        let used: Vec<u32> = ctx
            .db
            .all("VIF")
            .filter(|(_, v)| rs(v, "VM") == vm)
            .filter_map(|(_, v)| crate::api::vif::parse_device(rs(v, "device")))
            .collect();
        Ok(Value::str_set(
            (0..16u32)
                .filter(|d| !used.contains(d))
                .map(|d| d.to_string()),
        ))
    });
    r.sync("VM.get_allowed_VBD_devices", &["vm"], 0, false, |ctx, a| {
        let vm = vm_arg(ctx, a)?;
        let used: Vec<u32> = ctx
            .db
            .all("VBD")
            .filter(|(_, b)| rs(b, "VM") == vm)
            .filter_map(|(_, b)| storage::device_number(rs(b, "userdevice")))
            .collect();
        Ok(Value::str_set(
            (0..16u32)
                .filter(|d| !used.contains(d))
                .map(|d| d.to_string()),
        ))
    });
    r.sync(
        "VM.set_actions_after_crash",
        &["self", "value"],
        0,
        false,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let v = storage::parse_enum(
                &args::string(a, 1)?,
                &[
                    "destroy",
                    "coredump_and_destroy",
                    "restart",
                    "coredump_and_restart",
                    "preserve",
                    "rename_restart",
                ],
                "on_crash_behaviour",
            )?;
            ctx.db.set("VM", &vm, "actions_after_crash", Value::s(v))?;
            Ok(Value::s(""))
        },
    );
    r.sync(
        "VM.set_domain_type",
        &["self", "value"],
        0,
        false,
        |ctx, a| {
            let vm = vm_arg(ctx, a)?;
            let v = storage::parse_enum(
                &args::string(a, 1)?,
                &["hvm", "pv", "pv_in_pvh", "pvh", "unspecified"],
                "domain_type",
            )?;
            check_operation(ctx.db, &vm, "changing_static_range")?;
            ctx.db.set("VM", &vm, "domain_type", Value::s(v))?;
            Ok(Value::s(""))
        },
    );
}

fn vcpu_invalid(n: i64) -> ApiError {
    ApiError::new(
        codes::INVALID_VALUE,
        [
            "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max".to_string(),
            n.to_string(),
        ],
    )
}

/// Fields a `VM.create` struct must carry (the others have datamodel defaults).
const VM_CTOR_REQUIRED: &[&str] = &[
    "name_label",
    "name_description",
    "user_version",
    "is_a_template",
    "affinity",
    "memory_target",
    "memory_static_max",
    "memory_dynamic_max",
    "memory_dynamic_min",
    "memory_static_min",
    "VCPUs_params",
    "VCPUs_max",
    "VCPUs_at_startup",
    "actions_after_shutdown",
    "actions_after_reboot",
    "actions_after_crash",
    "PV_bootloader",
    "PV_kernel",
    "PV_ramdisk",
    "PV_args",
    "PV_bootloader_args",
    "PV_legacy_args",
    "HVM_boot_policy",
    "HVM_boot_params",
    "platform",
    "PCI_bus",
    "other_config",
    "recommendations",
];

const VM_CTOR_OPTIONAL: &[&str] = &[
    "power_state",
    "actions_after_softreboot",
    "HVM_shadow_multiplier",
    "xenstore_data",
    "ha_always_run",
    "ha_restart_priority",
    "tags",
    "blocked_operations",
    "protection_policy",
    "is_snapshot_from_vmpp",
    "snapshot_schedule",
    "is_vmss_snapshot",
    "appliance",
    "start_delay",
    "shutdown_delay",
    "order",
    "suspend_SR",
    "version",
    "generation_id",
    "hardware_platform_version",
    "has_vendor_device",
    "reference_label",
    "domain_type",
    "NVRAM",
    "suspend_VDI",
    "last_booted_record",
    "last_boot_CPU_flags",
];

/// A rough per-VM overhead (XAPI computes it from shadow memory and VCPUs).
pub fn memory_overhead(static_max: i64, vcpus: i64) -> i64 {
    let mib = 1 << 20;
    ((static_max / 128 + vcpus * mib + mib - 1) / mib) * mib
}

/// `VM.create`.
pub fn vm_create(db: &mut Db, m: &BTreeMap<String, Value>) -> ApiResult<String> {
    let mut rec = Record::new();
    for f in VM_CTOR_REQUIRED {
        let v = args::field(m, f)?;
        let def = crate::db::schema::field_default("VM", f).unwrap_or(Value::s(""));
        rec.insert(f.to_string(), crate::db::schema::coerce(&def, v)?);
    }
    for f in VM_CTOR_OPTIONAL {
        if let Some(v) = m.get(*f) {
            let def = crate::db::schema::field_default("VM", f).unwrap_or(Value::s(""));
            rec.insert(f.to_string(), crate::db::schema::coerce(&def, v)?);
        }
    }
    let ps = rs(&rec, "power_state").to_string();
    if !ps.is_empty() {
        let v = storage::parse_enum(
            &ps,
            &["Halted", "Paused", "Running", "Suspended"],
            "vm_power_state",
        )?;
        rec.insert("power_state".into(), Value::s(v));
    }
    let affinity = rs(&rec, "affinity").to_string();
    if affinity != NULL_REF && !affinity.is_empty() && !db.exists("host", &affinity) {
        return Err(crate::db::handle_invalid("host", &affinity));
    }
    let mut oc = rmap(&rec, "other_config");
    oc.entry("mac_seed".into()).or_insert_with(new_uuid);
    rec.insert("other_config".into(), Value::str_map(oc));
    let overhead = memory_overhead(ri(&rec, "memory_static_max"), ri(&rec, "VCPUs_max"));
    rec.insert("memory_overhead".into(), Value::Int(overhead));
    let metrics = db.create("VM_metrics", &new_ref(), Record::new());
    rec.insert("metrics".into(), Value::Str(metrics));
    let vm = db.create("VM", &new_ref(), rec);
    refresh_allowed_operations(db, &vm);
    Ok(vm)
}

/// How disks are duplicated.
pub enum DiskMode {
    /// `VDI.clone` in the same SR.
    Clone,
    /// `VDI.copy` into this SR (None: each disk's own SR).
    Copy(Option<String>),
}

/// Shared implementation of `VM.clone` and `VM.copy` (X `xapi_vm_clone.ml`
/// `copy_vm_record`).
pub fn copy_vm(db: &mut Db, vm: &str, name: &str, mode: DiskMode) -> ApiResult<String> {
    let src = db.record("VM", vm)?;
    let mut rec = src.clone();
    for k in [
        "uuid",
        "VIFs",
        "VBDs",
        "consoles",
        "VUSBs",
        "crash_dumps",
        "VTPMs",
        "snapshots",
        "children",
        "allowed_operations",
        "current_operations",
        "VGPUs",
        "attached_PCIs",
    ] {
        rec.remove(k);
    }
    rec.insert("name_label".into(), Value::s(name));
    rec.insert("power_state".into(), Value::s("Halted"));
    rec.insert("is_default_template".into(), Value::Bool(false));
    rec.insert("parent".into(), Value::s(NULL_REF));
    rec.insert("is_a_snapshot".into(), Value::Bool(false));
    rec.insert("snapshot_of".into(), Value::s(NULL_REF));
    rec.insert("snapshot_time".into(), crate::value::epoch_datetime());
    rec.insert("snapshot_info".into(), Value::empty_map());
    rec.insert("snapshot_metadata".into(), Value::s(""));
    rec.insert("transportable_snapshot_id".into(), Value::s(""));
    rec.insert("blocked_operations".into(), Value::empty_map());
    rec.insert("ha_always_run".into(), Value::Bool(false));
    rec.insert("suspend_SR".into(), Value::s(NULL_REF));
    rec.insert("suspend_VDI".into(), Value::s(NULL_REF));
    rec.insert("start_delay".into(), Value::Int(0));
    rec.insert("shutdown_delay".into(), Value::Int(0));
    rec.insert("order".into(), Value::Int(0));
    rec.insert("version".into(), Value::Int(0));
    rec.insert("generation_id".into(), Value::s("0:0"));
    rec.insert("requires_reboot".into(), Value::Bool(false));
    rec.insert("domid".into(), Value::Int(-1));
    rec.insert("resident_on".into(), Value::s(NULL_REF));
    rec.insert("scheduled_to_be_resident_on".into(), Value::s(NULL_REF));
    rec.insert("pending_guidances".into(), Value::empty_set());
    let mut oc = rmap(&src, "other_config");
    oc.insert("mac_seed".into(), new_uuid());
    oc.remove("default_template");
    oc.remove("xensource_internal");
    if rb(&src, "is_a_template") && !oc.contains_key("base_template_name") {
        oc.insert(
            "base_template_name".into(),
            rs(&src, "name_label").to_string(),
        );
    }
    rec.insert("other_config".into(), Value::str_map(oc));
    // metrics and guest metrics are copied
    let metrics = db
        .record("VM_metrics", rs(&src, "metrics"))
        .unwrap_or_default();
    let mut metrics = metrics;
    metrics.remove("uuid");
    let m = db.create("VM_metrics", &new_ref(), metrics);
    rec.insert("metrics".into(), Value::Str(m));
    let gm_ref = rs(&src, "guest_metrics").to_string();
    if let Ok(mut gm) = db.record("VM_guest_metrics", &gm_ref) {
        gm.remove("uuid");
        let g = db.create("VM_guest_metrics", &new_ref(), gm);
        rec.insert("guest_metrics".into(), Value::Str(g));
    } else {
        rec.insert("guest_metrics".into(), Value::s(NULL_REF));
    }
    let new_vm = db.create("VM", &new_ref(), rec);
    // disks
    let vbds: Vec<Record> = rset(&src, "VBDs")
        .iter()
        .filter_map(|b| db.record("VBD", b).ok())
        .collect();
    let mut created_vdis = Vec::new();
    let result = (|| -> ApiResult<()> {
        for b in vbds {
            let mut nb = Record::new();
            for k in [
                "userdevice",
                "device",
                "bootable",
                "mode",
                "type",
                "unpluggable",
                "other_config",
                "qos_algorithm_type",
                "qos_algorithm_params",
                "empty",
            ] {
                if let Some(v) = b.get(k) {
                    nb.insert(k.to_string(), v.clone());
                }
            }
            nb.insert("VM".into(), Value::s(&new_vm));
            let vdi = rs(&b, "VDI").to_string();
            let new_vdi = if rb(&b, "empty") || vdi == NULL_REF {
                NULL_REF.to_string()
            } else if rs(&b, "type") == "CD" {
                vdi
            } else {
                let sr = rs(db.get("VDI", &vdi)?, "SR").to_string();
                let nv = match &mode {
                    DiskMode::Clone => storage::vdi_clone_into(db, &vdi, &sr, false)?,
                    DiskMode::Copy(target) => {
                        let t = target.clone().unwrap_or(sr);
                        storage::vdi_clone_into(db, &vdi, &t, true)?
                    }
                };
                created_vdis.push(nv.clone());
                let mut oc = rmap(&nb, "other_config");
                oc.entry("owner".into()).or_default();
                nb.insert("other_config".into(), Value::str_map(oc));
                nv
            };
            nb.insert("VDI".into(), Value::s(&new_vdi));
            let nbr = db.create("VBD", &new_ref(), nb);
            storage::refresh_vdi_ops(db, &new_vdi);
            let _ = nbr;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for v in created_vdis {
            let _ = storage::vdi_destroy(db, &v);
        }
        let _ = destroy_records(db, &new_vm);
        return Err(e);
    }
    // VIFs: new MACs from the new mac_seed
    let vifs: Vec<Record> = rset(&src, "VIFs")
        .iter()
        .filter_map(|v| db.record("VIF", v).ok())
        .collect();
    for v in vifs {
        let mut m = BTreeMap::new();
        for k in [
            "device",
            "network",
            "MTU",
            "other_config",
            "qos_algorithm_type",
            "qos_algorithm_params",
            "locking_mode",
            "ipv4_allowed",
            "ipv6_allowed",
        ] {
            if let Some(val) = v.get(k) {
                m.insert(k.to_string(), val.clone());
            }
        }
        m.insert("VM".into(), Value::s(&new_vm));
        m.insert("MAC".into(), Value::s(""));
        crate::api::vif::vif_create(db, &m)?;
    }
    refresh_allowed_operations(db, &new_vm);
    Ok(new_vm)
}

/// `VM.provision` (X `xapi_templates.ml`).
pub fn provision(db: &mut Db, vm: &str) -> ApiResult<()> {
    check_operation(db, vm, "provision")?;
    db.set("VM", vm, "is_a_template", Value::Bool(false))?;
    let metrics = rs(db.get("VM", vm)?, "metrics").to_string();
    let _ = db.update("VM_metrics", &metrics, |m| {
        m.insert("install_time".into(), now_datetime());
    });
    let oc = rmap(db.get("VM", vm)?, "other_config");
    let vm_uuid = args::uuid_of(db, "VM", vm);
    if let Some(xml) = oc.get("disks") {
        let disks = parse_provision_xml(xml)?;
        let mut made: Vec<(String, String)> = Vec::new();
        let res = (|| -> ApiResult<()> {
            for d in &disks {
                let sr = db
                    .by_uuid("SR", &d.sr)
                    .ok_or_else(|| ApiError::new(codes::UUID_INVALID, ["sr", d.sr.as_str()]))?;
                let mut m = BTreeMap::new();
                m.insert("name_label".to_string(), Value::s(""));
                m.insert(
                    "name_description".to_string(),
                    Value::s("Created by template provisioner"),
                );
                m.insert("SR".to_string(), Value::s(&sr));
                m.insert("virtual_size".to_string(), Value::Int(d.size));
                m.insert("type".to_string(), Value::s(&d.ty));
                m.insert("sharable".to_string(), Value::Bool(false));
                m.insert("read_only".to_string(), Value::Bool(false));
                m.insert("other_config".to_string(), Value::empty_map());
                m.insert(
                    "sm_config".to_string(),
                    Value::str_map([("vmhint", vm_uuid.as_str())]),
                );
                let vdi = storage::vdi_create(db, &m)?.to_string_value()?;
                let mut b = BTreeMap::new();
                b.insert("VM".to_string(), Value::s(vm));
                b.insert("VDI".to_string(), Value::s(&vdi));
                b.insert("userdevice".to_string(), Value::s(&d.device));
                b.insert("bootable".to_string(), Value::Bool(d.bootable));
                b.insert("mode".to_string(), Value::s("RW"));
                b.insert("type".to_string(), Value::s("Disk"));
                b.insert("unpluggable".to_string(), Value::Bool(d.ty != "system"));
                b.insert("empty".to_string(), Value::Bool(false));
                b.insert("other_config".to_string(), Value::str_map([("owner", "")]));
                b.insert("qos_algorithm_type".to_string(), Value::s(""));
                b.insert("qos_algorithm_params".to_string(), Value::empty_map());
                let vbd = match storage::vbd_create(db, &b) {
                    Ok(v) => v.to_string_value()?,
                    Err(e) => {
                        let _ = storage::vdi_destroy(db, &vdi);
                        return Err(e);
                    }
                };
                let userdevice = rs(db.get("VBD", &vbd)?, "userdevice").to_string();
                db.set("VDI", &vdi, "name_label", Value::Str(userdevice))?;
                made.push((vbd, vdi));
            }
            Ok(())
        })();
        if let Err(e) = res {
            for (vbd, vdi) in made {
                let _ = db.destroy("VBD", &vbd);
                let _ = storage::vdi_destroy(db, &vdi);
            }
            refresh_allowed_operations(db, vm);
            return Err(e);
        }
    }
    db.update("VM", vm, |rec| {
        if let Some(Value::Map(m)) = rec.get_mut("other_config") {
            m.remove("disks");
            m.remove("postinstall");
        }
    })?;
    refresh_allowed_operations(db, vm);
    Ok(())
}

/// One `<disk>` of a provisioning spec.
#[derive(Debug, PartialEq)]
pub struct ProvisionDisk {
    /// userdevice.
    pub device: String,
    /// Size in bytes.
    pub size: i64,
    /// SR uuid.
    pub sr: String,
    /// Bootable.
    pub bootable: bool,
    /// VDI type.
    pub ty: String,
}

/// Parses `<provision><disk device= size= sr= bootable= type=/>...</provision>`.
pub fn parse_provision_xml(xml: &str) -> ApiResult<Vec<ProvisionDisk>> {
    let bad = |m: String| ApiError::new(codes::INTERNAL_ERROR, [m]);
    let doc = roxmltree::Document::parse(xml).map_err(|e| bad(format!("Xml.Error({e})")))?;
    let mut out = Vec::new();
    for d in doc
        .root_element()
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "disk")
    {
        let attr = |n: &str| {
            d.attribute(n).map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "Xapi_templates.Parse_failure(\"missing attribute {n}\")"
                ))
            })
        };
        out.push(ProvisionDisk {
            device: attr("device")?,
            size: attr("size")?
                .parse()
                .map_err(|_| bad("Xapi_templates.Parse_failure(\"size\")".into()))?,
            sr: attr("sr")?,
            bootable: attr("bootable")? == "true",
            ty: d.attribute("type").unwrap_or("system").to_string(),
        });
    }
    Ok(out)
}

fn destroy_records(db: &mut Db, vm: &str) -> ApiResult<()> {
    let rec = db.record("VM", vm)?;
    for b in rset(&rec, "VBDs") {
        let vdi = db
            .get("VBD", &b)
            .map(|r| rs(r, "VDI").to_string())
            .unwrap_or_default();
        let _ = db.destroy("VBD", &b);
        storage::refresh_vdi_ops(db, &vdi);
    }
    for v in rset(&rec, "VIFs") {
        let _ = db.destroy("VIF", &v);
    }
    let _ = db.destroy("VM_metrics", rs(&rec, "metrics"));
    let _ = db.destroy("VM_guest_metrics", rs(&rec, "guest_metrics"));
    db.guests.remove(vm);
    db.destroy("VM", vm)?;
    Ok(())
}

/// `VM.destroy`: VBD and VIF records go, VDIs stay.
pub fn destroy(db: &mut Db, vm: &str) -> ApiResult<()> {
    check_operation(db, vm, "destroy")?;
    let rec = db.get("VM", vm)?;
    if is_default_template(rec) {
        return Err(ApiError::new(codes::VM_IS_TEMPLATE, [vm, "destroy"]));
    }
    destroy_records(db, vm)
}

fn pick_host(db: &Db, vm: &str, on: Option<String>, needed: i64) -> ApiResult<String> {
    let rec = db.get("VM", vm)?;
    let disks = storage::vm_disk_vdis(db, vm);
    let srs: Vec<String> = disks
        .iter()
        .filter_map(|v| db.get("VDI", v).ok().map(|r| rs(r, "SR").to_string()))
        .chain(
            rset(rec, "VBDs")
                .iter()
                .filter_map(|b| db.get("VBD", b).ok())
                .filter(|b| rs(b, "type") == "CD" && !rb(b, "empty"))
                .filter_map(|b| {
                    db.get("VDI", rs(b, "VDI"))
                        .ok()
                        .map(|v| rs(v, "SR").to_string())
                }),
        )
        .collect();
    let sees_all = |h: &str| {
        let hs = storage::host_srs(db, h);
        srs.iter().find(|s| !hs.contains(s)).cloned()
    };
    let fits = |h: &str| -> ApiResult<()> {
        if let Some(sr) = sees_all(h) {
            return Err(ApiError::new("VM_REQUIRES_SR", [vm, sr.as_str()]));
        }
        let free = host_free_memory(db, h);
        if needed > free {
            return Err(ApiError::new(
                codes::HOST_NOT_ENOUGH_FREE_MEMORY,
                [needed.to_string(), free.to_string()],
            ));
        }
        let hrec = db.get("host", h)?;
        let pcpus: i64 = rmap(hrec, "cpu_info")
            .get("cpu_count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(i64::MAX);
        let vcpus = ri(rec, "VCPUs_at_startup");
        if vcpus > pcpus {
            return Err(ApiError::new(
                "HOST_NOT_ENOUGH_PCPUS",
                [vcpus.to_string(), pcpus.to_string()],
            ));
        }
        Ok(())
    };
    if let Some(h) = on {
        fits(&h)?;
        return Ok(h);
    }
    let affinity = rs(rec, "affinity").to_string();
    let mut order: Vec<String> = Vec::new();
    if db.exists("host", &affinity) {
        order.push(affinity);
    }
    let mut hosts: Vec<(i64, String)> = db
        .all("host")
        .map(|(h, _)| (host_free_memory(db, h), h.clone()))
        .collect();
    hosts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    order.extend(hosts.into_iter().map(|(_, h)| h));
    let mut first_err = None;
    for h in order {
        match fits(&h) {
            Ok(()) => return Ok(h),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| ApiError::bare("NO_HOSTS_AVAILABLE")))
}

fn start_checks(db: &Db, vm: &str, force: bool) -> ApiResult<()> {
    let rec = db.get("VM", vm)?;
    let vmax = ri(rec, "VCPUs_max");
    let vat = ri(rec, "VCPUs_at_startup");
    if vmax < 1 {
        return Err(ApiError::new(
            codes::INVALID_VALUE,
            ["VCPUs_max".to_string(), vmax.to_string()],
        ));
    }
    if vat < 1 {
        return Err(ApiError::new(
            codes::INVALID_VALUE,
            ["VCPUs-at-startup".to_string(), vat.to_string()],
        ));
    }
    if vat > vmax {
        return Err(ApiError::new(
            codes::VALUE_NOT_SUPPORTED,
            [
                "VCPUs-at-startup".to_string(),
                vat.to_string(),
                "value greater than VCPUs-max".to_string(),
            ],
        ));
    }
    let platform = rmap(rec, "platform");
    if let Some(cps) = platform.get("cores-per-socket") {
        let n: i64 = cps.parse().map_err(|_| {
            ApiError::new(
                codes::INVALID_VALUE,
                ["platform:cores-per-socket", cps.as_str()],
            )
        })?;
        if n <= 0 {
            return Err(ApiError::new(
                codes::INVALID_VALUE,
                ["platform:cores-per-socket", cps.as_str()],
            ));
        }
        if vmax % n != 0 {
            return Err(ApiError::new(
                codes::VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE,
                [vmax.to_string(), n.to_string()],
            ));
        }
    }
    let (smin, smax, dmin, dmax) = (
        ri(rec, "memory_static_min"),
        ri(rec, "memory_static_max"),
        ri(rec, "memory_dynamic_min"),
        ri(rec, "memory_dynamic_max"),
    );
    if smax < smin || dmax < dmin {
        return Err(ApiError::bare(codes::MEMORY_CONSTRAINT_VIOLATION));
    }
    if !force
        && platform.get("nested-virt").map(String::as_str) == Some("true")
        && !(smin <= dmin && dmin == dmax && dmax == smax)
    {
        return Err(ApiError::new(
            codes::MEMORY_CONSTRAINT_VIOLATION_MAXPIN,
            ["nested virt"],
        ));
    }
    Ok(())
}

fn attach_devices(db: &mut Db, vm: &str, attached: bool) -> ApiResult<()> {
    let rec = db.record("VM", vm)?;
    for b in rset(&rec, "VBDs") {
        db.set("VBD", &b, "currently_attached", Value::Bool(attached))?;
        if attached {
            storage::assign_device(db, &b);
        }
        let vdi = rs(db.get("VBD", &b)?, "VDI").to_string();
        storage::refresh_vdi_ops(db, &vdi);
    }
    for v in rset(&rec, "VIFs") {
        db.set("VIF", &v, "currently_attached", Value::Bool(attached))?;
    }
    Ok(())
}

fn next_domid(db: &Db) -> i64 {
    db.all("VM")
        .map(|(_, v)| ri(v, "domid"))
        .max()
        .unwrap_or(0)
        .max(0)
        + 1
}

/// `VM.start` / `VM.start_on`.
pub fn start(
    ctx: &mut Ctx,
    vm: &str,
    on: Option<String>,
    paused: bool,
    force: bool,
    op: &str,
) -> ApiResult<()> {
    check_operation(ctx.db, vm, op)?;
    start_checks(ctx.db, vm, force)?;
    let rec = ctx.db.get("VM", vm)?;
    let needed = ri(rec, "memory_dynamic_min") + ri(rec, "memory_overhead");
    let host = pick_host(ctx.db, vm, on, needed)?;
    // "Clear out any VM guest metrics record"
    let gm = rs(rec, "guest_metrics").to_string();
    if ctx.db.exists("VM_guest_metrics", &gm) {
        ctx.db.destroy("VM_guest_metrics", &gm)?;
    }
    ctx.db.set("VM", vm, "guest_metrics", Value::s(NULL_REF))?;
    let domid = next_domid(ctx.db);
    ctx.db.set("VM", vm, "resident_on", Value::s(&host))?;
    let rec = ctx.db.record("VM", vm)?;
    let vcpus = ri(&rec, "VCPUs_at_startup");
    ctx.db.update("VM", vm, |r| {
        r.insert(
            "power_state".into(),
            Value::s(if paused { "Paused" } else { "Running" }),
        );
        r.insert("domid".into(), Value::Int(domid));
        r.insert(
            "memory_target".into(),
            Value::Int(ri(&rec, "memory_dynamic_max")),
        );
    })?;
    let metrics = rs(&rec, "metrics").to_string();
    let _ = ctx.db.update("VM_metrics", &metrics, |m| {
        m.insert("start_time".into(), now_datetime());
        m.insert("last_updated".into(), now_datetime());
        m.insert(
            "memory_actual".into(),
            Value::Int(ri(&rec, "memory_dynamic_max")),
        );
        m.insert("VCPUs_number".into(), Value::Int(vcpus));
        m.insert("state".into(), Value::empty_set());
        m.insert(
            "current_domain_type".into(),
            Value::Str(rs(&rec, "domain_type").to_string()),
        );
    });
    attach_devices(ctx.db, vm, true)?;
    refresh_host_memory(ctx.db);
    create_message(ctx.db, "VM_STARTED", 5, "VM", rs(&rec, "uuid"), "");
    if !paused {
        let boot = crate::guest::begin_boot(ctx.db, vm);
        ctx.effects.push(Effect::GuestBoot {
            vm: vm.to_string(),
            boot,
        });
    }
    refresh_allowed_operations(ctx.db, vm);
    Ok(())
}

/// Moves a VM to Halted (clean or hard shutdown; the simulation has no difference).
pub fn halt(db: &mut Db, vm: &str) -> ApiResult<()> {
    let rec = db.record("VM", vm)?;
    if rs(&rec, "power_state") == "Suspended" {
        let sv = rs(&rec, "suspend_VDI").to_string();
        if db.exists("VDI", &sv) {
            db.set("VM", vm, "suspend_VDI", Value::s(NULL_REF))?;
            storage::vdi_destroy(db, &sv)?;
        }
    }
    crate::guest::stop(db, vm);
    db.set("VM", vm, "resident_on", Value::s(NULL_REF))?;
    db.update("VM", vm, |r| {
        r.insert("power_state".into(), Value::s("Halted"));
        r.insert("domid".into(), Value::Int(-1));
        r.insert("ha_always_run".into(), Value::Bool(false));
    })?;
    let metrics = rs(&rec, "metrics").to_string();
    let _ = db.update("VM_metrics", &metrics, |m| {
        m.insert("memory_actual".into(), Value::Int(0));
        m.insert("VCPUs_number".into(), Value::Int(0));
        m.insert("last_updated".into(), now_datetime());
    });
    attach_devices(db, vm, false)?;
    refresh_host_memory(db);
    create_message(db, "VM_SHUTDOWN", 5, "VM", rs(&rec, "uuid"), "");
    refresh_allowed_operations(db, vm);
    Ok(())
}

fn reboot(ctx: &mut Ctx, vm: &str) -> ApiResult<()> {
    let domid = next_domid(ctx.db);
    ctx.db.update("VM", vm, |r| {
        r.insert("power_state".into(), Value::s("Running"));
        r.insert("domid".into(), Value::Int(domid));
    })?;
    let uuid = args::uuid_of(ctx.db, "VM", vm);
    create_message(ctx.db, "VM_REBOOTED", 5, "VM", &uuid, "");
    let boot = crate::guest::begin_boot(ctx.db, vm);
    ctx.effects.push(Effect::GuestBoot {
        vm: vm.to_string(),
        boot,
    });
    refresh_allowed_operations(ctx.db, vm);
    Ok(())
}

fn set_power(db: &mut Db, vm: &str, state: &str) -> ApiResult<()> {
    db.update("VM", vm, |r| {
        r.insert("power_state".into(), Value::s(state));
    })?;
    refresh_allowed_operations(db, vm);
    Ok(())
}

fn suspend(db: &mut Db, vm: &str) -> ApiResult<()> {
    let rec = db.record("VM", vm)?;
    let sr = db
        .all("pool")
        .next()
        .map(|(_, p)| rs(p, "default_SR").to_string())
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert("name_label".to_string(), Value::s("Suspend image"));
    m.insert("name_description".to_string(), Value::s(""));
    m.insert("SR".to_string(), Value::s(&sr));
    m.insert(
        "virtual_size".to_string(),
        Value::Int(ri(&rec, "memory_static_max")),
    );
    m.insert("type".to_string(), Value::s("suspend"));
    m.insert("sharable".to_string(), Value::Bool(false));
    m.insert("read_only".to_string(), Value::Bool(false));
    m.insert("other_config".to_string(), Value::empty_map());
    let vdi = storage::vdi_create(db, &m)?.to_string_value()?;
    crate::guest::stop(db, vm);
    db.set("VM", vm, "resident_on", Value::s(NULL_REF))?;
    db.update("VM", vm, |r| {
        r.insert("power_state".into(), Value::s("Suspended"));
        r.insert("domid".into(), Value::Int(-1));
        r.insert("suspend_VDI".into(), Value::s(&vdi));
    })?;
    attach_devices(db, vm, false)?;
    refresh_host_memory(db);
    refresh_allowed_operations(db, vm);
    Ok(())
}

fn resume(ctx: &mut Ctx, vm: &str, paused: bool) -> ApiResult<()> {
    let rec = ctx.db.record("VM", vm)?;
    let needed = ri(&rec, "memory_dynamic_min") + ri(&rec, "memory_overhead");
    let host = pick_host(ctx.db, vm, None, needed)?;
    let sv = rs(&rec, "suspend_VDI").to_string();
    let domid = next_domid(ctx.db);
    ctx.db.set("VM", vm, "resident_on", Value::s(&host))?;
    ctx.db.update("VM", vm, |r| {
        r.insert(
            "power_state".into(),
            Value::s(if paused { "Paused" } else { "Running" }),
        );
        r.insert("domid".into(), Value::Int(domid));
        r.insert("suspend_VDI".into(), Value::s(NULL_REF));
    })?;
    if ctx.db.exists("VDI", &sv) {
        storage::vdi_destroy(ctx.db, &sv)?;
    }
    attach_devices(ctx.db, vm, true)?;
    refresh_host_memory(ctx.db);
    // A resumed guest continues where it was: no new boot.
    refresh_allowed_operations(ctx.db, vm);
    Ok(())
}
