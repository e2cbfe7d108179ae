//! cloudbase-init's NoCloud service as the Windows guest runs it (reference
//! `guest-config.md` §2; cloudbase/cloudbase-init `metadata/services/nocloudservice.py`,
//! `metadata/services/osconfigdrive/windows.py`, `plugins/common/networkconfig.py`,
//! `osutils/windows.py`, `utils/hostname.py`):
//!
//! * drive discovery: a raw ISO9660 image on a disk (`hdd_iso`, found by the `CD001` magic,
//!   no label check), an ISO in a CD drive labelled `cidata` (`cdrom_iso`), or a volume in the
//!   first MBR partition labelled `cidata` (`partition_vfat` / `partition_iso`). A FAT image
//!   on a whole disk (no partition table) needs `mtools_path`, which the default
//!   configuration does not set: it is not found. `meta-data` must exist.
//! * network-config v1 and v2 with cloudbase-init's parsing rules; physical links are looked
//!   up by MAC (a missing or unknown MAC fails the `NetworkConfigPlugin` with the exception
//!   cloudbase-init raises), renamed to the link name, then static addresses are applied
//!   (`address/prefix` is required: the plugin splits on `/`).
//! * plugins run once per instance id; a failed plugin runs again at the next boot.

use std::collections::BTreeMap;
use std::io::Cursor;

use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::db::{Db, rb, rs, rset};
use crate::guest::drive;
use crate::guest::netcfg::{netmask_to_prefix, parse_yaml};
use crate::guest::{AppliedIface, DriveView};

/// A link of the parsed network details (`network_model.Link`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// `physical`, `bond` or `vlan`.
    pub kind: String,
    /// Link name (the adapter is renamed to it).
    pub name: String,
    /// MAC address as written in the config.
    pub mac: Option<String>,
    /// MTU.
    pub mtu: Option<i64>,
}

/// A network (static address) of the parsed details (`network_model.Network`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Net {
    /// Link name.
    pub link: String,
    /// `address_cidr` as cloudbase-init builds it (may lack `/prefix`).
    pub address_cidr: String,
    /// Default gateway (from `gateway`, `gateway4` or a `default` route).
    pub gateway: Option<String>,
    /// DNS servers of this network.
    pub dns: Vec<String>,
}

/// Parsed network details (`NetworkDetailsV2`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    /// 1 or 2.
    pub version: i64,
    /// Links in file order.
    pub links: Vec<Link>,
    /// Static networks.
    pub networks: Vec<Net>,
    /// Nameserver services.
    pub nameservers: Vec<String>,
    /// What cloudbase-init logged as warnings while parsing.
    pub warnings: Vec<String>,
}

fn s(j: Option<&J>) -> Option<String> {
    match j {
        Some(J::String(s)) => Some(s.clone()),
        Some(J::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(j: Option<&J>) -> Vec<String> {
    match j {
        Some(J::Array(a)) => a.iter().filter_map(|v| s(Some(v))).collect(),
        _ => Vec::new(),
    }
}

fn truthy(j: Option<&J>) -> bool {
    match j {
        None | Some(J::Null) | Some(J::Bool(false)) => false,
        Some(J::String(s)) => !s.is_empty(),
        Some(J::Array(a)) => !a.is_empty(),
        Some(J::Object(o)) => !o.is_empty(),
        Some(J::Number(n)) => n.as_f64() != Some(0.0),
        Some(J::Bool(true)) => true,
    }
}

fn py_repr(j: Option<&J>) -> String {
    match j {
        None | Some(J::Null) => "None".into(),
        Some(J::String(s)) => s.clone(),
        Some(J::Bool(b)) => if *b { "True" } else { "False" }.into(),
        Some(other) => other.to_string(),
    }
}

/// `network_utils.ip_netmask_to_cidr`.
fn to_cidr(addr: &str, netmask: Option<&str>) -> String {
    match netmask.and_then(netmask_to_prefix) {
        Some(p) => format!("{}/{p}", addr.split('/').next().unwrap_or(addr)),
        None => addr.to_string(),
    }
}

/// Parses `network-config` as `NoCloudNetworkConfigParser.parse` does. `Ok(None)`: empty or
/// not a mapping (cloudbase-init logs and configures nothing). `Err`: the exception that
/// fails the `NetworkConfigPlugin`.
pub fn parse_network_config(text: &str) -> Result<Option<Details>, String> {
    let mut j = match parse_yaml(text) {
        Ok(j) => j,
        Err(e) => {
            // serialization.YamlParserConfigError is caught: "could not be deserialized".
            return Ok(Some(Details {
                warnings: vec![format!(
                    "V2 network metadata could not be deserialized: {e}"
                )],
                ..Details::default()
            }));
        }
    };
    if !j.is_object() || j.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(None);
    }
    if truthy(j.get("network")) {
        j = j.get("network").cloned().unwrap_or(J::Null);
    }
    let version = j.get("version");
    let mut d = Details::default();
    match version.and_then(J::as_i64) {
        Some(1) => {
            d.version = 1;
            let items = j.get("config").cloned().unwrap_or(J::Null);
            let Some(items) = items.as_array() else {
                d.warnings
                    .push("Network configuration is empty or not a list".into());
                return Ok(Some(d));
            };
            for item in items {
                let Some(obj) = item.as_object() else {
                    d.warnings
                        .push(format!("Network config item '{item}' is not a dictionary"));
                    continue;
                };
                let ty = obj.get("type").and_then(J::as_str).unwrap_or("");
                match ty {
                    "physical" | "bond" | "vlan" => {
                        let Some(name) = s(obj.get("name")).filter(|n| !n.is_empty()) else {
                            d.warnings.push(format!("{ty} link does not have a name."));
                            continue;
                        };
                        d.links.push(Link {
                            kind: ty.to_string(),
                            name: name.clone(),
                            mac: s(obj.get("mac_address")),
                            mtu: obj.get("mtu").and_then(J::as_i64),
                        });
                        for sub in obj
                            .get("subnets")
                            .and_then(J::as_array)
                            .cloned()
                            .unwrap_or_default()
                        {
                            let st = sub.get("type").and_then(J::as_str).unwrap_or("");
                            if st == "dhcp" || st == "dhcp6" {
                                continue;
                            }
                            let Some(addr) = s(sub.get("address")) else {
                                continue;
                            };
                            d.networks.push(Net {
                                link: name.clone(),
                                address_cidr: to_cidr(&addr, s(sub.get("netmask")).as_deref()),
                                gateway: s(sub.get("gateway")),
                                dns: strings(sub.get("dns_nameservers")),
                            });
                        }
                    }
                    "nameserver" => d.nameservers.extend(strings(obj.get("address"))),
                    other => d
                        .warnings
                        .push(format!("Network config type '{other}' is not supported")),
                }
            }
        }
        Some(2) => {
            d.version = 2;
            for (kind, plural) in [
                ("physical", "ethernets"),
                ("bond", "bonds"),
                ("vlan", "vlans"),
            ] {
                let Some(items) = j.get(plural).and_then(J::as_object) else {
                    continue;
                };
                for (id, item) in items {
                    let name = s(item.get("set-name")).unwrap_or_else(|| id.clone());
                    d.links.push(Link {
                        kind: kind.to_string(),
                        name: name.clone(),
                        mac: item.get("match").and_then(|m| s(m.get("macaddress"))),
                        mtu: item.get("mtu").and_then(J::as_i64),
                    });
                    let mut gateway = s(item.get("gateway4"));
                    for r in item
                        .get("routes")
                        .and_then(J::as_array)
                        .cloned()
                        .unwrap_or_default()
                    {
                        let to = s(r.get("to")).unwrap_or_default();
                        if to.eq_ignore_ascii_case("default") || to == "0.0.0.0/0" {
                            gateway = gateway.or_else(|| s(r.get("via")));
                        }
                    }
                    let dns = item
                        .get("nameservers")
                        .map(|n| strings(n.get("addresses")))
                        .unwrap_or_default();
                    for addr in strings(item.get("addresses")) {
                        d.networks.push(Net {
                            link: name.clone(),
                            address_cidr: addr,
                            gateway: gateway.clone(),
                            dns: dns.clone(),
                        });
                    }
                }
            }
        }
        _ => {
            return Err(format!(
                "CloudbaseInitException: Unsupported network_data_version: '{}'",
                py_repr(version)
            ));
        }
    }
    Ok(Some(d))
}

/// The adapter configuration the guest keeps (by MAC, lower case).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Adapter name.
    pub name: String,
    /// Static addresses (`a.b.c.d/prefix`); empty: DHCP.
    pub addresses: Vec<String>,
    /// Default gateway.
    pub gateway: Option<String>,
    /// DNS servers.
    pub dns: Vec<String>,
}

/// Windows' default adapter name for a VIF device.
pub fn default_name(device: &str) -> String {
    match device.parse::<u32>() {
        Ok(0) | Err(_) => "Ethernet".into(),
        Ok(n) => format!("Ethernet {}", n + 1),
    }
}

/// Runs the `NetworkConfigPlugin` on the adapters (`(device, mac lower case)`), updating
/// `cfg` in place as far as cloudbase-init gets. `Err`: the exception that failed the plugin.
pub fn apply(
    d: &Details,
    adapters: &[(String, String)],
    cfg: &mut BTreeMap<String, AdapterConfig>,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let name_of = |cfg: &BTreeMap<String, AdapterConfig>, dev: &str, mac: &str| {
        cfg.get(mac)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| default_name(dev))
    };
    // _process_physical_links
    for link in d.links.iter().filter(|l| l.kind == "physical") {
        let Some(mac) = &link.mac else {
            return Err(if adapters.is_empty() {
                "ItemNotFoundException: Network interface with MAC address \"None\" not found"
                    .into()
            } else {
                "AttributeError: 'NoneType' object has no attribute 'lower'".into()
            });
        };
        let found: Vec<&(String, String)> = adapters
            .iter()
            .filter(|(_, m)| m.eq_ignore_ascii_case(mac))
            .collect();
        let (dev, amac) = match found.as_slice() {
            [] => {
                return Err(format!(
                    "ItemNotFoundException: Network interface with MAC address \"{mac}\" not found"
                ));
            }
            [one] => (*one).clone(),
            _ => {
                return Err(format!(
                    "CloudbaseInitException: Multiple network interfaces with MAC address \"{mac}\" exist"
                ));
            }
        };
        let old = name_of(cfg, &dev, &amac);
        if old != link.name {
            log.push(format!(
                "Renaming network adapter \"{old}\" to \"{}\"",
                link.name
            ));
        }
        let e = cfg.entry(amac.clone()).or_default();
        e.name = link.name.clone();
    }
    for link in d.links.iter().filter(|l| l.kind != "physical") {
        log.push(format!(
            "{} link {}: NIC teaming is not simulated by the lab pool (ignored)",
            link.kind, link.name
        ));
    }
    // _process_networks
    for net in &d.networks {
        let parts: Vec<&str> = net.address_cidr.split('/').collect();
        let (ip, prefix) = match parts.as_slice() {
            [ip, prefix] => (*ip, *prefix),
            [_] => {
                return Err(
                    "ValueError: not enough values to unpack (expected 2, got 1)".to_string(),
                );
            }
            _ => return Err("ValueError: too many values to unpack (expected 2)".to_string()),
        };
        let max = if ip.contains(':') { 128 } else { 32 };
        if !prefix.parse::<u32>().is_ok_and(|p| p <= max) {
            return Err(format!(
                "set_static_network_config failed on adapter \"{}\": invalid prefix length \"{prefix}\"",
                net.link
            ));
        }
        let Some((mac, _)) = adapters
            .iter()
            .map(|(dev, mac)| (mac.clone(), name_of(cfg, dev, mac)))
            .find(|(_, n)| *n == net.link)
        else {
            return Err(format!(
                "set_static_network_config failed: network adapter \"{}\" not found",
                net.link
            ));
        };
        let dns = if net.dns.is_empty() {
            d.nameservers
                .iter()
                .filter(|n| n.contains(':') == ip.contains(':'))
                .cloned()
                .collect()
        } else {
            net.dns.clone()
        };
        let e = cfg.entry(mac).or_default();
        e.addresses.push(format!("{ip}/{prefix}"));
        if e.gateway.is_none() {
            e.gateway = net.gateway.clone();
        }
        for n in dns {
            if !e.dns.contains(&n) {
                e.dns.push(n);
            }
        }
    }
    Ok(())
}

/// The interfaces as the guest reports them: every adapter, static where configured,
/// otherwise DHCP (Windows' default).
pub fn interfaces(
    adapters: &[(String, String)],
    cfg: &BTreeMap<String, AdapterConfig>,
) -> Vec<AppliedIface> {
    adapters
        .iter()
        .map(|(dev, mac)| {
            let c = cfg.get(mac).cloned().unwrap_or_default();
            AppliedIface {
                device: dev.clone(),
                mac: mac.clone(),
                name: if c.name.is_empty() {
                    default_name(dev)
                } else {
                    c.name.clone()
                },
                mode: if c.addresses.is_empty() {
                    "dhcp".into()
                } else {
                    "static".into()
                },
                addresses: c.addresses,
                gateway: c.gateway,
                dns: c.dns,
            }
        })
        .collect()
}

/// `utils/hostname.py::set_hostname` with `netbios_host_name_compatibility` (default true).
pub fn netbios_hostname(name: &str) -> String {
    let mut h: String = name.split('.').next().unwrap_or(name).to_string();
    if h.chars().count() > 15 {
        h = h.chars().take(15).collect();
    }
    if h.ends_with('-') {
        h.pop();
        h.push('0');
    }
    h
}

fn mbr_first_partition(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 512 || bytes[510] != 0x55 || bytes[511] != 0xAA {
        return None;
    }
    let e = &bytes[446..462];
    let lba = u32::from_le_bytes([e[8], e[9], e[10], e[11]]) as usize;
    (e[4] != 0 && lba > 0 && lba * 512 < bytes.len()).then_some(lba * 512)
}

fn whole_disk_fat(bytes: &[u8]) -> bool {
    bytes.len() >= 512
        && bytes[510] == 0x55
        && bytes[511] == 0xAA
        && fatfs::FileSystem::new(Cursor::new(bytes.to_vec()), fatfs::FsOptions::new()).is_ok()
}

/// Finds the drive cloudbase-init would use. Returns the drive and its location
/// (`cdrom_iso`, `hdd_iso`, `partition_vfat`, `partition_iso`), plus notes on candidates
/// that were skipped.
pub fn find_drive(db: &Db, vm: &str) -> (Option<(DriveView, String)>, Vec<String>) {
    let mut notes = Vec::new();
    let Ok(rec) = db.get("VM", vm) else {
        return (None, notes);
    };
    let mut vbds: Vec<_> = rset(rec, "VBDs")
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
        let dev = rs(&b, "userdevice").to_string();
        let cd = rs(&b, "type") == "CD";
        let found = if data.len() > 0x8006 && &data[0x8001..0x8006] == b"CD001" {
            let d = drive::read_drive(data);
            match (cd, d) {
                (true, Some(d)) if d.label.eq_ignore_ascii_case("cidata") => Some((d, "cdrom_iso")),
                (true, Some(d)) => {
                    notes.push(format!(
                        "CD {dev}: found mismatching label '{}' (skipped)",
                        d.label
                    ));
                    None
                }
                (false, Some(d)) => Some((d, "hdd_iso")),
                (_, None) => None,
            }
        } else if cd {
            None
        } else if whole_disk_fat(data) {
            notes.push(format!(
                "disk {dev}: FAT volume without a partition table needs mtools_path (not configured): skipped"
            ));
            None
        } else if let Some(off) = mbr_first_partition(data) {
            match drive::read_drive(&data[off..]) {
                Some(d) if d.label.eq_ignore_ascii_case("cidata") => {
                    let loc = if d.filesystem == "iso9660" {
                        "partition_iso"
                    } else {
                        "partition_vfat"
                    };
                    Some((d, loc))
                }
                _ => None,
            }
        } else {
            None
        };
        let Some((d, loc)) = found else { continue };
        if !d.files.contains_key("meta-data") {
            notes.push(format!("{loc} on {dev}: meta-data not found (skipped)"));
            continue;
        }
        let vdi_uuid = db
            .get("VDI", vdi)
            .map(|v| rs(v, "uuid").to_string())
            .unwrap_or_default();
        return (
            Some((
                DriveView {
                    vdi: vdi_uuid,
                    userdevice: dev,
                    vbd_type: rs(&b, "type").to_string(),
                    filesystem: d.filesystem,
                    label: d.label,
                    files: d.files,
                },
                loc.to_string(),
            )),
            notes,
        );
    }
    (None, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapters() -> Vec<(String, String)> {
        vec![
            ("0".into(), "02:00:00:00:00:01".into()),
            ("1".into(), "02:00:00:00:00:02".into()),
        ]
    }

    #[test]
    fn v1_static_with_netmask_and_v2_prefix() {
        let v1 = "version: 1\nconfig:\n- type: physical\n  name: lan\n  mac_address: \"02:00:00:00:00:02\"\n  subnets:\n  - type: static\n    address: 10.0.0.5\n    netmask: 255.255.255.0\n    gateway: 10.0.0.1\n- type: nameserver\n  address: [10.0.0.53]\n- type: bridge\n  name: br0\n";
        let d = parse_network_config(v1).unwrap().unwrap();
        assert_eq!(d.networks[0].address_cidr, "10.0.0.5/24");
        assert_eq!(
            d.warnings,
            vec!["Network config type 'bridge' is not supported"]
        );
        let mut cfg = BTreeMap::new();
        let mut log = vec![];
        apply(&d, &adapters(), &mut cfg, &mut log).unwrap();
        let ifs = interfaces(&adapters(), &cfg);
        assert_eq!(ifs[0].name, "Ethernet");
        assert_eq!(ifs[0].mode, "dhcp");
        assert_eq!(ifs[1].name, "lan");
        assert_eq!(ifs[1].addresses, vec!["10.0.0.5/24"]);
        assert_eq!(ifs[1].dns, vec!["10.0.0.53"]);
        assert_eq!(ifs[1].gateway.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn failures_match_cloudbase_init() {
        let no_mac =
            "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.0.0.5/24]\n";
        let d = parse_network_config(no_mac).unwrap().unwrap();
        let err = apply(&d, &adapters(), &mut BTreeMap::new(), &mut vec![]).unwrap_err();
        assert_eq!(
            err,
            "AttributeError: 'NoneType' object has no attribute 'lower'"
        );
        let unknown = "version: 2\nethernets:\n  e:\n    match: {macaddress: \"02:aa:00:00:00:09\"}\n    addresses: [10.0.0.5/24]\n";
        let d = parse_network_config(unknown).unwrap().unwrap();
        assert!(
            apply(&d, &adapters(), &mut BTreeMap::new(), &mut vec![])
                .unwrap_err()
                .contains("MAC address \"02:aa:00:00:00:09\" not found")
        );
        let mask_form = "version: 2\nethernets:\n  e:\n    match: {macaddress: \"02:00:00:00:00:01\"}\n    addresses: [10.0.0.5/255.255.255.0]\n";
        let d = parse_network_config(mask_form).unwrap().unwrap();
        assert!(
            apply(&d, &adapters(), &mut BTreeMap::new(), &mut vec![])
                .unwrap_err()
                .contains("invalid prefix length \"255.255.255.0\"")
        );
        let bare = "version: 2\nethernets:\n  e:\n    match: {macaddress: \"02:00:00:00:00:01\"}\n    addresses: [10.0.0.5]\n";
        let d = parse_network_config(bare).unwrap().unwrap();
        assert!(
            apply(&d, &adapters(), &mut BTreeMap::new(), &mut vec![])
                .unwrap_err()
                .starts_with("ValueError")
        );
        assert_eq!(
            parse_network_config("version: 3\n").unwrap_err(),
            "CloudbaseInitException: Unsupported network_data_version: '3'"
        );
        assert_eq!(parse_network_config("").unwrap(), None);
    }

    #[test]
    fn hostname_rules() {
        assert_eq!(netbios_hostname("web-1.example.com"), "web-1");
        assert_eq!(
            netbios_hostname("a-very-long-hostname-x"),
            "a-very-long-hos"
        );
        assert_eq!(netbios_hostname("abcdefghijklmn-xyz"), "abcdefghijklmn0");
    }
}
