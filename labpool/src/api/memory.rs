//! Memory setters (X `ocaml/xapi/vm_memory_constraints.ml`, `xapi_vm.ml`,
//! `message_forwarding.ml`): `static_min <= dynamic_min <= dynamic_max <= static_max` or
//! `MEMORY_CONSTRAINT_VIOLATION_ORDER []`; `MEMORY_CONSTRAINT_VIOLATION_MAXPIN [reason]`
//! for control domains and nested virt; Halted-only gates except the dynamic range.

use crate::api::hostpool::refresh_host_memory;
use crate::api::vm::{check_operation, memory_overhead, refresh_allowed_operations};
use crate::db::{Db, rb, ri, rmap, rs};
use crate::dispatch::{Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::value::Value;

/// The four limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// static_min.
    pub static_min: i64,
    /// static_max.
    pub static_max: i64,
    /// dynamic_min.
    pub dynamic_min: i64,
    /// dynamic_max.
    pub dynamic_max: i64,
}

impl Limits {
    fn of(db: &Db, vm: &str) -> ApiResult<Limits> {
        let r = db.get("VM", vm)?;
        Ok(Limits {
            static_min: ri(r, "memory_static_min"),
            static_max: ri(r, "memory_static_max"),
            dynamic_min: ri(r, "memory_dynamic_min"),
            dynamic_max: ri(r, "memory_dynamic_max"),
        })
    }

    /// `are_valid`: the order invariant.
    pub fn valid(&self) -> bool {
        self.static_min <= self.dynamic_min
            && self.dynamic_min <= self.dynamic_max
            && self.dynamic_max <= self.static_max
    }

    /// Pinned at static_max.
    pub fn pinned(&self) -> bool {
        self.static_min <= self.dynamic_min
            && self.dynamic_min == self.dynamic_max
            && self.dynamic_max == self.static_max
    }
}

/// `assert_valid_for_current_context`.
pub fn assert_valid(db: &Db, vm: &str, l: &Limits) -> ApiResult<()> {
    let r = db.get("VM", vm)?;
    let nested = rmap(r, "platform").get("nested-virt").map(String::as_str) == Some("true");
    let reason = if rb(r, "is_control_domain") {
        Some("control domain")
    } else if nested {
        Some("nested virt")
    } else {
        None
    };
    match reason {
        Some(reason) if !l.pinned() => Err(ApiError::new(
            codes::MEMORY_CONSTRAINT_VIOLATION_MAXPIN,
            [reason],
        )),
        _ if !l.valid() => Err(ApiError::bare(codes::MEMORY_CONSTRAINT_VIOLATION_ORDER)),
        _ => Ok(()),
    }
}

fn store(db: &mut Db, vm: &str, l: &Limits) -> ApiResult<()> {
    let vcpus = ri(db.get("VM", vm)?, "VCPUs_max");
    db.update("VM", vm, |r| {
        r.insert("memory_static_min".into(), Value::Int(l.static_min));
        r.insert("memory_static_max".into(), Value::Int(l.static_max));
        r.insert("memory_dynamic_min".into(), Value::Int(l.dynamic_min));
        r.insert("memory_dynamic_max".into(), Value::Int(l.dynamic_max));
        r.insert("memory_target".into(), Value::Int(l.dynamic_min));
        r.insert(
            "memory_overhead".into(),
            Value::Int(memory_overhead(l.static_max, vcpus)),
        );
    })?;
    let r = db.get("VM", vm)?;
    if rs(r, "power_state") == "Running" {
        let metrics = rs(r, "metrics").to_string();
        let _ = db.update("VM_metrics", &metrics, |m| {
            m.insert("memory_actual".into(), Value::Int(l.dynamic_max));
        });
        refresh_host_memory(db);
    }
    refresh_allowed_operations(db, vm);
    Ok(())
}

fn set_limits(db: &mut Db, vm: &str, op: &str, l: Limits) -> ApiResult<()> {
    check_operation(db, vm, op)?;
    assert_valid(db, vm, &l)?;
    store(db, vm, &l)
}

/// Registers a memory setter `name` (first parameter the VM) that derives new
/// limits from the VM's current ones and the call's arguments, then applies
/// them under the operation `op`.
fn change_limits(
    r: &mut Registry,
    name: &str,
    params: &[&'static str],
    async_ok: bool,
    op: &'static str,
    change: fn(Limits, &[Value]) -> ApiResult<Limits>,
) {
    r.sync(name, params, 0, async_ok, move |ctx, a| {
        let vm = args::obj(ctx.db, "VM", a, 0)?;
        let l = change(Limits::of(ctx.db, &vm)?, a)?;
        set_limits(ctx.db, &vm, op, l)?;
        Ok(Value::s(""))
    });
}

/// Registers the memory calls.
pub fn register(r: &mut Registry) {
    r.sync(
        "VM.set_memory_limits",
        &[
            "self",
            "static_min",
            "static_max",
            "dynamic_min",
            "dynamic_max",
        ],
        0,
        true,
        |ctx, a| {
            let vm = args::obj(ctx.db, "VM", a, 0)?;
            let l = Limits {
                static_min: args::int(a, 1)?,
                static_max: args::int(a, 2)?,
                dynamic_min: args::int(a, 3)?,
                dynamic_max: args::int(a, 4)?,
            };
            set_limits(ctx.db, &vm, "changing_memory_limits", l)?;
            Ok(Value::s(""))
        },
    );
    change_limits(
        r,
        "VM.set_memory",
        &["self", "value"],
        true,
        "changing_memory_limits",
        |cur, a| {
            let v = args::int(a, 1)?;
            Ok(Limits {
                static_min: cur.static_min,
                static_max: v,
                dynamic_min: v,
                dynamic_max: v,
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_static_range",
        &["self", "min", "max"],
        true,
        "changing_static_range",
        |cur, a| {
            Ok(Limits {
                static_min: args::int(a, 1)?,
                static_max: args::int(a, 2)?,
                ..cur
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_static_max",
        &["self", "value"],
        false,
        "changing_static_range",
        |cur, a| {
            Ok(Limits {
                static_max: args::int(a, 1)?,
                ..cur
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_static_min",
        &["self", "value"],
        false,
        "changing_static_range",
        |cur, a| {
            Ok(Limits {
                static_min: args::int(a, 1)?,
                ..cur
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_dynamic_range",
        &["self", "min", "max"],
        true,
        "changing_dynamic_range",
        |cur, a| {
            Ok(Limits {
                dynamic_min: args::int(a, 1)?,
                dynamic_max: args::int(a, 2)?,
                ..cur
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_dynamic_max",
        &["self", "value"],
        false,
        "changing_dynamic_range",
        |cur, a| {
            Ok(Limits {
                dynamic_max: args::int(a, 1)?,
                ..cur
            })
        },
    );
    change_limits(
        r,
        "VM.set_memory_dynamic_min",
        &["self", "value"],
        false,
        "changing_dynamic_range",
        |cur, a| {
            Ok(Limits {
                dynamic_min: args::int(a, 1)?,
                ..cur
            })
        },
    );
    r.sync(
        "VM.set_memory_target_live",
        &["self", "target"],
        0,
        true,
        |ctx, a| {
            args::obj(ctx.db, "VM", a, 0)?;
            Ok(Value::s(""))
        },
    );
}
