//! The pool inventory: a JSON document describing hosts, SRs, networks and templates, and
//! the default one (three hosts, local SR per host, a shared default SR, an ISO SR, two
//! networks — one with a simulated DHCP range —, default-style templates with
//! provisioning XML `sr=""`, and two ready templates with an installed system disk).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db::{Db, new_ref, new_uuid};
use crate::value::{NULL_REF, Record, Value};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

/// The inventory document (`--inventory FILE`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Pool name.
    pub pool_name: String,
    /// Hosts; the first is the master.
    pub hosts: Vec<HostSpec>,
    /// Storage repositories.
    pub srs: Vec<SrSpec>,
    /// Networks.
    pub networks: Vec<NetworkSpec>,
    /// Templates.
    pub templates: Vec<TemplateSpec>,
    /// Name of the pool's default SR (must be in `srs`).
    pub default_sr: String,
}

/// A host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// name_label and hostname.
    pub name: String,
    /// Total memory in bytes.
    pub memory: i64,
    /// Physical CPUs.
    pub cpus: i64,
    /// Memory used by dom0 in bytes.
    #[serde(default = "default_dom0")]
    pub dom0_memory: i64,
}

fn default_dom0() -> i64 {
    4 * GIB
}

/// An SR.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrSpec {
    /// name_label.
    pub name: String,
    /// SR type (`lvm`, `ext`, `nfs`, `iso`...).
    #[serde(rename = "type")]
    pub ty: String,
    /// `user`, `disk` or `iso`.
    pub content_type: String,
    /// Shared by every host (otherwise local to `host`).
    pub shared: bool,
    /// Host name for a local SR.
    #[serde(default)]
    pub host: Option<String>,
    /// Size in bytes.
    pub size: i64,
    /// ISO images present in an ISO SR (name, size).
    #[serde(default)]
    pub isos: Vec<IsoSpec>,
}

/// An ISO image in an ISO SR.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsoSpec {
    /// File name (VDI name_label).
    pub name: String,
    /// Size in bytes.
    pub size: i64,
}

/// A network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// name_label.
    pub name: String,
    /// Bridge name.
    pub bridge: String,
    /// MTU.
    #[serde(default = "default_mtu")]
    pub mtu: i64,
    /// Simulated DHCP range (CIDR), published as `other_config:labpool-dhcp`.
    #[serde(default)]
    pub dhcp: Option<String>,
    /// Physical device on every host (`eth0`...), or none for a private network.
    #[serde(default)]
    pub pif_device: Option<String>,
}

fn default_mtu() -> i64 {
    1500
}

/// A template.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// name_label.
    pub name: String,
    /// name_description.
    #[serde(default)]
    pub description: String,
    /// `default` (XAPI-style default template with provisioning XML `sr=""`), or `linux` /
    /// `windows` (ready template with an installed system disk and a simulated guest).
    pub kind: String,
    /// memory_static_min.
    pub static_min: i64,
    /// memory_static_max (dynamic limits default to it).
    pub static_max: i64,
    /// memory_dynamic_min.
    #[serde(default)]
    pub dynamic_min: Option<i64>,
    /// memory_dynamic_max.
    #[serde(default)]
    pub dynamic_max: Option<i64>,
    /// VCPUs.
    pub vcpus: i64,
    /// Disk size in bytes (provisioning XML size, or the installed disk's size).
    pub disk_size: i64,
    /// SR (by name) holding an installed disk (ready templates; default: the default SR).
    #[serde(default)]
    pub sr: Option<String>,
    /// Extra other_config entries.
    #[serde(default)]
    pub other_config: BTreeMap<String, String>,
    /// Boot firmware (`bios` or `uefi`).
    #[serde(default = "default_firmware")]
    pub firmware: String,
}

fn default_firmware() -> String {
    "bios".into()
}

impl Inventory {
    /// The default inventory.
    pub fn default_pool() -> Inventory {
        let host = |n: &str| HostSpec {
            name: n.into(),
            memory: 64 * GIB,
            cpus: 16,
            dom0_memory: 4 * GIB,
        };
        let local = |h: &str| SrSpec {
            name: format!("Local storage on {h}"),
            ty: "ext".into(),
            content_type: "user".into(),
            shared: false,
            host: Some(h.into()),
            size: 500 * GIB,
            isos: vec![],
        };
        let default_tpl = |name: &str, smin: i64, smax: i64, disk: i64| TemplateSpec {
            name: name.into(),
            description: String::new(),
            kind: "default".into(),
            static_min: smin,
            static_max: smax,
            dynamic_min: None,
            dynamic_max: None,
            vcpus: 1,
            disk_size: disk,
            sr: None,
            other_config: BTreeMap::new(),
            firmware: "bios".into(),
        };
        Inventory {
            pool_name: "labpool".into(),
            hosts: vec![host("lab-host-1"), host("lab-host-2"), host("lab-host-3")],
            srs: vec![
                local("lab-host-1"),
                local("lab-host-2"),
                local("lab-host-3"),
                SrSpec {
                    name: "Shared NFS storage".into(),
                    ty: "nfs".into(),
                    content_type: "user".into(),
                    shared: true,
                    host: None,
                    size: 2048 * GIB,
                    isos: vec![],
                },
                SrSpec {
                    name: "ISO library".into(),
                    ty: "iso".into(),
                    content_type: "iso".into(),
                    shared: true,
                    host: None,
                    size: 100 * GIB,
                    isos: vec![
                        IsoSpec {
                            name: "ubuntu-24.04-live-server-amd64.iso".into(),
                            size: 2_754_981_888,
                        },
                        IsoSpec {
                            name: "debian-12.5.0-amd64-netinst.iso".into(),
                            size: 659_554_304,
                        },
                    ],
                },
            ],
            networks: vec![
                NetworkSpec {
                    name: "Pool-wide network associated with eth0".into(),
                    bridge: "xenbr0".into(),
                    mtu: 1500,
                    dhcp: Some("192.168.100.0/24".into()),
                    pif_device: Some("eth0".into()),
                },
                NetworkSpec {
                    name: "Lab storage network".into(),
                    bridge: "xenbr1".into(),
                    mtu: 9000,
                    dhcp: None,
                    pif_device: Some("eth1".into()),
                },
            ],
            templates: vec![
                default_tpl("Debian Bookworm 12", 512 * MIB, GIB, 10 * GIB),
                default_tpl("Ubuntu Noble Numbat 24.04", 512 * MIB, 2 * GIB, 16 * GIB),
                default_tpl("Windows Server 2022 (64-bit)", GIB, 4 * GIB, 32 * GIB),
                default_tpl("Other install media", 256 * MIB, GIB, 8 * GIB),
                TemplateSpec {
                    name: "labpool Ubuntu 24.04 cloud-init".into(),
                    description: "Ready template: Ubuntu 24.04 with cloud-init (NoCloud) and the guest agent".into(),
                    kind: "linux".into(),
                    static_min: 512 * MIB,
                    static_max: 2 * GIB,
                    dynamic_min: None,
                    dynamic_max: None,
                    vcpus: 2,
                    disk_size: 20 * GIB,
                    sr: None,
                    other_config: BTreeMap::new(),
                    firmware: "bios".into(),
                },
                TemplateSpec {
                    name: "labpool Windows Server 2022 cloudbase-init".into(),
                    description: "Ready template: Windows Server 2022 with cloudbase-init (NoCloud) and XenServer VM Tools (sysprep-capable)".into(),
                    kind: "windows".into(),
                    static_min: GIB,
                    static_max: 4 * GIB,
                    dynamic_min: None,
                    dynamic_max: None,
                    vcpus: 2,
                    disk_size: 40 * GIB,
                    sr: None,
                    other_config: BTreeMap::new(),
                    firmware: "uefi".into(),
                },
            ],
            default_sr: "Shared NFS storage".into(),
        }
    }

    /// Checks references between entries.
    pub fn validate(&self) -> Result<(), String> {
        if self.hosts.is_empty() {
            return Err("at least one host is required".into());
        }
        let host_names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        for sr in &self.srs {
            if !sr.shared {
                match &sr.host {
                    Some(h) if host_names.contains(&h.as_str()) => {}
                    Some(h) => return Err(format!("SR {}: unknown host {h}", sr.name)),
                    None => return Err(format!("SR {}: a local SR needs a host", sr.name)),
                }
            }
        }
        if !self.srs.iter().any(|s| s.name == self.default_sr) {
            return Err(format!("default_sr {} is not an SR", self.default_sr));
        }
        for t in &self.templates {
            if !["default", "linux", "windows"].contains(&t.kind.as_str()) {
                return Err(format!(
                    "template {}: kind must be default, linux or windows",
                    t.name
                ));
            }
            if let Some(sr) = &t.sr
                && !self.srs.iter().any(|s| &s.name == sr)
            {
                return Err(format!("template {}: unknown SR {sr}", t.name));
            }
        }
        Ok(())
    }

    /// Builds the database. Host addresses are filled in when the listeners are bound.
    pub fn build(&self) -> Db {
        let mut db = Db::default();
        let mut host_refs = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let metrics = db.create(
                "host_metrics",
                &new_ref(),
                rec([
                    ("memory_total", Value::Int(h.memory)),
                    ("memory_free", Value::Int(h.memory - h.dom0_memory)),
                    ("last_updated", crate::value::now_datetime()),
                ]),
            );
            let hr = new_ref();
            let uuid = new_uuid();
            db.create(
                "host",
                &hr,
                rec([
                    ("uuid", Value::s(&uuid)),
                    ("name_label", Value::s(&h.name)),
                    ("hostname", Value::s(&h.name)),
                    ("address", Value::s("127.0.0.1")),
                    ("metrics", Value::s(&metrics)),
                    ("memory_overhead", Value::Int(0)),
                    (
                        "software_version",
                        Value::str_map([
                            ("product_brand", "XCP-ng"),
                            ("product_version", "8.3.0"),
                            ("product_version_text", "8.3"),
                            ("product_version_text_short", "8.3"),
                            ("platform_name", "XCP"),
                            ("platform_version", "3.4.0"),
                            ("xapi", "25.33"),
                            ("xapi_build", "25.33.0"),
                            ("xen", "4.17.5"),
                            ("linux", "4.19.0+1"),
                            ("network_backend", "openvswitch"),
                            ("db_schema", "5.786"),
                            ("hostname", h.name.as_str()),
                        ]),
                    ),
                    (
                        "cpu_info",
                        Value::str_map([
                            ("cpu_count", h.cpus.to_string().as_str()),
                            ("socket_count", "1"),
                            ("vendor", "GenuineIntel"),
                            ("speed", "2600.000"),
                            ("modelname", "Lab CPU"),
                        ]),
                    ),
                    (
                        "capabilities",
                        Value::str_set(["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"]),
                    ),
                    ("license_params", Value::str_map([("sku_type", "free")])),
                ]),
            );
            // dom0
            let dom0_metrics = db.create("VM_metrics", &new_ref(), Record::new());
            let dom0 = db.create(
                "VM",
                &new_ref(),
                rec([
                    (
                        "name_label",
                        Value::s(format!("Control domain on host: {}", h.name)),
                    ),
                    (
                        "name_description",
                        Value::s(
                            "The domain which manages physical devices and manages other domains",
                        ),
                    ),
                    ("is_control_domain", Value::Bool(true)),
                    ("power_state", Value::s("Running")),
                    ("domid", Value::Int(0)),
                    ("memory_static_min", Value::Int(h.dom0_memory)),
                    ("memory_static_max", Value::Int(h.dom0_memory)),
                    ("memory_dynamic_min", Value::Int(h.dom0_memory)),
                    ("memory_dynamic_max", Value::Int(h.dom0_memory)),
                    ("memory_target", Value::Int(h.dom0_memory)),
                    ("VCPUs_max", Value::Int(h.cpus.min(16))),
                    ("VCPUs_at_startup", Value::Int(h.cpus.min(16))),
                    ("domain_type", Value::s("pv")),
                    ("metrics", Value::s(&dom0_metrics)),
                ]),
            );
            let _ = db.set("VM", &dom0, "resident_on", Value::s(&hr));
            let _ = db.set("host", &hr, "control_domain", Value::s(&dom0));
            if i == 0 {
                let _ = db.update("host", &hr, |r| {
                    r.insert(
                        "other_config".into(),
                        Value::str_map([("labpool-role", "master")]),
                    );
                });
            }
            host_refs.push((h.name.clone(), hr));
        }
        // networks and PIFs
        let mut net_refs = Vec::new();
        for (n_idx, n) in self.networks.iter().enumerate() {
            let mut oc = BTreeMap::new();
            if let Some(c) = &n.dhcp {
                oc.insert(crate::guest::DHCP_KEY.to_string(), c.clone());
            }
            let nr = db.create(
                "network",
                &new_ref(),
                rec([
                    ("name_label", Value::s(&n.name)),
                    ("bridge", Value::s(&n.bridge)),
                    ("MTU", Value::Int(n.mtu)),
                    ("other_config", Value::str_map(oc)),
                    ("allowed_operations", Value::empty_set()),
                ]),
            );
            if let Some(dev) = &n.pif_device {
                for (h_idx, (_, hr)) in host_refs.iter().enumerate() {
                    let mac = format!("02:1a:b0:{:02x}:{:02x}:{:02x}", h_idx + 1, n_idx, 1);
                    let management = n_idx == 0;
                    db.create(
                        "PIF",
                        &new_ref(),
                        rec([
                            ("device", Value::s(dev)),
                            ("network", Value::s(&nr)),
                            ("host", Value::s(hr)),
                            ("MAC", Value::s(mac)),
                            ("MTU", Value::Int(n.mtu)),
                            ("management", Value::Bool(management)),
                            (
                                "ip_configuration_mode",
                                Value::s(if management { "Static" } else { "None" }),
                            ),
                            ("IP", Value::s(if management { "127.0.0.1" } else { "" })),
                            (
                                "netmask",
                                Value::s(if management { "255.0.0.0" } else { "" }),
                            ),
                        ]),
                    );
                }
            }
            net_refs.push(nr);
        }
        // SRs and PBDs
        let mut sr_refs: BTreeMap<String, String> = BTreeMap::new();
        for s in &self.srs {
            let sr = db.create(
                "SR",
                &new_ref(),
                rec([
                    ("name_label", Value::s(&s.name)),
                    ("type", Value::s(&s.ty)),
                    ("content_type", Value::s(&s.content_type)),
                    ("shared", Value::Bool(s.shared)),
                    ("physical_size", Value::Int(s.size)),
                    (
                        "allowed_operations",
                        Value::str_set([
                            "vdi_create",
                            "vdi_destroy",
                            "vdi_resize",
                            "vdi_clone",
                            "vdi_snapshot",
                            "scan",
                            "plug",
                            "unplug",
                            "forget",
                            "destroy",
                            "update",
                        ]),
                    ),
                ]),
            );
            for (hname, hr) in &host_refs {
                if s.shared || s.host.as_deref() == Some(hname.as_str()) {
                    db.create(
                        "PBD",
                        &new_ref(),
                        rec([
                            ("host", Value::s(hr)),
                            ("SR", Value::s(&sr)),
                            ("currently_attached", Value::Bool(true)),
                            (
                                "device_config",
                                Value::str_map([(
                                    "location",
                                    format!("/var/run/sr-mount/{}", s.name),
                                )]),
                            ),
                        ]),
                    );
                }
            }
            for iso in &s.isos {
                let m = vdi_ctor(&iso.name, "", &sr, iso.size, "user", true);
                if let Ok(Value::Str(v)) = crate::api::storage::vdi_create(&mut db, &m) {
                    let _ = db.update("VDI", &v, |r| {
                        r.insert("location".into(), Value::s(&iso.name));
                    });
                }
            }
            sr_refs.insert(s.name.clone(), sr);
        }
        let default_sr = sr_refs
            .get(&self.default_sr)
            .cloned()
            .unwrap_or_else(|| NULL_REF.into());
        // pool
        let master = host_refs
            .first()
            .map(|(_, h)| h.clone())
            .unwrap_or_default();
        db.create(
            "pool",
            &new_ref(),
            rec([
                ("name_label", Value::s(&self.pool_name)),
                ("master", Value::s(&master)),
                ("default_SR", Value::s(&default_sr)),
                ("suspend_image_SR", Value::s(&default_sr)),
                ("crash_dump_SR", Value::s(&default_sr)),
                (
                    "cpu_info",
                    Value::str_map([
                        ("cpu_count", "16"),
                        ("socket_count", "1"),
                        ("vendor", "GenuineIntel"),
                    ]),
                ),
            ]),
        );
        for t in &self.templates {
            self.build_template(&mut db, t, &sr_refs, &default_sr);
        }
        for (_, hr) in &host_refs {
            let _ = hr;
        }
        crate::api::hostpool::refresh_host_memory(&mut db);
        let vms: Vec<String> = db.all("VM").map(|(r, _)| r.clone()).collect();
        for vm in vms {
            crate::api::vm::refresh_allowed_operations(&mut db, &vm);
        }
        db
    }

    fn build_template(
        &self,
        db: &mut Db,
        t: &TemplateSpec,
        srs: &BTreeMap<String, String>,
        default_sr: &str,
    ) {
        let mut oc: BTreeMap<String, String> = t.other_config.clone();
        let default = t.kind == "default";
        if default {
            oc.insert(
                "disks".into(),
                format!(
                    "<provision><disk device=\"0\" size=\"{}\" sr=\"\" bootable=\"true\" type=\"system\"/></provision>",
                    t.disk_size
                ),
            );
            oc.insert("default_template".into(), "true".into());
            oc.insert("install-methods".into(), "cdrom,nfs,http,ftp".into());
        }
        if t.kind == "linux" || t.name.contains("Debian") || t.name.contains("Ubuntu") {
            oc.insert("linux_template".into(), "true".into());
        }
        let windows = t.kind == "windows" || t.name.contains("Windows");
        let mut platform = vec![
            ("timeoffset", "0"),
            ("device-model", "qemu-upstream-compat"),
            ("acpi", "1"),
            ("apic", "true"),
            ("pae", "true"),
            ("nx", "true"),
            ("hpet", "true"),
        ];
        if windows {
            platform.push(("viridian", "true"));
            platform.push(("device_id", "0002"));
        } else {
            platform.push(("viridian", "false"));
        }
        if t.firmware == "uefi" {
            platform.push(("secureboot", "false"));
        }
        let m = crate::api::vm::vm_create(
            db,
            &[
                ("name_label", Value::s(&t.name)),
                ("name_description", Value::s(&t.description)),
                ("user_version", Value::Int(1)),
                ("is_a_template", Value::Bool(true)),
                ("affinity", Value::s(NULL_REF)),
                ("memory_target", Value::Int(t.dynamic_min.unwrap_or(t.static_max))),
                ("memory_static_max", Value::Int(t.static_max)),
                ("memory_dynamic_max", Value::Int(t.dynamic_max.unwrap_or(t.static_max))),
                ("memory_dynamic_min", Value::Int(t.dynamic_min.unwrap_or(t.static_max))),
                ("memory_static_min", Value::Int(t.static_min)),
                ("VCPUs_params", Value::empty_map()),
                ("VCPUs_max", Value::Int(t.vcpus)),
                ("VCPUs_at_startup", Value::Int(t.vcpus)),
                ("actions_after_shutdown", Value::s("destroy")),
                ("actions_after_reboot", Value::s("restart")),
                ("actions_after_crash", Value::s("restart")),
                ("PV_bootloader", Value::s("")),
                ("PV_kernel", Value::s("")),
                ("PV_ramdisk", Value::s("")),
                ("PV_args", Value::s("")),
                ("PV_bootloader_args", Value::s("")),
                ("PV_legacy_args", Value::s("")),
                ("HVM_boot_policy", Value::s("BIOS order")),
                (
                    "HVM_boot_params",
                    Value::str_map([("order", if default { "cdn" } else { "c" }), ("firmware", t.firmware.as_str())]),
                ),
                ("platform", Value::str_map(platform)),
                ("PCI_bus", Value::s("")),
                ("other_config", Value::str_map(oc)),
                ("recommendations", Value::s("<restrictions><restriction field=\"memory-static-max\" max=\"137438953472\"/><restriction field=\"vcpus-max\" max=\"32\"/></restrictions>")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
        let Ok(vm) = m else { return };
        if default {
            let _ = db.set("VM", &vm, "is_default_template", Value::Bool(true));
        } else {
            let sr =
                t.sr.as_ref()
                    .and_then(|n| srs.get(n).cloned())
                    .unwrap_or_else(|| default_sr.to_string());
            let m = vdi_ctor(
                &format!("{} system disk", t.name),
                "Installed system disk",
                &sr,
                t.disk_size,
                "system",
                false,
            );
            if let Ok(Value::Str(vdi)) = crate::api::storage::vdi_create(db, &m) {
                let _ = db.update("VDI", &vdi, |r| {
                    if let Some(Value::Map(oc)) = r.get_mut("other_config") {
                        oc.insert(crate::guest::OS_KEY.into(), Value::s(&t.kind));
                    }
                });
                let b = vbd_ctor(&vm, &vdi, "0", true, "Disk", "RW", false);
                let _ = crate::api::storage::vbd_create(db, &b);
            }
            let cd = vbd_ctor(&vm, NULL_REF, "3", false, "CD", "RO", true);
            let _ = crate::api::storage::vbd_create(db, &cd);
        }
        crate::api::vm::refresh_allowed_operations(db, &vm);
    }
}

fn rec<const N: usize>(items: [(&str, Value); N]) -> Record {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn vdi_ctor(
    name: &str,
    desc: &str,
    sr: &str,
    size: i64,
    ty: &str,
    read_only: bool,
) -> BTreeMap<String, Value> {
    rec([
        ("name_label", Value::s(name)),
        ("name_description", Value::s(desc)),
        ("SR", Value::s(sr)),
        ("virtual_size", Value::Int(size)),
        ("type", Value::s(ty)),
        ("sharable", Value::Bool(false)),
        ("read_only", Value::Bool(read_only)),
        ("other_config", Value::empty_map()),
    ])
}

fn vbd_ctor(
    vm: &str,
    vdi: &str,
    dev: &str,
    bootable: bool,
    ty: &str,
    mode: &str,
    empty: bool,
) -> BTreeMap<String, Value> {
    rec([
        ("VM", Value::s(vm)),
        ("VDI", Value::s(vdi)),
        ("userdevice", Value::s(dev)),
        ("bootable", Value::Bool(bootable)),
        ("mode", Value::s(mode)),
        ("type", Value::s(ty)),
        ("empty", Value::Bool(empty)),
        ("other_config", Value::empty_map()),
        ("qos_algorithm_type", Value::s("")),
        ("qos_algorithm_params", Value::empty_map()),
    ])
}
