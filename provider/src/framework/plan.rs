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
