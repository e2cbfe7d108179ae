//! Plan-time checks of user-written network-config text, per guest flavour.

use serde_norway::Value;

use crate::error::{Field, Problem, ValidationError, ValidationErrors, collect};
use crate::net::{normalize_mac, parse_ipv4_cidr};

/// Which guest agent reads the drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// cloud-init (Linux, BSD): applies v1 and v2 as documented.
    #[default]
    CloudInit,
    /// cloudbase-init (Windows) `NoCloudConfigDriveService`: applies only a subset
    /// (reference guest-config §2.3): every physical link needs a MAC, v2 `bridges`, v1
    /// `bridge` and `route` entries are ignored, addresses must be `a.b.c.d/prefix`.
    Cloudbase,
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
    .to_owned()
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

struct Checker {
    flavor: Flavor,
    errors: Vec<ValidationError>,
}

impl Checker {
    fn push(&mut self, location: impl Into<String>, problem: Problem) {
        self.errors.push(ValidationError::new(
            Field::network_config(location),
            problem,
        ));
    }

    fn wrong_type(&mut self, location: &str, expected: &'static str, found: &Value) {
        self.push(
            location,
            Problem::WrongType {
                expected,
                found: type_name(found),
            },
        );
    }

    fn check_mac(&mut self, location: &str, value: &Value) {
        match value.as_str() {
            Some(s) => {
                if let Err(p) = normalize_mac(s) {
                    self.push(location, p);
                }
            }
            // An unquoted all-decimal MAC is read as a base-60 integer by YAML 1.1.
            None => self.wrong_type(location, "a quoted MAC address string", value),
        }
    }

    fn check_cidr(&mut self, location: &str, value: &Value) {
        match value.as_str() {
            Some(s) if s.contains(':') => {} // IPv6: not checked here.
            Some(s) => {
                if let Err(p) = parse_ipv4_cidr(s) {
                    self.push(location, p);
                }
            }
            None => self.wrong_type(location, "an address string a.b.c.d/prefix", value),
        }
    }

    fn cloudbase(&self) -> bool {
        self.flavor == Flavor::Cloudbase
    }

    fn v2(&mut self, doc: &serde_norway::Mapping, base: &str) {
        for (section, is_link) in [
            ("ethernets", true),
            ("bonds", false),
            ("vlans", false),
            ("bridges", false),
        ] {
            let loc = join(base, section);
            let Some(items) = doc.get(section) else {
                continue;
            };
            let Some(items) = items.as_mapping() else {
                self.wrong_type(&loc, "a mapping of interface IDs", items);
                continue;
            };
            if section == "bridges" && self.cloudbase() && !items.is_empty() {
                self.push(
                    loc.clone(),
                    Problem::UnsupportedByCloudbase {
                        what: "a v2 `bridges` section".to_owned(),
                        reason: "cloudbase-init ignores bridges, so the bridge and its \
                                 addresses would never be configured",
                    },
                );
            }
            for (id, item) in items {
                let id = key_text(id);
                let iloc = join(&loc, &id);
                let Some(item) = item.as_mapping() else {
                    self.wrong_type(&iloc, "a mapping", item);
                    continue;
                };
                let mac = item.get("match").and_then(|m| m.get("macaddress"));
                match mac {
                    Some(m) => self.check_mac(&join(&iloc, "match.macaddress"), m),
                    None if is_link && self.cloudbase() => self.push(
                        iloc.clone(),
                        Problem::MissingMac {
                            name: id.clone(),
                            hint: "add `match: {macaddress: \"..\"}`",
                        },
                    ),
                    None => {}
                }
                if let Some(addrs) = item.get("addresses") {
                    match addrs.as_sequence() {
                        Some(list) => {
                            for (i, a) in list.iter().enumerate() {
                                self.check_cidr(&format!("{iloc}.addresses[{i}]"), a);
                            }
                        }
                        None => self.wrong_type(&join(&iloc, "addresses"), "a list", addrs),
                    }
                }
                if self.cloudbase()
                    && let Some(routes) = item.get("routes").and_then(Value::as_sequence)
                {
                    for (i, r) in routes.iter().enumerate() {
                        if r.get("to").and_then(Value::as_str).is_none() {
                            self.push(
                                format!("{iloc}.routes[{i}]"),
                                Problem::UnsupportedByCloudbase {
                                    what: "a route without a `to` string".to_owned(),
                                    reason: "cloudbase-init fails on it",
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    fn v1(&mut self, doc: &serde_norway::Mapping, base: &str) {
        let loc = join(base, "config");
        let Some(config) = doc.get("config") else {
            self.push(loc, Problem::Empty);
            return;
        };
        let Some(config) = config.as_sequence() else {
            self.wrong_type(&loc, "a list", config);
            return;
        };
        for (i, item) in config.iter().enumerate() {
            let iloc = format!("{loc}[{i}]");
            let Some(item) = item.as_mapping() else {
                self.wrong_type(&iloc, "a mapping", item);
                continue;
            };
            let ty = item.get("type").and_then(Value::as_str).unwrap_or("");
            let name = item
                .get("name")
                .map(key_text)
                .unwrap_or_else(|| format!("#{i}"));
            match ty {
                "physical" | "bond" | "vlan" | "bridge" => {
                    if item.get("name").is_none() && (self.cloudbase() || ty == "physical") {
                        self.push(
                            iloc.clone(),
                            Problem::InvalidName {
                                value: String::new(),
                                reason: format!("a `{ty}` entry needs a `name`"),
                            },
                        );
                    }
                    match item.get("mac_address") {
                        Some(m) => self.check_mac(&join(&iloc, "mac_address"), m),
                        None if ty == "physical" && self.cloudbase() => self.push(
                            iloc.clone(),
                            Problem::MissingMac {
                                name: name.clone(),
                                hint: "add `mac_address: \"..\"`",
                            },
                        ),
                        None => {}
                    }
                    if ty == "bridge" && self.cloudbase() {
                        self.push(
                            iloc.clone(),
                            Problem::UnsupportedByCloudbase {
                                what: format!("bridge {name:?}"),
                                reason: "cloudbase-init skips `bridge` entries",
                            },
                        );
                    }
                    if let Some(subnets) = item.get("subnets").and_then(Value::as_sequence) {
                        for (j, s) in subnets.iter().enumerate() {
                            let sloc = format!("{iloc}.subnets[{j}]");
                            let sty = s.get("type").and_then(Value::as_str).unwrap_or("");
                            if sty == "static"
                                && s.get("netmask").is_none()
                                && let Some(a) = s.get("address")
                            {
                                self.check_cidr(&join(&sloc, "address"), a);
                            }
                            if self.cloudbase() && sty == "dhcp4" {
                                self.push(
                                    sloc,
                                    Problem::UnsupportedByCloudbase {
                                        what: "subnet type `dhcp4`".to_owned(),
                                        reason: "cloudbase-init only recognises `dhcp` and \
                                                 treats `dhcp4` as a static subnet without \
                                                 an address; write `type: dhcp`",
                                    },
                                );
                            }
                        }
                    }
                }
                "nameserver" => {}
                "route" if self.cloudbase() => self.push(
                    iloc,
                    Problem::UnsupportedByCloudbase {
                        what: "a global `route` entry".to_owned(),
                        reason: "cloudbase-init skips it; put routes on a subnet",
                    },
                ),
                "route" => {}
                other => self.push(
                    join(&iloc, "type"),
                    Problem::WrongType {
                        expected: "one of physical, bond, vlan, bridge, nameserver, route",
                        found: format!("{other:?}"),
                    },
                ),
            }
        }
    }
}

/// Checks user-written network-config text at plan time.
///
/// For every flavour: valid YAML, a mapping (optionally wrapped in `network:`), `version` 1
/// or 2, well-formed MACs (quoted strings), IPv4 addresses as `a.b.c.d/prefix`.
/// For [`Flavor::Cloudbase`] additionally what cloudbase-init cannot apply: a physical
/// interface without a MAC (v1 `mac_address`, v2 `match.macaddress`), a v2 `bridges`
/// section, v1 `bridge` and global `route` entries, v1 `dhcp4` subnets, v2 routes without
/// `to`. Every problem found is returned, each naming its location in the document.
pub fn validate_network_config_text(text: &str, flavor: Flavor) -> Result<(), ValidationErrors> {
    let mut c = Checker {
        flavor,
        errors: Vec::new(),
    };
    let doc: Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            c.push(
                "",
                Problem::InvalidYaml {
                    reason: e.to_string(),
                },
            );
            return collect(c.errors);
        }
    };
    let (doc, base) = match doc.get("network") {
        Some(inner) => (inner, "network"),
        None => (&doc, ""),
    };
    let Some(map) = doc.as_mapping() else {
        c.wrong_type(base, "a YAML mapping", doc);
        return collect(c.errors);
    };
    match map.get("version").and_then(Value::as_u64) {
        Some(1) => c.v1(map, base),
        Some(2) => c.v2(map, base),
        _ => c.push(
            join(base, "version"),
            Problem::UnsupportedVersion {
                found: map
                    .get("version")
                    .map(key_text)
                    .unwrap_or_else(|| "(missing)".to_owned()),
            },
        ),
    }
    collect(c.errors)
}
