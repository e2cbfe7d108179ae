//! Simulated guests. A VM boots a guest when its bootable disk carries an installed system
//! (VDI `other_config:labpool-os` = `linux` or `windows`). After `--boot-seconds` the guest
//! reads an attached NoCloud drive (cloud-init rules for Linux), applies the network
//! configuration on a new instance only, and its agent publishes `VM_guest_metrics`.
//! The Windows guest (cloudbase-init + sysprep-capable agent) boots and reports Windows
//! metrics, advertising `feature-sysprep`; its drive handling follows the same path with the
//! cloudbase-init flavour switch ([`Flavor`]).

pub mod cloudbase;
pub mod drive;
pub mod iso;
pub mod netcfg;
pub mod windows;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::{Db, new_ref, rb, rmap, rs, rset};
use crate::pool::Shared;
use crate::value::{NULL_REF, Record, Value, now_datetime};

/// VDI `other_config` key naming the installed guest OS.
pub const OS_KEY: &str = "labpool-os";
/// Network `other_config` key with the simulated DHCP range (CIDR).
pub const DHCP_KEY: &str = "labpool-dhcp";

/// How the guest looks for and interprets its config drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// cloud-init NoCloud: vfat/iso9660 with label `cidata`/`CIDATA`.
    CloudInit,
    /// cloudbase-init NoCloudConfigDriveService: raw ISO on a disk (no label check) or a
    /// FAT volume labelled cidata.
    CloudbaseInit,
}

/// An interface configuration the guest applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedIface {
    /// VIF device.
    pub device: String,
    /// MAC as the guest sees it (lower case).
    pub mac: String,
    /// Interface name in the guest.
    pub name: String,
    /// `static`, `dhcp` or `none`.
    pub mode: String,
    /// Addresses in CIDR form.
    pub addresses: Vec<String>,
    /// Gateway.
    pub gateway: Option<String>,
    /// DNS servers.
    pub dns: Vec<String>,
}

/// What a guest read from its config drive at the last boot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DriveView {
    /// VDI uuid.
    pub vdi: String,
    /// VBD userdevice.
    pub userdevice: String,
    /// VBD type (`Disk` or `CD`).
    pub vbd_type: String,
    /// Filesystem.
    pub filesystem: String,
    /// Label.
    pub label: String,
    /// Seed files.
    pub files: BTreeMap<String, String>,
}

/// A guest's private state (what lives on its disk and in its agent).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GuestState {
    /// Boot sequence (pending boots with an older number are ignored).
    pub boot_seq: u64,
    /// Completed boots.
    pub boot_count: u64,
    /// Installed OS (`linux`, `windows`, or empty: no OS, no agent).
    pub os: String,
    /// Hostname the guest set.
    pub hostname: Option<String>,
    /// Cached instance id (cloud-init's `/var/lib/cloud/data/instance-id`).
    pub instance_id: Option<String>,
    /// Boots on which a new instance was detected.
    pub new_instance_boots: u64,
    /// The drive read at the last boot.
    pub drive: Option<DriveView>,
    /// The network configuration applied (persisting across boots of the same instance).
    pub network: Vec<AppliedIface>,
    /// Where the network configuration came from (`network-config`, `fallback`).
    pub network_source: String,
    /// Sysprep runs (filled by the Windows guest).
    pub sysprep_runs: Vec<serde_json::Value>,
    /// What the guest logged as problems (invalid seeds, unmatched MACs...).
    pub log: Vec<String>,
    /// Whether the Windows agent advertises `feature-sysprep`.
    pub feature_sysprep: bool,
    /// The Windows guest's agent, xenstore tree and cloudbase-init state.
    #[serde(default)]
    pub windows: windows::WindowsState,
}

/// Starts a boot: returns its sequence number.
pub fn begin_boot(db: &mut Db, vm: &str) -> u64 {
    let st = db.guests.entry(vm.to_string()).or_default();
    st.boot_seq += 1;
    st.boot_seq
}

/// The domain went away: pending boots are void.
pub fn stop(db: &mut Db, vm: &str) {
    if let Some(st) = db.guests.get_mut(vm) {
        st.boot_seq += 1;
    }
}

/// Schedules the guest's boot completion after the configured boot time.
pub fn schedule_boot(shared: Arc<Shared>, vm: String, boot: u64) {
    let secs = shared.settings.boot_seconds.max(0.0);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
        {
            let mut db = shared.lock_db();
            complete_boot(&mut db, &vm, boot);
        }
        shared.notify();
    });
}

fn installed_os(db: &Db, vm: &str) -> String {
    let Ok(rec) = db.get("VM", vm) else {
        return String::new();
    };
    let mut disks: Vec<(bool, u32, String)> = rset(rec, "VBDs")
        .iter()
        .filter_map(|b| db.get("VBD", b).ok())
        .filter(|b| rs(b, "type") == "Disk" && !rb(b, "empty"))
        .map(|b| {
            (
                !rb(b, "bootable"),
                crate::api::storage::device_number(rs(b, "userdevice")).unwrap_or(u32::MAX),
                rs(b, "VDI").to_string(),
            )
        })
        .collect();
    disks.sort();
    disks
        .first()
        .and_then(|(_, _, vdi)| db.get("VDI", vdi).ok())
        .and_then(|v| rmap(v, "other_config").get(OS_KEY).cloned())
        .unwrap_or_default()
}

/// Completes a boot (under the lock): reads the drive, applies config, publishes metrics.
pub fn complete_boot(db: &mut Db, vm: &str, boot: u64) {
    let Ok(rec) = db.record("VM", vm) else { return };
    if rs(&rec, "power_state") != "Running" {
        return;
    }
    if db.guests.get(vm).map(|g| g.boot_seq) != Some(boot) {
        return;
    }
    let os = installed_os(db, vm);
    if os == "windows" {
        windows::complete_boot(db, vm, &rec);
        return;
    }
    let flavor = if os == "windows" {
        Flavor::CloudbaseInit
    } else {
        Flavor::CloudInit
    };
    let vifs = vm_vifs(db, vm);
    let found = if os.is_empty() {
        None
    } else {
        find_drive(db, vm, flavor)
    };
    let mut st = db.guests.get(vm).cloned().unwrap_or_default();
    st.boot_count += 1;
    st.os = os.clone();
    if st.boot_count == 1 && os == "windows" {
        st.feature_sysprep = true;
    }
    if os.is_empty() {
        db.guests.insert(vm.to_string(), st);
        return;
    }
    let mut log = Vec::new();
    let (meta, netcfg) = match &found {
        Some((view, _)) => {
            let meta = view
                .files
                .get("meta-data")
                .map(|t| netcfg::parse_meta_data(t))
                .transpose()
                .unwrap_or_else(|e| {
                    log.push(format!("meta-data: {e}"));
                    None
                });
            let net = match view.files.get("network-config") {
                Some(t) => match netcfg::parse_network_config(t) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        log.push(format!("network-config: {e}"));
                        None
                    }
                },
                None => None,
            };
            (meta, net)
        }
        None => (None, None),
    };
    st.drive = found.map(|(v, _)| v);
    let instance = meta.as_ref().map(|m| m.instance_id.clone());
    let new_instance = match (&instance, &st.instance_id) {
        (Some(i), Some(cached)) => i != cached,
        (Some(_), None) => true,
        // No datasource: cloud-init does not run; the image keeps what it has.
        (None, _) => st.instance_id.is_none() && st.network.is_empty(),
    };
    if new_instance {
        st.new_instance_boots += 1;
        if let Some(i) = &instance {
            st.instance_id = Some(i.clone());
        }
        let (applied, source) = apply_network(db, &vifs, netcfg.as_ref(), flavor, &mut log);
        st.network = applied;
        st.network_source = source;
    }
    if let Some(m) = &meta
        && let Some(h) = &m.local_hostname
    {
        st.hostname = Some(h.clone());
    }
    if st.hostname.is_none() {
        st.hostname = Some(if os == "windows" {
            format!(
                "WIN-{}",
                &rs(&rec, "uuid").replace('-', "")[..11].to_uppercase()
            )
        } else {
            "localhost".to_string()
        });
    }
    // Leases for DHCP interfaces (renewed every boot).
    for ifc in st.network.iter_mut().filter(|i| i.mode == "dhcp") {
        ifc.addresses = lease(db, &ifc.device, &ifc.mac, &vifs)
            .into_iter()
            .collect();
    }
    st.log.extend(log);
    if st.log.len() > 50 {
        let n = st.log.len() - 50;
        st.log.drain(..n);
    }
    publish_metrics(db, vm, &rec, &st);
    db.guests.insert(vm.to_string(), st);
}

/// (device, mac lower-case, network ref) of the VM's VIFs.
pub(crate) fn vm_vifs(db: &Db, vm: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = db
        .all("VIF")
        .filter(|(_, v)| rs(v, "VM") == vm)
        .map(|(_, v)| {
            (
                rs(v, "device").to_string(),
                rs(v, "MAC").to_lowercase(),
                rs(v, "network").to_string(),
            )
        })
        .collect();
    v.sort_by_key(|(d, ..)| d.parse::<u32>().unwrap_or(u32::MAX));
    v
}

fn find_drive(db: &Db, vm: &str, flavor: Flavor) -> Option<(DriveView, ())> {
    let rec = db.get("VM", vm).ok()?;
    let mut vbds: Vec<Record> = rset(rec, "VBDs")
        .iter()
        .filter_map(|b| db.get("VBD", b).ok().cloned())
        .filter(|b| !rb(b, "empty"))
        .collect();
    vbds.sort_by_key(|b| {
        crate::api::storage::device_number(rs(b, "userdevice")).unwrap_or(u32::MAX)
    });
    for b in vbds {
        let vdi = rs(&b, "VDI");
        let Some(data) = db.vdi_data.get(vdi) else {
            continue;
        };
        let Some(d) = drive::read_drive(data) else {
            continue;
        };
        let label_ok = d.label == "cidata" || d.label == "CIDATA";
        let accepted = match flavor {
            Flavor::CloudInit => label_ok,
            Flavor::CloudbaseInit => d.filesystem == "iso9660" || label_ok,
        };
        if !accepted {
            continue;
        }
        if !d.files.contains_key("meta-data") || !d.files.contains_key("user-data") {
            // "not a valid seed": skipped
            continue;
        }
        let vdi_uuid = db
            .get("VDI", vdi)
            .map(|v| rs(v, "uuid").to_string())
            .unwrap_or_default();
        return Some((
            DriveView {
                vdi: vdi_uuid,
                userdevice: rs(&b, "userdevice").to_string(),
                vbd_type: rs(&b, "type").to_string(),
                filesystem: d.filesystem,
                label: d.label,
                files: d.files,
            },
            (),
        ));
    }
    None
}

fn apply_network(
    db: &Db,
    vifs: &[(String, String, String)],
    cfg: Option<&netcfg::NetConfig>,
    flavor: Flavor,
    log: &mut Vec<String>,
) -> (Vec<AppliedIface>, String) {
    let Some(cfg) = cfg else {
        // cloud-init fallback: DHCP on the first NIC.
        let _ = db;
        return (
            vifs.iter()
                .take(1)
                .map(|(dev, mac, _)| AppliedIface {
                    device: dev.clone(),
                    mac: mac.clone(),
                    name: format!("eth{dev}"),
                    mode: "dhcp".into(),
                    ..AppliedIface::default()
                })
                .collect(),
            "fallback".into(),
        );
    };
    log.extend(cfg.ignored.iter().cloned());
    let mut out = Vec::new();
    for ifc in &cfg.interfaces {
        let vif = match &ifc.mac {
            Some(mac) => vifs.iter().find(|(_, m, _)| m == mac),
            None if flavor == Flavor::CloudbaseInit => {
                log.push(format!(
                    "{}: physical link without a MAC address (cloudbase-init requires one)",
                    ifc.name
                ));
                continue;
            }
            None => vifs
                .iter()
                .find(|(d, ..)| ifc.name == format!("eth{d}") || ifc.name == format!("enX{d}")),
        };
        let Some((dev, mac, _)) = vif else {
            log.push(format!(
                "{}: no interface with MAC {} (entry ignored)",
                ifc.name,
                ifc.mac.as_deref().unwrap_or("-")
            ));
            continue;
        };
        let mode = if !ifc.addresses.is_empty() {
            "static"
        } else if ifc.dhcp4 || flavor == Flavor::CloudbaseInit {
            "dhcp"
        } else {
            "none"
        };
        out.push(AppliedIface {
            device: dev.clone(),
            mac: mac.clone(),
            name: ifc.name.clone(),
            mode: mode.into(),
            addresses: ifc.addresses.clone(),
            gateway: ifc.gateway.clone(),
            dns: if ifc.dns.is_empty() {
                cfg.dns.clone()
            } else {
                ifc.dns.clone()
            },
        });
    }
    (out, "network-config".into())
}

/// A DHCP lease from the network's `labpool-dhcp` range (stable per MAC).
pub(crate) fn lease(
    db: &mut Db,
    device: &str,
    mac: &str,
    vifs: &[(String, String, String)],
) -> Option<String> {
    let net = vifs
        .iter()
        .find(|(d, ..)| d == device)
        .map(|(_, _, n)| n.clone())?;
    let cidr = db
        .get("network", &net)
        .ok()
        .and_then(|n| rmap(n, "other_config").get(DHCP_KEY).cloned())?;
    if let Some(ip) = db.leases.get(mac)
        && in_cidr(ip, &cidr)
    {
        return Some(format!("{ip}/{}", cidr.split('/').nth(1).unwrap_or("24")));
    }
    let (base, prefix) = cidr.split_once('/')?;
    let base: Ipv4Addr = base.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if prefix > 30 {
        return None;
    }
    let size = 1u32 << (32 - prefix);
    let net_base = u32::from(base) & !(size - 1);
    let used: Vec<&String> = db.leases.values().collect();
    for off in 10..size - 1 {
        let ip = Ipv4Addr::from(net_base + off).to_string();
        if !used.contains(&&ip) {
            db.leases.insert(mac.to_string(), ip.clone());
            return Some(format!("{ip}/{prefix}"));
        }
    }
    None
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let Some((base, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(base), Ok(prefix)) = (
        ip.parse::<Ipv4Addr>(),
        base.parse::<Ipv4Addr>(),
        prefix.parse::<u32>(),
    ) else {
        return false;
    };
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - prefix.min(32));
    (u32::from(ip) & mask) == (u32::from(base) & mask)
}

/// Publishes `VM_guest_metrics` from the guest state.
pub fn publish_metrics(db: &mut Db, vm: &str, rec: &Record, st: &GuestState) {
    let mut networks = BTreeMap::new();
    for ifc in &st.network {
        let mut v4 = 0;
        let mut v6 = 0;
        for a in &ifc.addresses {
            let ip = a.split('/').next().unwrap_or(a).to_string();
            if ip.contains(':') {
                networks.insert(format!("{}/ipv6/{v6}", ifc.device), Value::Str(ip));
                v6 += 1;
            } else {
                if v4 == 0 {
                    networks.insert(format!("{}/ip", ifc.device), Value::Str(ip.clone()));
                }
                networks.insert(format!("{}/ipv4/{v4}", ifc.device), Value::Str(ip));
                v4 += 1;
            }
        }
    }
    let windows = st.os == "windows";
    let os_version = if windows {
        Value::str_map([
            (
                "name",
                "Microsoft Windows Server 2022 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2",
            ),
            ("distro", "windows"),
            ("major", "10"),
            ("minor", "0"),
            ("spmajor", "0"),
            ("spminor", "0"),
            ("build", "20348"),
        ])
    } else {
        Value::str_map([
            ("name", "Ubuntu 24.04 LTS"),
            ("uname", "6.8.0-31-generic"),
            ("distro", "ubuntu"),
            ("major", "24"),
            ("minor", "04"),
        ])
    };
    let pv = if windows {
        Value::str_map([
            ("major", "9"),
            ("minor", "4"),
            ("micro", "0"),
            ("build", "137"),
        ])
    } else {
        Value::str_map([
            ("major", "8"),
            ("minor", "4"),
            ("micro", "0"),
            ("build", "1"),
        ])
    };
    let mut other: BTreeMap<String, Value> = [
        ("feature-shutdown", "1"),
        ("feature-poweroff", "1"),
        ("feature-reboot", "1"),
        ("feature-suspend", "1"),
        ("feature-vcpu-hotplug", "1"),
        ("has-vendor-device", "0"),
        ("platform-feature-multiprocessor-suspend", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::s(v)))
    .collect();
    if windows && st.feature_sysprep {
        other.insert("feature-sysprep".into(), Value::s("1"));
    }
    let mut netbios = BTreeMap::new();
    if windows && let Some(h) = &st.hostname {
        netbios.insert("host_name".to_string(), Value::Str(h.to_uppercase()));
    }
    let mut gm = Record::new();
    gm.insert("os_version".into(), os_version);
    gm.insert("PV_drivers_version".into(), pv);
    gm.insert("PV_drivers_up_to_date".into(), Value::Bool(true));
    gm.insert("PV_drivers_detected".into(), Value::Bool(true));
    gm.insert("networks".into(), Value::Map(networks));
    gm.insert("other".into(), Value::Map(other));
    gm.insert("netbios_name".into(), Value::Map(netbios));
    gm.insert("last_updated".into(), now_datetime());
    gm.insert("live".into(), Value::Bool(true));
    gm.insert("can_use_hotplug_vbd".into(), Value::s("yes"));
    gm.insert("can_use_hotplug_vif".into(), Value::s("yes"));
    let existing = rs(rec, "guest_metrics").to_string();
    if existing != NULL_REF && db.exists("VM_guest_metrics", &existing) {
        let _ = db.update("VM_guest_metrics", &existing, |r| {
            for (k, v) in gm {
                r.insert(k, v);
            }
        });
    } else {
        let g = db.create("VM_guest_metrics", &new_ref(), gm);
        let _ = db.set("VM", vm, "guest_metrics", Value::Str(g));
    }
    crate::api::vm::refresh_allowed_operations(db, vm);
}

/// The admin view of a guest (`GET /labpool/guest/<vm-uuid>`).
pub fn view(db: &Db, vm: &str) -> serde_json::Value {
    let st = db.guests.get(vm).cloned().unwrap_or_default();
    let rec = db.get("VM", vm).ok();
    let mut v = serde_json::json!({
        "vm": rec.map(|r| rs(r, "uuid")).unwrap_or(""),
        "power_state": rec.map(|r| rs(r, "power_state")).unwrap_or(""),
        "os": st.os,
        "boot_count": st.boot_count,
        "hostname": st.hostname,
        "instance_id": st.instance_id,
        "new_instance_boots": st.new_instance_boots,
        "drive": st.drive,
        "network": st.network,
        "network_source": st.network_source,
        "sysprep_runs": st.sysprep_runs,
        "feature_sysprep": st.feature_sysprep,
        "log": st.log,
    });
    if st.os == "windows"
        && let (Some(o), serde_json::Value::Object(w)) =
            (v.as_object_mut(), windows::view(db, vm, &st))
    {
        o.extend(w);
    }
    v
}
