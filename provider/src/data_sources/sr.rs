//! `xenapi_sr`: one storage repository, by UUID or name.

use async_trait::async_trait;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::{Pool as PoolClass, Sr};

use super::{
    candidate, config_string, describe_query, echo_or, exactly_one, lookup_attributes,
    matches_lookup, read_through_pool, require_one_of, string_map, string_set,
};
use crate::framework::{Context, DataSource};
use crate::pool::{ClassKey, Pool, PoolError};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_sr";

/// `xenapi_sr`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SrDataSource;

impl SrDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let mut block = Block::new().description(
            "Looks up one storage repository (SR) by `uuid` or exact `name_label`, e.g. for a \
             VM's `sr` or a disk's `sr`. One XAPI call (`event.from` on the SR and pool \
             classes), shared with every other lookup in the same run.",
        );
        for a in lookup_attributes("SR") {
            block = block.attribute(a);
        }
        block = block
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The SR's description."),
            )
            .attribute(
                Attribute::computed("type", Type::String)
                    .description("The storage type, e.g. `ext`, `lvm`, `nfs`, `iso`."),
            )
            .attribute(
                Attribute::computed("content_type", Type::String)
                    .description("The content type; `iso` for ISO libraries."),
            )
            .attribute(
                Attribute::computed("shared", Type::Bool)
                    .description("Whether every host of the pool can use the SR."),
            )
            .attribute(
                Attribute::computed("is_default", Type::Bool)
                    .description("Whether this is the pool's default SR."),
            )
            .attribute(
                Attribute::computed("physical_size", Type::Number)
                    .description("Total size in bytes."),
            )
            .attribute(
                Attribute::computed("physical_utilisation", Type::Number)
                    .description("Bytes used on the storage."),
            )
            .attribute(
                Attribute::computed("virtual_allocation", Type::Number)
                    .description("Sum of the virtual sizes of the SR's disks, in bytes."),
            )
            .attribute(
                Attribute::computed("tags", Type::set(Type::String)).description("The SR's tags."),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The SR's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

async fn read(pool: &Pool, config: &Value) -> Result<Value, PoolError> {
    let uuid = config_string(config, "uuid");
    let name = config_string(config, "name_label");
    pool.prefetch(&[ClassKey::of::<Sr>(), ClassKey::of::<PoolClass>()])
        .await?;
    let srs = pool.all::<Sr>().await?;
    let matches: Vec<_> = srs
        .iter()
        .filter(|(_, s)| matches_lookup(uuid.as_deref(), name.as_deref(), &s.uuid, &s.name_label))
        .collect();
    let (r, sr) = exactly_one(
        "SR",
        describe_query(uuid.as_deref(), name.as_deref()),
        matches,
        |(_, s)| candidate(&s.uuid, &s.name_label),
        || {
            srs.values()
                .map(|s| candidate(&s.uuid, &s.name_label))
                .collect()
        },
    )?;
    let pools = pool.all::<PoolClass>().await?;
    let is_default = pools.values().any(|p| &p.default_sr == r);
    Ok(Value::object([
        ("id", Value::from(sr.uuid.as_str())),
        (
            "uuid",
            echo_or(config, "uuid", Value::from(sr.uuid.as_str())),
        ),
        ("name_label", Value::from(sr.name_label.as_str())),
        (
            "name_description",
            Value::from(sr.name_description.as_str()),
        ),
        ("type", Value::from(sr.sr_type.as_str())),
        ("content_type", Value::from(sr.content_type.as_str())),
        ("shared", Value::from(sr.shared)),
        ("is_default", Value::from(is_default)),
        ("physical_size", Value::from(sr.physical_size)),
        ("physical_utilisation", Value::from(sr.physical_utilisation)),
        ("virtual_allocation", Value::from(sr.virtual_allocation)),
        ("tags", string_set(&sr.tags)),
        ("other_config", string_map(&sr.other_config)),
    ]))
}

#[async_trait]
impl DataSource for SrDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        SrDataSource::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        require_one_of(config, &["uuid", "name_label"], "SR", diags);
    }

    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value {
        read_through_pool(ctx, diags, |pool| async move { read(&pool, config).await }).await
    }
}
