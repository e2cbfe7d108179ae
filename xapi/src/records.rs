//! Typed records for the XAPI classes a VM provider needs.
//!
//! Field names follow the wire names (`memory_static_max`, `VCPUs_max`, `HVM_boot_params`)
//! translated to Rust snake case; the `serde(rename)` attributes hold the wire spelling.
//! Every field is optional on the wire (missing or `null` gives the default) and ints are
//! accepted as numbers or decimal strings, so records from older and newer XAPI versions
//! decode. Fields this client does not model are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::refs::*;
use crate::wire::{self, DateTime, xapi_enum};

/// A `(string -> string) map` as used by `other_config`, `platform`, etc.
pub type StringMap = BTreeMap<String, String>;

xapi_enum!(
    /// `VM.power_state`.
    PowerState default Halted {
        Halted = "Halted",
        Paused = "Paused",
        Running = "Running",
        Suspended = "Suspended",
    }
);

xapi_enum!(
    /// `VBD.type`.
    VbdType default Disk {
        Cd = "CD",
        Disk = "Disk",
        Floppy = "Floppy",
    }
);

xapi_enum!(
    /// `VBD.mode`.
    VbdMode default Rw {
        Ro = "RO",
        Rw = "RW",
    }
);

xapi_enum!(
    /// `VDI.type`.
    VdiType default User {
        System = "system",
        User = "user",
        Ephemeral = "ephemeral",
        Suspend = "suspend",
        Crashdump = "crashdump",
        HaStatefile = "ha_statefile",
        Metadata = "metadata",
        RedoLog = "redo_log",
        Rrd = "rrd",
        PvsCache = "pvs_cache",
        CbtMetadata = "cbt_metadata",
    }
);

xapi_enum!(
    /// `task.status`.
    TaskStatus default Pending {
        Pending = "pending",
        Success = "success",
        Failure = "failure",
        Cancelling = "cancelling",
        Cancelled = "cancelled",
    }
);
impl TaskStatus {
    /// True once the task will not change any more (success, failure or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            TaskStatus::Success | TaskStatus::Failure | TaskStatus::Cancelled
        )
    }
}

xapi_enum!(
    /// `VIF.locking_mode`.
    VifLockingMode default NetworkDefault {
        NetworkDefault = "network_default",
        Locked = "locked",
        Unlocked = "unlocked",
        Disabled = "disabled",
    }
);

xapi_enum!(
    /// `VM.domain_type`.
    DomainType default Unspecified {
        Hvm = "hvm",
        Pv = "pv",
        PvInPvh = "pv_in_pvh",
        Pvh = "pvh",
        Unspecified = "unspecified",
    }
);

/// `pool` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PoolRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Pool name.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Pool description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// The master host.
    pub master: HostRef,
    /// The pool's default SR (may be null).
    #[serde(rename = "default_SR")]
    pub default_sr: SrRef,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
    /// Whether HA is enabled.
    #[serde(deserialize_with = "wire::boolean")]
    pub ha_enabled: bool,
}

/// `host` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Host name label.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// The host's hostname.
    #[serde(deserialize_with = "wire::string")]
    pub hostname: String,
    /// The management address (what `HOST_IS_SLAVE` reports for the master).
    #[serde(deserialize_with = "wire::string")]
    pub address: String,
    /// Whether the host accepts new VMs.
    #[serde(deserialize_with = "wire::boolean")]
    pub enabled: bool,
    /// VMs currently resident on the host (including its control domain).
    #[serde(rename = "resident_VMs", deserialize_with = "wire::set")]
    pub resident_vms: Vec<VmRef>,
    /// Physical interfaces.
    #[serde(rename = "PIFs", deserialize_with = "wire::set")]
    pub pifs: Vec<PifRef>,
    /// Host metrics object (memory totals).
    pub metrics: HostMetricsRef,
    /// The host's control domain.
    pub control_domain: VmRef,
    /// Memory overhead of the host, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_overhead: i64,
    /// Software version map (`product_version`, `xapi`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub software_version: StringMap,
    /// API major version.
    #[serde(rename = "API_version_major", deserialize_with = "wire::int")]
    pub api_version_major: i64,
    /// API minor version.
    #[serde(rename = "API_version_minor", deserialize_with = "wire::int")]
    pub api_version_minor: i64,
    /// CPU information map (`cpu_count`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub cpu_info: StringMap,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
}

/// `host_metrics` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostMetricsRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Total host memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_total: i64,
    /// Free host memory, bytes (as last reported; prefer `host.compute_free_memory`).
    #[serde(deserialize_with = "wire::int")]
    pub memory_free: i64,
    /// Whether the host is live.
    #[serde(deserialize_with = "wire::boolean")]
    pub live: bool,
    /// Last update.
    pub last_updated: DateTime,
}

/// `SR` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SrRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Name.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// Allowed operations.
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// VDIs in this SR.
    #[serde(rename = "VDIs", deserialize_with = "wire::set")]
    pub vdis: Vec<VdiRef>,
    /// Storage type (`lvm`, `ext`, `nfs`, `iso`, ...).
    #[serde(rename = "type", deserialize_with = "wire::string")]
    pub sr_type: String,
    /// Content type (`iso` for ISO libraries).
    #[serde(deserialize_with = "wire::string")]
    pub content_type: String,
    /// Whether the SR is shared by all hosts.
    #[serde(deserialize_with = "wire::boolean")]
    pub shared: bool,
    /// Physical size, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub physical_size: i64,
    /// Physical utilisation, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub physical_utilisation: i64,
    /// Sum of virtual sizes, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub virtual_allocation: i64,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// SM-specific configuration.
    #[serde(deserialize_with = "wire::string_map")]
    pub sm_config: StringMap,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
    /// Whether this is the tools SR.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_tools_sr: bool,
}

/// `VDI` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VdiRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Name.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// Allowed operations (`copy`, `clone`, `resize`, `destroy`, ...).
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// The SR holding this VDI.
    #[serde(rename = "SR")]
    pub sr: SrRef,
    /// VBDs attaching this VDI.
    #[serde(rename = "VBDs", deserialize_with = "wire::set")]
    pub vbds: Vec<VbdRef>,
    /// Virtual size, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub virtual_size: i64,
    /// Physical utilisation, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub physical_utilisation: i64,
    /// VDI type.
    #[serde(rename = "type")]
    pub vdi_type: VdiType,
    /// Whether several VMs may attach it.
    #[serde(deserialize_with = "wire::boolean")]
    pub sharable: bool,
    /// Whether it is read-only.
    #[serde(deserialize_with = "wire::boolean")]
    pub read_only: bool,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// SM configuration.
    #[serde(deserialize_with = "wire::string_map")]
    pub sm_config: StringMap,
    /// xenstore data.
    #[serde(deserialize_with = "wire::string_map")]
    pub xenstore_data: StringMap,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
    /// SM location.
    #[serde(deserialize_with = "wire::string")]
    pub location: String,
    /// Whether XAPI manages it.
    #[serde(deserialize_with = "wire::boolean")]
    pub managed: bool,
    /// Whether the SM reported it missing.
    #[serde(deserialize_with = "wire::boolean")]
    pub missing: bool,
    /// Whether this is a snapshot.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_a_snapshot: bool,
    /// Whether this is the tools ISO.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_tools_iso: bool,
}

/// `VBD` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VbdRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Allowed operations.
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// The VM.
    #[serde(rename = "VM")]
    pub vm: VmRef,
    /// The VDI (null when empty).
    #[serde(rename = "VDI")]
    pub vdi: VdiRef,
    /// Device name in the guest (`xvda`), filled at plug.
    #[serde(deserialize_with = "wire::string")]
    pub device: String,
    /// User-facing device number (`"0"`, `"3"`).
    #[serde(deserialize_with = "wire::string")]
    pub userdevice: String,
    /// Bootable flag.
    #[serde(deserialize_with = "wire::boolean")]
    pub bootable: bool,
    /// RO or RW.
    pub mode: VbdMode,
    /// CD, Disk or Floppy.
    #[serde(rename = "type")]
    pub vbd_type: VbdType,
    /// Whether it may be hot-unplugged.
    #[serde(deserialize_with = "wire::boolean")]
    pub unpluggable: bool,
    /// Whether removable media is absent.
    #[serde(deserialize_with = "wire::boolean")]
    pub empty: bool,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Whether it is attached to the running domain.
    #[serde(deserialize_with = "wire::boolean")]
    pub currently_attached: bool,
    /// QoS algorithm.
    #[serde(deserialize_with = "wire::string")]
    pub qos_algorithm_type: String,
    /// QoS parameters.
    #[serde(deserialize_with = "wire::string_map")]
    pub qos_algorithm_params: StringMap,
}

/// `network` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Name.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// VIFs on this network.
    #[serde(rename = "VIFs", deserialize_with = "wire::set")]
    pub vifs: Vec<VifRef>,
    /// PIFs on this network.
    #[serde(rename = "PIFs", deserialize_with = "wire::set")]
    pub pifs: Vec<PifRef>,
    /// MTU.
    #[serde(rename = "MTU", deserialize_with = "wire::int")]
    pub mtu: i64,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Bridge name.
    #[serde(deserialize_with = "wire::string")]
    pub bridge: String,
    /// Whether XAPI manages the bridge.
    #[serde(deserialize_with = "wire::boolean")]
    pub managed: bool,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
}

/// `PIF` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PifRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Device (`eth0`).
    #[serde(deserialize_with = "wire::string")]
    pub device: String,
    /// Network.
    pub network: NetworkRef,
    /// Host.
    pub host: HostRef,
    /// MAC address.
    #[serde(rename = "MAC", deserialize_with = "wire::string")]
    pub mac: String,
    /// MTU.
    #[serde(rename = "MTU", deserialize_with = "wire::int")]
    pub mtu: i64,
    /// VLAN tag, −1 for none.
    #[serde(rename = "VLAN", deserialize_with = "wire::int")]
    pub vlan: i64,
    /// Whether this is a physical interface.
    #[serde(deserialize_with = "wire::boolean")]
    pub physical: bool,
    /// Whether it is attached.
    #[serde(deserialize_with = "wire::boolean")]
    pub currently_attached: bool,
    /// IP configuration mode (`None`, `DHCP`, `Static`).
    #[serde(deserialize_with = "wire::string")]
    pub ip_configuration_mode: String,
    /// IPv4 address.
    #[serde(rename = "IP", deserialize_with = "wire::string")]
    pub ip: String,
    /// Netmask.
    #[serde(deserialize_with = "wire::string")]
    pub netmask: String,
    /// Gateway.
    #[serde(deserialize_with = "wire::string")]
    pub gateway: String,
    /// DNS servers.
    #[serde(rename = "DNS", deserialize_with = "wire::string")]
    pub dns: String,
    /// Whether this is the management interface.
    #[serde(deserialize_with = "wire::boolean")]
    pub management: bool,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
}

/// `VIF` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VifRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Allowed operations.
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// Device number (`"0"`, `"1"`).
    #[serde(deserialize_with = "wire::string")]
    pub device: String,
    /// Network.
    pub network: NetworkRef,
    /// VM.
    #[serde(rename = "VM")]
    pub vm: VmRef,
    /// MAC address as stored.
    #[serde(rename = "MAC", deserialize_with = "wire::string")]
    pub mac: String,
    /// MTU.
    #[serde(rename = "MTU", deserialize_with = "wire::int")]
    pub mtu: i64,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Whether it is attached to the running domain.
    #[serde(deserialize_with = "wire::boolean")]
    pub currently_attached: bool,
    /// Whether XAPI generated the MAC.
    #[serde(rename = "MAC_autogenerated", deserialize_with = "wire::boolean")]
    pub mac_autogenerated: bool,
    /// Locking mode.
    pub locking_mode: VifLockingMode,
    /// Allowed IPv4 addresses when locked.
    #[serde(deserialize_with = "wire::string_set")]
    pub ipv4_allowed: Vec<String>,
    /// Allowed IPv6 addresses when locked.
    #[serde(deserialize_with = "wire::string_set")]
    pub ipv6_allowed: Vec<String>,
    /// QoS algorithm.
    #[serde(deserialize_with = "wire::string")]
    pub qos_algorithm_type: String,
    /// QoS parameters.
    #[serde(deserialize_with = "wire::string_map")]
    pub qos_algorithm_params: StringMap,
}

/// `VM` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VmRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Allowed operations right now.
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// Operations in progress, keyed by task reference.
    #[serde(deserialize_with = "wire::string_map")]
    pub current_operations: StringMap,
    /// Name.
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// Power state.
    pub power_state: PowerState,
    /// User version.
    #[serde(deserialize_with = "wire::int")]
    pub user_version: i64,
    /// True for templates.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_a_template: bool,
    /// True for the templates shipped with XAPI.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_default_template: bool,
    /// True for snapshots.
    #[serde(deserialize_with = "wire::boolean")]
    pub is_a_snapshot: bool,
    /// True for control domains (dom0).
    #[serde(deserialize_with = "wire::boolean")]
    pub is_control_domain: bool,
    /// Host the VM runs on (null when halted).
    pub resident_on: HostRef,
    /// Preferred host for start.
    pub affinity: HostRef,
    /// Memory overhead, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_overhead: i64,
    /// Memory target (deprecated; = dynamic_min after setters).
    #[serde(deserialize_with = "wire::int")]
    pub memory_target: i64,
    /// Static maximum memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_static_max: i64,
    /// Dynamic maximum memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_dynamic_max: i64,
    /// Dynamic minimum memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_dynamic_min: i64,
    /// Static minimum memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_static_min: i64,
    /// VCPU parameters.
    #[serde(rename = "VCPUs_params", deserialize_with = "wire::string_map")]
    pub vcpus_params: StringMap,
    /// Maximum VCPUs.
    #[serde(rename = "VCPUs_max", deserialize_with = "wire::int")]
    pub vcpus_max: i64,
    /// VCPUs at boot.
    #[serde(rename = "VCPUs_at_startup", deserialize_with = "wire::int")]
    pub vcpus_at_startup: i64,
    /// Action after guest shutdown.
    #[serde(deserialize_with = "wire::string")]
    pub actions_after_shutdown: String,
    /// Action after guest reboot.
    #[serde(deserialize_with = "wire::string")]
    pub actions_after_reboot: String,
    /// Action after crash.
    #[serde(deserialize_with = "wire::string")]
    pub actions_after_crash: String,
    /// VIFs.
    #[serde(rename = "VIFs", deserialize_with = "wire::set")]
    pub vifs: Vec<VifRef>,
    /// VBDs.
    #[serde(rename = "VBDs", deserialize_with = "wire::set")]
    pub vbds: Vec<VbdRef>,
    /// PV bootloader.
    #[serde(rename = "PV_bootloader", deserialize_with = "wire::string")]
    pub pv_bootloader: String,
    /// PV kernel args.
    #[serde(rename = "PV_args", deserialize_with = "wire::string")]
    pub pv_args: String,
    /// HVM boot policy (deprecated).
    #[serde(rename = "HVM_boot_policy", deserialize_with = "wire::string")]
    pub hvm_boot_policy: String,
    /// HVM boot parameters (`order`, `firmware`).
    #[serde(rename = "HVM_boot_params", deserialize_with = "wire::string_map")]
    pub hvm_boot_params: StringMap,
    /// Platform flags (`cores-per-socket`, `viridian`, `secureboot`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub platform: StringMap,
    /// Free-form metadata (`mac_seed`, `disks`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Domain id, −1 when not running.
    #[serde(deserialize_with = "wire::int")]
    pub domid: i64,
    /// Metrics object.
    pub metrics: VmMetricsRef,
    /// Guest metrics object (null until the guest agent reports; copied on clone).
    pub guest_metrics: VmGuestMetricsRef,
    /// xenstore data (`vm-data/...`).
    #[serde(deserialize_with = "wire::string_map")]
    pub xenstore_data: StringMap,
    /// Tags.
    #[serde(deserialize_with = "wire::string_set")]
    pub tags: Vec<String>,
    /// Blocked operations: operation -> error code returned in `OPERATION_BLOCKED`.
    #[serde(deserialize_with = "wire::string_map")]
    pub blocked_operations: StringMap,
    /// Snapshot source (null unless a snapshot).
    pub snapshot_of: VmRef,
    /// Snapshot time.
    pub snapshot_time: DateTime,
    /// Template/VM the VM came from.
    pub parent: VmRef,
    /// Domain type.
    pub domain_type: DomainType,
    /// UEFI variables.
    #[serde(rename = "NVRAM", deserialize_with = "wire::string_map")]
    pub nvram: StringMap,
    /// Whether a reboot is pending to apply changes.
    #[serde(deserialize_with = "wire::boolean")]
    pub requires_reboot: bool,
    /// Reference label.
    #[serde(deserialize_with = "wire::string")]
    pub reference_label: String,
    /// Whether the VM has the vendor device.
    #[serde(deserialize_with = "wire::boolean")]
    pub has_vendor_device: bool,
}

/// `VM_guest_metrics` record (what the guest agent reports).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VmGuestMetricsRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// OS version (`name`, `distro`, `major`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub os_version: StringMap,
    /// PV driver version (`major`, `minor`, ...).
    #[serde(rename = "PV_drivers_version", deserialize_with = "wire::string_map")]
    pub pv_drivers_version: StringMap,
    /// Whether PV drivers are detected.
    #[serde(rename = "PV_drivers_detected", deserialize_with = "wire::boolean")]
    pub pv_drivers_detected: bool,
    /// Network addresses: `N/ip`, `N/ipv4/0`, `N/ipv6/0` keyed by VIF device.
    #[serde(deserialize_with = "wire::string_map")]
    pub networks: StringMap,
    /// Other guest data (`feature-shutdown`, `feature-sysprep`, ...).
    #[serde(deserialize_with = "wire::string_map")]
    pub other: StringMap,
    /// Last update.
    pub last_updated: DateTime,
    /// Whether the agent is live.
    #[serde(deserialize_with = "wire::boolean")]
    pub live: bool,
    /// `yes|no|unspecified`.
    #[serde(deserialize_with = "wire::string")]
    pub can_use_hotplug_vbd: String,
    /// `yes|no|unspecified`.
    #[serde(deserialize_with = "wire::string")]
    pub can_use_hotplug_vif: String,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
}

impl VmGuestMetricsRecord {
    /// IPv4 addresses the guest reported for the VIF with the given device number, in key
    /// order (`N/ip` first if present, then `N/ipv4/<i>`), deduplicated.
    pub fn ipv4_addresses(&self, device: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let ip_key = format!("{device}/ip");
        if let Some(ip) = self.networks.get(&ip_key)
            && !ip.is_empty()
            && !ip.contains(':')
        {
            out.push(ip.clone());
        }
        self.push_indexed_addresses(&format!("{device}/ipv4/"), &mut out);
        out
    }

    /// IPv6 addresses the guest reported for the VIF with the given device number.
    pub fn ipv6_addresses(&self, device: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.push_indexed_addresses(&format!("{device}/ipv6/"), &mut out);
        out
    }

    /// Appends the addresses under the keys `<prefix><i>` in the order of `i`, skipping
    /// empty ones and ones already in `out`.
    fn push_indexed_addresses(&self, prefix: &str, out: &mut Vec<String>) {
        let mut indexed: Vec<(u32, &String)> = self
            .networks
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .and_then(|i| i.parse::<u32>().ok())
                    .map(|i| (i, v))
            })
            .collect();
        indexed.sort();
        for (_, v) in indexed {
            if !v.is_empty() && !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
}

/// `VM_metrics` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VmMetricsRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Actual memory, bytes.
    #[serde(deserialize_with = "wire::int")]
    pub memory_actual: i64,
    /// Number of VCPUs.
    #[serde(rename = "VCPUs_number", deserialize_with = "wire::int")]
    pub vcpus_number: i64,
    /// State flags.
    #[serde(deserialize_with = "wire::string_set")]
    pub state: Vec<String>,
    /// Start time.
    pub start_time: DateTime,
    /// Install time (stamped by provision).
    pub install_time: DateTime,
    /// Last update.
    pub last_updated: DateTime,
    /// Whether the VM is HVM.
    #[serde(deserialize_with = "wire::boolean")]
    pub hvm: bool,
    /// Whether nested virtualisation is on.
    #[serde(deserialize_with = "wire::boolean")]
    pub nested_virt: bool,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
}

/// `task` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TaskRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Name (the wire name of the call, e.g. `Async.VM.start`).
    #[serde(deserialize_with = "wire::string")]
    pub name_label: String,
    /// Description.
    #[serde(deserialize_with = "wire::string")]
    pub name_description: String,
    /// Allowed operations (`cancel`, `destroy`).
    #[serde(deserialize_with = "wire::string_set")]
    pub allowed_operations: Vec<String>,
    /// Creation time.
    pub created: DateTime,
    /// Finish time.
    pub finished: DateTime,
    /// Status.
    pub status: TaskStatus,
    /// Host the task runs on.
    pub resident_on: HostRef,
    /// Progress 0.0–1.0.
    #[serde(deserialize_with = "wire::float")]
    pub progress: f64,
    /// Result: an XML-RPC value fragment (`<value>OpaqueRef:…</value>`), see
    /// [`TaskRecord::result_value`].
    #[serde(deserialize_with = "wire::string")]
    pub result: String,
    /// Error code and parameters on failure.
    #[serde(deserialize_with = "wire::string_set")]
    pub error_info: Vec<String>,
    /// Free-form metadata.
    #[serde(deserialize_with = "wire::string_map")]
    pub other_config: StringMap,
    /// Parent task.
    pub subtask_of: TaskRef,
}

impl TaskRecord {
    /// The task result with its XML-RPC `<value>` wrapper removed and entities decoded:
    /// `"<value>OpaqueRef:x</value>"` gives `"OpaqueRef:x"`; an empty result gives `""`.
    pub fn result_value(&self) -> String {
        xml_value_text(&self.result)
    }
}

/// Strips an XML-RPC `<value>` (and an optional inner scalar type tag) from a task result.
pub(crate) fn xml_value_text(s: &str) -> String {
    let mut t = s.trim();
    if let Some(inner) = t
        .strip_prefix("<value>")
        .and_then(|r| r.strip_suffix("</value>"))
    {
        t = inner;
        for tag in ["string", "i4", "i8", "int", "boolean", "double"] {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            if let Some(x) = t.strip_prefix(&open).and_then(|r| r.strip_suffix(&close)) {
                t = x;
                break;
            }
        }
    } else if t == "<value/>" {
        return String::new();
    }
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `message` record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MessageRecord {
    /// Object UUID.
    #[serde(deserialize_with = "wire::string")]
    pub uuid: String,
    /// Message name (`VM_STARTED`, ...).
    #[serde(deserialize_with = "wire::string")]
    pub name: String,
    /// Priority (1 = highest).
    #[serde(deserialize_with = "wire::int")]
    pub priority: i64,
    /// Class of the object concerned (`VM`, `Host`, ...).
    #[serde(deserialize_with = "wire::string")]
    pub cls: String,
    /// UUID of the object concerned.
    #[serde(deserialize_with = "wire::string")]
    pub obj_uuid: String,
    /// Time of the message.
    pub timestamp: DateTime,
    /// Body.
    #[serde(deserialize_with = "wire::string")]
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_record_decodes_wire_names_and_lenient_ints() {
        let j = serde_json::json!({
            "uuid": "u1",
            "name_label": "vm",
            "power_state": "Running",
            "is_a_template": false,
            "memory_static_max": 4294967296i64,
            "memory_dynamic_max": "4294967296",
            "memory_dynamic_min": 2147483648i64,
            "memory_static_min": "1073741824",
            "VCPUs_max": 4,
            "VCPUs_at_startup": "2",
            "VIFs": ["OpaqueRef:a"],
            "VBDs": [],
            "HVM_boot_params": {"order": "cdn"},
            "other_config": {"mac_seed": "s"},
            "resident_on": "OpaqueRef:h",
            "guest_metrics": "OpaqueRef:NULL",
            "domid": -1,
            "some_future_field": {"x": 1},
        });
        let r: VmRecord = serde_json::from_value(j).unwrap();
        assert_eq!(r.power_state, PowerState::Running);
        assert_eq!(r.memory_static_max, 4294967296);
        assert_eq!(r.memory_dynamic_max, 4294967296);
        assert_eq!(r.memory_static_min, 1073741824);
        assert_eq!(r.vcpus_at_startup, 2);
        assert_eq!(r.vifs.len(), 1);
        assert_eq!(r.hvm_boot_params["order"], "cdn");
        assert!(r.guest_metrics.is_null());
        assert!(!r.resident_on.is_null());
        assert_eq!(r.domid, -1);
        // Missing fields default.
        assert!(r.tags.is_empty());
        assert_eq!(r.domain_type, DomainType::Unspecified);
    }

    #[test]
    fn unknown_enum_values_are_preserved() {
        let r: VmRecord =
            serde_json::from_value(serde_json::json!({"power_state": "Hibernating"})).unwrap();
        assert_eq!(r.power_state, PowerState::Other("Hibernating".into()));
        let r: VbdRecord =
            serde_json::from_value(serde_json::json!({"type": "cd", "mode": "ro"})).unwrap();
        assert_eq!(r.vbd_type, VbdType::Cd);
        assert_eq!(r.mode, VbdMode::Ro);
    }

    #[test]
    fn task_result_fragment() {
        let t = TaskRecord {
            result: "<value>OpaqueRef:abc</value>".into(),
            ..Default::default()
        };
        assert_eq!(t.result_value(), "OpaqueRef:abc");
        assert_eq!(xml_value_text("<value></value>"), "");
        assert_eq!(xml_value_text(""), "");
        assert_eq!(xml_value_text("<value/>"), "");
        assert_eq!(
            xml_value_text("<value><string>a&amp;b</string></value>"),
            "a&b"
        );
        assert_eq!(xml_value_text("plain"), "plain");
    }

    #[test]
    fn guest_metrics_addresses() {
        let mut g = VmGuestMetricsRecord::default();
        g.networks.insert("0/ip".into(), "10.0.0.5".into());
        g.networks.insert("0/ipv4/0".into(), "10.0.0.5".into());
        g.networks.insert("0/ipv4/1".into(), "10.0.1.5".into());
        g.networks.insert("0/ipv6/0".into(), "fe80::1".into());
        g.networks.insert("1/ipv4/0".into(), "192.168.1.2".into());
        assert_eq!(g.ipv4_addresses("0"), vec!["10.0.0.5", "10.0.1.5"]);
        assert_eq!(g.ipv6_addresses("0"), vec!["fe80::1"]);
        assert_eq!(g.ipv4_addresses("1"), vec!["192.168.1.2"]);
        assert!(g.ipv4_addresses("2").is_empty());
    }
}
