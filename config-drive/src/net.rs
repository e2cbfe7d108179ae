//! Guest network configuration: typed interfaces, validation, and rendering to
//! cloud-init network-config v1 or v2 (the subset both cloud-init and cloudbase-init apply).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::error::{Field, InterfaceAttr, Problem, ValidationError, ValidationErrors, collect};
use crate::yaml::{self, Node};

/// Which network-config format to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetworkConfigFormat {
    /// Version 1 (`config:` list of `physical` entries). What cloudbase-init users usually
    /// write; both cloud-init and cloudbase-init apply it.
    V1,
    /// Version 2 (Netplan-style `ethernets:`), the default.
    #[default]
    V2,
}

/// One guest network interface, as configured on a `network_interface` block.
///
/// `mac` is required: the rendered configuration matches every interface by its MAC
/// (the provider knows every MAC before it builds the drive, because it chooses them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// MAC address, six colon-separated hex pairs, any case (rendered lower-case).
    pub mac: String,
    /// VIF device number; the default guest link name is `eth<device>`.
    pub device: u32,
    /// Guest link name overriding `eth<device>` (at most 15 characters).
    pub name: Option<String>,
    /// Static address as `a.b.c.d/prefix`; `None` means DHCP.
    pub ipv4_address: Option<String>,
    /// Default gateway (only with `ipv4_address`).
    pub ipv4_gateway: Option<String>,
    /// DNS servers (IPv4 or IPv6 addresses).
    pub dns_servers: Vec<String>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// Link MTU.
    pub mtu: Option<u32>,
}

impl Interface {
    /// The guest-side link name: `name`, or `eth<device>`.
    pub fn link_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("eth{}", self.device),
        }
    }
}

/// The `network-config` file of the drive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkConfig {
    /// No `network-config` file (the guest falls back to its own defaults, usually DHCP on
    /// the first NIC).
    #[default]
    None,
    /// The user's own text, written verbatim.
    User(String),
    /// Rendered by this crate from the interfaces (see [`render_network_config`]).
    Rendered {
        /// v1 or v2.
        format: NetworkConfigFormat,
        /// The interfaces, in device order.
        interfaces: Vec<Interface>,
    },
}

impl NetworkConfig {
    /// The file content, or `None` when the drive has no `network-config` file.
    pub fn to_text(&self) -> Result<Option<String>, ValidationErrors> {
        match self {
            NetworkConfig::None => Ok(None),
            NetworkConfig::User(text) => Ok(Some(text.clone())),
            NetworkConfig::Rendered { format, interfaces } => {
                render_network_config(*format, interfaces).map(Some)
            }
        }
    }
}

/// An IPv4 address with its prefix length, as in `10.20.30.40/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The host address.
    pub addr: Ipv4Addr,
    /// Prefix length, 1..=32.
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The subnet mask.
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// True if `ip` is inside this address's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// The network (first) address of the subnet.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn cidr_err(value: &str, reason: impl Into<String>) -> Problem {
    Problem::InvalidCidr {
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn unusable_reason(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("the unspecified address 0.0.0.0 is not a host address")
    } else if ip.is_broadcast() {
        Some("the broadcast address is not a host address")
    } else if ip.is_multicast() {
        Some("a multicast address is not a host address")
    } else if ip.is_loopback() {
        Some("a loopback address cannot be assigned to a network interface")
    } else {
        None
    }
}

/// Parses a static guest address `a.b.c.d/prefix` (prefix 1..=32).
///
/// Rejected: a missing or non-decimal prefix, a netmask instead of a prefix length
/// (`/255.255.255.0`: cloudbase-init reads the suffix as a prefix length), unspecified,
/// loopback, multicast and broadcast addresses, and, for prefixes up to /30, the network and
/// broadcast addresses of the subnet (usually a subnet written where a host address was
/// meant).
pub fn parse_ipv4_cidr(value: &str) -> Result<Ipv4Cidr, Problem> {
    let Some((addr, prefix)) = value.split_once('/') else {
        return Err(cidr_err(
            value,
            "expected a.b.c.d/prefix, e.g. 10.0.0.5/24 (the prefix length is required)",
        ));
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| cidr_err(value, format!("{addr:?} is not an IPv4 address")))?;
    if prefix.contains('.') {
        return Err(cidr_err(
            value,
            "give the prefix length (e.g. /24), not a netmask",
        ));
    }
    if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(cidr_err(value, "the prefix length must be a number 1..=32"));
    }
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| cidr_err(value, "the prefix length must be a number 1..=32"))?;
    if !(1..=32).contains(&prefix) {
        return Err(cidr_err(value, "the prefix length must be a number 1..=32"));
    }
    if let Some(reason) = unusable_reason(addr) {
        return Err(cidr_err(value, reason));
    }
    let cidr = Ipv4Cidr { addr, prefix };
    if prefix <= 30 {
        let host_bits = u32::from(addr) & !cidr.mask();
        if host_bits == 0 {
            return Err(cidr_err(
                value,
                "this is the network address of the subnet; give the interface's host address",
            ));
        }
        if host_bits == !cidr.mask() {
            return Err(cidr_err(
                value,
                "this is the broadcast address of the subnet",
            ));
        }
    }
    Ok(cidr)
}

fn gw_err(value: &str, reason: impl Into<String>) -> Problem {
    Problem::InvalidGateway {
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a gateway for an interface with address `cidr`.
///
/// The gateway must be a usable unicast IPv4 address different from the interface's own
/// address, and inside the interface's subnet unless the prefix is /31 or /32 (point-to-point
/// style setups where the gateway is reached on-link; v2 then renders `on-link: true`).
pub fn parse_gateway(value: &str, cidr: &Ipv4Cidr) -> Result<Ipv4Addr, Problem> {
    let gw: Ipv4Addr = value
        .parse()
        .map_err(|_| gw_err(value, "not an IPv4 address"))?;
    if let Some(reason) = unusable_reason(gw) {
        return Err(gw_err(value, reason));
    }
    if gw == cidr.addr {
        return Err(gw_err(value, "the gateway is the interface's own address"));
    }
    if cidr.prefix <= 30 && !cidr.contains(gw) {
        return Err(gw_err(
            value,
            format!(
                "not inside the interface's subnet {}/{}",
                cidr.network(),
                cidr.prefix
            ),
        ));
    }
    Ok(gw)
}

/// Validates a MAC address and returns it in the canonical lower-case form.
///
/// Accepted: six colon-separated pairs of hex digits (the form XAPI stores), any case.
/// Rejected: other separators or lengths, multicast addresses (a NIC's own MAC is unicast),
/// and `00:00:00:00:00:00`.
pub fn normalize_mac(value: &str) -> Result<String, Problem> {
    let err = |reason: &str| Problem::InvalidMac {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(err(
            "expected six colon-separated pairs of hex digits, e.g. 02:16:3e:00:00:01",
        ));
    }
    let first = u8::from_str_radix(parts[0], 16).map_err(|_| err("invalid hex"))?;
    if first & 0x01 != 0 {
        return Err(err(
            "a multicast address cannot be a network interface's MAC",
        ));
    }
    if parts.iter().all(|p| *p == "00") {
        return Err(err("the all-zero MAC is not a valid interface address"));
    }
    Ok(value.to_ascii_lowercase())
}

/// Validates a guest link name (used as the v1 `name` and the v2 ID / `set-name`).
pub fn validate_link_name(value: &str) -> Result<(), Problem> {
    let err = |reason: &str| Problem::InvalidName {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if value.is_empty() {
        return Err(err("must not be empty"));
    }
    if value.len() > 15 {
        return Err(err("at most 15 characters (Linux interface name limit)"));
    }
    if value == "." || value == ".." {
        return Err(err("not a usable interface name"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(err(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

/// Validates a DNS search domain (RFC 1123 host name syntax, optional trailing dot).
pub fn validate_search_domain(value: &str) -> Result<(), Problem> {
    let err = |reason: &str| Problem::InvalidDnsSearch {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.is_empty() {
        return Err(err("must not be empty"));
    }
    if name.len() > 253 {
        return Err(err("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(err("every label must have 1..=63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err(
                "only letters, digits, '-' and '_' are allowed in labels",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err("labels must not start or end with '-'"));
        }
    }
    Ok(())
}

/// Smallest MTU accepted (the IPv4 minimum).
pub const MIN_MTU: u32 = 68;
/// Largest MTU accepted.
pub const MAX_MTU: u32 = 65535;

/// An interface after validation, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CheckedInterface {
    mac: String,
    name: String,
    address: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Addr>,
    dns: Vec<IpAddr>,
    search: Vec<String>,
    mtu: Option<u32>,
}

fn check_interface(
    index: usize,
    iface: &Interface,
    errors: &mut Vec<ValidationError>,
) -> Option<CheckedInterface> {
    let before = errors.len();
    let mut push = |attr: InterfaceAttr, problem: Problem| {
        errors.push(ValidationError::new(Field::interface(index, attr), problem));
    };
    let mac = match normalize_mac(&iface.mac) {
        Ok(m) => Some(m),
        Err(p) => {
            push(InterfaceAttr::Mac, p);
            None
        }
    };
    let name = iface.link_name();
    if let Err(p) = validate_link_name(&name) {
        let attr = if iface.name.is_some() {
            InterfaceAttr::Name
        } else {
            InterfaceAttr::Device
        };
        push(attr, p);
    }
    let address = match iface.ipv4_address.as_deref() {
        None => None,
        Some(a) => match parse_ipv4_cidr(a) {
            Ok(c) => Some(c),
            Err(p) => {
                push(InterfaceAttr::Ipv4Address, p);
                None
            }
        },
    };
    let gateway = match (iface.ipv4_gateway.as_deref(), address, &iface.ipv4_address) {
        (None, _, _) => None,
        (Some(g), _, None) => {
            push(
                InterfaceAttr::Ipv4Gateway,
                Problem::GatewayWithoutAddress {
                    value: g.to_owned(),
                },
            );
            None
        }
        // The address is invalid: its error is reported; check the gateway on its own.
        (Some(g), None, Some(_)) => {
            match g.parse::<Ipv4Addr>() {
                Ok(ip) => {
                    if let Some(reason) = unusable_reason(ip) {
                        push(InterfaceAttr::Ipv4Gateway, gw_err(g, reason));
                    }
                }
                Err(_) => push(InterfaceAttr::Ipv4Gateway, gw_err(g, "not an IPv4 address")),
            }
            None
        }
        (Some(g), Some(cidr), Some(_)) => match parse_gateway(g, &cidr) {
            Ok(ip) => Some(ip),
            Err(p) => {
                push(InterfaceAttr::Ipv4Gateway, p);
                None
            }
        },
    };
    let mut dns = Vec::new();
    for (i, s) in iface.dns_servers.iter().enumerate() {
        match s.parse::<IpAddr>() {
            Ok(ip) => dns.push(ip),
            Err(_) => push(
                InterfaceAttr::DnsServer(i),
                Problem::InvalidDnsServer { value: s.clone() },
            ),
        }
    }
    for (i, s) in iface.dns_search.iter().enumerate() {
        if let Err(p) = validate_search_domain(s) {
            push(InterfaceAttr::DnsSearch(i), p);
        }
    }
    if let Some(mtu) = iface.mtu
        && !(MIN_MTU..=MAX_MTU).contains(&mtu)
    {
        push(
            InterfaceAttr::Mtu,
            Problem::InvalidMtu {
                value: mtu,
                min: MIN_MTU,
                max: MAX_MTU,
            },
        );
    }
    if errors.len() != before {
        return None;
    }
    Some(CheckedInterface {
        mac: mac?,
        name,
        address,
        gateway,
        dns,
        search: iface.dns_search.clone(),
        mtu: iface.mtu,
    })
}

fn check_interfaces(interfaces: &[Interface]) -> Result<Vec<CheckedInterface>, ValidationErrors> {
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    let mut macs: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (index, iface) in interfaces.iter().enumerate() {
        if let Ok(mac) = normalize_mac(&iface.mac) {
            if let Some(&other) = macs.get(&mac) {
                errors.push(ValidationError::new(
                    Field::interface(index, InterfaceAttr::Mac),
                    Problem::DuplicateMac { value: mac, other },
                ));
            } else {
                macs.insert(mac, index);
            }
        }
        let name = iface.link_name();
        if let Some(&other) = names.get(&name) {
            let attr = if iface.name.is_some() {
                InterfaceAttr::Name
            } else {
                InterfaceAttr::Device
            };
            errors.push(ValidationError::new(
                Field::interface(index, attr),
                Problem::DuplicateName { value: name, other },
            ));
        } else {
            names.insert(name, index);
        }
        if let Some(c) = check_interface(index, iface, &mut errors) {
            checked.push(c);
        }
    }
    collect(errors)?;
    Ok(checked)
}

/// Validates the interfaces (plan-time helper): every MAC, name, address, gateway, DNS
/// server, search domain and MTU, plus duplicate MACs and names. Returns every problem found.
pub fn validate_interfaces(interfaces: &[Interface]) -> Result<(), ValidationErrors> {
    check_interfaces(interfaces).map(|_| ())
}

fn push_unique<T: PartialEq + Clone>(list: &mut Vec<T>, items: &[T]) {
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

fn ip_strings(ips: &[IpAddr]) -> Vec<String> {
    ips.iter().map(|ip| ip.to_string()).collect()
}

fn render_v2(ifaces: &[CheckedInterface]) -> Node {
    let mut ethernets = Vec::new();
    for i in ifaces {
        let mut e = vec![
            (
                "match".to_owned(),
                Node::Map(vec![("macaddress".to_owned(), Node::str(&i.mac))]),
            ),
            ("set-name".to_owned(), Node::str(&i.name)),
        ];
        if let Some(mtu) = i.mtu {
            e.push(("mtu".to_owned(), Node::Int(u64::from(mtu))));
        }
        match i.address {
            None => e.push(("dhcp4".to_owned(), Node::Bool(true))),
            Some(cidr) => {
                e.push(("dhcp4".to_owned(), Node::Bool(false)));
                e.push(("addresses".to_owned(), Node::strs([cidr.to_string()])));
                if let Some(gw) = i.gateway {
                    let mut route = vec![
                        ("to".to_owned(), Node::str("default")),
                        ("via".to_owned(), Node::str(gw.to_string())),
                    ];
                    if !cidr.contains(gw) {
                        route.push(("on-link".to_owned(), Node::Bool(true)));
                    }
                    e.push(("routes".to_owned(), Node::Seq(vec![Node::Map(route)])));
                }
            }
        }
        if !i.dns.is_empty() || !i.search.is_empty() {
            let mut ns = Vec::new();
            if !i.dns.is_empty() {
                ns.push(("addresses".to_owned(), Node::strs(ip_strings(&i.dns))));
            }
            if !i.search.is_empty() {
                ns.push(("search".to_owned(), Node::strs(i.search.clone())));
            }
            e.push(("nameservers".to_owned(), Node::Map(ns)));
        }
        ethernets.push((i.name.clone(), Node::Map(e)));
    }
    Node::Map(vec![
        ("version".to_owned(), Node::Int(2)),
        ("ethernets".to_owned(), Node::Map(ethernets)),
    ])
}

fn render_v1(ifaces: &[CheckedInterface]) -> Node {
    let mut config = Vec::new();
    let mut global_dns: Vec<IpAddr> = Vec::new();
    let mut global_search: Vec<String> = Vec::new();
    for i in ifaces {
        let mut e = vec![
            ("type".to_owned(), Node::str("physical")),
            ("name".to_owned(), Node::str(&i.name)),
            ("mac_address".to_owned(), Node::str(&i.mac)),
        ];
        if let Some(mtu) = i.mtu {
            e.push(("mtu".to_owned(), Node::Int(u64::from(mtu))));
        }
        let subnet = match i.address {
            None => {
                push_unique(&mut global_dns, &i.dns);
                push_unique(&mut global_search, &i.search);
                vec![("type".to_owned(), Node::str("dhcp"))]
            }
            Some(cidr) => {
                push_unique(&mut global_search, &i.search);
                let mut s = vec![
                    ("type".to_owned(), Node::str("static")),
                    ("address".to_owned(), Node::str(cidr.to_string())),
                ];
                if let Some(gw) = i.gateway {
                    s.push(("gateway".to_owned(), Node::str(gw.to_string())));
                }
                if !i.dns.is_empty() {
                    s.push(("dns_nameservers".to_owned(), Node::strs(ip_strings(&i.dns))));
                }
                if !i.search.is_empty() {
                    s.push(("dns_search".to_owned(), Node::strs(i.search.clone())));
                }
                s
            }
        };
        e.push(("subnets".to_owned(), Node::Seq(vec![Node::Map(subnet)])));
        config.push(Node::Map(e));
    }
    if !global_dns.is_empty() || !global_search.is_empty() {
        let mut ns = vec![("type".to_owned(), Node::str("nameserver"))];
        if !global_dns.is_empty() {
            ns.push(("address".to_owned(), Node::strs(ip_strings(&global_dns))));
        }
        if !global_search.is_empty() {
            ns.push(("search".to_owned(), Node::strs(global_search)));
        }
        config.push(Node::Map(ns));
    }
    Node::Map(vec![
        ("version".to_owned(), Node::Int(1)),
        ("config".to_owned(), Node::Seq(config)),
    ])
}

/// Renders network-config for the interfaces.
///
/// Rules (the subset that cloud-init and cloudbase-init both apply, reference
/// guest-config §1.3, §1.4, §2.3):
/// * Every interface is matched by its MAC, written lower-case and quoted (a plain MAC of
///   only decimal digits is a base-60 integer to YAML 1.1 readers).
///   v2: an `ethernets` entry keyed by the link name with `match: {macaddress}` and
///   `set-name`; v1: a `type: physical` entry with `name` and `mac_address`.
///   The link name is `name`, or `eth<device>`.
/// * A static address is written as `a.b.c.d/prefix` (cloudbase-init reads the part after
///   `/` as a prefix length). The gateway becomes v2 `routes: [{to: default, via}]`
///   (plus `on-link: true` for a /31 or /32 whose gateway lies outside it), v1 subnet
///   `gateway`.
/// * DNS: v2 `nameservers: {addresses, search}` on the interface. v1: on a static subnet
///   `dns_nameservers` and `dns_search`; because cloudbase-init skips `dhcp` subnets
///   entirely and ignores subnet `dns_search`, the DNS servers of DHCP interfaces and the
///   search domains of all interfaces are (also) written to one trailing global
///   `type: nameserver` entry (`address`, `search`; duplicates removed, order kept).
/// * No address means DHCP: v2 `dhcp4: true`, v1 a subnet `type: dhcp` (not `dhcp4`, which
///   cloudbase-init would treat as a static subnet without address).
/// * `mtu` when set.
///
/// Returns every validation problem (see [`validate_interfaces`]) instead of rendering
/// invalid input.
pub fn render_network_config(
    format: NetworkConfigFormat,
    interfaces: &[Interface],
) -> Result<String, ValidationErrors> {
    let checked = check_interfaces(interfaces)?;
    let doc = match format {
        NetworkConfigFormat::V1 => render_v1(&checked),
        NetworkConfigFormat::V2 => render_v2(&checked),
    };
    Ok(yaml::to_string(&doc))
}

// ---------------------------------------------------------------------------------------
// Recovery (import): rendered text -> interfaces.

fn as_str(v: &serde_norway::Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn str_list(v: Option<&serde_norway::Value>) -> Option<Vec<String>> {
    match v {
        None => Some(Vec::new()),
        Some(v) => v.as_sequence()?.iter().map(as_str).collect(),
    }
}

fn mtu_of(v: &serde_norway::Value) -> Option<Option<u32>> {
    match v.get("mtu") {
        None => Some(None),
        Some(m) => Some(Some(u32::try_from(m.as_u64()?).ok()?)),
    }
}

/// Splits a link name back into `(device, name)`: `eth<N>` gives device N and no name.
fn device_and_name(link: &str, position: usize) -> (u32, Option<String>) {
    if let Some(n) = link.strip_prefix("eth")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && (n == "0" || !n.starts_with('0'))
        && let Ok(d) = n.parse::<u32>()
    {
        return (d, None);
    }
    (
        u32::try_from(position).unwrap_or(u32::MAX),
        Some(link.to_owned()),
    )
}

fn recover_v2(doc: &serde_norway::Value) -> Option<Vec<Interface>> {
    let ethernets = doc.get("ethernets")?.as_mapping()?;
    let mut out = Vec::new();
    for (pos, (key, e)) in ethernets.iter().enumerate() {
        let link = key.as_str()?;
        let mac = as_str(e.get("match")?.get("macaddress")?)?;
        let (device, name) = device_and_name(link, pos);
        let addresses = str_list(e.get("addresses"))?;
        let ipv4_address = addresses.first().cloned();
        let ipv4_gateway = match e.get("routes") {
            None => None,
            Some(r) => Some(as_str(r.as_sequence()?.first()?.get("via")?)?),
        };
        let ns = e.get("nameservers");
        out.push(Interface {
            mac,
            device,
            name,
            ipv4_address,
            ipv4_gateway,
            dns_servers: str_list(ns.and_then(|n| n.get("addresses")))?,
            dns_search: str_list(ns.and_then(|n| n.get("search")))?,
            mtu: mtu_of(e)?,
        });
    }
    Some(out)
}

fn recover_v1(doc: &serde_norway::Value) -> Option<Vec<Interface>> {
    let config = doc.get("config")?.as_sequence()?;
    let mut out = Vec::new();
    let mut global_dns = Vec::new();
    let mut global_search = Vec::new();
    for e in config {
        match e.get("type")?.as_str()? {
            "physical" => {
                let link = e.get("name")?.as_str()?;
                let (device, name) = device_and_name(link, out.len());
                let subnet = e.get("subnets")?.as_sequence()?.first()?;
                let mut iface = Interface {
                    mac: as_str(e.get("mac_address")?)?,
                    device,
                    name,
                    mtu: mtu_of(e)?,
                    ..Interface::default()
                };
                if subnet.get("type")?.as_str()? == "static" {
                    iface.ipv4_address = Some(as_str(subnet.get("address")?)?);
                    iface.ipv4_gateway = match subnet.get("gateway") {
                        None => None,
                        Some(g) => Some(as_str(g)?),
                    };
                    iface.dns_servers = str_list(subnet.get("dns_nameservers"))?;
                    iface.dns_search = str_list(subnet.get("dns_search"))?;
                }
                out.push(iface);
            }
            "nameserver" => {
                global_dns = str_list(e.get("address"))?;
                global_search = str_list(e.get("search"))?;
            }
            _ => return None,
        }
    }
    // The global entry holds the DHCP interfaces' DNS settings (and a copy of the static
    // interfaces' search domains); attribute what is left to the first DHCP interface.
    let static_search: Vec<String> = out
        .iter()
        .filter(|i| i.ipv4_address.is_some())
        .flat_map(|i| i.dns_search.clone())
        .collect();
    let leftover_search: Vec<String> = global_search
        .into_iter()
        .filter(|s| !static_search.contains(s))
        .collect();
    if let Some(first_dhcp) = out.iter_mut().find(|i| i.ipv4_address.is_none()) {
        first_dhcp.dns_servers = global_dns;
        first_dhcp.dns_search = leftover_search;
    }
    Some(out)
}

/// Recovers the interfaces from a network-config file that [`render_network_config`]
/// produced (used on import to rebuild the guest addressing from the VM's own drive).
///
/// Returns `None` when the text is not exactly what this crate renders for the recovered
/// interfaces (i.e. it was written by the user, or by another tool): the caller then keeps
/// it as user-supplied `network_config` text. The link name `eth<N>` is returned as
/// `device = N, name = None`; other names as `name = Some(..)` with `device` = position, so
/// the caller should pair interfaces with VIFs by `mac`, not by `device`.
///
/// v1 limitation: DNS settings of DHCP interfaces live in one global entry, so they come
/// back attached to the first DHCP interface.
pub fn recover_interfaces(text: &str) -> Option<(NetworkConfigFormat, Vec<Interface>)> {
    let doc: serde_norway::Value = serde_norway::from_str(text).ok()?;
    let (format, interfaces) = match doc.get("version")?.as_u64()? {
        1 => (NetworkConfigFormat::V1, recover_v1(&doc)?),
        2 => (NetworkConfigFormat::V2, recover_v2(&doc)?),
        _ => return None,
    };
    let again = render_network_config(format, &interfaces).ok()?;
    (again == text).then_some((format, interfaces))
}
