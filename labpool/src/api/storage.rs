//! SR, VDI and VBD (X `ocaml/xapi/xapi_vdi.ml`, `xapi_vbd.ml`, `xapi_vbd_helpers.ml`).

use std::collections::BTreeMap;

use crate::db::{Db, new_ref, rb, ri, rmap, rs, rset};
use crate::dispatch::{Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::value::{NULL_REF, Record, Value};

const VDI_TYPES: &[&str] = &[
    "system",
    "user",
    "ephemeral",
    "suspend",
    "crashdump",
    "ha_statefile",
    "metadata",
    "redo_log",
    "rrd",
    "pvs_cache",
    "cbt_metadata",
];

/// Registers SR/VDI/VBD calls.
pub fn register(r: &mut Registry) {
    r.sync("VDI.create", &["args"], 0, true, |ctx, a| {
        let m = args::ctor(a)?;
        vdi_create(ctx.db, &m)
    });
    r.sync("VDI.destroy", &["self"], 0, true, |ctx, a| {
        let v = args::obj(ctx.db, "VDI", a, 0)?;
        vdi_destroy(ctx.db, &v)?;
        Ok(Value::s(""))
    });
    for name in ["VDI.resize", "VDI.resize_online"] {
        r.sync(name, &["vdi", "size"], 0, true, |ctx, a| {
            let v = args::obj(ctx.db, "VDI", a, 0)?;
            let size = args::int(a, 1)?;
            vdi_resize(ctx.db, &v, size)?;
            Ok(Value::s(""))
        });
    }
    r.sync(
        "VDI.copy",
        &["vdi", "sr", "base_vdi", "into_vdi"],
        2,
        true,
        |ctx, a| {
            let v = args::obj(ctx.db, "VDI", a, 0)?;
            let sr = args::obj(ctx.db, "SR", a, 1)?;
            Ok(Value::Str(vdi_clone_into(ctx.db, &v, &sr, true)?))
        },
    );
    r.sync("VDI.clone", &["vdi", "driver_params"], 1, true, |ctx, a| {
        let v = args::obj(ctx.db, "VDI", a, 0)?;
        let sr = rs(ctx.db.get("VDI", &v)?, "SR").to_string();
        Ok(Value::Str(vdi_clone_into(ctx.db, &v, &sr, false)?))
    });
    for (name, field) in [
        ("VDI.set_name_label", "name_label"),
        ("VDI.set_name_description", "name_description"),
        ("SR.set_name_label", "name_label"),
        ("SR.set_name_description", "name_description"),
    ] {
        let class = if name.starts_with("VDI") { "VDI" } else { "SR" };
        r.sync(name, &["self", "value"], 0, false, move |ctx, a| {
            let o = args::obj(ctx.db, class, a, 0)?;
            let v = args::string(a, 1)?;
            ctx.db.set(class, &o, field, Value::Str(v))?;
            Ok(Value::s(""))
        });
    }
    r.sync("SR.scan", &["sr"], 0, true, |ctx, a| {
        args::obj(ctx.db, "SR", a, 0)?;
        Ok(Value::s(""))
    });
    r.sync("VBD.create", &["args"], 0, true, |ctx, a| {
        let m = args::ctor(a)?;
        vbd_create(ctx.db, &m)
    });
    r.sync("VBD.destroy", &["self"], 0, true, |ctx, a| {
        let v = args::obj(ctx.db, "VBD", a, 0)?;
        let rec = ctx.db.get("VBD", &v)?;
        if rb(rec, "currently_attached") {
            let vm_uuid = args::uuid_of(ctx.db, "VM", rs(rec, "VM"));
            return Err(ApiError::new(
                codes::OPERATION_NOT_ALLOWED,
                [format!(
                    "VBD '{}' still attached to '{vm_uuid}'",
                    rs(rec, "uuid")
                )],
            ));
        }
        let vdi = rs(rec, "VDI").to_string();
        ctx.db.destroy("VBD", &v)?;
        refresh_vdi_ops(ctx.db, &vdi);
        Ok(Value::s(""))
    });
    r.sync("VBD.insert", &["vbd", "vdi"], 0, true, |ctx, a| {
        let vbd = args::obj(ctx.db, "VBD", a, 0)?;
        let vdi = args::obj(ctx.db, "VDI", a, 1)?;
        media_gate(ctx.db, &vbd, true)?;
        ctx.db.set("VBD", &vbd, "VDI", Value::s(&vdi))?;
        ctx.db.set("VBD", &vbd, "empty", Value::Bool(false))?;
        refresh_vbd_ops(ctx.db, &vbd);
        refresh_vdi_ops(ctx.db, &vdi);
        Ok(Value::s(""))
    });
    r.sync("VBD.eject", &["vbd"], 0, true, |ctx, a| {
        let vbd = args::obj(ctx.db, "VBD", a, 0)?;
        media_gate(ctx.db, &vbd, false)?;
        let old = rs(ctx.db.get("VBD", &vbd)?, "VDI").to_string();
        ctx.db.set("VBD", &vbd, "VDI", Value::s(NULL_REF))?;
        ctx.db.set("VBD", &vbd, "empty", Value::Bool(true))?;
        refresh_vbd_ops(ctx.db, &vbd);
        refresh_vdi_ops(ctx.db, &old);
        Ok(Value::s(""))
    });
    for (name, plug, force) in [
        ("VBD.plug", true, false),
        ("VBD.unplug", false, false),
        ("VBD.unplug_force", false, true),
    ] {
        r.sync(name, &["self"], 0, true, move |ctx, a| {
            let vbd = args::obj(ctx.db, "VBD", a, 0)?;
            vbd_plug_gate(ctx.db, &vbd, plug, force)?;
            ctx.db
                .set("VBD", &vbd, "currently_attached", Value::Bool(plug))?;
            if plug {
                assign_device(ctx.db, &vbd);
            }
            refresh_vbd_ops(ctx.db, &vbd);
            let vdi = rs(ctx.db.get("VBD", &vbd)?, "VDI").to_string();
            refresh_vdi_ops(ctx.db, &vdi);
            Ok(Value::s(""))
        });
    }
    r.sync("VBD.set_mode", &["self", "value"], 0, false, |ctx, a| {
        let vbd = args::obj(ctx.db, "VBD", a, 0)?;
        let mode = parse_enum(&args::string(a, 1)?, &["RO", "RW"], "vbd_mode")?;
        let vm = rs(ctx.db.get("VBD", &vbd)?, "VM").to_string();
        let ps = rs(ctx.db.get("VM", &vm)?, "power_state").to_lowercase();
        if ps != "halted" {
            return Err(ApiError::new(
                codes::VM_BAD_POWER_STATE,
                [vm.as_str(), "halted", &ps],
            ));
        }
        ctx.db.set("VBD", &vbd, "mode", Value::s(mode))?;
        Ok(Value::s(""))
    });
}

/// Parses an enum value case-insensitively, returning the datamodel spelling.
pub fn parse_enum(v: &str, allowed: &[&'static str], name: &str) -> ApiResult<&'static str> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(v))
        .ok_or_else(|| {
            ApiError::new(
                codes::INVALID_VALUE,
                [format!("Unknown value {v} for enum {name}")],
            )
        })
}

/// Recomputes an SR's space accounting.
pub fn refresh_sr(db: &mut Db, sr: &str) {
    let used: i64 = db
        .all("VDI")
        .filter(|(_, v)| rs(v, "SR") == sr)
        .map(|(_, v)| ri(v, "virtual_size"))
        .sum();
    let _ = db.update("SR", sr, |rec| {
        rec.insert("virtual_allocation".into(), Value::Int(used));
        rec.insert("physical_utilisation".into(), Value::Int(used));
    });
}

/// `VDI.create`.
pub fn vdi_create(db: &mut Db, m: &BTreeMap<String, Value>) -> ApiResult<Value> {
    let name_label = args::field(m, "name_label")?.to_string_value()?;
    let name_description = args::field(m, "name_description")?.to_string_value()?;
    let sr = args::field(m, "SR")?.to_string_value()?;
    let size = args::field(m, "virtual_size")?.to_int()?;
    let ty = parse_enum(
        &args::field(m, "type")?.to_string_value()?,
        VDI_TYPES,
        "vdi_type",
    )?;
    let sharable = args::field(m, "sharable")?.to_bool()?;
    let read_only = args::field(m, "read_only")?.to_bool()?;
    let other_config = args::field(m, "other_config")?.to_string_map()?;
    let sm_config = m
        .get("sm_config")
        .map(|v| v.to_string_map())
        .transpose()?
        .unwrap_or_default();
    let xenstore_data = m
        .get("xenstore_data")
        .map(|v| v.to_string_map())
        .transpose()?
        .unwrap_or_default();
    let tags = m
        .get("tags")
        .map(|v| v.to_string_set())
        .transpose()?
        .unwrap_or_default();
    if !db.exists("SR", &sr) {
        return Err(crate::db::handle_invalid("SR", &sr));
    }
    if ty == "cbt_metadata" {
        return Err(ApiError::new(
            codes::VDI_INCOMPATIBLE_TYPE,
            ["", "CBT metadata"],
        ));
    }
    if size < 0 {
        return Err(ApiError::new(
            codes::INVALID_VALUE,
            ["virtual_size".to_string(), size.to_string()],
        ));
    }
    let srrec = db.get("SR", &sr)?;
    if rs(srrec, "content_type") != "iso" {
        let free = ri(srrec, "physical_size") - ri(srrec, "physical_utilisation");
        if size > free {
            return Err(ApiError::new(
                codes::SR_FULL,
                [size.to_string(), free.to_string()],
            ));
        }
    }
    let mut rec = Record::new();
    rec.insert("name_label".into(), Value::Str(name_label));
    rec.insert("name_description".into(), Value::Str(name_description));
    rec.insert("SR".into(), Value::Str(sr.clone()));
    rec.insert("virtual_size".into(), Value::Int(size));
    rec.insert("type".into(), Value::s(ty));
    rec.insert("sharable".into(), Value::Bool(sharable));
    rec.insert("read_only".into(), Value::Bool(read_only));
    rec.insert("other_config".into(), Value::str_map(other_config));
    rec.insert("sm_config".into(), Value::str_map(sm_config));
    rec.insert("xenstore_data".into(), Value::str_map(xenstore_data));
    rec.insert("tags".into(), Value::str_set(tags));
    let v = db.create("VDI", &new_ref(), rec);
    let uuid = args::uuid_of(db, "VDI", &v);
    let _ = db.update("VDI", &v, |rec| {
        rec.insert("location".into(), Value::Str(uuid));
    });
    refresh_vdi_ops(db, &v);
    refresh_sr(db, &sr);
    Ok(Value::Str(v))
}

fn vdi_attached(db: &Db, vdi: &str) -> bool {
    db.all("VBD")
        .any(|(_, b)| rs(b, "VDI") == vdi && rb(b, "currently_attached"))
}

/// `VDI.destroy`: `VDI_IN_USE [vdi; "destroy"]` when attached; deletes detached VBDs.
pub fn vdi_destroy(db: &mut Db, vdi: &str) -> ApiResult<()> {
    if vdi_attached(db, vdi) {
        return Err(ApiError::new(codes::VDI_IN_USE, [vdi, "destroy"]));
    }
    let sr = rs(db.get("VDI", vdi)?, "SR").to_string();
    let vbds = db.find("VBD", |b| rs(b, "VDI") == vdi);
    for b in vbds {
        db.destroy("VBD", &b)?;
    }
    let vms = db.find("VM", |v| rs(v, "suspend_VDI") == vdi);
    for vm in vms {
        db.set("VM", &vm, "suspend_VDI", Value::s(NULL_REF))?;
    }
    db.destroy("VDI", vdi)?;
    refresh_sr(db, &sr);
    Ok(())
}

fn vdi_resize(db: &mut Db, vdi: &str, size: i64) -> ApiResult<()> {
    let rec = db.get("VDI", vdi)?;
    let cur = ri(rec, "virtual_size");
    let sr = rs(rec, "SR").to_string();
    if size < cur {
        // The SM backends refuse to shrink (SR_BACKEND_FAILURE_79 "VDI Invalid size").
        return Err(ApiError::new(
            "SR_BACKEND_FAILURE_79",
            ["", "VDI Invalid size", "shrinking is not allowed"],
        ));
    }
    let srrec = db.get("SR", &sr)?;
    let free = ri(srrec, "physical_size") - ri(srrec, "physical_utilisation");
    if size - cur > free {
        return Err(ApiError::new(
            codes::SR_FULL,
            [(size - cur).to_string(), free.to_string()],
        ));
    }
    db.set("VDI", vdi, "virtual_size", Value::Int(size))?;
    refresh_sr(db, &sr);
    Ok(())
}

/// Clones/copies a VDI (record and contents) into `sr`.
pub fn vdi_clone_into(db: &mut Db, vdi: &str, sr: &str, full_copy: bool) -> ApiResult<String> {
    let src = db.record("VDI", vdi)?;
    let srrec = db.get("SR", sr)?;
    let size = ri(&src, "virtual_size");
    if rs(srrec, "content_type") != "iso" {
        let free = ri(srrec, "physical_size") - ri(srrec, "physical_utilisation");
        if full_copy && size > free {
            return Err(ApiError::new(
                codes::SR_FULL,
                [size.to_string(), free.to_string()],
            ));
        }
    }
    let mut rec = Record::new();
    for k in [
        "name_label",
        "name_description",
        "virtual_size",
        "type",
        "sharable",
        "read_only",
        "other_config",
        "xenstore_data",
        "tags",
        "on_boot",
    ] {
        if let Some(v) = src.get(k) {
            rec.insert(k.to_string(), v.clone());
        }
    }
    rec.insert("SR".into(), Value::s(sr));
    let new = db.create("VDI", &new_ref(), rec);
    let uuid = args::uuid_of(db, "VDI", &new);
    let _ = db.update("VDI", &new, |rec| {
        rec.insert("location".into(), Value::Str(uuid));
    });
    if let Some(data) = db.vdi_data.get(vdi).cloned() {
        db.vdi_data.insert(new.clone(), data);
    }
    refresh_vdi_ops(db, &new);
    refresh_sr(db, sr);
    Ok(new)
}

/// Recomputes a VDI's `allowed_operations`.
pub fn refresh_vdi_ops(db: &mut Db, vdi: &str) {
    if !db.exists("VDI", vdi) {
        return;
    }
    let attached = vdi_attached(db, vdi);
    let mut ops = vec![
        "clone",
        "copy",
        "snapshot",
        "mirror",
        "generate_config",
        "update",
        "force_unlock",
        "set_on_boot",
        "resize_online",
        "data_destroy",
    ];
    if !attached {
        ops.extend(["destroy", "forget", "resize"]);
    }
    let _ = db.update("VDI", vdi, |rec| {
        rec.insert("allowed_operations".into(), Value::str_set(ops));
    });
}

/// Recomputes a VBD's `allowed_operations`.
pub fn refresh_vbd_ops(db: &mut Db, vbd: &str) {
    let Ok(rec) = db.get("VBD", vbd) else { return };
    let running = db
        .get("VM", rs(rec, "VM"))
        .map(|v| rs(v, "power_state") == "Running")
        .unwrap_or(false);
    let mut ops = Vec::new();
    if rs(rec, "type") == "CD" {
        if rb(rec, "empty") {
            ops.push("insert");
        } else {
            ops.push("eject");
        }
    }
    if running {
        if rb(rec, "currently_attached") {
            if rb(rec, "unpluggable") {
                ops.extend(["unplug", "unplug_force"]);
            }
        } else {
            ops.push("plug");
        }
    } else {
        ops.push("attach");
    }
    let _ = db.update("VBD", vbd, |rec| {
        rec.insert("allowed_operations".into(), Value::str_set(ops));
    });
}

fn valid_userdevice(d: &str) -> bool {
    if d == "autodetect" || (!d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) {
        return true;
    }
    device_number(d).is_some()
}

/// The device number of a userdevice spelling (`"0"`, `"xvda"`, `"hdb"`, `"sdc"`).
pub fn device_number(d: &str) -> Option<u32> {
    if let Ok(n) = d.parse::<u32>() {
        return Some(n);
    }
    for prefix in ["xvd", "hd", "sd"] {
        if let Some(rest) = d.strip_prefix(prefix) {
            let letters: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            let digits = &rest[letters.len()..];
            if letters.is_empty()
                || !(digits.is_empty() || digits.chars().all(|c| c.is_ascii_digit()))
            {
                return None;
            }
            let mut n: u32 = 0;
            for c in letters.chars() {
                n = n * 26 + (c as u32 - 'a' as u32 + 1);
            }
            return Some(n - 1);
        }
    }
    None
}

fn device_name(n: u32) -> String {
    let mut s = String::new();
    let mut n = n + 1;
    while n > 0 {
        let r = (n - 1) % 26;
        s.insert(0, (b'a' + r as u8) as char);
        n = (n - 1) / 26;
    }
    format!("xvd{s}")
}

/// Fills `VBD.device` from the userdevice (as at plug time).
pub fn assign_device(db: &mut Db, vbd: &str) {
    if let Ok(rec) = db.get("VBD", vbd)
        && let Some(n) = device_number(rs(rec, "userdevice"))
    {
        let name = device_name(n);
        let _ = db.update("VBD", vbd, |rec| {
            rec.insert("device".into(), Value::Str(name));
        });
    }
}

/// `VBD.create`.
pub fn vbd_create(db: &mut Db, m: &BTreeMap<String, Value>) -> ApiResult<Value> {
    let vm = args::field(m, "VM")?.to_string_value()?;
    let vdi = args::field(m, "VDI")?.to_string_value()?;
    let userdevice = args::field(m, "userdevice")?.to_string_value()?;
    let bootable = args::field(m, "bootable")?.to_bool()?;
    let mode = parse_enum(
        &args::field(m, "mode")?.to_string_value()?,
        &["RO", "RW"],
        "vbd_mode",
    )?;
    let ty = parse_enum(
        &args::field(m, "type")?.to_string_value()?,
        &["CD", "Disk", "Floppy"],
        "vbd_type",
    )?;
    let empty = args::field(m, "empty")?.to_bool()?;
    let other_config = args::field(m, "other_config")?.to_string_map()?;
    let qos_type = args::field(m, "qos_algorithm_type")?.to_string_value()?;
    let qos_params = args::field(m, "qos_algorithm_params")?.to_string_map()?;
    let unpluggable = m
        .get("unpluggable")
        .map(|v| v.to_bool())
        .transpose()?
        .unwrap_or(true);
    if !db.exists("VM", &vm) {
        return Err(crate::db::handle_invalid("VM", &vm));
    }
    let has_vdi = vdi != NULL_REF && !vdi.is_empty();
    if has_vdi && !db.exists("VDI", &vdi) {
        return Err(crate::db::handle_invalid("VDI", &vdi));
    }
    if !empty && has_vdi {
        let vty = rs(db.get("VDI", &vdi)?, "type").to_string();
        let human = match vty.as_str() {
            "ha_statefile" => Some("HA statefile"),
            "redo_log" => Some("redo-log"),
            "cbt_metadata" => Some("CBT metadata"),
            _ => None,
        };
        if let Some(h) = human {
            return Err(ApiError::new(
                codes::VDI_INCOMPATIBLE_TYPE,
                [vdi.as_str(), h],
            ));
        }
    }
    if ty == "CD" && mode != "RO" {
        return Err(ApiError::bare(codes::VBD_CDS_MUST_BE_READONLY));
    }
    if ty != "CD" && empty {
        return Err(ApiError::new(
            codes::VBD_NOT_REMOVABLE_MEDIA,
            ["in constructor"],
        ));
    }
    if !empty && has_vdi && mode == "RW" && rb(db.get("VDI", &vdi)?, "read_only") {
        return Err(ApiError::new(codes::VDI_READONLY, [vdi.as_str()]));
    }
    if !valid_userdevice(&userdevice) {
        return Err(ApiError::new(codes::INVALID_DEVICE, [userdevice.as_str()]));
    }
    let used: Vec<u32> = db
        .all("VBD")
        .filter(|(_, b)| rs(b, "VM") == vm)
        .filter_map(|(_, b)| device_number(rs(b, "userdevice")))
        .collect();
    let userdevice = if userdevice == "autodetect" {
        (0..255u32)
            .find(|n| !used.contains(n))
            .map(|n| n.to_string())
            .ok_or_else(|| ApiError::new(codes::INVALID_DEVICE, ["autodetect"]))?
    } else {
        if let Some(n) = device_number(&userdevice)
            && used.contains(&n)
        {
            return Err(ApiError::new(
                codes::DEVICE_ALREADY_EXISTS,
                [userdevice.as_str()],
            ));
        }
        userdevice
    };
    let mut rec = Record::new();
    rec.insert("VM".into(), Value::Str(vm));
    rec.insert(
        "VDI".into(),
        Value::Str(if empty || !has_vdi {
            NULL_REF.to_string()
        } else {
            vdi.clone()
        }),
    );
    rec.insert("userdevice".into(), Value::Str(userdevice));
    rec.insert("bootable".into(), Value::Bool(bootable));
    rec.insert("mode".into(), Value::s(mode));
    rec.insert("type".into(), Value::s(ty));
    rec.insert("empty".into(), Value::Bool(empty || !has_vdi));
    rec.insert("unpluggable".into(), Value::Bool(unpluggable));
    rec.insert("other_config".into(), Value::str_map(other_config));
    rec.insert("qos_algorithm_type".into(), Value::Str(qos_type));
    rec.insert("qos_algorithm_params".into(), Value::str_map(qos_params));
    let v = db.create("VBD", &new_ref(), rec);
    refresh_vbd_ops(db, &v);
    if has_vdi {
        refresh_vdi_ops(db, &vdi);
    }
    Ok(Value::Str(v))
}

fn media_gate(db: &Db, vbd: &str, insert: bool) -> ApiResult<()> {
    let rec = db.get("VBD", vbd)?;
    if rs(rec, "type") != "CD" {
        return Err(ApiError::new(codes::VBD_NOT_REMOVABLE_MEDIA, [vbd]));
    }
    let empty = rb(rec, "empty");
    if !insert && empty {
        return Err(ApiError::new(codes::VBD_IS_EMPTY, [vbd]));
    }
    if insert && !empty {
        return Err(ApiError::new(codes::VBD_NOT_EMPTY, [vbd]));
    }
    let vm = rs(rec, "VM");
    let ps = rs(db.get("VM", vm)?, "power_state");
    if ps == "Suspended" {
        return Err(ApiError::new(
            codes::VM_BAD_POWER_STATE,
            [vm, "halted, running", "suspended"],
        ));
    }
    Ok(())
}

fn vbd_plug_gate(db: &Db, vbd: &str, plug: bool, force: bool) -> ApiResult<()> {
    let rec = db.get("VBD", vbd)?;
    let vm = rs(rec, "VM");
    let vmrec = db.get("VM", vm)?;
    let ps = rs(vmrec, "power_state");
    if ps != "Running" {
        return Err(ApiError::new(
            codes::VM_BAD_POWER_STATE,
            [vm, "running", &ps.to_lowercase()],
        ));
    }
    let hvm = rs(vmrec, "domain_type") == "hvm";
    if hvm && rs(rec, "type") == "CD" {
        return Err(ApiError::new(
            codes::OPERATION_NOT_ALLOWED,
            ["HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected"],
        ));
    }
    let attached = rb(rec, "currently_attached");
    if plug && attached {
        return Err(ApiError::new(codes::DEVICE_ALREADY_ATTACHED, [vbd]));
    }
    if !plug && !attached {
        return Err(ApiError::new(codes::DEVICE_ALREADY_DETACHED, [vbd]));
    }
    if !plug && !rb(rec, "unpluggable") {
        return Err(ApiError::new(codes::VBD_NOT_UNPLUGGABLE, [vbd]));
    }
    let _ = force;
    if hvm && !crate::api::vm::has_pv_drivers(db, vm) {
        return Err(ApiError::new("VM_MISSING_PV_DRIVERS", [vm]));
    }
    if plug && hvm && rs(rec, "mode") == "RO" && rs(rec, "type") == "Disk" {
        return Err(ApiError::new("DISK_VBD_MUST_BE_READWRITE_FOR_HVM", [vbd]));
    }
    Ok(())
}

/// VDIs of a VM's Disk VBDs.
pub fn vm_disk_vdis(db: &Db, vm: &str) -> Vec<String> {
    db.all("VBD")
        .filter(|(_, b)| rs(b, "VM") == vm && rs(b, "type") == "Disk" && !rb(b, "empty"))
        .map(|(_, b)| rs(b, "VDI").to_string())
        .collect()
}

/// SRs a host can see (through plugged PBDs).
pub fn host_srs(db: &Db, host: &str) -> Vec<String> {
    db.all("PBD")
        .filter(|(_, p)| rs(p, "host") == host && rb(p, "currently_attached"))
        .map(|(_, p)| rs(p, "SR").to_string())
        .collect()
}

/// Whether an SR is an ISO SR.
pub fn is_iso_sr(db: &Db, sr: &str) -> bool {
    db.get("SR", sr)
        .map(|s| rs(s, "content_type") == "iso" || rs(s, "type") == "iso")
        .unwrap_or(false)
}

/// `other_config` of a VDI.
pub fn vdi_other_config(db: &Db, vdi: &str) -> BTreeMap<String, String> {
    db.get("VDI", vdi)
        .map(|r| rmap(r, "other_config"))
        .unwrap_or_default()
}

/// VBD refs of a VM.
pub fn vm_vbds(db: &Db, vm: &str) -> Vec<String> {
    db.get("VM", vm)
        .map(|r| rset(r, "VBDs"))
        .unwrap_or_default()
}
