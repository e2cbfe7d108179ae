//! `xenapi_host`: one host of the pool, by UUID or name.

use async_trait::async_trait;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::{Host, HostMetrics, Pool as PoolClass};

use super::{
    candidate, config_string, describe_query, echo_or, exactly_one, lookup_attributes,
    matches_lookup, read_through_pool, require_one_of, string_map, string_set,
};
use crate::framework::{Context, DataSource};
use crate::pool::{ClassKey, Pool, PoolError};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_host";

/// `xenapi_host`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostDataSource;

impl HostDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let mut block = Block::new().description(
            "Looks up one host of the pool by `uuid` or exact `name_label`, e.g. for a VM's \
             `affinity_host`. One XAPI call (`event.from` on the host, host_metrics and pool \
             classes), shared with every other lookup in the same run.",
        );
        for a in lookup_attributes("host") {
            block = block.attribute(a);
        }
        block = block
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The host's description."),
            )
            .attribute(
                Attribute::computed("hostname", Type::String).description("The host's hostname."),
            )
            .attribute(
                Attribute::computed("address", Type::String)
                    .description("The host's management IP address."),
            )
            .attribute(
                Attribute::computed("enabled", Type::Bool).description(
                    "Whether the host is enabled (a disabled host starts no new VMs).",
                ),
            )
            .attribute(
                Attribute::computed("is_master", Type::Bool)
                    .description("Whether the host is the pool master."),
            )
            .attribute(
                Attribute::computed("memory_total", Type::Number).description(
                    "Total memory of the host in bytes (from its metrics; null when unknown).",
                ),
            )
            .attribute(
                Attribute::computed("memory_free", Type::Number).description(
                    "Free memory of the host in bytes as last reported (null when unknown).",
                ),
            )
            .attribute(Attribute::computed("cpu_count", Type::Number).description(
                "Number of physical CPUs (`cpu_info.cpu_count`; null when not reported).",
            ))
            .attribute(
                Attribute::computed("software_version", Type::map(Type::String)).description(
                    "The host's `software_version` map (product version, xapi build, ...).",
                ),
            )
            .attribute(
                Attribute::computed("tags", Type::set(Type::String))
                    .description("The host's tags."),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The host's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

async fn read(pool: &Pool, config: &Value) -> Result<Value, PoolError> {
    let uuid = config_string(config, "uuid");
    let name = config_string(config, "name_label");
    pool.prefetch(&[
        ClassKey::of::<Host>(),
        ClassKey::of::<HostMetrics>(),
        ClassKey::of::<PoolClass>(),
    ])
    .await?;
    let hosts = pool.all::<Host>().await?;
    let matches: Vec<_> = hosts
        .iter()
        .filter(|(_, h)| matches_lookup(uuid.as_deref(), name.as_deref(), &h.uuid, &h.name_label))
        .collect();
    let (r, host) = exactly_one(
        "host",
        describe_query(uuid.as_deref(), name.as_deref()),
        matches,
        |(_, h)| candidate(&h.uuid, &h.name_label),
        || {
            hosts
                .values()
                .map(|h| candidate(&h.uuid, &h.name_label))
                .collect()
        },
    )?;
    let metrics = pool.all::<HostMetrics>().await?;
    let m = metrics.get(&host.metrics);
    let pools = pool.all::<PoolClass>().await?;
    let is_master = pools.values().any(|p| &p.master == r);
    let cpu_count = host
        .cpu_info
        .get("cpu_count")
        .and_then(|c| c.trim().parse::<i64>().ok());
    Ok(Value::object([
        ("id", Value::from(host.uuid.as_str())),
        (
            "uuid",
            echo_or(config, "uuid", Value::from(host.uuid.as_str())),
        ),
        ("name_label", Value::from(host.name_label.as_str())),
        (
            "name_description",
            Value::from(host.name_description.as_str()),
        ),
        ("hostname", Value::from(host.hostname.as_str())),
        ("address", Value::from(host.address.as_str())),
        ("enabled", Value::from(host.enabled)),
        ("is_master", Value::from(is_master)),
        (
            "memory_total",
            m.map_or(Value::Null, |m| Value::from(m.memory_total)),
        ),
        (
            "memory_free",
            m.map_or(Value::Null, |m| Value::from(m.memory_free)),
        ),
        ("cpu_count", cpu_count.map_or(Value::Null, Value::from)),
        ("software_version", string_map(&host.software_version)),
        ("tags", string_set(&host.tags)),
        ("other_config", string_map(&host.other_config)),
    ]))
}

#[async_trait]
impl DataSource for HostDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        HostDataSource::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        require_one_of(config, &["uuid", "name_label"], "host", diags);
    }

    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value {
        read_through_pool(ctx, diags, |pool| async move { read(&pool, config).await }).await
    }
}
