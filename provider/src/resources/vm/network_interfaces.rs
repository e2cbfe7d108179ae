//! `network_interface` blocks: plan-time validation, matching planned
//! interfaces to the existing VIFs (by device number), MAC choice, and the VIF
//! calls (create with the provider's MAC, replace, remove).
//!
//! Rules:
//! - `device` defaults to the block's position.
//! - `mac` unset: the provider generates one before `VIF.create` (prefix from
//!   the provider's `mac_prefix`), checked against every VIF MAC in the pool,
//!   and keeps it for the life of the interface — also across a replacement of
//!   the VIF caused by a network or MTU change.
//! - A change of `network`, `mac` or `mtu` replaces that VIF (destroy + create,
//!   hot-plugged on a running VM), never the VM.
//! - A MAC that is unknown at plan time (from another resource) is planned as
//!   unknown; apply compares the real value with the VIF's and replaces the VIF
//!   only if it differs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use schema::{AttributePath, Diagnostics, Value};

use super::schema::{attr, ci, nic};
use super::values::{Known, at, elements, int_at, str_at, str_list};
use crate::mac::MacAddress;

/// Highest VIF device number XAPI offers (`VM.get_allowed_VIF_devices`: 0..15).
pub const MAX_DEVICE: i64 = 15;

/// One `network_interface` entry of a configuration or plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// Position in the list.
    pub index: usize,
    pub network: Known<String>,
    pub device: Known<i64>,
    pub mac: Known<String>,
    pub mtu: Known<i64>,
    pub ipv4_address: Option<String>,
    pub ipv4_gateway: Option<String>,
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub expected_ip_cidr: Option<String>,
}

impl NicSpec {
    /// The device number: configured, or the position.
    pub fn effective_device(&self) -> Known<i64> {
        match self.device {
            Known::Null => Known::Value(self.index as i64),
            d => d,
        }
    }

    /// True when the entry carries guest addressing for the config drive.
    pub fn has_addressing(&self) -> bool {
        self.ipv4_address.is_some()
            || self.ipv4_gateway.is_some()
            || !self.dns_servers.is_empty()
            || !self.dns_search.is_empty()
    }
}

fn known_str(v: &Value, name: &str) -> Option<String> {
    match str_at(v, name) {
        Known::Value(s) => Some(s),
        _ => None,
    }
}

/// The entries of `network_interface` in a configuration, plan or state.
pub fn specs(obj: &Value) -> Vec<NicSpec> {
    elements(obj, attr::NETWORK_INTERFACE)
        .iter()
        .enumerate()
        .map(|(index, v)| NicSpec {
            index,
            network: str_at(v, nic::NETWORK),
            device: int_at(v, nic::DEVICE),
            mac: str_at(v, nic::MAC),
            mtu: int_at(v, nic::MTU),
            ipv4_address: known_str(v, nic::IPV4_ADDRESS),
            ipv4_gateway: known_str(v, nic::IPV4_GATEWAY),
            dns_servers: str_list(v, nic::DNS_SERVERS),
            dns_search: str_list(v, nic::DNS_SEARCH),
            expected_ip_cidr: known_str(v, nic::EXPECTED_IP_CIDR),
        })
        .collect()
}

fn path(index: usize, name: &str) -> AttributePath {
    AttributePath::new(attr::NETWORK_INTERFACE)
        .index(index as i64)
        .attr(name)
}

/// A network prefix for `expected_ip_cidr` (`10.0.0.0/24`; host bits allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d/p`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (a, p) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not in CIDR form like \"10.0.0.0/24\""))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|n| *n <= 32)
            .ok_or_else(|| format!("{p:?} is not a prefix length 0..32"))?;
        Ok(Ipv4Net { addr, prefix })
    }

    /// Whether `ip` is inside the network. Link-local addresses (169.254/16)
    /// only match a network inside 169.254/16 itself.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        if ip.is_link_local() && !(self.addr.is_link_local() && self.prefix >= 16) {
            return false;
        }
        (u32::from(ip) & mask) == (u32::from(self.addr) & mask)
    }

    /// The first reported address inside the network.
    pub fn first_match<'a>(&self, reported: &'a [String]) -> Option<&'a String> {
        reported
            .iter()
            .find(|s| s.parse::<Ipv4Addr>().is_ok_and(|ip| self.contains(ip)))
    }
}

/// Plan-time checks of every `network_interface` (values may be unknown).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let nics = specs(config);
    let cloud_init = at(config, attr::CLOUD_INIT);
    let user_network_config = !at(cloud_init, ci::NETWORK_CONFIG).is_null();
    let mut devices: BTreeMap<i64, usize> = BTreeMap::new();
    let mut macs: BTreeMap<MacAddress, usize> = BTreeMap::new();
    for n in &nics {
        let i = n.index;
        if let Known::Value(net) = &n.network
            && net.trim().is_empty()
        {
            diags.error_at(
                path(i, nic::NETWORK),
                "Invalid network",
                "network must be a network UUID or name, not empty.",
            );
        }
        if let Known::Value(d) = n.effective_device() {
            if !(0..=MAX_DEVICE).contains(&d) {
                diags.error_at(
                    path(i, nic::DEVICE),
                    "Invalid device number",
                    format!("device must be between 0 and {MAX_DEVICE}, got {d}."),
                );
            } else if let Some(other) = devices.insert(d, i) {
                diags.error_at(
                    path(i, nic::DEVICE),
                    "Duplicate device number",
                    format!(
                        "network_interface[{i}] and network_interface[{other}] both use device \
                         {d} (device defaults to the block's position)."
                    ),
                );
            }
        }
        if let Known::Value(m) = &n.mac {
            match MacAddress::parse(m) {
                Err(e) => diags.error_at(path(i, nic::MAC), "Invalid MAC address", e.to_string()),
                Ok(mac) if !mac.is_unicast() => diags.error_at(
                    path(i, nic::MAC),
                    "Invalid MAC address",
                    format!(
                        "{m} is a multicast address (bit 0 of the first octet is set); a \
                         network interface needs a unicast address."
                    ),
                ),
                Ok(mac) => {
                    if let Some(other) = macs.insert(mac, i) {
                        diags.error_at(
                            path(i, nic::MAC),
                            "Duplicate MAC address",
                            format!("{m} is also used by network_interface[{other}]."),
                        );
                    }
                }
            }
        }
        if let Known::Value(mtu) = n.mtu
            && !(i64::from(config_drive::MIN_MTU)..=i64::from(config_drive::MAX_MTU)).contains(&mtu)
        {
            diags.error_at(
                path(i, nic::MTU),
                "Invalid MTU",
                format!(
                    "mtu must be between {} and {}, got {mtu}.",
                    config_drive::MIN_MTU,
                    config_drive::MAX_MTU
                ),
            );
        }
        let mut cidr = None;
        if let Some(a) = &n.ipv4_address {
            match config_drive::parse_ipv4_cidr(a) {
                Ok(c) => cidr = Some(c),
                Err(e) => diags.error_at(
                    path(i, nic::IPV4_ADDRESS),
                    "Invalid IPv4 address",
                    e.to_string(),
                ),
            }
        }
        if let Some(g) = &n.ipv4_gateway {
            match &cidr {
                Some(c) => {
                    if let Err(e) = config_drive::parse_gateway(g, c) {
                        diags.error_at(
                            path(i, nic::IPV4_GATEWAY),
                            "Invalid IPv4 gateway",
                            e.to_string(),
                        );
                    }
                }
                None if n.ipv4_address.is_none()
                    && at(
                        &elements(config, attr::NETWORK_INTERFACE)[i],
                        nic::IPV4_ADDRESS,
                    )
                    .is_null() =>
                {
                    diags.error_at(
                        path(i, nic::IPV4_GATEWAY),
                        "Gateway without address",
                        "ipv4_gateway needs ipv4_address (an interface without an address uses \
                         DHCP, which provides the gateway).",
                    );
                }
                None => {}
            }
        }
        for (k, s) in n.dns_servers.iter().enumerate() {
            if s.parse::<IpAddr>().is_err() {
                diags.error_at(
                    path(i, nic::DNS_SERVERS).index(k as i64),
                    "Invalid DNS server",
                    format!("{s:?} is not an IPv4 or IPv6 address."),
                );
            }
        }
        for (k, s) in n.dns_search.iter().enumerate() {
            if let Err(e) = config_drive::validate_search_domain(s) {
                diags.error_at(
                    path(i, nic::DNS_SEARCH).index(k as i64),
                    "Invalid DNS search domain",
                    e.to_string(),
                );
            }
        }
        if let Some(c) = &n.expected_ip_cidr
            && let Err(e) = Ipv4Net::parse(c)
        {
            diags.error_at(path(i, nic::EXPECTED_IP_CIDR), "Invalid CIDR", e);
        }
        if n.has_addressing() {
            if cloud_init.is_null() {
                diags.error_at(
                    path(i, nic::IPV4_ADDRESS),
                    "Guest addressing needs a config drive",
                    "ipv4_address, ipv4_gateway, dns_servers and dns_search are delivered to the \
                     guest on the cloud-init config drive. Add a cloud_init block (it may be \
                     empty: `cloud_init = {}`).",
                );
            } else if user_network_config {
                diags.error_at(
                    path(i, nic::IPV4_ADDRESS),
                    "Conflicting network configuration",
                    "cloud_init.network_config is set, so the provider does not render a network \
                     configuration from the interfaces' guest addressing. Put the addressing in \
                     network_config, or remove network_config.",
                );
            }
        }
    }
}

/// What happens to one interface in an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicAction {
    /// The VIF stays.
    Keep,
    /// The VIF is destroyed and created again (listing the causes).
    Replace(Vec<&'static str>),
    /// A new VIF.
    Create,
}

/// Normalized MAC text (lowercase) for comparisons; unparsable text as-is.
pub fn mac_key(text: &str) -> String {
    MacAddress::normalize(text).unwrap_or_else(|_| text.to_ascii_lowercase())
}

/// The prior entry (from state) with the given device.
pub fn prior_by_device(prior: &[Value], device: i64) -> Option<&Value> {
    prior
        .iter()
        .find(|p| int_at(p, nic::DEVICE).value() == Some(device))
}

/// Decides what happens to a planned interface given the prior state entry.
/// `network_same` tells whether the configured network designates the prior
/// VIF's network (by UUID or name); `None` when that cannot be known yet.
pub fn action(spec: &NicSpec, prior: Option<&Value>) -> NicAction {
    let Some(p) = prior else {
        return NicAction::Create;
    };
    let mut causes = Vec::new();
    if let Known::Value(net) = &spec.network {
        let same = str_at(p, nic::NETWORK).value_ref() == Some(net)
            || str_at(p, nic::NETWORK_UUID).value_ref() == Some(net);
        if !same {
            causes.push(nic::NETWORK);
        }
    } else if spec.network.is_unknown() {
        causes.push(nic::NETWORK);
    }
    match &spec.mac {
        Known::Value(m) => {
            if str_at(p, nic::MAC).value_ref().map(|s| mac_key(s)) != Some(mac_key(m)) {
                causes.push(nic::MAC);
            }
        }
        Known::Unknown => causes.push(nic::MAC),
        Known::Null => {}
    }
    if spec.mtu.value() != int_at(p, nic::MTU).value() {
        causes.push(nic::MTU);
    }
    if causes.is_empty() {
        NicAction::Keep
    } else {
        NicAction::Replace(causes)
    }
}

trait ValueRef {
    fn value_ref(&self) -> Option<&String>;
}
impl ValueRef for Known<String> {
    fn value_ref(&self) -> Option<&String> {
        match self {
            Known::Value(s) => Some(s),
            _ => None,
        }
    }
}

/// Every VIF MAC in the pool (one batched read), as a set to generate
/// against.
pub async fn pool_macs(pool: &crate::pool::Pool) -> super::StepResult<crate::mac::MacSet> {
    use super::XapiContext;
    let vifs = pool
        .all::<xapi::Vif>()
        .await
        .ctx("reading the pool's VIFs to choose unused MAC addresses")?;
    Ok(crate::mac::MacSet::from_texts(vifs.values().map(|v| v.mac.as_str())).0)
}

/// Chooses the MAC for the interface at `index`: the configured one
/// (normalized), or a new one of `prefix` not used anywhere in the pool
/// (`in_use` is updated). An error points at the interface's `mac`.
pub fn choose_mac(
    index: usize,
    configured: Option<&str>,
    prefix: &crate::mac::MacPrefix,
    in_use: &mut crate::mac::MacSet,
) -> super::StepResult<String> {
    let chosen = match configured {
        Some(m) => MacAddress::parse(m).map_err(|e| e.to_string()).map(|mac| {
            in_use.insert(mac);
            mac.to_string()
        }),
        None => in_use
            .generate_unique(prefix, &mut rand::rng())
            .map(|m| m.to_string())
            .map_err(|e| e.to_string()),
    };
    chosen.map_err(|e| {
        super::StepError::at(
            AttributePath::new(attr::NETWORK_INTERFACE)
                .index(index as i64)
                .attr(nic::MAC),
            "Cannot choose a MAC address",
            e,
        )
    })
}

/// `VIF.create` with the provider's marks (and `VIF.plug` on a running VM).
#[allow(clippy::too_many_arguments)]
pub async fn create_vif(
    client: &xapi::Client,
    vm: &xapi::VmRef,
    network: &xapi::NetworkRef,
    network_text: &str,
    network_mtu: i64,
    device: i64,
    mac: &str,
    mtu: Option<i64>,
    running: bool,
) -> super::StepResult<xapi::VifRef> {
    use super::XapiContext;
    let mut args = xapi::VifCreate::new(vm, network, device as u32, mac);
    args.mtu = mtu.unwrap_or(network_mtu);
    args.other_config = super::owned_other_config(&[(super::NETWORK_KEY, network_text)]);
    if let Some(m) = mtu {
        args.other_config.insert("mtu".to_owned(), m.to_string());
    }
    let vif = client.vif().create(&args).await.ctx(format!(
        "creating VIF {device} (MAC {mac}) on network {network_text:?}"
    ))?;
    if running && let Err(e) = client.vif().plug(&vif).await {
        let _ = client.vif().destroy(&vif).await;
        return Err(super::StepError::xapi(
            format!("hot-plugging VIF {device}"),
            e,
        ));
    }
    Ok(vif)
}

/// Unplugs (when attached to a running VM) and destroys a VIF.
pub async fn destroy_vif(
    client: &xapi::Client,
    vif: &xapi::VifRef,
    attached: bool,
) -> super::StepResult<()> {
    use super::XapiContext;
    if attached {
        client.vif().unplug(vif).await.ctx("unplugging a VIF")?;
    }
    client.vif().destroy(vif).await.ctx("destroying a VIF")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic_value(fields: &[(&str, Value)]) -> Value {
        crate::resources::vm::schema::network_interface_value(fields)
    }

    fn config(nics: Vec<Value>, cloud_init: Value) -> Value {
        Value::object([
            (attr::NETWORK_INTERFACE, Value::List(nics)),
            (attr::CLOUD_INIT, cloud_init),
        ])
    }

    fn ci_empty() -> Value {
        Value::object([(ci::NETWORK_CONFIG, Value::Null)])
    }

    fn errs(c: &Value) -> Vec<String> {
        let mut d = Diagnostics::new();
        validate(c, &mut d);
        d.iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect()
    }

    #[test]
    fn valid_interfaces_pass() {
        let c = config(
            vec![
                nic_value(&[
                    (nic::NETWORK, "lan".into()),
                    (nic::IPV4_ADDRESS, "10.0.0.5/24".into()),
                    (nic::IPV4_GATEWAY, "10.0.0.1".into()),
                    (nic::DNS_SERVERS, Value::List(vec!["10.0.0.53".into()])),
                ]),
                nic_value(&[
                    (nic::NETWORK, "dmz".into()),
                    (nic::MAC, Value::unknown()),
                    (nic::EXPECTED_IP_CIDR, "192.168.0.0/16".into()),
                ]),
            ],
            ci_empty(),
        );
        assert!(errs(&c).is_empty(), "{:?}", errs(&c));
    }

    #[test]
    fn invalid_inputs_are_reported_with_paths() {
        let c = config(
            vec![
                nic_value(&[
                    (nic::NETWORK, "lan".into()),
                    (nic::MAC, "01:00:5e:00:00:01".into()),
                    (nic::IPV4_ADDRESS, "10.0.0.5".into()),
                    (nic::MTU, Value::from(9u64 << 20)),
                ]),
                nic_value(&[
                    (nic::NETWORK, "lan".into()),
                    (nic::DEVICE, Value::from(0i64)),
                    (nic::IPV4_GATEWAY, "10.0.0.1".into()),
                    (nic::DNS_SERVERS, Value::List(vec!["dns.example".into()])),
                    (nic::EXPECTED_IP_CIDR, "10.0.0.0".into()),
                ]),
            ],
            ci_empty(),
        );
        let e = errs(&c);
        for p in [
            "network_interface[0].mac",
            "network_interface[0].ipv4_address",
            "network_interface[0].mtu",
            "network_interface[1].device",
            "network_interface[1].ipv4_gateway",
            "network_interface[1].dns_servers[0]",
            "network_interface[1].expected_ip_cidr",
        ] {
            assert!(e.contains(&p.to_string()), "{p} missing in {e:?}");
        }
    }

    #[test]
    fn addressing_needs_cloud_init() {
        let n = nic_value(&[
            (nic::NETWORK, "lan".into()),
            (nic::IPV4_ADDRESS, "10.0.0.5/24".into()),
        ]);
        assert_eq!(
            errs(&config(vec![n.clone()], Value::Null)),
            vec!["network_interface[0].ipv4_address"]
        );
        let user = Value::object([(ci::NETWORK_CONFIG, "version: 2\n".into())]);
        assert_eq!(
            errs(&config(vec![n], user)),
            vec!["network_interface[0].ipv4_address"]
        );
    }

    #[test]
    fn duplicate_macs_in_any_case() {
        let c = config(
            vec![
                nic_value(&[
                    (nic::NETWORK, "a".into()),
                    (nic::MAC, "02:aa:00:00:00:01".into()),
                ]),
                nic_value(&[
                    (nic::NETWORK, "b".into()),
                    (nic::MAC, "02:AA:00:00:00:01".into()),
                ]),
            ],
            Value::Null,
        );
        assert_eq!(errs(&c), vec!["network_interface[1].mac"]);
    }

    #[test]
    fn expected_cidr_matching_skips_link_local() {
        let any = Ipv4Net::parse("0.0.0.0/0").unwrap();
        let reported = vec!["169.254.3.4".to_string(), "10.1.2.3".to_string()];
        assert_eq!(any.first_match(&reported), Some(&"10.1.2.3".to_string()));
        let net = Ipv4Net::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.1".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
    }

    #[test]
    fn actions() {
        let prior = nic_value(&[
            (nic::NETWORK, "lan".into()),
            (nic::NETWORK_UUID, "net-uuid".into()),
            (nic::DEVICE, Value::from(0i64)),
            (nic::MAC, "02:aa:bb:cc:dd:ee".into()),
        ]);
        let planned = |fields: &[(&str, Value)]| {
            let mut v = vec![(nic::NETWORK, Value::from("lan"))];
            v.extend(fields.iter().cloned());
            specs(&config(vec![nic_value(&v)], Value::Null)).remove(0)
        };
        assert_eq!(action(&planned(&[]), Some(&prior)), NicAction::Keep);
        assert_eq!(
            action(
                &planned(&[(nic::MAC, "02:AA:BB:CC:DD:EE".into())]),
                Some(&prior)
            ),
            NicAction::Keep
        );
        assert_eq!(
            action(&planned(&[(nic::NETWORK, "net-uuid".into())]), Some(&prior)),
            NicAction::Keep
        );
        assert_eq!(
            action(&planned(&[(nic::NETWORK, "dmz".into())]), Some(&prior)),
            NicAction::Replace(vec![nic::NETWORK])
        );
        assert_eq!(
            action(&planned(&[(nic::MAC, Value::unknown())]), Some(&prior)),
            NicAction::Replace(vec![nic::MAC])
        );
        assert_eq!(action(&planned(&[]), None), NicAction::Create);
    }
}
