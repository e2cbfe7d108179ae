//! The generated part of XAPI's API for every class: `get_all`, `get_all_records`,
//! `get_record`, `get_by_uuid`, `get_by_name_label`, field getters, and setters for `RW`
//! fields (`set_`, `add_to_`/`remove_from_` for maps with `MAP_DUPLICATE_KEY`,
//! `add_`/`remove_` for sets).

use std::collections::BTreeMap;

use crate::db::schema::{self, Qual};
use crate::db::{Db, rs};
use crate::dispatch::{Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::value::Value;

/// The record as returned to clients.
pub fn record_value(db: &Db, class: &str, r: &str) -> ApiResult<Value> {
    Ok(Value::Map(db.record(class, r)?))
}

/// `Class.get_all_records` for a class.
pub fn all_records(db: &Db, class: &str) -> Value {
    Value::Map(
        db.all(class)
            .map(|(r, rec)| (r.clone(), Value::Map(rec.clone())))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Registers the generated methods of every class.
pub fn register(r: &mut Registry) {
    for class in schema::CLASSES {
        let class: &'static str = class;
        if class != "session" {
            register_listing(r, class);
        }
        register_class(r, class);
    }
}

/// `get_all` / `get_all_records` (not for sessions: XAPI does not list sessions, they are
/// secrets).
fn register_listing(r: &mut Registry, class: &'static str) {
    {
        r.sync(&format!("{class}.get_all"), &[], 0, false, move |ctx, _| {
            Ok(Value::str_set(
                ctx.db
                    .all(class)
                    .map(|(r, _)| r.clone())
                    .collect::<Vec<_>>(),
            ))
        });
        r.sync(
            &format!("{class}.get_all_records"),
            &[],
            0,
            false,
            move |ctx, _| Ok(all_records(ctx.db, class)),
        );
    }
}

fn register_class(r: &mut Registry, class: &'static str) {
    {
        r.sync(
            &format!("{class}.get_record"),
            &["self"],
            0,
            false,
            move |ctx, a| {
                let r = args::string(a, 0)?;
                record_value(ctx.db, class, &r)
            },
        );
        r.sync(
            &format!("{class}.get_by_uuid"),
            &["uuid"],
            0,
            false,
            move |ctx, a| {
                let uuid = args::string(a, 0)?;
                ctx.db
                    .by_uuid(class, &uuid)
                    .map(Value::Str)
                    .ok_or_else(|| ApiError::new(codes::UUID_INVALID, [class, uuid.as_str()]))
            },
        );
        let fields = schema::fields(class);
        if fields.iter().any(|f| f.name == "name_label") {
            r.sync(
                &format!("{class}.get_by_name_label"),
                &["label"],
                0,
                false,
                move |ctx, a| {
                    let label = args::string(a, 0)?;
                    Ok(Value::str_set(
                        ctx.db.find(class, |rec| rs(rec, "name_label") == label),
                    ))
                },
            );
        }
        for f in fields {
            let name: &'static str = f.name;
            r.sync(
                &format!("{class}.get_{name}"),
                &["self"],
                0,
                false,
                move |ctx, a| {
                    let r = args::string(a, 0)?;
                    let rec = ctx.db.get(class, &r)?;
                    Ok(rec.get(name).cloned().unwrap_or(Value::Str(String::new())))
                },
            );
            if f.qual != Qual::Rw {
                continue;
            }
            let default = f.default.clone();
            r.sync(
                &format!("{class}.set_{name}"),
                &["self", "value"],
                0,
                false,
                move |ctx, a| {
                    let r = args::obj(ctx.db, class, a, 0)?;
                    let v = schema::coerce(&default, args::at(a, 1))?;
                    ctx.db.set(class, &r, name, v)?;
                    after_change(ctx.db, class, &r);
                    Ok(Value::s(""))
                },
            );
            match f.default {
                Value::Map(_) => {
                    r.sync(
                        &format!("{class}.add_to_{name}"),
                        &["self", "key", "value"],
                        0,
                        false,
                        move |ctx, a| {
                            let r = args::obj(ctx.db, class, a, 0)?;
                            let k = args::string(a, 1)?;
                            let v = args::string(a, 2)?;
                            map_add(ctx.db, class, &r, name, &k, v)?;
                            after_change(ctx.db, class, &r);
                            Ok(Value::s(""))
                        },
                    );
                    r.sync(
                        &format!("{class}.remove_from_{name}"),
                        &["self", "key"],
                        0,
                        false,
                        move |ctx, a| {
                            let r = args::obj(ctx.db, class, a, 0)?;
                            let k = args::string(a, 1)?;
                            ctx.db.update(class, &r, |rec| {
                                if let Some(Value::Map(m)) = rec.get_mut(name) {
                                    m.remove(&k);
                                }
                            })?;
                            after_change(ctx.db, class, &r);
                            Ok(Value::s(""))
                        },
                    );
                }
                Value::Set(_) => {
                    r.sync(
                        &format!("{class}.add_{name}"),
                        &["self", "value"],
                        0,
                        false,
                        move |ctx, a| {
                            let r = args::obj(ctx.db, class, a, 0)?;
                            let v = args::string(a, 1)?;
                            ctx.db.update(class, &r, |rec| {
                                if let Some(Value::Set(s)) = rec.get_mut(name)
                                    && !s.iter().any(|x| x.as_str() == Some(v.as_str()))
                                {
                                    s.push(Value::Str(v));
                                }
                            })?;
                            Ok(Value::s(""))
                        },
                    );
                    r.sync(
                        &format!("{class}.remove_{name}"),
                        &["self", "value"],
                        0,
                        false,
                        move |ctx, a| {
                            let r = args::obj(ctx.db, class, a, 0)?;
                            let v = args::string(a, 1)?;
                            ctx.db.update(class, &r, |rec| {
                                if let Some(Value::Set(s)) = rec.get_mut(name) {
                                    s.retain(|x| x.as_str() != Some(v.as_str()));
                                }
                            })?;
                            Ok(Value::s(""))
                        },
                    );
                }
                _ => {}
            }
        }
    }
}

/// `add_to_<map>` with XAPI's legacy semantics: any existing key raises
/// `MAP_DUPLICATE_KEY [class; field; ref; key]`, even with the same value.
pub fn map_add(
    db: &mut Db,
    class: &str,
    r: &str,
    field: &str,
    k: &str,
    v: String,
) -> ApiResult<()> {
    let exists = db
        .get(class, r)?
        .get(field)
        .and_then(Value::as_map)
        .is_some_and(|m| m.contains_key(k));
    if exists {
        return Err(ApiError::new(
            codes::MAP_DUPLICATE_KEY,
            [class, field, r, k],
        ));
    }
    db.update(class, r, |rec| {
        if let Some(Value::Map(m)) = rec.get_mut(field) {
            m.insert(k.to_string(), Value::Str(v));
        }
    })
}

/// Recomputes derived state after a generic change.
fn after_change(db: &mut Db, class: &str, r: &str) {
    if class == "VM" {
        crate::api::vm::refresh_allowed_operations(db, r);
    }
}
