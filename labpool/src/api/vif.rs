//! VIF (X `ocaml/xapi/xapi_vif_helpers.ml`, `xapi_vif.ml`): create from a single struct,
//! MAC derivation from `other_config.mac_seed`, `MAC_INVALID`, `INVALID_DEVICE`,
//! `DEVICE_ALREADY_EXISTS`, destroy/plug/unplug gates.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use crate::db::{Db, new_ref, rb, rmap, rs};
use crate::dispatch::{Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::value::{Record, Value};

/// Registers the VIF calls.
pub fn register(r: &mut Registry) {
    r.sync("VIF.create", &["args"], 0, true, |ctx, a| {
        let m = args::ctor(a)?;
        vif_create(ctx.db, &m).map(Value::Str)
    });
    r.sync("VIF.destroy", &["self"], 0, true, |ctx, a| {
        let v = args::obj(ctx.db, "VIF", a, 0)?;
        let rec = ctx.db.get("VIF", &v)?;
        let running = ctx
            .db
            .get("VM", rs(rec, "VM"))
            .map(|vm| rs(vm, "power_state") == "Running")
            .unwrap_or(false);
        if running && rb(rec, "currently_attached") {
            return Err(ApiError::new(
                codes::OPERATION_NOT_ALLOWED,
                ["VIF currently attached to a running VM"],
            ));
        }
        ctx.db.destroy("VIF", &v)?;
        Ok(Value::s(""))
    });
    for (name, plug) in [
        ("VIF.plug", true),
        ("VIF.unplug", false),
        ("VIF.unplug_force", false),
    ] {
        r.sync(name, &["self"], 0, true, move |ctx, a| {
            let v = args::obj(ctx.db, "VIF", a, 0)?;
            let rec = ctx.db.get("VIF", &v)?;
            let vm = rs(rec, "VM").to_string();
            let vmrec = ctx.db.get("VM", &vm)?;
            let attached = rb(rec, "currently_attached");
            let ps = rs(vmrec, "power_state");
            if ps == "Running" {
                if plug && attached {
                    return Err(ApiError::new(codes::DEVICE_ALREADY_ATTACHED, [v.as_str()]));
                }
                if !plug && !attached {
                    return Err(ApiError::new(codes::DEVICE_ALREADY_DETACHED, [v.as_str()]));
                }
            } else {
                return Err(ApiError::new(
                    codes::VM_BAD_POWER_STATE,
                    [vm.as_str(), "running", &ps.to_lowercase()],
                ));
            }
            if rs(vmrec, "domain_type") == "hvm" && !crate::api::vm::has_pv_drivers(ctx.db, &vm) {
                return Err(ApiError::new("VM_MISSING_PV_DRIVERS", [vm.as_str()]));
            }
            ctx.db
                .set("VIF", &v, "currently_attached", Value::Bool(plug))?;
            refresh_vif_ops(ctx.db, &v);
            Ok(Value::s(""))
        });
    }
    r.sync("VIF.move", &["self", "network"], 0, true, |ctx, a| {
        let v = args::obj(ctx.db, "VIF", a, 0)?;
        let n = args::obj(ctx.db, "network", a, 1)?;
        ctx.db.set("VIF", &v, "network", Value::Str(n))?;
        Ok(Value::s(""))
    });
}

/// XAPI's `gen_mac (dev, seed)`: MD5 applied `2*dev+1` times to the seed, then once more;
/// bytes `[h0,h1,h2,h3,h2'1,h2'2]`, locally administered and unicast.
pub fn gen_mac(device: u32, seed: &str) -> String {
    let mut h: Vec<u8> = seed.as_bytes().to_vec();
    for _ in 0..(2 * device + 1) {
        h = Md5::digest(&h).to_vec();
    }
    let d2 = Md5::digest(&h);
    let mut b = [h[0], h[1], h[2], h[3], d2[1], d2[2]];
    b[0] = (b[0] | 0x02) & !0x01;
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// XAPI's `Helpers.is_valid_MAC`: six `:`-separated pairs of hex digits (any case).
pub fn is_valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Parses a device string the way `Scanf "%u%!"` does.
pub fn parse_device(d: &str) -> Option<u32> {
    if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// `VIF.create`.
pub fn vif_create(db: &mut Db, m: &BTreeMap<String, Value>) -> ApiResult<String> {
    let device = args::field(m, "device")?.to_string_value()?;
    let network = args::field(m, "network")?.to_string_value()?;
    let vm = args::field(m, "VM")?.to_string_value()?;
    let mac = args::field(m, "MAC")?.to_string_value()?;
    let mtu = args::field(m, "MTU")?.to_int()?;
    let other_config = args::field(m, "other_config")?.to_string_map()?;
    let qos_type = args::field(m, "qos_algorithm_type")?.to_string_value()?;
    let qos_params = args::field(m, "qos_algorithm_params")?.to_string_map()?;
    let locking_mode = match m.get("locking_mode") {
        Some(v) => crate::api::storage::parse_enum(
            &v.to_string_value()?,
            &["network_default", "locked", "unlocked", "disabled"],
            "vif_locking_mode",
        )?,
        None => "network_default",
    };
    let ipv4_allowed = m
        .get("ipv4_allowed")
        .map(|v| v.to_string_set())
        .transpose()?
        .unwrap_or_default();
    let ipv6_allowed = m
        .get("ipv6_allowed")
        .map(|v| v.to_string_set())
        .transpose()?
        .unwrap_or_default();
    if !db.exists("VM", &vm) {
        return Err(crate::db::handle_invalid("VM", &vm));
    }
    if !db.exists("network", &network) {
        return Err(crate::db::handle_invalid("network", &network));
    }
    let Some(devnum) = parse_device(&device) else {
        return Err(ApiError::new(codes::INVALID_DEVICE, [device.as_str()]));
    };
    let seed = rmap(db.get("VM", &vm)?, "other_config")
        .get("mac_seed")
        .cloned();
    let (mac, autogen) = match (&seed, mac.is_empty()) {
        (Some(seed), true) => (gen_mac(devnum, seed), true),
        _ => (mac, false),
    };
    if !is_valid_mac(&mac) {
        return Err(ApiError::new(codes::MAC_INVALID, [mac.as_str()]));
    }
    let clash = db
        .all("VIF")
        .any(|(_, v)| rs(v, "VM") == vm && parse_device(rs(v, "device")) == Some(devnum));
    if clash {
        return Err(ApiError::new(
            codes::DEVICE_ALREADY_EXISTS,
            [device.as_str()],
        ));
    }
    let mut rec = Record::new();
    rec.insert("device".into(), Value::Str(device));
    rec.insert("network".into(), Value::Str(network));
    rec.insert("VM".into(), Value::Str(vm));
    rec.insert("MAC".into(), Value::Str(mac));
    rec.insert("MTU".into(), Value::Int(mtu));
    rec.insert("other_config".into(), Value::str_map(other_config));
    rec.insert("qos_algorithm_type".into(), Value::Str(qos_type));
    rec.insert("qos_algorithm_params".into(), Value::str_map(qos_params));
    rec.insert("MAC_autogenerated".into(), Value::Bool(autogen));
    rec.insert("locking_mode".into(), Value::s(locking_mode));
    rec.insert("ipv4_allowed".into(), Value::str_set(ipv4_allowed));
    rec.insert("ipv6_allowed".into(), Value::str_set(ipv6_allowed));
    let v = db.create("VIF", &new_ref(), rec);
    refresh_vif_ops(db, &v);
    Ok(v)
}

/// Recomputes a VIF's `allowed_operations`.
pub fn refresh_vif_ops(db: &mut Db, vif: &str) {
    let Ok(rec) = db.get("VIF", vif) else { return };
    let running = db
        .get("VM", rs(rec, "VM"))
        .map(|v| rs(v, "power_state") == "Running")
        .unwrap_or(false);
    let ops: Vec<&str> = if running {
        if rb(rec, "currently_attached") {
            vec!["unplug"]
        } else {
            vec!["plug"]
        }
    } else {
        vec!["attach"]
    };
    let _ = db.update("VIF", vif, |rec| {
        rec.insert("allowed_operations".into(), Value::str_set(ops));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_mac_matches_reference_vectors() {
        let s = "fa063d6d-f004-300f-1cec-a58b67c93ff1";
        assert_eq!(gen_mac(0, s), "d6:33:07:bc:12:f3");
        assert_eq!(gen_mac(1, s), "a6:ad:02:9d:ef:bf");
        let s2 = "6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11";
        assert_eq!(gen_mac(0, s2), "3e:4a:c4:ec:cd:ce");
        assert_eq!(gen_mac(1, s2), "52:e0:18:07:b5:b0");
    }

    #[test]
    fn mac_validation_is_xapis() {
        assert!(is_valid_mac("AA:bb:cc:dd:ee:ff"));
        assert!(is_valid_mac("01:00:5e:00:00:01"));
        assert!(!is_valid_mac("aa-bb-cc-dd-ee-ff"));
        assert!(!is_valid_mac("aa:bb:cc:dd:ee"));
        assert!(!is_valid_mac("aa:bb:cc:dd:ee:fg"));
        assert!(!is_valid_mac(""));
        assert_eq!(parse_device("0"), Some(0));
        assert_eq!(parse_device("-1"), None);
        assert_eq!(parse_device("eth0"), None);
    }
}
