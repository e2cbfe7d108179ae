//! `xenapi_pool`: the pool the provider is connected to.

use async_trait::async_trait;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::{Host, Pool as PoolClass, Sr};

use super::{read_through_pool, string_map, string_set};
use crate::framework::{Context, DataSource};
use crate::pool::{ClassKey, PoolError};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_pool";

/// `xenapi_pool`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolDataSource;

impl PoolDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let block = Block::new()
            .description(
                "The pool the provider is connected to (XAPI has exactly one pool object per \
                 pool): its name, its master host and its default SR. Takes no arguments and \
                 costs one XAPI call (`event.from` on the pool, host and SR classes).",
            )
            .attribute(Attribute::computed("id", Type::String).description("The pool's UUID."))
            .attribute(Attribute::computed("uuid", Type::String).description("The pool's UUID."))
            .attribute(
                Attribute::computed("name_label", Type::String).description("The pool's name."),
            )
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The pool's description."),
            )
            .attribute(
                Attribute::computed("master_host_uuid", Type::String)
                    .description("The UUID of the pool master host."),
            )
            .attribute(
                Attribute::computed("master_host_name_label", Type::String)
                    .description("The name of the pool master host."),
            )
            .attribute(
                Attribute::computed("master_address", Type::String)
                    .description("The management address of the pool master host."),
            )
            .attribute(
                Attribute::computed("default_sr_uuid", Type::String).description(
                    "The UUID of the pool's default SR, where disks are created when no SR is \
                 given; null when the pool has no default SR.",
                ),
            )
            .attribute(
                Attribute::computed("default_sr_name_label", Type::String)
                    .description("The name of the default SR; null when there is none."),
            )
            .attribute(
                Attribute::computed("host_uuids", Type::set(Type::String))
                    .description("The UUIDs of every host of the pool."),
            )
            .attribute(
                Attribute::computed("ha_enabled", Type::Bool)
                    .description("Whether high availability is enabled on the pool."),
            )
            .attribute(
                Attribute::computed("tags", Type::set(Type::String))
                    .description("The pool's tags."),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The pool's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

async fn read(pool: &crate::pool::Pool) -> Result<Value, PoolError> {
    pool.prefetch(&[
        ClassKey::of::<PoolClass>(),
        ClassKey::of::<Host>(),
        ClassKey::of::<Sr>(),
    ])
    .await?;
    let pools = pool.all::<PoolClass>().await?;
    let hosts = pool.all::<Host>().await?;
    let srs = pool.all::<Sr>().await?;
    let Some((_, record)) = pools.iter().next() else {
        return Err(PoolError::NotFound {
            kind: "pool",
            query: "the pool object".into(),
            candidates: Vec::new(),
        });
    };
    let master = hosts.get(&record.master);
    let default_sr = srs.get(&record.default_sr);
    let host_uuids: Vec<String> = hosts.values().map(|h| h.uuid.clone()).collect();
    Ok(Value::object([
        ("id", Value::from(record.uuid.as_str())),
        ("uuid", Value::from(record.uuid.as_str())),
        ("name_label", Value::from(record.name_label.as_str())),
        (
            "name_description",
            Value::from(record.name_description.as_str()),
        ),
        (
            "master_host_uuid",
            master.map_or(Value::Null, |h| Value::from(h.uuid.as_str())),
        ),
        (
            "master_host_name_label",
            master.map_or(Value::Null, |h| Value::from(h.name_label.as_str())),
        ),
        (
            "master_address",
            master.map_or(Value::Null, |h| Value::from(h.address.as_str())),
        ),
        (
            "default_sr_uuid",
            default_sr.map_or(Value::Null, |s| Value::from(s.uuid.as_str())),
        ),
        (
            "default_sr_name_label",
            default_sr.map_or(Value::Null, |s| Value::from(s.name_label.as_str())),
        ),
        ("host_uuids", string_set(&host_uuids)),
        ("ha_enabled", Value::from(record.ha_enabled)),
        ("tags", string_set(&record.tags)),
        ("other_config", string_map(&record.other_config)),
    ]))
}

#[async_trait]
impl DataSource for PoolDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        PoolDataSource::schema()
    }

    async fn read(&self, ctx: &Context, _config: &Value, diags: &mut Diagnostics) -> Value {
        read_through_pool(ctx, diags, |pool| async move { read(&pool).await }).await
    }
}
