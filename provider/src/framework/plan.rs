//! Pure planning helpers: no IO, no async. The engine composes them; they are
//! public so resources can reuse them in [`super::Resource::modify_plan`].

use schema::{
    Attribute, AttributePath, AttributeType, Block, BlockNesting, NestedBlock, Nesting,
    Requiredness, Value,
};

use super::{PlanModifier, PlannedChange};

fn is_computed(a: &Attribute) -> bool {
    matches!(
        a.requiredness,
        Requiredness::Computed | Requiredness::OptionalComputed
    )
}

/// Sets every write-only attribute (at any depth outside sets) to null.
pub fn null_write_only(block: &Block, value: &mut Value) {
    walk_attrs_mut(&block.attributes, &block.blocks, value, &mut |attr, v| {
        if attr.write_only {
            *v = Value::Null;
            false
        } else {
            true
        }
    });
}

/// Paths of write-only attributes that have a non-null value in `config`.
pub fn write_only_values(block: &Block, config: &Value) -> Vec<AttributePath> {
    let mut out = Vec::new();
    collect_write_only(
        &block.attributes,
        &block.blocks,
        config,
        &AttributePath::root(),
        &mut out,
    );
    out
}

fn collect_write_only(
    attrs: &[Attribute],
    blocks: &[NestedBlock],
    value: &Value,
    path: &AttributePath,
    out: &mut Vec<AttributePath>,
) {
    let Value::Object(map) = value else { return };
    for a in attrs {
        let Some(v) = map.get(&a.name) else { continue };
        let p = path.clone().attr(&a.name);
        if a.write_only {
            if !v.is_null() {
                out.push(p);
            }
            continue;
        }
        if let AttributeType::Nested(n) = &a.ty {
            for_each_element(n.nesting_kind(), v, &p, &mut |ev, ep| {
                collect_write_only(&n.attributes, &[], ev, &ep, out)
            });
        }
    }
    for b in blocks {
        let Some(v) = map.get(&b.type_name) else {
            continue;
        };
        let p = path.clone().attr(&b.type_name);
        for_each_element(b.nesting_kind(), v, &p, &mut |ev, ep| {
            collect_write_only(&b.block.attributes, &b.block.blocks, ev, &ep, out)
        });
    }
}

/// How elements of a nested attribute or block are laid out in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One object.
    Single,
    /// A list (index steps).
    List,
    /// A map (key steps).
    Map,
    /// A set: elements have no stable address; helpers skip them.
    Set,
}

trait NestingKind {
    fn nesting_kind(&self) -> Layout;
}

impl NestingKind for schema::NestedAttributes {
    fn nesting_kind(&self) -> Layout {
        match self.nesting {
            Nesting::Single => Layout::Single,
            Nesting::List => Layout::List,
            Nesting::Map => Layout::Map,
            Nesting::Set => Layout::Set,
        }
    }
}

impl NestingKind for NestedBlock {
    fn nesting_kind(&self) -> Layout {
        match self.nesting {
            BlockNesting::Single | BlockNesting::Group => Layout::Single,
            BlockNesting::List => Layout::List,
            BlockNesting::Map => Layout::Map,
            BlockNesting::Set => Layout::Set,
        }
    }
}

fn for_each_element(
    layout: Layout,
    value: &Value,
    path: &AttributePath,
    f: &mut dyn FnMut(&Value, AttributePath),
) {
    match (layout, value) {
        (Layout::Single, v @ Value::Object(_)) => f(v, path.clone()),
        (Layout::List, Value::List(items) | Value::Tuple(items)) => {
            for (i, v) in items.iter().enumerate() {
                f(v, path.clone().index(i as i64));
            }
        }
        (Layout::Map, Value::Map(items) | Value::Object(items)) => {
            for (k, v) in items {
                f(v, path.clone().key(k));
            }
        }
        _ => {}
    }
}

/// Visits attributes depth-first with mutable access; `f` returns whether to
/// descend into a nested attribute's value.
fn walk_attrs_mut(
    attrs: &[Attribute],
    blocks: &[NestedBlock],
    value: &mut Value,
    f: &mut dyn FnMut(&Attribute, &mut Value) -> bool,
) {
    let Value::Object(map) = value else { return };
    for a in attrs {
        let Some(v) = map.get_mut(&a.name) else {
            continue;
        };
        if !f(a, v) {
            continue;
        }
        if let AttributeType::Nested(n) = &a.ty {
            for_each_element_mut(n.nesting_kind(), v, &mut |ev| {
                walk_attrs_mut(&n.attributes, &[], ev, f)
            });
        }
    }
    for b in blocks {
        if let Some(v) = map.get_mut(&b.type_name) {
            for_each_element_mut(b.nesting_kind(), v, &mut |ev| {
                walk_attrs_mut(&b.block.attributes, &b.block.blocks, ev, f)
            });
        }
    }
}

fn for_each_element_mut(layout: Layout, value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match (layout, value) {
        (Layout::Single, v @ Value::Object(_)) => f(v),
        (Layout::List, Value::List(items) | Value::Tuple(items)) => items.iter_mut().for_each(f),
        (Layout::Map, Value::Map(items) | Value::Object(items)) => items.values_mut().for_each(f),
        _ => {}
    }
}

/// Marks computed attributes that are null in `config` as unknown in `planned`,
/// except those for which `keep(path)` is true. Descends into nested attributes
/// and blocks whose elements can be matched between config and plan (single,
/// list by index, map by key; not sets).
pub fn mark_computed_unknown(
    block: &Block,
    config: &Value,
    planned: &mut Value,
    keep: &dyn Fn(&AttributePath) -> bool,
) {
    mark_attrs(
        &block.attributes,
        &block.blocks,
        config,
        planned,
        &AttributePath::root(),
        keep,
    );
}

fn mark_attrs(
    attrs: &[Attribute],
    blocks: &[NestedBlock],
    config: &Value,
    planned: &mut Value,
    path: &AttributePath,
    keep: &dyn Fn(&AttributePath) -> bool,
) {
    let (Value::Object(cfg), Value::Object(plan)) = (config, planned) else {
        return;
    };
    for a in attrs {
        let p = path.clone().attr(&a.name);
        let c = cfg.get(&a.name).unwrap_or(&Value::Null);
        let Some(v) = plan.get_mut(&a.name) else {
            continue;
        };
        if a.write_only {
            continue;
        }
        if is_computed(a) && c.is_null() {
            if !keep(&p) {
                *v = Value::unknown();
            }
            continue;
        }
        if let AttributeType::Nested(n) = &a.ty {
            mark_elements(n.nesting_kind(), c, v, &p, &mut |ce, pe, ep| {
                mark_attrs(&n.attributes, &[], ce, pe, &ep, keep)
            });
        }
    }
    for b in blocks {
        let p = path.clone().attr(&b.type_name);
        let c = cfg.get(&b.type_name).unwrap_or(&Value::Null);
        if let Some(v) = plan.get_mut(&b.type_name) {
            mark_elements(b.nesting_kind(), c, v, &p, &mut |ce, pe, ep| {
                mark_attrs(&b.block.attributes, &b.block.blocks, ce, pe, &ep, keep)
            });
        }
    }
}

fn mark_elements(
    layout: Layout,
    config: &Value,
    planned: &mut Value,
    path: &AttributePath,
    f: &mut dyn FnMut(&Value, &mut Value, AttributePath),
) {
    match (layout, config, planned) {
        (Layout::Single, c @ Value::Object(_), p @ Value::Object(_)) => f(c, p, path.clone()),
        (Layout::List, Value::List(cs) | Value::Tuple(cs), Value::List(ps) | Value::Tuple(ps)) => {
            for (i, (c, p)) in cs.iter().zip(ps.iter_mut()).enumerate() {
                f(c, p, path.clone().index(i as i64));
            }
        }
        (Layout::Map, Value::Map(cs) | Value::Object(cs), Value::Map(ps) | Value::Object(ps)) => {
            for (k, p) in ps.iter_mut() {
                if let Some(c) = cs.get(k) {
                    f(c, p, path.clone().key(k));
                }
            }
        }
        _ => {}
    }
}

/// Replaces every unknown value (at any depth) with null.
pub fn unknown_as_null(value: &mut Value) {
    match value {
        Value::Unknown(_) => *value = Value::Null,
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().for_each(unknown_as_null)
        }
        Value::Map(items) | Value::Object(items) => items.values_mut().for_each(unknown_as_null),
        Value::Dynamic(_, inner) => unknown_as_null(inner),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// The value at `path`, treating a missing step as null.
fn at<'v>(value: &'v Value, path: &AttributePath) -> &'v Value {
    value.get_path(path).unwrap_or(&Value::Null)
}

/// The framework's default plan for create and update (not destroy):
///
/// 1. start from Terraform's proposed new state, write-only attributes nulled;
/// 2. on create, computed attributes null in config become unknown;
///    on update, the same happens only when the object changes, and not for
///    [`PlanModifier::UseStateForUnknown`] paths, which keep the prior value;
/// 3. on update, [`PlanModifier::RequiresReplace`] paths whose planned value
///    differs from the prior one are reported.
pub fn default_plan(
    block: &Block,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    modifiers: &[PlanModifier],
    prior_private: &[u8],
) -> PlannedChange {
    let mut planned = proposed.clone();
    null_write_only(block, &mut planned);
    let create = prior.is_null();
    if create {
        mark_computed_unknown(block, config, &mut planned, &|_| false);
    } else if planned != *prior {
        let keep = |p: &AttributePath| {
            modifiers
                .iter()
                .any(|m| matches!(m, PlanModifier::UseStateForUnknown(k) if k == p))
        };
        mark_computed_unknown(block, config, &mut planned, &keep);
    }
    let mut requires_replace = Vec::new();
    if !create {
        for m in modifiers {
            if let PlanModifier::RequiresReplace(p) = m
                && at(&planned, p) != at(prior, p)
                && !requires_replace.contains(p)
            {
                requires_replace.push(p.clone());
            }
        }
    }
    PlannedChange {
        planned_state: planned,
        requires_replace,
        planned_private: prior_private.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{Attribute, Block, NestedBlock, Nesting, Type};

    fn block() -> Block {
        Block::new()
            .attribute(Attribute::computed("id", Type::String).description("d"))
            .attribute(Attribute::required("name", Type::String).description("d"))
            .attribute(Attribute::optional_computed("mode", Type::String).description("d"))
            .attribute(
                Attribute::optional("password", Type::String)
                    .write_only()
                    .description("d"),
            )
            .attribute(
                Attribute::nested_optional(
                    "nics",
                    Nesting::List,
                    vec![
                        Attribute::required("network", Type::String).description("d"),
                        Attribute::computed("mac", Type::String).description("d"),
                        Attribute::optional("token", Type::String)
                            .write_only()
                            .description("d"),
                    ],
                )
                .description("d"),
            )
            .block(NestedBlock::map(
                "disk",
                Block::new()
                    .attribute(Attribute::required("size", Type::Number).description("d"))
                    .attribute(Attribute::computed("uuid", Type::String).description("d")),
            ))
    }

    fn nic(network: &str, mac: Value, token: Value) -> Value {
        Value::object([
            ("network", Value::from(network)),
            ("mac", mac),
            ("token", token),
        ])
    }

    fn obj(id: Value, name: &str, mode: Value, password: Value, nics: Value, disk: Value) -> Value {
        Value::object([
            ("id", id),
            ("name", Value::from(name)),
            ("mode", mode),
            ("password", password),
            ("nics", nics),
            ("disk", disk),
        ])
    }

    fn disks(entries: &[(&str, i64, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, size, uuid)| {
                    (
                        (*k).to_owned(),
                        Value::object([("size", Value::from(*size)), ("uuid", uuid.clone())]),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn create_marks_computed_unknown_at_every_addressable_depth_and_nulls_write_only() {
        let b = block();
        let config = obj(
            Value::Null,
            "a",
            Value::Null,
            Value::from("pw"),
            Value::List(vec![nic("n1", Value::Null, Value::from("tok"))]),
            disks(&[("root", 10, Value::Null)]),
        );
        let plan = default_plan(&b, &Value::Null, &config, &config, &[], b"p");
        let s = &plan.planned_state;
        assert!(s.get("id").unwrap().is_unknown());
        assert!(s.get("mode").unwrap().is_unknown());
        assert_eq!(s.get("password"), Some(&Value::Null));
        let nic0 = &s.get("nics").unwrap().as_elements().unwrap()[0];
        assert!(nic0.get("mac").unwrap().is_unknown());
        assert_eq!(nic0.get("token"), Some(&Value::Null));
        assert_eq!(nic0.get("network"), Some(&Value::from("n1")));
        let root = &s.get("disk").unwrap().as_map().unwrap()["root"];
        assert!(root.get("uuid").unwrap().is_unknown());
        assert!(plan.requires_replace.is_empty());
        assert_eq!(plan.planned_private, b"p");
        assert_eq!(
            write_only_values(&b, &config),
            vec![
                AttributePath::new("password"),
                AttributePath::new("nics").index(0).attr("token")
            ]
        );
    }

    #[test]
    fn update_keeps_prior_when_unchanged_and_honours_modifiers() {
        let b = block();
        let prior = obj(
            Value::from("i-1"),
            "a",
            Value::from("fast"),
            Value::Null,
            Value::Null,
            disks(&[("root", 10, Value::from("u-1"))]),
        );
        // Terraform's proposed state carries prior computed values.
        let config_same = obj(
            Value::Null,
            "a",
            Value::Null,
            Value::from("pw"),
            Value::Null,
            disks(&[("root", 10, Value::Null)]),
        );
        let proposed_same = obj(
            Value::from("i-1"),
            "a",
            Value::from("fast"),
            Value::from("pw"),
            Value::Null,
            disks(&[("root", 10, Value::from("u-1"))]),
        );
        let mods = [
            PlanModifier::UseStateForUnknown(AttributePath::new("id")),
            PlanModifier::RequiresReplace(AttributePath::new("name")),
        ];
        let p = default_plan(&b, &prior, &proposed_same, &config_same, &mods, b"");
        assert_eq!(
            p.planned_state, prior,
            "no change: the prior state (write-only nulled)"
        );
        assert!(p.requires_replace.is_empty());

        // A change of the disk size: computed values become unknown except id.
        let proposed = obj(
            Value::from("i-1"),
            "a",
            Value::from("fast"),
            Value::Null,
            Value::Null,
            disks(&[("root", 20, Value::from("u-1"))]),
        );
        let config = obj(
            Value::Null,
            "a",
            Value::Null,
            Value::Null,
            Value::Null,
            disks(&[("root", 20, Value::Null)]),
        );
        let p = default_plan(&b, &prior, &proposed, &config, &mods, b"");
        assert_eq!(p.planned_state.get("id"), Some(&Value::from("i-1")));
        assert!(p.planned_state.get("mode").unwrap().is_unknown());
        assert!(
            p.planned_state
                .get_path(&AttributePath::new("disk").key("root").attr("uuid"))
                .unwrap()
                .is_unknown()
        );
        assert!(p.requires_replace.is_empty());

        // A name change is a replacement.
        let mut renamed = proposed.clone();
        if let Value::Object(m) = &mut renamed {
            m.insert("name".into(), Value::from("b"));
        }
        let p = default_plan(&b, &prior, &renamed, &config, &mods, b"");
        assert_eq!(p.requires_replace, vec![AttributePath::new("name")]);
    }

    #[test]
    fn unknown_as_null_reaches_everything() {
        let mut v = Value::object([
            ("a", Value::unknown()),
            ("b", Value::List(vec![Value::unknown(), Value::from("x")])),
            ("c", Value::Map([("k".to_owned(), Value::unknown())].into())),
        ]);
        assert!(!v.is_wholly_known());
        unknown_as_null(&mut v);
        assert!(v.is_wholly_known());
        assert_eq!(v.get("a"), Some(&Value::Null));
        assert_eq!(
            v.get("b").unwrap().as_elements().unwrap()[1],
            Value::from("x")
        );
    }
}
