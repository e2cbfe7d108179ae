//! NoCloud `meta-data` and `network-config` (v1 and v2) parsing, the way cloud-init reads
//! them (reference `guest-config.md` §1.3/§1.4): optional top-level `network:` wrapper,
//! interfaces matched by MAC, static addresses or DHCP.

use serde::{Deserialize, Serialize};
use serde_json::Value as J;

/// Parses YAML into JSON values (first document; empty -> null).
pub fn parse_yaml(text: &str) -> Result<J, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    Ok(docs.first().map(yaml_to_json).unwrap_or(J::Null))
}

fn yaml_to_json(y: &yaml_rust2::Yaml) -> J {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(J::Number)
            .unwrap_or(J::String(s.clone())),
        Yaml::Integer(i) => J::from(*i),
        Yaml::String(s) => J::String(s.clone()),
        Yaml::Boolean(b) => J::Bool(*b),
        Yaml::Array(a) => J::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => J::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        Yaml::Real(r) => r.clone(),
                        _ => String::new(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => J::Null,
    }
}

/// What meta-data says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaData {
    /// `instance-id` (NoCloud default `nocloud`).
    pub instance_id: String,
    /// `local-hostname`.
    pub local_hostname: Option<String>,
}

/// Parses meta-data.
pub fn parse_meta_data(text: &str) -> Result<MetaData, String> {
    let j = parse_yaml(text)?;
    let get = |k: &str| match j.get(k) {
        Some(J::String(s)) => Some(s.clone()),
        Some(J::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(MetaData {
        instance_id: get("instance-id").unwrap_or_else(|| "nocloud".to_string()),
        local_hostname: get("local-hostname").or_else(|| get("hostname")),
    })
}

/// One interface's configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IfaceConfig {
    /// Name given by the config (v1 `name`, v2 `set-name` or the ID).
    pub name: String,
    /// MAC to match (as written in the config).
    pub mac: Option<String>,
    /// DHCPv4.
    pub dhcp4: bool,
    /// Static addresses in CIDR form.
    pub addresses: Vec<String>,
    /// Default gateway.
    pub gateway: Option<String>,
    /// DNS servers.
    pub dns: Vec<String>,
    /// DNS search domains.
    pub search: Vec<String>,
    /// MTU.
    pub mtu: Option<i64>,
}

/// A parsed network configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// 1 or 2.
    pub version: i64,
    /// Physical interfaces.
    pub interfaces: Vec<IfaceConfig>,
    /// Global nameservers (v1 `nameserver` entries).
    pub dns: Vec<String>,
    /// Entries that were not applied, with the reason.
    pub ignored: Vec<String>,
}

fn strings(j: Option<&J>) -> Vec<String> {
    match j {
        Some(J::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                J::String(s) => Some(s.clone()),
                J::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(J::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn s(j: Option<&J>) -> Option<String> {
    match j {
        Some(J::String(s)) => Some(s.clone()),
        Some(J::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Dotted netmask to prefix length.
pub fn netmask_to_prefix(mask: &str) -> Option<u32> {
    let ip: std::net::Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(ip);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones)
    } else {
        None
    }
}

/// Parses `network-config` text (v1 or v2, with or without the `network:` wrapper).
pub fn parse_network_config(text: &str) -> Result<NetConfig, String> {
    let mut j = parse_yaml(text)?;
    if let Some(inner) = j.get("network").cloned() {
        j = inner;
    }
    let version = j.get("version").and_then(J::as_i64).unwrap_or(0);
    let mut out = NetConfig {
        version,
        ..NetConfig::default()
    };
    match version {
        1 => {
            let entries = j
                .get("config")
                .and_then(J::as_array)
                .cloned()
                .unwrap_or_default();
            for e in entries {
                match e.get("type").and_then(J::as_str) {
                    Some("physical") => {
                        let mut ifc = IfaceConfig {
                            name: s(e.get("name")).unwrap_or_default(),
                            mac: s(e.get("mac_address")),
                            mtu: e.get("mtu").and_then(J::as_i64),
                            ..IfaceConfig::default()
                        };
                        for sub in e
                            .get("subnets")
                            .and_then(J::as_array)
                            .cloned()
                            .unwrap_or_default()
                        {
                            match sub.get("type").and_then(J::as_str).unwrap_or("") {
                                "dhcp" | "dhcp4" => ifc.dhcp4 = true,
                                "static" => {
                                    if let Some(addr) = s(sub.get("address")) {
                                        let cidr = if addr.contains('/') {
                                            addr
                                        } else if let Some(p) = s(sub.get("netmask"))
                                            .as_deref()
                                            .and_then(netmask_to_prefix)
                                        {
                                            format!("{addr}/{p}")
                                        } else {
                                            format!("{addr}/24")
                                        };
                                        ifc.addresses.push(cidr);
                                    }
                                    if let Some(g) = s(sub.get("gateway")) {
                                        ifc.gateway.get_or_insert(g);
                                    }
                                    ifc.dns.extend(strings(sub.get("dns_nameservers")));
                                    ifc.search.extend(strings(sub.get("dns_search")));
                                }
                                other => out.ignored.push(format!(
                                    "{}: subnet type {other} not simulated",
                                    ifc.name
                                )),
                            }
                        }
                        out.interfaces.push(ifc);
                    }
                    Some("nameserver") => {
                        out.dns.extend(strings(e.get("address")));
                    }
                    Some(other) => out
                        .ignored
                        .push(format!("entry type {other} not simulated")),
                    None => out.ignored.push("entry without type".to_string()),
                }
            }
        }
        2 => {
            if let Some(J::Object(eths)) = j.get("ethernets") {
                for (id, e) in eths {
                    let mac = e.get("match").and_then(|m| s(m.get("macaddress")));
                    let name = s(e.get("set-name")).unwrap_or_else(|| id.clone());
                    let mut ifc = IfaceConfig {
                        name,
                        mac,
                        dhcp4: matches!(e.get("dhcp4"), Some(J::Bool(true)))
                            || matches!(e.get("dhcp4").and_then(J::as_str), Some("true" | "yes")),
                        addresses: strings(e.get("addresses")),
                        mtu: e.get("mtu").and_then(J::as_i64),
                        ..IfaceConfig::default()
                    };
                    ifc.gateway = s(e.get("gateway4"));
                    for r in e
                        .get("routes")
                        .and_then(J::as_array)
                        .cloned()
                        .unwrap_or_default()
                    {
                        let to = s(r.get("to")).unwrap_or_default();
                        if (to == "default" || to == "0.0.0.0/0")
                            && let Some(via) = s(r.get("via"))
                        {
                            ifc.gateway.get_or_insert(via);
                        }
                    }
                    if let Some(ns) = e.get("nameservers") {
                        ifc.dns = strings(ns.get("addresses"));
                        ifc.search = strings(ns.get("search"));
                    }
                    out.interfaces.push(ifc);
                }
            }
            for other in ["bonds", "bridges", "vlans", "wifis"] {
                if j.get(other).is_some() {
                    out.ignored.push(format!("{other} not simulated"));
                }
            }
        }
        v => return Err(format!("unsupported network-config version {v}")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_with_wrapper() {
        let v1 = "network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n    mac_address: \"06:5c:a1:3f:00:2b\"\n    subnets:\n    - type: static\n      address: 10.20.30.40\n      netmask: 255.255.255.0\n      gateway: 10.20.30.1\n      dns_nameservers: [10.20.30.53]\n  - type: physical\n    name: eth1\n    subnets: [{type: dhcp}]\n";
        let c = parse_network_config(v1).unwrap();
        assert_eq!(c.version, 1);
        assert_eq!(c.interfaces[0].addresses, vec!["10.20.30.40/24"]);
        assert_eq!(c.interfaces[0].mac.as_deref(), Some("06:5c:a1:3f:00:2b"));
        assert_eq!(c.interfaces[0].gateway.as_deref(), Some("10.20.30.1"));
        assert!(c.interfaces[1].dhcp4);
        let v2 = "version: 2\nethernets:\n  uplink:\n    match:\n      macaddress: \"06:5c:a1:3f:00:2b\"\n    set-name: eth0\n    dhcp4: false\n    addresses: [10.1.2.3/16]\n    routes: [{to: default, via: 10.1.0.1}]\n    nameservers: {addresses: [9.9.9.9], search: [lab]}\n";
        let c = parse_network_config(v2).unwrap();
        assert_eq!(c.interfaces[0].name, "eth0");
        assert_eq!(c.interfaces[0].gateway.as_deref(), Some("10.1.0.1"));
        assert_eq!(c.interfaces[0].dns, vec!["9.9.9.9"]);
        assert!(parse_network_config("version: 3").is_err());
        assert_eq!(netmask_to_prefix("255.255.240.0"), Some(20));
        assert_eq!(netmask_to_prefix("255.0.255.0"), None);
    }

    #[test]
    fn meta_data_defaults() {
        let m = parse_meta_data("instance-id: abc\nlocal-hostname: web1\n").unwrap();
        assert_eq!(m.instance_id, "abc");
        assert_eq!(m.local_hostname.as_deref(), Some("web1"));
        assert_eq!(parse_meta_data("").unwrap().instance_id, "nocloud");
    }
}
