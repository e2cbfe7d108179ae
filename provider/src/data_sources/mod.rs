//! The data sources: read-only lookups of pool objects.
//!
//! Every data source resolves with at most a couple of XAPI calls, never one
//! per object: it loads the classes it needs through the shared pool snapshot
//! ([`crate::pool::Pool::prefetch`], one `event.from` call for several
//! classes), so 50 lookups in one Terraform run share one load.
//!
//! Lookups are by `uuid` or exact `name_label` (both may be given; then both
//! must match). No match is an error listing what exists; several matches is
//! an error listing every match.

pub mod host;
pub mod network;
pub mod pool;
pub mod sr;
pub mod template;
pub mod vm;

use std::collections::BTreeMap;
use std::sync::Arc;

use schema::{Attribute, AttributePath, Diagnostics, Type, Value};

use crate::framework::{Context, DataSource};
use crate::pool::{Candidate, Pool, PoolError};

/// Every data source of the provider.
pub fn all() -> Vec<Arc<dyn DataSource>> {
    vec![
        Arc::new(pool::PoolDataSource),
        Arc::new(host::HostDataSource),
        Arc::new(sr::SrDataSource),
        Arc::new(network::NetworkDataSource),
        Arc::new(vm::VmDataSource),
        Arc::new(template::TemplateDataSource),
    ]
}

/// Runs a data source's `lookup` against the shared pool of this process.
/// When there is no pool, or the lookup fails, the error becomes a diagnostic
/// and the result is null.
pub(crate) async fn read_through_pool<F, Fut>(
    ctx: &Context,
    diags: &mut Diagnostics,
    lookup: F,
) -> Value
where
    F: FnOnce(Arc<Pool>) -> Fut,
    Fut: Future<Output = Result<Value, PoolError>>,
{
    let pool = match Pool::from_context(ctx) {
        Ok(pool) => pool,
        Err(d) => {
            diags.push(d);
            return Value::Null;
        }
    };
    match lookup(pool).await {
        Ok(v) => v,
        Err(e) => {
            diags.push(e.to_diagnostic());
            Value::Null
        }
    }
}

/// A known, non-null string attribute of the configuration.
pub(crate) fn config_string(config: &Value, name: &str) -> Option<String> {
    config.get(name).and_then(Value::as_str).map(str::to_string)
}

/// A known, non-null bool attribute of the configuration.
pub(crate) fn config_bool(config: &Value, name: &str) -> Option<bool> {
    config.get(name).and_then(Value::as_bool)
}

/// The known strings of a set/list attribute of the configuration.
pub(crate) fn config_strings(config: &Value, name: &str) -> Option<Vec<String>> {
    let elements = config.get(name)?.as_elements()?;
    Some(
        elements
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// The configured value of `name` when set, else `computed` (configured
/// attributes are returned exactly as written).
pub(crate) fn echo_or(config: &Value, name: &str, computed: Value) -> Value {
    match config.get(name) {
        Some(v) if !v.is_null() && v.is_wholly_known() => v.clone(),
        _ => computed,
    }
}

/// The configuration value of `name`, or null.
pub(crate) fn echo(config: &Value, name: &str) -> Value {
    config.get(name).cloned().unwrap_or(Value::Null)
}

/// A set of strings.
pub(crate) fn string_set(items: &[String]) -> Value {
    let mut sorted: Vec<&String> = items.iter().collect();
    sorted.sort();
    sorted.dedup();
    Value::Set(
        sorted
            .into_iter()
            .map(|s| Value::from(s.as_str()))
            .collect(),
    )
}

/// A map of strings.
pub(crate) fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// The common `uuid` / `name_label` lookup attributes.
pub(crate) fn lookup_attributes(kind: &str) -> [Attribute; 3] {
    [
        Attribute::computed("id", Type::String)
            .description(format!("The UUID of the {kind} (same as `uuid`).")),
        Attribute::optional_computed("uuid", Type::String).description(format!(
            "The UUID of the {kind} to look up. Set `uuid` or `name_label` (or both, which \
             must then match the same {kind})."
        )),
        Attribute::optional_computed("name_label", Type::String).description(format!(
            "The exact name of the {kind} to look up. Names are not unique in XAPI: when \
             several objects have this name the lookup fails and lists them; use `uuid` to \
             pick one."
        )),
    ]
}

/// Checks that at least one of `names` is set (unknown counts as set).
pub(crate) fn require_one_of(config: &Value, names: &[&str], kind: &str, diags: &mut Diagnostics) {
    let any = names
        .iter()
        .any(|n| config.get(n).is_some_and(|v| !v.is_null()));
    if !any {
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        diags.error(
            format!("Missing {kind} lookup attribute"),
            format!("Set at least one of {list} to choose the {kind}."),
        );
    }
}

/// Picks exactly one match from `matches` (records already filtered by the
/// query); the error lists every match, or what exists when nothing matched.
pub(crate) fn exactly_one<T: Clone>(
    kind: &'static str,
    query: String,
    matches: Vec<T>,
    describe: impl Fn(&T) -> Candidate,
    existing: impl FnOnce() -> Vec<Candidate>,
) -> Result<T, PoolError> {
    match matches.len() {
        1 => Ok(matches[0].clone()),
        0 => {
            let mut candidates = existing();
            candidates.sort_by(|a, b| (&a.name_label, &a.uuid).cmp(&(&b.name_label, &b.uuid)));
            Err(PoolError::NotFound {
                kind,
                query,
                candidates,
            })
        }
        _ => {
            let mut candidates: Vec<Candidate> = matches.iter().map(describe).collect();
            candidates.sort_by(|a, b| (&a.name_label, &a.uuid).cmp(&(&b.name_label, &b.uuid)));
            Err(PoolError::Ambiguous {
                kind,
                query,
                candidates,
            })
        }
    }
}

/// The query text for messages: `uuid "..."`, `name_label "..."`, or both.
pub(crate) fn describe_query(uuid: Option<&str>, name: Option<&str>) -> String {
    match (uuid, name) {
        (Some(u), Some(n)) => format!("uuid {u} and name_label {n}"),
        (Some(u), None) => format!("uuid {u}"),
        (None, Some(n)) => format!("name_label {n}"),
        (None, None) => "(no filter)".to_string(),
    }
}

/// True if the record matches the optional uuid (case-insensitive) and exact name.
pub(crate) fn matches_lookup(
    uuid: Option<&str>,
    name: Option<&str>,
    record_uuid: &str,
    record_name: &str,
) -> bool {
    uuid.is_none_or(|u| u.trim().eq_ignore_ascii_case(record_uuid))
        && name.is_none_or(|n| n == record_name)
}

/// A candidate from a uuid and name.
pub(crate) fn candidate(uuid: &str, name: &str) -> Candidate {
    Candidate {
        uuid: uuid.to_string(),
        name_label: name.to_string(),
    }
}

/// An attribute path for a top-level attribute.
pub(crate) fn path(name: &str) -> AttributePath {
    AttributePath::new(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_valid_and_documented() {
        for ds in all() {
            let schema = ds.schema();
            schema
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e:?}", ds.type_name()));
            assert!(
                !schema.block.description.is_empty(),
                "{} has no description",
                ds.type_name()
            );
            for a in &schema.block.attributes {
                assert!(
                    !a.description.is_empty(),
                    "{}.{} has no description",
                    ds.type_name(),
                    a.name
                );
            }
        }
    }

    #[test]
    fn lookup_matching() {
        assert!(matches_lookup(Some("ABC"), None, "abc", "x"));
        assert!(matches_lookup(None, Some("x"), "abc", "x"));
        assert!(!matches_lookup(None, Some("X"), "abc", "x"));
        assert!(!matches_lookup(Some("abd"), Some("x"), "abc", "x"));
    }

    #[test]
    fn exactly_one_errors_list_candidates() {
        let e = exactly_one(
            "network",
            "name_label n".into(),
            vec![("b", "n"), ("a", "n")],
            |(u, n)| candidate(u, n),
            Vec::new,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 networks match \"name_label n\": \"n\" (a), \"n\" (b). Use the UUID (or a unique \
             name) to choose one"
        );
        let e = exactly_one::<(&str, &str)>(
            "network",
            "name_label m".into(),
            vec![],
            |(u, n)| candidate(u, n),
            || vec![candidate("u1", "net1")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"net1\" (u1)"), "{e}");
    }
}
