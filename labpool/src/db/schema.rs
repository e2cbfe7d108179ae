//! The lab pool's datamodel: classes, their fields with defaults, and which fields have
//! generated setters. Field names and defaults follow XAPI's datamodel
//! (`ocaml/idl/datamodel.ml`, `datamodel_vm.ml`, `doc/data/xenapi.json`).

use std::collections::BTreeMap;

use crate::value::{NULL_REF, Record, Value, epoch_datetime};

/// Whether a field has a generated setter (`RW`) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qual {
    /// Settable with `set_<field>` (and `add_to_`/`remove_from_` for maps, `add_`/`remove_` for
    /// the `tags` set).
    Rw,
    /// Read-only for clients (constructor or runtime).
    Ro,
}

/// A field definition.
pub struct Field {
    /// The wire name.
    pub name: &'static str,
    /// The default value (also fixes the field's type).
    pub default: Value,
    /// The qualifier.
    pub qual: Qual,
}

fn s(v: &str) -> Value {
    Value::s(v)
}
fn i(v: i64) -> Value {
    Value::Int(v)
}
fn b(v: bool) -> Value {
    Value::Bool(v)
}
fn m() -> Value {
    Value::empty_map()
}
fn set() -> Value {
    Value::empty_set()
}
fn null() -> Value {
    Value::s(NULL_REF)
}

macro_rules! fields {
    ($( $name:literal : $def:expr , $q:ident );* $(;)?) => {
        vec![ $( Field { name: $name, default: $def, qual: Qual::$q } ),* ]
    };
}

/// The classes the lab pool knows, with their wire names.
pub const CLASSES: &[&str] = &[
    "pool",
    "host",
    "host_metrics",
    "SR",
    "PBD",
    "VDI",
    "VBD",
    "network",
    "PIF",
    "VIF",
    "VM",
    "VM_metrics",
    "VM_guest_metrics",
    "task",
    "session",
    "message",
];

/// The field definitions of a class.
pub fn fields(class: &str) -> Vec<Field> {
    match class {
        "pool" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Rw;
            "name_description": s(""), Rw;
            "master": null(), Ro;
            "default_SR": null(), Rw;
            "suspend_image_SR": null(), Rw;
            "crash_dump_SR": null(), Rw;
            "other_config": m(), Rw;
            "ha_enabled": b(false), Ro;
            "ha_configuration": m(), Ro;
            "ha_statefiles": set(), Ro;
            "ha_host_failures_to_tolerate": i(0), Ro;
            "ha_plan_exists_for": i(0), Ro;
            "ha_allow_overcommit": b(false), Rw;
            "ha_overcommitted": b(false), Ro;
            "blobs": m(), Ro;
            "tags": set(), Rw;
            "gui_config": m(), Rw;
            "health_check_config": m(), Rw;
            "wlb_url": s(""), Ro;
            "wlb_username": s(""), Ro;
            "wlb_enabled": b(false), Rw;
            "wlb_verify_cert": b(false), Rw;
            "redo_log_enabled": b(false), Ro;
            "redo_log_vdi": null(), Ro;
            "vswitch_controller": s(""), Ro;
            "restrictions": m(), Ro;
            "metadata_VDIs": set(), Ro;
            "ha_cluster_stack": s("xhad"), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "guest_agent_config": m(), Ro;
            "cpu_info": m(), Ro;
            "policy_no_vendor_device": b(false), Rw;
            "live_patching_disabled": b(false), Rw;
            "igmp_snooping_enabled": b(false), Ro;
            "uefi_certificates": s(""), Ro;
            "is_psr_pending": b(false), Rw;
            "tls_verification_enabled": b(true), Ro;
            "repositories": set(), Ro;
            "client_certificate_auth_enabled": b(false), Ro;
            "client_certificate_auth_name": s(""), Ro;
            "repository_proxy_url": s(""), Ro;
            "repository_proxy_username": s(""), Ro;
            "repository_proxy_password": null(), Ro;
            "migration_compression": b(false), Rw;
            "coordinator_bias": b(true), Rw;
        },
        "host" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Rw;
            "name_description": s(""), Rw;
            "memory_overhead": i(0), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "API_version_major": i(2), Ro;
            "API_version_minor": i(21), Ro;
            "API_version_vendor": s("XenSource"), Ro;
            "API_version_vendor_implementation": m(), Ro;
            "enabled": b(true), Ro;
            "software_version": m(), Ro;
            "other_config": m(), Rw;
            "capabilities": set(), Ro;
            "cpu_configuration": m(), Ro;
            "sched_policy": s("credit"), Ro;
            "supported_bootloaders": Value::str_set(["pygrub", "eliloader"]), Ro;
            "resident_VMs": set(), Ro;
            "logging": m(), Rw;
            "PIFs": set(), Ro;
            "suspend_image_sr": null(), Rw;
            "crash_dump_sr": null(), Rw;
            "crashdumps": set(), Ro;
            "patches": set(), Ro;
            "updates": set(), Ro;
            "PBDs": set(), Ro;
            "host_CPUs": set(), Ro;
            "cpu_info": m(), Ro;
            "hostname": s(""), Ro;
            "address": s(""), Ro;
            "metrics": null(), Ro;
            "license_params": m(), Ro;
            "ha_statefiles": set(), Ro;
            "ha_network_peers": set(), Ro;
            "blobs": m(), Ro;
            "tags": set(), Rw;
            "external_auth_type": s(""), Ro;
            "external_auth_service_name": s(""), Ro;
            "external_auth_configuration": m(), Ro;
            "edition": s("xcp-ng"), Ro;
            "license_server": m(), Ro;
            "bios_strings": m(), Ro;
            "power_on_mode": s(""), Ro;
            "power_on_config": m(), Ro;
            "local_cache_sr": null(), Ro;
            "chipset_info": m(), Ro;
            "PCIs": set(), Ro;
            "PGPUs": set(), Ro;
            "PUSBs": set(), Ro;
            "ssl_legacy": b(false), Ro;
            "guest_VCPUs_params": m(), Rw;
            "display": s("enabled"), Rw;
            "virtual_hardware_platform_versions": Value::Set(vec![i(0), i(1), i(2)]), Ro;
            "control_domain": null(), Ro;
            "updates_requiring_reboot": set(), Ro;
            "features": set(), Ro;
            "iscsi_iqn": s(""), Ro;
            "multipathing": b(false), Ro;
            "uefi_certificates": s(""), Ro;
            "certificates": set(), Ro;
            "editions": Value::str_set(["xcp-ng"]), Ro;
            "pending_guidances": set(), Ro;
            "tls_verification_enabled": b(true), Ro;
            "last_software_update": epoch_datetime(), Ro;
            "https_only": b(false), Ro;
            "latest_synced_updates_applied": s("unknown"), Ro;
            "numa_affinity_policy": s("default_policy"), Ro;
        },
        "host_metrics" => fields! {
            "uuid": s(""), Ro;
            "memory_total": i(0), Ro;
            "memory_free": i(0), Ro;
            "live": b(true), Ro;
            "last_updated": epoch_datetime(), Ro;
            "other_config": m(), Rw;
        },
        "SR" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Ro;
            "name_description": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "VDIs": set(), Ro;
            "PBDs": set(), Ro;
            "virtual_allocation": i(0), Ro;
            "physical_utilisation": i(0), Ro;
            "physical_size": i(0), Ro;
            "type": s(""), Ro;
            "content_type": s(""), Ro;
            "shared": b(false), Ro;
            "other_config": m(), Rw;
            "tags": set(), Rw;
            "sm_config": m(), Rw;
            "blobs": m(), Ro;
            "local_cache_enabled": b(false), Ro;
            "introduced_by": null(), Ro;
            "clustered": b(false), Ro;
            "is_tools_sr": b(false), Ro;
        },
        "PBD" => fields! {
            "uuid": s(""), Ro;
            "host": null(), Ro;
            "SR": null(), Ro;
            "device_config": m(), Ro;
            "currently_attached": b(true), Ro;
            "other_config": m(), Rw;
        },
        "VDI" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Ro;
            "name_description": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "SR": null(), Ro;
            "VBDs": set(), Ro;
            "crash_dumps": set(), Ro;
            "virtual_size": i(0), Ro;
            "physical_utilisation": i(0), Ro;
            "type": s("user"), Ro;
            "sharable": b(false), Ro;
            "read_only": b(false), Ro;
            "other_config": m(), Rw;
            "storage_lock": b(false), Ro;
            "location": s(""), Ro;
            "managed": b(true), Ro;
            "missing": b(false), Ro;
            "parent": null(), Ro;
            "xenstore_data": m(), Rw;
            "sm_config": m(), Rw;
            "is_a_snapshot": b(false), Ro;
            "snapshot_of": null(), Ro;
            "snapshots": set(), Ro;
            "snapshot_time": epoch_datetime(), Ro;
            "tags": set(), Rw;
            "allow_caching": b(false), Ro;
            "on_boot": s("persist"), Ro;
            "metadata_of_pool": null(), Ro;
            "metadata_latest": b(false), Ro;
            "is_tools_iso": b(false), Ro;
            "cbt_enabled": b(false), Ro;
        },
        "VBD" => fields! {
            "uuid": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "VM": null(), Ro;
            "VDI": null(), Ro;
            "device": s(""), Ro;
            "userdevice": s(""), Rw;
            "bootable": b(false), Rw;
            "mode": s("RW"), Ro;
            "type": s("Disk"), Rw;
            "unpluggable": b(true), Rw;
            "storage_lock": b(false), Ro;
            "empty": b(false), Ro;
            "other_config": m(), Rw;
            "currently_attached": b(false), Ro;
            "status_code": i(0), Ro;
            "status_detail": s(""), Ro;
            "runtime_properties": m(), Ro;
            "qos_algorithm_type": s(""), Rw;
            "qos_algorithm_params": m(), Rw;
            "qos_supported_algorithms": set(), Ro;
            "metrics": null(), Ro;
        },
        "network" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Rw;
            "name_description": s(""), Rw;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "VIFs": set(), Ro;
            "PIFs": set(), Ro;
            "MTU": i(1500), Rw;
            "other_config": m(), Rw;
            "bridge": s(""), Ro;
            "managed": b(true), Ro;
            "blobs": m(), Ro;
            "tags": set(), Rw;
            "default_locking_mode": s("unlocked"), Ro;
            "assigned_ips": m(), Ro;
            "purpose": set(), Ro;
        },
        "PIF" => fields! {
            "uuid": s(""), Ro;
            "device": s(""), Ro;
            "network": null(), Ro;
            "host": null(), Ro;
            "MAC": s(""), Ro;
            "MTU": i(1500), Ro;
            "VLAN": i(-1), Ro;
            "metrics": null(), Ro;
            "physical": b(true), Ro;
            "currently_attached": b(true), Ro;
            "ip_configuration_mode": s("None"), Ro;
            "IP": s(""), Ro;
            "netmask": s(""), Ro;
            "gateway": s(""), Ro;
            "DNS": s(""), Ro;
            "bond_slave_of": null(), Ro;
            "bond_master_of": set(), Ro;
            "VLAN_master_of": null(), Ro;
            "VLAN_slave_of": set(), Ro;
            "management": b(false), Ro;
            "other_config": m(), Rw;
            "disallow_unplug": b(false), Ro;
            "tunnel_access_PIF_of": set(), Ro;
            "tunnel_transport_PIF_of": set(), Ro;
            "ipv6_configuration_mode": s("None"), Ro;
            "IPv6": set(), Ro;
            "ipv6_gateway": s(""), Ro;
            "primary_address_type": s("IPv4"), Ro;
            "managed": b(true), Ro;
            "properties": m(), Ro;
            "capabilities": set(), Ro;
            "igmp_snooping_status": s("disabled"), Ro;
            "sriov_physical_PIF_of": set(), Ro;
            "sriov_logical_PIF_of": set(), Ro;
            "PCI": null(), Ro;
        },
        "VIF" => fields! {
            "uuid": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "device": s(""), Ro;
            "network": null(), Ro;
            "VM": null(), Ro;
            "MAC": s(""), Ro;
            "MTU": i(1500), Ro;
            "other_config": m(), Rw;
            "currently_attached": b(false), Ro;
            "status_code": i(0), Ro;
            "status_detail": s(""), Ro;
            "runtime_properties": m(), Ro;
            "qos_algorithm_type": s(""), Rw;
            "qos_algorithm_params": m(), Rw;
            "qos_supported_algorithms": set(), Ro;
            "metrics": null(), Ro;
            "MAC_autogenerated": b(false), Ro;
            "locking_mode": s("network_default"), Ro;
            "ipv4_allowed": set(), Ro;
            "ipv6_allowed": set(), Ro;
            "ipv4_configuration_mode": s("None"), Ro;
            "ipv4_addresses": set(), Ro;
            "ipv4_gateway": s(""), Ro;
            "ipv6_configuration_mode": s("None"), Ro;
            "ipv6_addresses": set(), Ro;
            "ipv6_gateway": s(""), Ro;
        },
        "VM" => fields! {
            "uuid": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "name_label": s(""), Rw;
            "name_description": s(""), Rw;
            "power_state": s("Halted"), Ro;
            "user_version": i(1), Rw;
            "is_a_template": b(false), Ro;
            "is_default_template": b(false), Ro;
            "suspend_VDI": null(), Ro;
            "resident_on": null(), Ro;
            "scheduled_to_be_resident_on": null(), Ro;
            "affinity": null(), Rw;
            "memory_overhead": i(0), Ro;
            "memory_target": i(0), Ro;
            "memory_static_max": i(0), Ro;
            "memory_dynamic_max": i(0), Ro;
            "memory_dynamic_min": i(0), Ro;
            "memory_static_min": i(0), Ro;
            "VCPUs_params": m(), Rw;
            "VCPUs_max": i(1), Ro;
            "VCPUs_at_startup": i(1), Ro;
            "actions_after_softreboot": s("soft_reboot"), Rw;
            "actions_after_shutdown": s("destroy"), Rw;
            "actions_after_reboot": s("restart"), Rw;
            "actions_after_crash": s("restart"), Ro;
            "consoles": set(), Ro;
            "VIFs": set(), Ro;
            "VBDs": set(), Ro;
            "VUSBs": set(), Ro;
            "crash_dumps": set(), Ro;
            "VTPMs": set(), Ro;
            "PV_bootloader": s(""), Rw;
            "PV_kernel": s(""), Rw;
            "PV_ramdisk": s(""), Rw;
            "PV_args": s(""), Rw;
            "PV_bootloader_args": s(""), Rw;
            "PV_legacy_args": s(""), Rw;
            "HVM_boot_policy": s("BIOS order"), Rw;
            "HVM_boot_params": m(), Rw;
            "HVM_shadow_multiplier": Value::Float(1.0), Ro;
            "platform": m(), Rw;
            "PCI_bus": s(""), Rw;
            "other_config": m(), Rw;
            "domid": i(-1), Ro;
            "domarch": s(""), Ro;
            "last_boot_CPU_flags": m(), Ro;
            "is_control_domain": b(false), Ro;
            "metrics": null(), Ro;
            "guest_metrics": null(), Ro;
            "last_booted_record": s(""), Ro;
            "recommendations": s(""), Rw;
            "xenstore_data": m(), Rw;
            "ha_always_run": b(false), Ro;
            "ha_restart_priority": s(""), Ro;
            "is_a_snapshot": b(false), Ro;
            "snapshot_of": null(), Ro;
            "snapshots": set(), Ro;
            "snapshot_time": epoch_datetime(), Ro;
            "transportable_snapshot_id": s(""), Ro;
            "blobs": m(), Ro;
            "tags": set(), Rw;
            "blocked_operations": m(), Rw;
            "snapshot_info": m(), Ro;
            "snapshot_metadata": s(""), Ro;
            "parent": null(), Ro;
            "children": set(), Ro;
            "bios_strings": m(), Ro;
            "protection_policy": null(), Ro;
            "is_snapshot_from_vmpp": b(false), Ro;
            "snapshot_schedule": null(), Ro;
            "is_vmss_snapshot": b(false), Ro;
            "appliance": null(), Ro;
            "start_delay": i(0), Ro;
            "shutdown_delay": i(0), Ro;
            "order": i(0), Ro;
            "VGPUs": set(), Ro;
            "attached_PCIs": set(), Ro;
            "suspend_SR": null(), Rw;
            "version": i(0), Ro;
            "generation_id": s("0:0"), Ro;
            "hardware_platform_version": i(0), Rw;
            "has_vendor_device": b(true), Ro;
            "requires_reboot": b(false), Ro;
            "reference_label": s(""), Ro;
            "domain_type": s("hvm"), Ro;
            "NVRAM": m(), Ro;
            "pending_guidances": set(), Ro;
            "pending_guidances_recommended": set(), Ro;
            "pending_guidances_full": set(), Ro;
            "groups": set(), Ro;
        },
        "VM_metrics" => fields! {
            "uuid": s(""), Ro;
            "memory_actual": i(0), Ro;
            "VCPUs_number": i(0), Ro;
            "VCPUs_utilisation": m(), Ro;
            "VCPUs_CPU": m(), Ro;
            "VCPUs_params": m(), Ro;
            "VCPUs_flags": m(), Ro;
            "state": set(), Ro;
            "start_time": epoch_datetime(), Ro;
            "install_time": epoch_datetime(), Ro;
            "last_updated": epoch_datetime(), Ro;
            "other_config": m(), Rw;
            "hvm": b(true), Ro;
            "nested_virt": b(false), Ro;
            "nomigrate": b(false), Ro;
            "current_domain_type": s("unspecified"), Ro;
        },
        "VM_guest_metrics" => fields! {
            "uuid": s(""), Ro;
            "os_version": m(), Ro;
            "netbios_name": m(), Ro;
            "PV_drivers_version": m(), Ro;
            "PV_drivers_up_to_date": b(false), Ro;
            "memory": m(), Ro;
            "disks": m(), Ro;
            "networks": m(), Ro;
            "other": m(), Ro;
            "last_updated": epoch_datetime(), Ro;
            "other_config": m(), Rw;
            "live": b(false), Ro;
            "can_use_hotplug_vbd": s("unspecified"), Ro;
            "can_use_hotplug_vif": s("unspecified"), Ro;
            "PV_drivers_detected": b(false), Ro;
            "services": m(), Ro;
        },
        "task" => fields! {
            "uuid": s(""), Ro;
            "name_label": s(""), Ro;
            "name_description": s(""), Ro;
            "allowed_operations": set(), Ro;
            "current_operations": m(), Ro;
            "created": epoch_datetime(), Ro;
            "finished": epoch_datetime(), Ro;
            "status": s("pending"), Ro;
            "resident_on": null(), Ro;
            "progress": Value::Float(0.0), Ro;
            "type": s(""), Ro;
            "result": s(""), Ro;
            "error_info": set(), Ro;
            "other_config": m(), Rw;
            "subtask_of": null(), Ro;
            "subtasks": set(), Ro;
            "backtrace": s("()"), Ro;
        },
        "session" => fields! {
            "uuid": s(""), Ro;
            "this_host": null(), Ro;
            "this_user": null(), Ro;
            "last_active": epoch_datetime(), Ro;
            "pool": b(false), Ro;
            "other_config": m(), Rw;
            "is_local_superuser": b(true), Ro;
            "subject": null(), Ro;
            "validation_time": epoch_datetime(), Ro;
            "auth_user_sid": s(""), Ro;
            "auth_user_name": s(""), Ro;
            "rbac_permissions": set(), Ro;
            "tasks": set(), Ro;
            "parent": null(), Ro;
            "originator": s(""), Ro;
            "client_certificate": b(false), Ro;
        },
        "message" => fields! {
            "uuid": s(""), Ro;
            "name": s(""), Ro;
            "priority": i(0), Ro;
            "cls": s("VM"), Ro;
            "obj_uuid": s(""), Ro;
            "timestamp": epoch_datetime(), Ro;
            "body": s(""), Ro;
        },
        _ => Vec::new(),
    }
}

/// A record of `class` with every field at its default.
pub fn default_record(class: &str) -> Record {
    fields(class)
        .into_iter()
        .map(|f| (f.name.to_string(), f.default))
        .collect()
}

/// The datamodel name of a class given in any case (`vm` -> `VM`), if known.
pub fn canonical_class(name: &str) -> Option<&'static str> {
    CLASSES
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(name))
}

/// Reference links maintained by the database: `(child class, child field, parent class,
/// parent set field)`. When the child's field points to a parent, the parent's set contains
/// the child (like XAPI's DB relations, e.g. `VIF.VM` <-> `VM.VIFs`).
pub const LINKS: &[(&str, &str, &str, &str)] = &[
    ("VIF", "VM", "VM", "VIFs"),
    ("VIF", "network", "network", "VIFs"),
    ("VBD", "VM", "VM", "VBDs"),
    ("VBD", "VDI", "VDI", "VBDs"),
    ("VDI", "SR", "SR", "VDIs"),
    ("PBD", "SR", "SR", "PBDs"),
    ("PBD", "host", "host", "PBDs"),
    ("PIF", "host", "host", "PIFs"),
    ("PIF", "network", "network", "PIFs"),
    ("VM", "resident_on", "host", "resident_VMs"),
];

/// The type (by default value) of a field, if the class has it.
pub fn field_default(class: &str, field: &str) -> Option<Value> {
    fields(class)
        .into_iter()
        .find(|f| f.name == field)
        .map(|f| f.default)
}

/// Converts an input value to the type of `template` (the field's default).
pub fn coerce(template: &Value, v: &Value) -> crate::error::ApiResult<Value> {
    Ok(match template {
        Value::Str(_) => Value::Str(v.to_string_value()?),
        Value::Int(_) => Value::Int(v.to_int()?),
        Value::Float(_) => Value::Float(v.to_float()?),
        Value::Bool(_) => Value::Bool(v.to_bool()?),
        Value::DateTime(_) => Value::DateTime(v.to_string_value()?),
        Value::Set(_) => match v {
            Value::Set(items) => Value::Set(items.clone()),
            other => return Err(crate::value::type_error("Enum", other)),
        },
        Value::Map(_) => Value::Map(
            v.to_string_map()?
                .into_iter()
                .map(|(k, v)| (k, Value::Str(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    })
}
