//! `xenapi_network`: one network, by UUID or name.

use async_trait::async_trait;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::Network;

use super::{
    candidate, config_string, describe_query, echo_or, exactly_one, lookup_attributes,
    matches_lookup, read_through_pool, require_one_of, string_map, string_set,
};
use crate::framework::{Context, DataSource};
use crate::pool::{ClassKey, Pool, PoolError};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_network";

/// `xenapi_network`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetworkDataSource;

impl NetworkDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let mut block = Block::new().description(
            "Looks up one network by `uuid` or exact `name_label`, e.g. for a VM's \
             `network_interface.network`. One XAPI call (`event.from` on the network \
             class), shared with every other lookup in the same run.",
        );
        for a in lookup_attributes("network") {
            block = block.attribute(a);
        }
        block = block
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The network's description."),
            )
            .attribute(
                Attribute::computed("bridge", Type::String)
                    .description("The bridge in dom0 that carries the network, e.g. `xenbr0`."),
            )
            .attribute(
                Attribute::computed("mtu", Type::Number)
                    .description("The network's MTU (the default for its interfaces)."),
            )
            .attribute(
                Attribute::computed("managed", Type::Bool)
                    .description("Whether XAPI manages the bridge."),
            )
            .attribute(
                Attribute::computed("tags", Type::set(Type::String))
                    .description("The network's tags."),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The network's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

async fn read(pool: &Pool, config: &Value) -> Result<Value, PoolError> {
    let uuid = config_string(config, "uuid");
    let name = config_string(config, "name_label");
    pool.prefetch(&[ClassKey::of::<Network>()]).await?;
    let networks = pool.all::<Network>().await?;
    let matches: Vec<_> = networks
        .values()
        .filter(|n| matches_lookup(uuid.as_deref(), name.as_deref(), &n.uuid, &n.name_label))
        .collect();
    let net = exactly_one(
        "network",
        describe_query(uuid.as_deref(), name.as_deref()),
        matches,
        |n| candidate(&n.uuid, &n.name_label),
        || {
            networks
                .values()
                .map(|n| candidate(&n.uuid, &n.name_label))
                .collect()
        },
    )?;
    Ok(Value::object([
        ("id", Value::from(net.uuid.as_str())),
        (
            "uuid",
            echo_or(config, "uuid", Value::from(net.uuid.as_str())),
        ),
        ("name_label", Value::from(net.name_label.as_str())),
        (
            "name_description",
            Value::from(net.name_description.as_str()),
        ),
        ("bridge", Value::from(net.bridge.as_str())),
        ("mtu", Value::from(net.mtu)),
        ("managed", Value::from(net.managed)),
        ("tags", string_set(&net.tags)),
        ("other_config", string_map(&net.other_config)),
    ]))
}

#[async_trait]
impl DataSource for NetworkDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        NetworkDataSource::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        require_one_of(config, &["uuid", "name_label"], "network", diags);
    }

    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value {
        read_through_pool(ctx, diags, |pool| async move { read(&pool, config).await }).await
    }
}
