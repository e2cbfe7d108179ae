//! Sessions (X `ocaml/xapi/xapi_session.ml`): `login_with_password(uname, pwd, version,
//! originator)` with 2-4 parameters, `SESSION_AUTHENTICATION_FAILED [uname; msg]`, logout.

use std::sync::Arc;

use crate::db::{Db, new_ref, rs};
use crate::dispatch::{Kind, Method, Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::pool::Shared;
use crate::value::{Record, Value, now_datetime};

/// Registers the session calls.
pub fn register(r: &mut Registry) {
    r.insert(
        "session.login_with_password",
        Method {
            params: vec!["uname", "pwd", "version", "originator"],
            defaults: 2,
            session: false,
            async_ok: false,
            kind: Kind::Login,
        },
    );
    r.insert(
        "system.listMethods",
        Method {
            params: vec![],
            defaults: 0,
            session: false,
            async_ok: false,
            kind: Kind::ListMethods,
        },
    );
    for name in ["session.logout", "session.local_logout"] {
        r.sync(name, &[], 0, false, |ctx, _| {
            let s = ctx.session.clone();
            ctx.db.destroy("session", &s)?;
            Ok(Value::s(""))
        });
    }
}

/// `session.login_with_password`.
pub async fn login(shared: &Arc<Shared>, params: &[Value]) -> ApiResult<Value> {
    let uname = args::string(params, 0)?;
    let pwd = args::string(params, 1)?;
    let originator = match params.get(3) {
        Some(v) => v.to_string_value()?,
        None => String::new(),
    };
    if uname != shared.settings.username || pwd != shared.settings.password {
        let delay = shared.settings.auth_failure_delay_ms;
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        return Err(ApiError::new(
            codes::SESSION_AUTHENTICATION_FAILED,
            [uname.as_str(), "Authentication failure"],
        ));
    }
    let r = {
        let mut db = shared.lock_db();
        create_session(&mut db, &uname, &originator)
    };
    shared.notify();
    Ok(Value::Str(r))
}

/// Creates a session record (also used by HTTP Basic authentication).
pub fn create_session(db: &mut Db, uname: &str, originator: &str) -> String {
    let master = db
        .all("pool")
        .next()
        .map(|(_, p)| rs(p, "master").to_string())
        .unwrap_or_default();
    let mut rec = Record::new();
    rec.insert("this_host".into(), Value::Str(master));
    rec.insert("last_active".into(), now_datetime());
    rec.insert("validation_time".into(), now_datetime());
    rec.insert("auth_user_name".into(), Value::s(uname));
    rec.insert("originator".into(), Value::s(originator));
    rec.insert("is_local_superuser".into(), Value::Bool(true));
    // Session refs are secrets in XAPI (made from urandom UUIDs).
    db.create("session", &new_ref(), rec)
}
