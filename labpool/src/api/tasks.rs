//! Tasks and `Async.` calls (X `ocaml/xapi/taskHelper.ml`, `xapi_task.ml`,
//! `server_helpers.ml`): the async call returns a task ref at once; the task records
//! `status`, `progress`, `result` (an XML-RPC value fragment, even for JSON-RPC clients) or
//! `error_info`.

use std::sync::Arc;

use crate::db::{Db, new_ref, rs, rset};
use crate::dispatch::{Handler, Registry, args, run_sync};
use crate::error::{ApiError, ApiResult, codes};
use crate::pool::Shared;
use crate::rpc::xmlrpc;
use crate::value::{Record, Value, now_datetime};

/// Registers the task calls.
pub fn register(r: &mut Registry) {
    r.sync(
        "task.create",
        &["label", "description"],
        0,
        false,
        |ctx, a| {
            let label = args::string(a, 0)?;
            let desc = args::string(a, 1)?;
            let session = ctx.session.clone();
            Ok(Value::Str(create_task(
                ctx.db, &label, &desc, &session, false,
            )))
        },
    );
    r.sync("task.destroy", &["self"], 0, false, |ctx, a| {
        let t = args::obj(ctx.db, "task", a, 0)?;
        ctx.db.destroy("task", &t)?;
        Ok(Value::s(""))
    });
    r.sync("task.cancel", &["task"], 0, true, |ctx, a| {
        let t = args::obj(ctx.db, "task", a, 0)?;
        let rec = ctx.db.get("task", &t)?;
        if !rset(rec, "allowed_operations")
            .iter()
            .any(|o| o == "cancel")
        {
            return Err(ApiError::new(
                codes::OPERATION_NOT_ALLOWED,
                [format!("Task {t} is not cancellable")],
            ));
        }
        let task_ref = t.clone();
        ctx.db.update("task", &t, |rec| {
            rec.insert("status".into(), Value::s("cancelling"));
            if let Some(Value::Map(ops)) = rec.get_mut("current_operations") {
                ops.insert(task_ref.clone(), Value::s("cancel"));
            }
        })?;
        Ok(Value::s(""))
    });
    for (name, field) in [
        ("task.set_status", "status"),
        ("task.set_progress", "progress"),
        ("task.set_result", "result"),
        ("task.set_error_info", "error_info"),
    ] {
        r.sync(name, &["self", "value"], 0, false, move |ctx, a| {
            let t = args::obj(ctx.db, "task", a, 0)?;
            let v = match field {
                "progress" => Value::Float(args::at(a, 1).to_float()?),
                "error_info" => Value::str_set(args::at(a, 1).to_string_set()?),
                _ => Value::Str(args::string(a, 1)?),
            };
            ctx.db.set("task", &t, field, v)?;
            if field == "status" {
                ctx.db.set("task", &t, "finished", now_datetime())?;
            }
            Ok(Value::s(""))
        });
    }
}

/// Creates a pending task.
pub fn create_task(
    db: &mut Db,
    label: &str,
    desc: &str,
    session: &str,
    cancellable: bool,
) -> String {
    let master = db
        .all("pool")
        .next()
        .map(|(_, p)| rs(p, "master").to_string())
        .unwrap_or_default();
    let mut rec = Record::new();
    rec.insert("name_label".into(), Value::s(label));
    rec.insert("name_description".into(), Value::s(desc));
    rec.insert("created".into(), now_datetime());
    rec.insert("status".into(), Value::s("pending"));
    rec.insert("resident_on".into(), Value::Str(master));
    let mut ops = Vec::new();
    if cancellable {
        ops.push("cancel");
    }
    rec.insert("allowed_operations".into(), Value::str_set(ops));
    let _ = session;
    db.create("task", &new_ref(), rec)
}

/// Completes a task with a result (already marshalled) or an error.
pub fn complete_task(db: &mut Db, task: &str, outcome: Result<String, ApiError>) {
    let _ = db.update("task", task, |rec| {
        match &outcome {
            Ok(result) => {
                rec.insert("status".into(), Value::s("success"));
                rec.insert("result".into(), Value::s(result.clone()));
            }
            Err(e) => {
                let status = if e.code == codes::TASK_CANCELLED {
                    "cancelled"
                } else {
                    "failure"
                };
                rec.insert("status".into(), Value::s(status));
                rec.insert("error_info".into(), Value::str_set(e.to_vec()));
            }
        }
        rec.insert("progress".into(), Value::Float(1.0));
        rec.insert("finished".into(), now_datetime());
        rec.insert("allowed_operations".into(), Value::empty_set());
        rec.insert("current_operations".into(), Value::empty_map());
    });
}

/// Starts an `Async.` call: returns the task ref; the call runs in the background.
pub fn spawn_async(
    shared: &Arc<Shared>,
    method: &str,
    session: String,
    h: Handler,
    args: Vec<Value>,
) -> ApiResult<Value> {
    let task = {
        let mut db = shared.lock_db();
        create_task(&mut db, method, "", &session, true)
    };
    shared.notify();
    let shared2 = shared.clone();
    let task2 = task.clone();
    let delay = shared.async_delay_ms();
    tokio::spawn(async move {
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let cancelled = {
            let db = shared2.lock_db();
            db.get("task", &task2)
                .map(|t| rs(t, "status") == "cancelling")
                .unwrap_or(true)
        };
        let outcome = if cancelled {
            Err(ApiError::new(codes::TASK_CANCELLED, [task2.as_str()]))
        } else {
            run_sync(&shared2, &session, Some(task2.clone()), &h, &args)
                .map(|v| xmlrpc::value_to_string(&v))
        };
        {
            let mut db = shared2.lock_db();
            complete_task(&mut db, &task2, outcome);
        }
        shared2.notify();
    });
    Ok(Value::Str(task))
}
