//! `xenapi_vm`: one existing VM (not a template or snapshot), by UUID or name.

use std::collections::BTreeMap;

use async_trait::async_trait;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::{Host, Network, Vif, Vm, VmGuestMetrics, VmRecord};

use super::{
    candidate, config_string, describe_query, echo_or, exactly_one, lookup_attributes,
    matches_lookup, read_through_pool, require_one_of, string_map, string_set,
};
use crate::framework::{Context, DataSource};
use crate::pool::{ClassKey, Pool, PoolError};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_vm";

/// `xenapi_vm`.
#[derive(Debug, Default, Clone, Copy)]
pub struct VmDataSource;

fn interface_type() -> Type {
    Type::object([
        ("device", Type::String),
        ("mac", Type::String),
        ("mtu", Type::Number),
        ("network_uuid", Type::String),
    ])
}

/// True for ordinary VMs (no templates, snapshots or control domains).
pub fn is_plain_vm(vm: &VmRecord) -> bool {
    !vm.is_a_template && !vm.is_a_snapshot && !vm.is_control_domain
}

impl VmDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let mut block = Block::new().description(
            "Looks up one existing VM (templates, snapshots and control domains excluded) by \
             `uuid` or exact `name_label`, with its power state, CPU and memory settings, \
             network interfaces and the addresses its guest agent reports. One XAPI call \
             (`event.from` on the VM, VIF, network, host and guest-metrics classes), shared \
             with every other lookup in the same run.",
        );
        for a in lookup_attributes("VM") {
            block = block.attribute(a);
        }
        block = block
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The VM's description."),
            )
            .attribute(
                Attribute::computed("power_state", Type::String)
                    .description("`running`, `halted`, `paused` or `suspended` (lower case)."),
            )
            .attribute(
                Attribute::computed("vcpus", Type::Number)
                    .description("Virtual CPUs at startup (`VCPUs_at_startup`)."),
            )
            .attribute(
                Attribute::computed("vcpus_max", Type::Number)
                    .description("Maximum virtual CPUs (`VCPUs_max`)."),
            )
            .attribute(
                Attribute::computed("memory_static_min", Type::Number)
                    .description("`memory_static_min` in bytes."),
            )
            .attribute(
                Attribute::computed("memory_dynamic_min", Type::Number)
                    .description("`memory_dynamic_min` in bytes."),
            )
            .attribute(
                Attribute::computed("memory_dynamic_max", Type::Number)
                    .description("`memory_dynamic_max` in bytes."),
            )
            .attribute(
                Attribute::computed("memory_static_max", Type::Number)
                    .description("`memory_static_max` in bytes."),
            )
            .attribute(
                Attribute::computed("resident_on_host_uuid", Type::String).description(
                    "The UUID of the host the VM runs on; null when it is not running.",
                ),
            )
            .attribute(
                Attribute::computed("affinity_host_uuid", Type::String).description(
                    "The UUID of the host the VM prefers to start on; null when unset.",
                ),
            )
            .attribute(
                Attribute::computed("network_interfaces", Type::list(interface_type()))
                    .description(
                        "The VM's network interfaces (VIFs) in device order: `device`, \
                         `mac` (lower case), `mtu` and the `network_uuid`.",
                    ),
            )
            .attribute(
                Attribute::computed("ipv4_addresses", Type::list(Type::String)).description(
                    "IPv4 addresses the guest agent reports, in device order (empty when the \
                     VM has no guest agent or is not running).",
                ),
            )
            .attribute(
                Attribute::computed("ipv6_addresses", Type::list(Type::String))
                    .description("IPv6 addresses the guest agent reports, in device order."),
            )
            .attribute(
                Attribute::computed("tags", Type::set(Type::String)).description("The VM's tags."),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The VM's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

/// The addresses in a guest-metrics `networks` map, in device order:
/// `(ipv4, ipv6)`. Keys are `<device>/ip`, `<device>/ipv4/<n>`,
/// `<device>/ipv6/<n>`.
pub fn guest_addresses(networks: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>) {
    let mut v4: Vec<((u64, u64), String)> = Vec::new();
    let mut v6: Vec<((u64, u64), String)> = Vec::new();
    let mut plain: Vec<(u64, String)> = Vec::new();
    for (key, value) in networks {
        let parts: Vec<&str> = key.split('/').collect();
        let device = parts
            .first()
            .and_then(|d| d.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        match parts.as_slice() {
            [_, "ipv4", n] => v4.push(((device, n.parse().unwrap_or(u64::MAX)), value.clone())),
            [_, "ipv6", n] => v6.push(((device, n.parse().unwrap_or(u64::MAX)), value.clone())),
            [_, "ip"] => plain.push((device, value.clone())),
            _ => {}
        }
    }
    // `<device>/ip` repeats the first IPv4 address; use it only for devices
    // that report no `ipv4/<n>` entries (old guest agents).
    for (device, ip) in plain {
        if !v4.iter().any(|((d, _), _)| *d == device) {
            v4.push(((device, 0), ip));
        }
    }
    v4.sort();
    v6.sort();
    let dedup = |list: Vec<((u64, u64), String)>| {
        let mut out: Vec<String> = Vec::new();
        for (_, a) in list {
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    };
    (dedup(v4), dedup(v6))
}

async fn read(pool: &Pool, config: &Value) -> Result<Value, PoolError> {
    let uuid = config_string(config, "uuid");
    let name = config_string(config, "name_label");
    pool.prefetch(&[
        ClassKey::of::<Vm>(),
        ClassKey::of::<Vif>(),
        ClassKey::of::<Network>(),
        ClassKey::of::<Host>(),
        ClassKey::of::<VmGuestMetrics>(),
    ])
    .await?;
    let vms = pool.all::<Vm>().await?;
    let matches: Vec<_> = vms
        .iter()
        .filter(|(_, v)| is_plain_vm(v))
        .filter(|(_, v)| matches_lookup(uuid.as_deref(), name.as_deref(), &v.uuid, &v.name_label))
        .collect();
    let (_, vm) = exactly_one(
        "VM",
        describe_query(uuid.as_deref(), name.as_deref()),
        matches,
        |(_, v)| candidate(&v.uuid, &v.name_label),
        || {
            vms.values()
                .filter(|v| is_plain_vm(v))
                .map(|v| candidate(&v.uuid, &v.name_label))
                .collect()
        },
    )?;
    let vifs = pool.all::<Vif>().await?;
    let networks = pool.all::<Network>().await?;
    let hosts = pool.all::<Host>().await?;
    let metrics = pool.all::<VmGuestMetrics>().await?;

    let mut interfaces: Vec<(u64, Value)> = vm
        .vifs
        .iter()
        .filter_map(|r| vifs.get(r))
        .map(|vif| {
            let network_uuid = networks
                .get(&vif.network)
                .map_or(Value::Null, |n| Value::from(n.uuid.as_str()));
            (
                vif.device.parse::<u64>().unwrap_or(u64::MAX),
                Value::object([
                    ("device", Value::from(vif.device.as_str())),
                    ("mac", Value::from(vif.mac.to_ascii_lowercase())),
                    ("mtu", Value::from(vif.mtu)),
                    ("network_uuid", network_uuid),
                ]),
            )
        })
        .collect();
    interfaces.sort_by_key(|(d, _)| *d);
    let (v4, v6) = metrics
        .get(&vm.guest_metrics)
        .map(|m| guest_addresses(&m.networks))
        .unwrap_or_default();
    let host_uuid = |r: &xapi::HostRef| {
        hosts
            .get(r)
            .map_or(Value::Null, |h| Value::from(h.uuid.as_str()))
    };
    Ok(Value::object([
        ("id", Value::from(vm.uuid.as_str())),
        (
            "uuid",
            echo_or(config, "uuid", Value::from(vm.uuid.as_str())),
        ),
        ("name_label", Value::from(vm.name_label.as_str())),
        (
            "name_description",
            Value::from(vm.name_description.as_str()),
        ),
        (
            "power_state",
            Value::from(vm.power_state.as_str().to_ascii_lowercase()),
        ),
        ("vcpus", Value::from(vm.vcpus_at_startup)),
        ("vcpus_max", Value::from(vm.vcpus_max)),
        ("memory_static_min", Value::from(vm.memory_static_min)),
        ("memory_dynamic_min", Value::from(vm.memory_dynamic_min)),
        ("memory_dynamic_max", Value::from(vm.memory_dynamic_max)),
        ("memory_static_max", Value::from(vm.memory_static_max)),
        ("resident_on_host_uuid", host_uuid(&vm.resident_on)),
        ("affinity_host_uuid", host_uuid(&vm.affinity)),
        (
            "network_interfaces",
            Value::List(interfaces.into_iter().map(|(_, v)| v).collect()),
        ),
        (
            "ipv4_addresses",
            Value::List(v4.into_iter().map(Value::from).collect()),
        ),
        (
            "ipv6_addresses",
            Value::List(v6.into_iter().map(Value::from).collect()),
        ),
        ("tags", string_set(&vm.tags)),
        ("other_config", string_map(&vm.other_config)),
    ]))
}

#[async_trait]
impl DataSource for VmDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        VmDataSource::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        require_one_of(config, &["uuid", "name_label"], "VM", diags);
    }

    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value {
        read_through_pool(ctx, diags, |pool| async move { read(&pool, config).await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_addresses_in_device_order() {
        let m: BTreeMap<String, String> = [
            ("1/ip", "10.0.1.5"),
            ("1/ipv4/0", "10.0.1.5"),
            ("0/ip", "192.168.100.7"),
            ("0/ipv4/0", "192.168.100.7"),
            ("0/ipv4/1", "192.168.100.8"),
            ("0/ipv6/0", "fe80::1"),
            ("2/ip", "172.16.0.2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (v4, v6) = guest_addresses(&m);
        assert_eq!(
            v4,
            vec!["192.168.100.7", "192.168.100.8", "10.0.1.5", "172.16.0.2"]
        );
        assert_eq!(v6, vec!["fe80::1"]);
    }
}
