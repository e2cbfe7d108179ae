//! Refresh: one targeted read of the VM and of the objects it references
//! (through the shared per-process snapshot, so refreshing many VMs does not
//! scan the pool once per VM), turned into state. Never waits.

use std::collections::BTreeMap;

use schema::Value;
use xapi::{HostRecord, NetworkRecord, VifRecord, VifRef, VmGuestMetricsRecord, VmRecord, VmRef};

use super::disks;
use super::network_interfaces::mac_key;
use super::power::state_text;
use super::schema::{attr, disk, nic};
use super::values::{Known, at, elements, int_at, set, str_at, str_map, string_list, string_map};
use super::{StepResult, TEMPLATE_KEY, TEMPLATE_UUID_KEY, XapiContext};
use crate::pool::{ClassKey, Pool};

/// What XAPI holds about one VM.
#[derive(Debug, Clone)]
pub struct Observed {
    pub vm: VmRecord,
    pub vbds: Vec<super::disks::VbdInfo>,
    pub vifs: Vec<(VifRef, VifRecord, Option<NetworkRecord>)>,
    pub guest: Option<VmGuestMetricsRecord>,
    pub affinity: Option<HostRecord>,
}

/// The VM with this UUID (not a template or snapshot), if it exists.
pub async fn find_vm(pool: &Pool, uuid: &str) -> StepResult<Option<(VmRef, VmRecord)>> {
    let found = pool
        .by_uuid::<xapi::Vm>(uuid)
        .await
        .ctx(format!("looking up VM {uuid}"))?;
    Ok(found.filter(|(_, r)| !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain))
}

/// The new state after create or update, as a refresh would see it: the VM
/// observed afresh, on top of the planned state with the disks' chosen
/// devices and the computed `sysprep` values. `gone` is the error detail when
/// the VM no longer exists.
pub async fn state_after_apply(
    pool: &Pool,
    vm: &VmRef,
    planned: &Value,
    disk_devices: &[String],
    sysprep: &super::sysprep::Decision,
    gone: &str,
) -> StepResult<Value> {
    pool.invalidate();
    let obs = observe(pool, vm)
        .await?
        .ok_or_else(|| super::StepError::new("VM disappeared", gone))?;
    let mut base = planned.clone();
    if let Some(Value::List(items)) = base.get_mut(attr::DISK) {
        for (item, dev) in items.iter_mut().zip(disk_devices) {
            set(item, disk::DEVICE, Value::from(dev.as_str()));
        }
    }
    super::sysprep::apply_decision(&mut base, sysprep);
    Ok(build_state(&base, &obs))
}

/// Reads everything about the VM; `None` when it no longer exists.
pub async fn observe(pool: &Pool, vm_ref: &VmRef) -> StepResult<Option<Observed>> {
    let Some(vm) = pool
        .record::<xapi::Vm>(vm_ref)
        .await
        .ctx("reading the VM")?
    else {
        return Ok(None);
    };
    let vbds = disks::vbds_of(pool, &vm.vbds).await?;
    let mut vifs = Vec::new();
    for r in &vm.vifs {
        let Some(rec) = pool
            .record::<xapi::Vif>(r)
            .await
            .ctx("reading the VM's VIFs")?
        else {
            continue;
        };
        let net = pool
            .record::<xapi::Network>(&rec.network)
            .await
            .ctx("reading a VIF's network")?;
        vifs.push((r.clone(), rec, net));
    }
    vifs.sort_by_key(|(_, r, _)| r.device.parse::<i64>().unwrap_or(i64::MAX));
    let guest = if vm.guest_metrics.is_null() || vm.power_state != xapi::PowerState::Running {
        None
    } else {
        pool.record::<xapi::VmGuestMetrics>(&vm.guest_metrics)
            .await
            .ctx("reading the guest metrics")?
    };
    let affinity = if vm.affinity.is_null() {
        None
    } else {
        pool.record::<xapi::Host>(&vm.affinity)
            .await
            .ctx("reading the VM's affinity host")?
    };
    Ok(Some(Observed {
        vm,
        vbds,
        vifs,
        guest,
        affinity,
    }))
}

fn opt_text(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::from(s)
    }
}

/// Keeps the configured spelling when it designates the same object.
fn same_object_text(base: &Value, name: &str, uuid: &str, label: &str) -> Value {
    match str_at(base, name) {
        Known::Value(t) if t == uuid || t == label => Value::from(t.as_str()),
        _ => Value::from(uuid),
    }
}

fn filter_tracked(base: &Value, name: &str, actual: &BTreeMap<String, String>) -> Value {
    match str_map(base, name) {
        None => Value::Null,
        Some(tracked) => {
            let kept: BTreeMap<String, String> = tracked
                .keys()
                .filter_map(|k| actual.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            string_map(Some(&kept))
        }
    }
}

/// One `network_interface` state entry for a VIF, keeping what the base entry
/// says where it still holds.
pub fn nic_entry(
    base: Option<&Value>,
    vif: &VifRecord,
    net: Option<&NetworkRecord>,
    guest: Option<&VmGuestMetricsRecord>,
) -> Value {
    let net_uuid = net.map(|n| n.uuid.clone()).unwrap_or_default();
    let net_label = net.map(|n| n.name_label.clone()).unwrap_or_default();
    let network = match base.map(|b| (str_at(b, nic::NETWORK), str_at(b, nic::NETWORK_UUID))) {
        Some((Known::Value(text), Known::Value(prev))) if prev == net_uuid => Value::from(text),
        Some((Known::Value(text), _)) if text == net_uuid || text == net_label => Value::from(text),
        Some((Known::Value(text), Known::Unknown)) => Value::from(text),
        _ => match vif.other_config.get(super::NETWORK_KEY) {
            Some(t) if *t == net_uuid || *t == net_label => Value::from(t.as_str()),
            _ => Value::from(net_uuid.as_str()),
        },
    };
    let mac = match base.map(|b| str_at(b, nic::MAC)) {
        Some(Known::Value(m)) if mac_key(&m) == mac_key(&vif.mac) => Value::from(m),
        _ => Value::from(vif.mac.as_str()),
    };
    let mtu = match base {
        Some(b) => at(b, nic::MTU).clone(),
        None => vif
            .other_config
            .get("mtu")
            .and_then(|m| m.parse::<i64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null),
    };
    let (v4, v6) = match guest {
        Some(g) => (g.ipv4_addresses(&vif.device), g.ipv6_addresses(&vif.device)),
        None => (Vec::new(), Vec::new()),
    };
    let keep = |name: &str| base.map(|b| at(b, name).clone()).unwrap_or(Value::Null);
    Value::object([
        (nic::NETWORK, network),
        (nic::NETWORK_UUID, Value::from(net_uuid.as_str())),
        (
            nic::DEVICE,
            vif.device
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Null),
        ),
        (nic::MAC, mac),
        (nic::MTU, mtu),
        (nic::IPV4_ADDRESS, keep(nic::IPV4_ADDRESS)),
        (nic::IPV4_GATEWAY, keep(nic::IPV4_GATEWAY)),
        (nic::DNS_SERVERS, keep(nic::DNS_SERVERS)),
        (nic::DNS_SEARCH, keep(nic::DNS_SEARCH)),
        (nic::EXPECTED_IP_CIDR, keep(nic::EXPECTED_IP_CIDR)),
        (nic::IPV4_ADDRESSES, string_list(&v4)),
        (nic::IPV6_ADDRESSES, string_list(&v6)),
        (nic::VIF_UUID, Value::from(vif.uuid.as_str())),
    ])
}

/// The state for `obs`, taking configuration-only values from `base` (the
/// prior or planned state; an all-null object on import).
pub fn build_state(base: &Value, obs: &Observed) -> Value {
    let vm = &obs.vm;
    let mut s = base.clone();
    set(&mut s, attr::ID, Value::from(vm.uuid.as_str()));
    set(
        &mut s,
        attr::NAME_LABEL,
        Value::from(vm.name_label.as_str()),
    );
    let desc = if vm.name_description.is_empty() && at(base, attr::NAME_DESCRIPTION).is_null() {
        Value::Null
    } else {
        Value::from(vm.name_description.as_str())
    };
    set(&mut s, attr::NAME_DESCRIPTION, desc);
    if !matches!(str_at(base, attr::TEMPLATE), Known::Value(_))
        && let Some(t) = vm.other_config.get(TEMPLATE_KEY)
    {
        set(&mut s, attr::TEMPLATE, Value::from(t.as_str()));
    }
    set(
        &mut s,
        attr::TEMPLATE_UUID,
        match vm.other_config.get(TEMPLATE_UUID_KEY) {
            Some(t) => Value::from(t.as_str()),
            None => match at(base, attr::TEMPLATE_UUID) {
                v if v.is_wholly_known() => v.clone(),
                _ => Value::Null,
            },
        },
    );
    set(&mut s, attr::VCPUS, Value::from(vm.vcpus_at_startup));
    set(&mut s, attr::VCPUS_MAX, Value::from(vm.vcpus_max));
    set(
        &mut s,
        attr::CORES_PER_SOCKET,
        vm.platform
            .get("cores-per-socket")
            .and_then(|c| c.parse::<i64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    set(
        &mut s,
        attr::MEMORY,
        super::memory_limits::limits_to_value(&xapi::MemoryLimits::of(vm)),
    );
    set(
        &mut s,
        attr::POWER_STATE,
        Value::from(state_text(&vm.power_state)),
    );
    set(
        &mut s,
        attr::BOOT_FIRMWARE,
        opt_text(
            vm.hvm_boot_params
                .get("firmware")
                .map(String::as_str)
                .unwrap_or(""),
        ),
    );
    set(
        &mut s,
        attr::SECURE_BOOT,
        Value::from(vm.platform.get("secureboot").map(String::as_str) == Some("true")),
    );
    set(
        &mut s,
        attr::BOOT_ORDER,
        opt_text(
            vm.hvm_boot_params
                .get("order")
                .map(String::as_str)
                .unwrap_or(""),
        ),
    );
    if !at(base, attr::TAGS).is_null() {
        let mut tags = vm.tags.clone();
        tags.sort();
        tags.dedup();
        set(
            &mut s,
            attr::TAGS,
            Value::Set(tags.iter().map(|t| Value::from(t.as_str())).collect()),
        );
    }
    set(
        &mut s,
        attr::OTHER_CONFIG,
        filter_tracked(base, attr::OTHER_CONFIG, &vm.other_config),
    );
    set(
        &mut s,
        attr::XENSTORE_DATA,
        filter_tracked(base, attr::XENSTORE_DATA, &vm.xenstore_data),
    );
    if !at(base, attr::AFFINITY_HOST).is_null() {
        let v = match &obs.affinity {
            None => Value::Null,
            Some(h) => same_object_text(base, attr::AFFINITY_HOST, &h.uuid, &h.name_label),
        };
        set(&mut s, attr::AFFINITY_HOST, v);
    }
    if !at(base, attr::CDROM).is_null() {
        let v = match disks::cd_drive(&obs.vbds) {
            None => Value::Null,
            Some((_, _, None)) => Value::from(""),
            Some((_, _, Some((_, vdi)))) => {
                same_object_text(base, attr::CDROM, &vdi.uuid, &vdi.name_label)
            }
        };
        set(&mut s, attr::CDROM, v);
    }
    // Interfaces: the entries of the base that still have their VIF.
    let base_nics = elements(base, attr::NETWORK_INTERFACE).to_vec();
    let mut nics = Vec::new();
    for b in &base_nics {
        let by_uuid = match str_at(b, nic::VIF_UUID) {
            Known::Value(u) => obs.vifs.iter().find(|(_, v, _)| v.uuid == u),
            _ => None,
        };
        let found = by_uuid.or_else(|| {
            let dev = int_at(b, nic::DEVICE).value()?.to_string();
            // Only when the base does not name another VIF.
            if matches!(str_at(b, nic::VIF_UUID), Known::Value(_)) {
                return None;
            }
            obs.vifs.iter().find(|(_, v, _)| v.device == dev)
        });
        if let Some((_, vif, net)) = found {
            nics.push(nic_entry(Some(b), vif, net.as_ref(), obs.guest.as_ref()));
        }
    }
    set(&mut s, attr::NETWORK_INTERFACE, Value::List(nics));
    // Disks: the entries of the base whose VDI is still attached.
    let mut out_disks = Vec::new();
    for b in elements(base, attr::DISK) {
        let found = match str_at(b, disk::VDI_UUID) {
            Known::Value(u) => obs
                .vbds
                .iter()
                .find(|(_, _, v)| v.as_ref().is_some_and(|(_, r)| r.uuid == u)),
            _ => str_at(b, disk::DEVICE).value_ref_string().and_then(|d| {
                obs.vbds
                    .iter()
                    .find(|(_, r, v)| r.userdevice == d && v.is_some())
            }),
        };
        if let Some((_, vbd, Some((_, vdi)))) = found {
            let mut e = b.clone();
            set(&mut e, disk::DEVICE, Value::from(vbd.userdevice.as_str()));
            set(&mut e, disk::SIZE, Value::from(vdi.virtual_size));
            set(&mut e, disk::VDI_UUID, Value::from(vdi.uuid.as_str()));
            set(
                &mut e,
                disk::CREATED,
                Value::from(disks::is_created_disk(vdi)),
            );
            out_disks.push(e);
        }
    }
    set(&mut s, attr::DISK, Value::List(out_disks));
    s
}

trait RefString {
    fn value_ref_string(&self) -> Option<String>;
}
impl RefString for Known<String> {
    fn value_ref_string(&self) -> Option<String> {
        match self {
            Known::Value(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// Refresh: the new state, or `None` when the VM is gone.
pub async fn read(pool: &Pool, current: &Value) -> StepResult<Option<Value>> {
    let Known::Value(uuid) = str_at(current, attr::ID) else {
        return Ok(None);
    };
    // Everything a VM refresh reads, in one `event.from` shared by every
    // resource refreshed by this process (DESIGN decision 8).
    pool.prefetch(&[
        ClassKey::of::<xapi::Vm>(),
        ClassKey::of::<xapi::Vif>(),
        ClassKey::of::<xapi::Vbd>(),
        ClassKey::of::<xapi::Vdi>(),
        ClassKey::of::<xapi::Network>(),
        ClassKey::of::<xapi::VmGuestMetrics>(),
    ])
    .await
    .ctx("reading the pool")?;
    let Some((vm_ref, _)) = find_vm(pool, &uuid).await? else {
        return Ok(None);
    };
    let Some(obs) = observe(pool, &vm_ref).await? else {
        return Ok(None);
    };
    Ok(Some(build_state(current, &obs)))
}
