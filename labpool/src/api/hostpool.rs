//! pool, host, host_metrics and message calls beyond the generated ones.

use crate::db::{Db, new_ref, ri, rs};
use crate::dispatch::{Registry, args};
use crate::value::{Record, Value, now_datetime};

/// Registers the calls.
pub fn register(r: &mut Registry) {
    r.sync("host.compute_free_memory", &["host"], 0, false, |ctx, a| {
        let h = args::obj(ctx.db, "host", a, 0)?;
        Ok(Value::Int(host_free_memory(ctx.db, &h)))
    });
    r.sync("host.get_servertime", &["host"], 0, false, |ctx, a| {
        args::obj(ctx.db, "host", a, 0)?;
        Ok(now_datetime())
    });
    r.sync(
        "message.create",
        &["name", "priority", "cls", "obj_uuid", "body"],
        0,
        false,
        |ctx, a| {
            let name = args::string(a, 0)?;
            let prio = args::int(a, 1)?;
            let cls = args::string(a, 2)?;
            let obj_uuid = args::string(a, 3)?;
            let body = args::string(a, 4)?;
            Ok(Value::Str(create_message(
                ctx.db, &name, prio, &cls, &obj_uuid, &body,
            )))
        },
    );
    r.sync("message.destroy", &["self"], 0, false, |ctx, a| {
        let m = args::obj(ctx.db, "message", a, 0)?;
        ctx.db.destroy("message", &m)?;
        Ok(Value::s(""))
    });
    r.sync("message.get_since", &["since"], 0, false, |ctx, a| {
        let since = args::at(a, 0).to_string_value()?;
        Ok(Value::Map(
            ctx.db
                .all("message")
                .filter(|(_, m)| rs(m, "timestamp") > since.as_str())
                .map(|(r, m)| (r.clone(), Value::Map(m.clone())))
                .collect(),
        ))
    });
}

/// Creates a message (`VM_STARTED` etc., X `ocaml/xapi-consts/api_messages.ml`).
pub fn create_message(
    db: &mut Db,
    name: &str,
    prio: i64,
    cls: &str,
    obj_uuid: &str,
    body: &str,
) -> String {
    let mut rec = Record::new();
    rec.insert("name".into(), Value::s(name));
    rec.insert("priority".into(), Value::Int(prio));
    rec.insert("cls".into(), Value::s(cls));
    rec.insert("obj_uuid".into(), Value::s(obj_uuid));
    rec.insert("timestamp".into(), now_datetime());
    rec.insert("body".into(), Value::s(body));
    let r = db.create("message", &new_ref(), rec);
    db.message_generation = db.generation;
    r
}

/// Memory of a host not used by resident domains (dom0 included).
pub fn host_free_memory(db: &Db, host: &str) -> i64 {
    let Ok(h) = db.get("host", host) else {
        return 0;
    };
    let total = db
        .get("host_metrics", rs(h, "metrics"))
        .map(|m| ri(m, "memory_total"))
        .unwrap_or(0);
    let used: i64 = db
        .all("VM")
        .filter(|(_, vm)| rs(vm, "resident_on") == host && rs(vm, "power_state") != "Halted")
        .map(|(_, vm)| vm_memory_footprint(vm))
        .sum();
    (total - ri(h, "memory_overhead") - used).max(0)
}

/// What a resident VM occupies: its current target (dynamic_max when the host has room)
/// plus overhead.
pub fn vm_memory_footprint(vm: &Record) -> i64 {
    ri(vm, "memory_dynamic_max") + ri(vm, "memory_overhead")
}

/// Updates every host's `host_metrics.memory_free`.
pub fn refresh_host_memory(db: &mut Db) {
    let hosts: Vec<(String, String)> = db
        .all("host")
        .map(|(r, h)| (r.clone(), rs(h, "metrics").to_string()))
        .collect();
    for (h, metrics) in hosts {
        let free = host_free_memory(db, &h);
        let cur = db
            .get("host_metrics", &metrics)
            .map(|m| ri(m, "memory_free"))
            .ok();
        if cur.is_some() && cur != Some(free) {
            let _ = db.update("host_metrics", &metrics, |m| {
                m.insert("memory_free".into(), Value::Int(free));
                m.insert("last_updated".into(), now_datetime());
            });
        }
    }
}
