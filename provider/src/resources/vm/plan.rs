//! Planning: defaults the configuration implies, computed values kept from
//! the prior state, per-interface VIF replacement, template replacement, and
//! the restart decision — a warning naming the VM and the attributes when
//! `restart_on_update` is true (the default), an error naming them when it is
//! false.

use schema::{AttributePath, Diagnostics, Value};

use super::memory_limits::MemorySpec;
use super::network_interfaces::{self as nics, NicAction};
use super::schema::{attr, ci, disk, mem, nic};
use super::values::{Known, at, bool_at, elements, int_at, set, str_at};
use crate::framework::{PlanRequest, PlannedChange};

/// One reason the VM must be halted to apply a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartReason {
    /// The attribute.
    pub path: AttributePath,
    /// Its name as shown to the user (`memory.static_max`).
    pub name: String,
}

fn reason(path: AttributePath) -> RestartReason {
    RestartReason {
        name: path.to_string(),
        path,
    }
}

fn differs(prior: Known<i64>, planned: Known<i64>) -> bool {
    matches!((prior, planned), (Known::Value(a), Known::Value(b)) if a != b)
}

/// Changes between `prior` and `planned` state that XAPI applies only while
/// the VM is halted (whatever the current power state).
pub fn halted_only_changes(prior: &Value, planned: &Value) -> Vec<RestartReason> {
    let mut out = Vec::new();
    let pm = at(prior, attr::MEMORY);
    let nm = at(planned, attr::MEMORY);
    for name in [mem::STATIC_MIN, mem::STATIC_MAX] {
        if differs(int_at(pm, name), int_at(nm, name)) {
            out.push(reason(AttributePath::new(attr::MEMORY).attr(name)));
        }
    }
    for name in [attr::VCPUS_MAX, attr::CORES_PER_SOCKET] {
        if differs(int_at(prior, name), int_at(planned, name)) {
            out.push(reason(AttributePath::new(name)));
        }
    }
    if let (Known::Value(a), Known::Value(b)) = (
        str_at(prior, attr::BOOT_FIRMWARE),
        str_at(planned, attr::BOOT_FIRMWARE),
    ) && a != b
    {
        out.push(reason(AttributePath::new(attr::BOOT_FIRMWARE)));
    }
    if let (Known::Value(a), Known::Value(b)) = (
        bool_at(prior, attr::SECURE_BOOT),
        bool_at(planned, attr::SECURE_BOOT),
    ) && a != b
    {
        out.push(reason(AttributePath::new(attr::SECURE_BOOT)));
    }
    let prior_disks = elements(prior, attr::DISK);
    for (i, d) in elements(planned, attr::DISK).iter().enumerate() {
        let Some(uuid) = str_at(d, disk::VDI_UUID).value_owned() else {
            continue;
        };
        let Some(p) = prior_disks
            .iter()
            .find(|p| str_at(p, disk::VDI_UUID).value_owned().as_deref() == Some(&uuid))
        else {
            continue;
        };
        if let (Known::Value(a), Known::Value(b)) = (int_at(p, disk::SIZE), int_at(d, disk::SIZE))
            && b > a
        {
            out.push(reason(
                AttributePath::new(attr::DISK)
                    .index(i as i64)
                    .attr(disk::SIZE),
            ));
        }
    }
    out
}

trait Owned {
    fn value_owned(&self) -> Option<String>;
}
impl Owned for Known<String> {
    fn value_owned(&self) -> Option<String> {
        match self {
            Known::Value(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// The VM's power state in a state object (`running` by default).
pub fn power_state(obj: &Value) -> String {
    str_at(obj, attr::POWER_STATE)
        .value_owned()
        .unwrap_or_else(|| "running".to_owned())
}

/// Whether an update will restart the VM: it runs, stays running, and a
/// halted-only attribute changes.
pub fn restart_needed(prior: &Value, planned: &Value) -> Vec<RestartReason> {
    if power_state(prior) != "running" || power_state(planned) != "running" {
        return Vec::new();
    }
    halted_only_changes(prior, planned)
}

fn vm_label(prior: &Value, planned: &Value) -> String {
    let name = str_at(planned, attr::NAME_LABEL)
        .value_owned()
        .or_else(|| str_at(prior, attr::NAME_LABEL).value_owned())
        .unwrap_or_default();
    match str_at(prior, attr::ID).value_owned() {
        Some(id) => format!("{name:?} ({id})"),
        None => format!("{name:?}"),
    }
}

fn copy_from(planned: &mut Value, prior: &Value, name: &str) {
    set(planned, name, at(prior, name).clone());
}

fn set_if_null_in_config(planned: &mut Value, config: &Value, name: &str, value: Value) {
    if at(config, name).is_null() {
        set(planned, name, value);
    }
}

/// Fills the memory defaults: `dynamic_max` = `static_max`, `dynamic_min` =
/// `dynamic_max`; `static_min` from `prior_static_min` (unknown on create).
fn plan_memory(config: &Value, planned: &mut Value, prior_static_min: Value) {
    let cfg = at(config, attr::MEMORY);
    let spec = MemorySpec::from_value(cfg);
    let Some(m) = planned.get_mut(attr::MEMORY) else {
        return;
    };
    if !matches!(m, Value::Object(_)) {
        return;
    }
    let k = |v: Known<i64>| match v {
        Known::Value(n) => Value::from(n),
        _ => Value::unknown(),
    };
    set_if_null_in_config(m, cfg, mem::DYNAMIC_MAX, k(spec.effective_dynamic_max()));
    set_if_null_in_config(m, cfg, mem::DYNAMIC_MIN, k(spec.effective_dynamic_min()));
    set_if_null_in_config(m, cfg, mem::STATIC_MIN, prior_static_min);
}

fn plan_nics_create(config: &Value, planned: &mut Value) {
    let cfg_nics = elements(config, attr::NETWORK_INTERFACE).to_vec();
    if let Some(Value::List(items)) = planned.get_mut(attr::NETWORK_INTERFACE) {
        for (i, item) in items.iter_mut().enumerate() {
            if let Some(c) = cfg_nics.get(i) {
                set_if_null_in_config(item, c, nic::DEVICE, Value::from(i as i64));
            }
        }
    }
}

/// Plans the interfaces of an update; returns whether any VIF changes.
fn plan_nics_update(config: &Value, prior: &Value, planned: &mut Value) -> bool {
    let cfg_nics = elements(config, attr::NETWORK_INTERFACE).to_vec();
    let prior_nics = elements(prior, attr::NETWORK_INTERFACE).to_vec();
    let mut changed = false;
    let mut kept_devices = Vec::new();
    if let Some(Value::List(items)) = planned.get_mut(attr::NETWORK_INTERFACE) {
        for (i, item) in items.iter_mut().enumerate() {
            let Some(c) = cfg_nics.get(i) else { continue };
            set_if_null_in_config(item, c, nic::DEVICE, Value::from(i as i64));
            let device = int_at(item, nic::DEVICE).value();
            let p = device.and_then(|d| nics::prior_by_device(&prior_nics, d));
            // The MAC stays for the life of the interface, across VIF replacements.
            match p {
                Some(p) => set_if_null_in_config(item, c, nic::MAC, at(p, nic::MAC).clone()),
                None => set_if_null_in_config(item, c, nic::MAC, Value::unknown()),
            }
            // What the configuration asks for (the planned MAC of an unset `mac`
            // is the kept one, not a change).
            let mut wanted = c.clone();
            set(&mut wanted, nic::DEVICE, at(item, nic::DEVICE).clone());
            let spec = &nics::specs(&Value::object([(
                attr::NETWORK_INTERFACE,
                Value::List(vec![wanted]),
            )]))[0];
            if device.is_none() {
                // Unknown device: everything about it is known only at apply.
                changed = true;
                for name in [
                    nic::NETWORK_UUID,
                    nic::VIF_UUID,
                    nic::IPV4_ADDRESSES,
                    nic::IPV6_ADDRESSES,
                ] {
                    set(item, name, Value::unknown());
                }
                set_if_null_in_config(item, c, nic::MAC, Value::unknown());
                continue;
            }
            kept_devices.extend(device);
            let action = nics::action(spec, p);
            match (&action, p) {
                (NicAction::Keep, Some(p)) => {
                    copy_from(item, p, nic::NETWORK_UUID);
                    copy_from(item, p, nic::VIF_UUID);
                    // The reported addresses are read again after any apply
                    // (the guest may change them at any time), so a planned
                    // value could not be kept reliably.
                    set(item, nic::IPV4_ADDRESSES, Value::unknown());
                    set(item, nic::IPV6_ADDRESSES, Value::unknown());
                }
                (NicAction::Replace(causes), Some(p)) => {
                    changed = true;
                    if causes.contains(&nic::NETWORK) {
                        set(item, nic::NETWORK_UUID, Value::unknown());
                    } else {
                        copy_from(item, p, nic::NETWORK_UUID);
                    }
                    for name in [nic::VIF_UUID, nic::IPV4_ADDRESSES, nic::IPV6_ADDRESSES] {
                        set(item, name, Value::unknown());
                    }
                }
                _ => {
                    changed = true;
                    for name in [
                        nic::NETWORK_UUID,
                        nic::VIF_UUID,
                        nic::IPV4_ADDRESSES,
                        nic::IPV6_ADDRESSES,
                    ] {
                        set(item, name, Value::unknown());
                    }
                }
            }
        }
    }
    if prior_nics.iter().any(|p| {
        int_at(p, nic::DEVICE)
            .value()
            .is_none_or(|d| !kept_devices.contains(&d))
    }) {
        changed = true;
    }
    changed
}

/// The prior disk entry an entry of the plan refers to: the one with the
/// configured device, else the one at the same position (if its device is not
/// claimed explicitly by another entry).
pub fn match_prior_disk<'p>(
    config_disks: &[Value],
    prior_disks: &'p [Value],
    index: usize,
) -> Option<&'p Value> {
    let cfg = config_disks.get(index)?;
    match str_at(cfg, disk::DEVICE) {
        Known::Value(d) => prior_disks
            .iter()
            .find(|p| str_at(p, disk::DEVICE).value_owned().as_deref() == Some(d.as_str())),
        Known::Unknown => None,
        Known::Null => {
            let p = prior_disks.get(index)?;
            let pd = str_at(p, disk::DEVICE).value_owned();
            let claimed = config_disks.iter().any(
                |c| matches!(str_at(c, disk::DEVICE), Known::Value(d) if Some(&d) == pd.as_ref()),
            );
            (!claimed).then_some(p)
        }
    }
}

fn plan_disks_update(config: &Value, prior: &Value, planned: &mut Value, diags: &mut Diagnostics) {
    let cfg_disks = elements(config, attr::DISK).to_vec();
    let prior_disks = elements(prior, attr::DISK).to_vec();
    if let Some(Value::List(items)) = planned.get_mut(attr::DISK) {
        for (i, item) in items.iter_mut().enumerate() {
            let Some(c) = cfg_disks.get(i) else { continue };
            match match_prior_disk(&cfg_disks, &prior_disks, i) {
                Some(p) => {
                    set_if_null_in_config(item, c, disk::DEVICE, at(p, disk::DEVICE).clone());
                    copy_from(item, p, disk::VDI_UUID);
                    copy_from(item, p, disk::CREATED);
                    if let (Known::Value(old), Known::Value(new)) =
                        (int_at(p, disk::SIZE), int_at(item, disk::SIZE))
                        && new < old
                    {
                        diags.error_at(
                            AttributePath::new(attr::DISK)
                                .index(i as i64)
                                .attr(disk::SIZE),
                            "Disks cannot shrink",
                            format!(
                                "disk[{i}] (device {}) is {old} bytes; the configuration asks for \
                                 {new}. XAPI can only grow a disk. To get a smaller disk, remove \
                                 the entry and add a new one (its data is lost).",
                                str_at(p, disk::DEVICE).value_owned().unwrap_or_default()
                            ),
                        );
                    }
                }
                None => {
                    set_if_null_in_config(item, c, disk::DEVICE, Value::unknown());
                    set(item, disk::VDI_UUID, Value::unknown());
                    set(item, disk::CREATED, Value::unknown());
                }
            }
        }
    }
}

/// Whether the template of the configuration designates the prior one. A VM
/// of unknown provenance (imported, not created by this provider: no recorded
/// template UUID) takes the configured template as its record, without a
/// replacement.
fn same_template(prior: &Value, planned: &Value) -> bool {
    if at(prior, attr::TEMPLATE_UUID).is_null() {
        return true;
    }
    match str_at(planned, attr::TEMPLATE) {
        Known::Value(t) => {
            str_at(prior, attr::TEMPLATE).value_owned().as_deref() == Some(t.as_str())
                || str_at(prior, attr::TEMPLATE_UUID).value_owned().as_deref() == Some(t.as_str())
        }
        Known::Unknown => false,
        Known::Null => true,
    }
}

/// `cloud_init.user_data` unset: none on a new drive, the current one kept on
/// an existing VM.
fn plan_user_data(config: &Value, prior: &Value, planned: &mut Value) {
    let cfg = at(config, attr::CLOUD_INIT);
    if cfg.is_null() || cfg.is_unknown() || !at(cfg, ci::USER_DATA).is_null() {
        return;
    }
    let kept = at(at(prior, attr::CLOUD_INIT), ci::USER_DATA).clone();
    if let Some(c) = planned.get_mut(attr::CLOUD_INIT)
        && matches!(c, Value::Object(_))
    {
        set(
            c,
            ci::USER_DATA,
            if kept.is_unknown() { Value::Null } else { kept },
        );
    }
}

/// The whole planning step (create and update; not destroy).
///
/// `template_static_min` is the template's `memory_static_min` when it could
/// be looked up at plan time (create only): then an unset `memory.static_min`
/// is planned as that value and the order is checked against it now instead
/// of at apply.
pub fn modify_plan(
    req: &PlanRequest<'_>,
    plan: &mut PlannedChange,
    diags: &mut Diagnostics,
    template_static_min: Option<i64>,
) {
    let config = req.config;
    let planned = &mut plan.planned_state;
    set_if_null_in_config(planned, config, attr::POWER_STATE, Value::from("running"));
    let spec_cpu = super::cpu::CpuSpec::from_value(config);
    plan_user_data(config, req.prior_state, planned);
    if req.is_create() {
        let spec = MemorySpec::from_value(at(config, attr::MEMORY));
        let static_min = match template_static_min {
            Some(t) if spec.static_min.is_null() && spec.static_max.is_value() => {
                if let Err(m) = spec.resolve(t) {
                    diags.error_at(
                        AttributePath::new(attr::MEMORY).attr(mem::STATIC_MIN),
                        "Invalid memory limits",
                        m,
                    );
                }
                Value::from(t)
            }
            _ => Value::unknown(),
        };
        plan_memory(config, planned, static_min);
        if let (Known::Null, Known::Value(v)) = (spec_cpu.vcpus_max, spec_cpu.vcpus) {
            set(planned, attr::VCPUS_MAX, Value::from(v));
        }
        plan_nics_create(config, planned);
        return;
    }
    let prior = req.prior_state;
    if !same_template(prior, planned) {
        plan.requires_replace
            .push(AttributePath::new(attr::TEMPLATE));
        return;
    }
    // An unchanged object plans as the prior state (the framework did so already).
    if *planned == *prior {
        return;
    }
    for name in [attr::ID, attr::TEMPLATE_UUID] {
        copy_from(planned, prior, name);
    }
    for name in [
        attr::VCPUS,
        attr::CORES_PER_SOCKET,
        attr::BOOT_FIRMWARE,
        attr::SECURE_BOOT,
        attr::BOOT_ORDER,
    ] {
        set_if_null_in_config(planned, config, name, at(prior, name).clone());
    }
    if at(config, attr::VCPUS_MAX).is_null() {
        let prior_max = int_at(prior, attr::VCPUS_MAX);
        let v = match (prior_max, int_at(planned, attr::VCPUS)) {
            (Known::Value(m), Known::Value(v)) => Value::from(m.max(v)),
            (Known::Value(m), Known::Null) => Value::from(m),
            _ => Value::unknown(),
        };
        set(planned, attr::VCPUS_MAX, v);
    }
    let prior_static_min = at(at(prior, attr::MEMORY), mem::STATIC_MIN).clone();
    plan_memory(config, planned, prior_static_min);
    // Re-check the order with the kept static_min (the configuration alone may
    // not have known it).
    MemorySpec::from_value(at(planned, attr::MEMORY)).validate(diags);
    plan_disks_update(config, prior, planned, diags);

    let restart = restart_needed(prior, planned);
    plan_nics_update(config, prior, planned);

    if !restart.is_empty() {
        let names: Vec<&str> = restart.iter().map(|r| r.name.as_str()).collect();
        let label = vm_label(prior, planned);
        let allowed = bool_at(config, attr::RESTART_ON_UPDATE)
            .value()
            .unwrap_or(true);
        if allowed {
            diags.warning(
                "VM will be restarted",
                format!(
                    "Applying this plan shuts down VM {label} (cleanly, hard after \
                     shutdown_timeout), changes {} — XAPI allows that only while the VM is \
                     halted — and starts it again. Set restart_on_update = false to refuse \
                     such plans.",
                    names.join(", ")
                ),
            );
        } else {
            diags.error_at(
                restart[0].path.clone(),
                "Change needs a VM restart",
                format!(
                    "VM {label} is running, and changing {} needs it halted, but \
                     restart_on_update = false. Set restart_on_update = true to allow the \
                     restart, set power_state = \"halted\", or revert the change.",
                    names.join(", ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::vm::schema::schema;

    const G: i64 = 1 << 30;

    /// A full object of the schema's type with the given top-level values.
    fn obj(fields: &[(&str, Value)]) -> Value {
        let Value::Object(mut m) = null_object() else {
            unreachable!()
        };
        for (k, v) in fields {
            m.insert(k.to_string(), v.clone());
        }
        Value::Object(m)
    }

    fn null_object() -> Value {
        let s = schema();
        let mut m = std::collections::BTreeMap::new();
        for a in &s.block.attributes {
            m.insert(a.name.clone(), Value::Null);
        }
        for b in &s.block.blocks {
            m.insert(b.type_name.clone(), Value::List(vec![]));
        }
        Value::Object(m)
    }

    fn memory(smin: Option<i64>, smax: i64, dmin: Option<i64>, dmax: Option<i64>) -> Value {
        let o = |v: Option<i64>| v.map(Value::from).unwrap_or(Value::Null);
        Value::object([
            (mem::STATIC_MIN, o(smin)),
            (mem::STATIC_MAX, Value::from(smax)),
            (mem::DYNAMIC_MIN, o(dmin)),
            (mem::DYNAMIC_MAX, o(dmax)),
        ])
    }

    fn prior_state() -> Value {
        obj(&[
            (attr::ID, "vm-uuid".into()),
            (attr::NAME_LABEL, "web".into()),
            (attr::TEMPLATE, "Ubuntu".into()),
            (attr::TEMPLATE_UUID, "tpl-uuid".into()),
            (attr::VCPUS, Value::from(2i64)),
            (attr::VCPUS_MAX, Value::from(2i64)),
            (attr::POWER_STATE, "running".into()),
            (
                attr::MEMORY,
                memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            ),
        ])
    }

    fn plan_update(config: &Value, prior: &Value) -> (PlannedChange, Diagnostics) {
        // What the framework proposes: the configuration with computed nulls unknown.
        let mut proposed = config.clone();
        for name in [attr::ID, attr::TEMPLATE_UUID] {
            set(&mut proposed, name, Value::unknown());
        }
        let mut plan = PlannedChange {
            planned_state: proposed.clone(),
            requires_replace: vec![],
            planned_private: vec![],
        };
        let req = PlanRequest {
            config,
            prior_state: prior,
            proposed_new_state: &proposed,
            prior_private: &[],
        };
        let mut diags = Diagnostics::new();
        modify_plan(&req, &mut plan, &mut diags, None);
        (plan, diags)
    }

    fn config_with(mem_v: Value, extra: &[(&str, Value)]) -> Value {
        let mut f = vec![
            (attr::NAME_LABEL, Value::from("web")),
            (attr::TEMPLATE, Value::from("Ubuntu")),
            (attr::VCPUS, Value::from(2i64)),
            (attr::MEMORY, mem_v),
        ];
        f.extend(extra.iter().cloned());
        obj(&f)
    }

    #[test]
    fn dynamic_change_is_live_without_warning() {
        let cfg = config_with(memory(Some(G), 4 * G, Some(3 * G), Some(4 * G)), &[]);
        let (plan, diags) = plan_update(&cfg, &prior_state());
        assert!(diags.is_empty(), "{diags:?}");
        let m = at(&plan.planned_state, attr::MEMORY);
        assert_eq!(int_at(m, mem::DYNAMIC_MIN).value(), Some(3 * G));
        assert_eq!(
            int_at(&plan.planned_state, attr::VCPUS_MAX).value(),
            Some(2)
        );
        assert_eq!(
            str_at(&plan.planned_state, attr::ID)
                .value_owned()
                .as_deref(),
            Some("vm-uuid")
        );
    }

    #[test]
    fn static_change_warns_naming_vm_and_attribute() {
        let cfg = config_with(memory(Some(G), 8 * G, Some(2 * G), Some(4 * G)), &[]);
        let (_, diags) = plan_update(&cfg, &prior_state());
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, schema::Severity::Warning);
        assert!(d[0].detail.contains("\"web\" (vm-uuid)"), "{}", d[0].detail);
        assert!(d[0].detail.contains("memory.static_max"));
    }

    #[test]
    fn static_change_without_restart_permission_is_an_error() {
        let cfg = config_with(
            memory(Some(G), 8 * G, Some(2 * G), Some(4 * G)),
            &[
                (attr::RESTART_ON_UPDATE, Value::from(false)),
                (attr::VCPUS_MAX, Value::from(4i64)),
            ],
        );
        let (_, diags) = plan_update(&cfg, &prior_state());
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, schema::Severity::Error);
        assert_eq!(
            d[0].attribute.as_ref().unwrap().to_string(),
            "memory.static_max"
        );
        assert!(d[0].detail.contains("memory.static_max, vcpus_max"));
    }

    #[test]
    fn halted_vm_changes_without_restart() {
        let mut prior = prior_state();
        set(&mut prior, attr::POWER_STATE, "halted".into());
        let cfg = config_with(
            memory(Some(G), 8 * G, None, None),
            &[
                (attr::POWER_STATE, "halted".into()),
                (attr::RESTART_ON_UPDATE, Value::from(false)),
            ],
        );
        let (plan, diags) = plan_update(&cfg, &prior);
        assert!(diags.is_empty(), "{diags:?}");
        let m = at(&plan.planned_state, attr::MEMORY);
        assert_eq!(int_at(m, mem::DYNAMIC_MIN).value(), Some(8 * G));
        assert_eq!(int_at(m, mem::STATIC_MIN).value(), Some(G));
    }

    #[test]
    fn template_change_replaces_unless_same_template() {
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(attr::TEMPLATE, "Debian".into())],
        );
        let (plan, _) = plan_update(&cfg, &prior_state());
        assert_eq!(
            plan.requires_replace,
            vec![AttributePath::new(attr::TEMPLATE)]
        );
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(attr::TEMPLATE, "tpl-uuid".into())],
        );
        let (plan, _) = plan_update(&cfg, &prior_state());
        assert!(plan.requires_replace.is_empty());
        // A VM of unknown provenance records the configured template instead.
        let mut foreign = prior_state();
        set(&mut foreign, attr::TEMPLATE_UUID, Value::Null);
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(attr::TEMPLATE, "Debian".into())],
        );
        let (plan, _) = plan_update(&cfg, &foreign);
        assert!(plan.requires_replace.is_empty());
    }

    fn nic(fields: &[(&str, Value)]) -> Value {
        let s = schema();
        let b = s.block.get_block(attr::NETWORK_INTERFACE).unwrap();
        let mut m = std::collections::BTreeMap::new();
        for a in &b.block.attributes {
            m.insert(a.name.clone(), Value::Null);
        }
        for (k, v) in fields {
            m.insert(k.to_string(), v.clone());
        }
        Value::Object(m)
    }

    #[test]
    fn mac_is_kept_and_network_change_replaces_only_that_vif() {
        let mut prior = prior_state();
        set(
            &mut prior,
            attr::NETWORK_INTERFACE,
            Value::List(vec![
                nic(&[
                    (nic::NETWORK, "lan".into()),
                    (nic::NETWORK_UUID, "lan-uuid".into()),
                    (nic::DEVICE, Value::from(0i64)),
                    (nic::MAC, "02:00:00:00:00:01".into()),
                    (nic::VIF_UUID, "vif0".into()),
                    (nic::IPV4_ADDRESSES, Value::List(vec!["10.0.0.5".into()])),
                ]),
                nic(&[
                    (nic::NETWORK, "dmz".into()),
                    (nic::NETWORK_UUID, "dmz-uuid".into()),
                    (nic::DEVICE, Value::from(1i64)),
                    (nic::MAC, "02:00:00:00:00:02".into()),
                    (nic::VIF_UUID, "vif1".into()),
                ]),
            ]),
        );
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(
                attr::NETWORK_INTERFACE,
                Value::List(vec![
                    nic(&[(nic::NETWORK, "lan".into())]),
                    nic(&[(nic::NETWORK, "other".into())]),
                ]),
            )],
        );
        let (plan, diags) = plan_update(&cfg, &prior);
        assert!(diags.is_empty(), "{diags:?}");
        let n = elements(&plan.planned_state, attr::NETWORK_INTERFACE);
        assert_eq!(
            str_at(&n[0], nic::MAC).value_owned().as_deref(),
            Some("02:00:00:00:00:01")
        );
        assert_eq!(
            str_at(&n[0], nic::VIF_UUID).value_owned().as_deref(),
            Some("vif0")
        );
        assert!(at(&n[0], nic::IPV4_ADDRESSES).is_unknown());
        assert_eq!(
            str_at(&n[1], nic::MAC).value_owned().as_deref(),
            Some("02:00:00:00:00:02")
        );
        assert!(at(&n[1], nic::VIF_UUID).is_unknown());
        assert!(at(&n[1], nic::NETWORK_UUID).is_unknown());
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn unset_user_data_keeps_the_drive_contents() {
        let ci_obj = |ud: Value| {
            Value::object([
                (ci::USER_DATA, ud),
                (ci::META_DATA, Value::Null),
                (ci::VENDOR_DATA, Value::Null),
                (ci::NETWORK_CONFIG, Value::Null),
                (ci::NETWORK_CONFIG_FORMAT, Value::Null),
                (ci::INSTANCE_ID, Value::Null),
                (ci::REMOVE_AFTER_BOOT, Value::Null),
            ])
        };
        let mut prior = prior_state();
        set(
            &mut prior,
            attr::CLOUD_INIT,
            ci_obj(Value::from("#cloud-config\n")),
        );
        let mut cfg = config_with(memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)), &[]);
        set(&mut cfg, attr::CLOUD_INIT, ci_obj(Value::Null));
        let (plan, diags) = plan_update(&cfg, &prior);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            at(at(&plan.planned_state, attr::CLOUD_INIT), ci::USER_DATA),
            &Value::from("#cloud-config\n")
        );
    }

    #[test]
    fn disk_shrink_is_a_plan_error() {
        let disk_entry = |size: i64, with_computed: bool| {
            let s = schema();
            let b = s.block.get_block(attr::DISK).unwrap();
            let mut m = std::collections::BTreeMap::new();
            for a in &b.block.attributes {
                m.insert(a.name.clone(), Value::Null);
            }
            m.insert(disk::DEVICE.into(), "0".into());
            m.insert(disk::SIZE.into(), Value::from(size));
            if with_computed {
                m.insert(disk::VDI_UUID.into(), "vdi".into());
                m.insert(disk::CREATED.into(), Value::from(false));
            }
            Value::Object(m)
        };
        let mut prior = prior_state();
        set(
            &mut prior,
            attr::DISK,
            Value::List(vec![disk_entry(20 * G, true)]),
        );
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(attr::DISK, Value::List(vec![disk_entry(10 * G, false)]))],
        );
        let (_, diags) = plan_update(&cfg, &prior);
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].attribute.as_ref().unwrap().to_string(), "disk[0].size");
        let cfg = config_with(
            memory(Some(G), 4 * G, Some(2 * G), Some(4 * G)),
            &[(attr::DISK, Value::List(vec![disk_entry(30 * G, false)]))],
        );
        let (_, diags) = plan_update(&cfg, &prior);
        let d: Vec<_> = diags.iter().collect();
        assert_eq!(d[0].severity, schema::Severity::Warning);
        assert!(d[0].detail.contains("disk[0].size"));
    }
}
