//! Method registry and dispatch: exact method-name matching, `Async.` variants, parameter
//! counts, the member-host (`HOST_IS_SLAVE`) and session checks, fault injection, call
//! counting, then the handler under the database lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api;
use crate::db::{Db, rs, schema};
use crate::error::{ApiError, ApiResult, codes};
use crate::faults::FaultAction;
use crate::pool::Shared;
use crate::value::{NULL_REF, Value};

/// A synchronous handler: runs under the database lock. `args` excludes the session.
pub type Handler = Arc<dyn Fn(&mut Ctx, &[Value]) -> ApiResult<Value> + Send + Sync>;

/// A handler that runs without holding the lock and may wait (e.g. `VM.sysprep`): gets the
/// pool, the session, the task (for `Async.` calls) and the arguments (without the session).
pub type LongHandler = Arc<
    dyn Fn(
            Arc<Shared>,
            String,
            Option<String>,
            Vec<Value>,
        ) -> futures_util::future::BoxFuture<'static, ApiResult<Value>>
        + Send
        + Sync,
>;

/// How a method runs.
#[derive(Clone)]
pub enum Kind {
    /// Under the database lock.
    Sync(Handler),
    /// `session.login_with_password`.
    Login,
    /// `event.from` (waits).
    EventFrom,
    /// `system.listMethods`.
    ListMethods,
    /// A session call that waits (see [`LongHandler`]).
    Long(LongHandler),
}

/// A method definition.
#[derive(Clone)]
pub struct Method {
    /// Parameter names after the session.
    pub params: Vec<&'static str>,
    /// How many trailing parameters have defaults.
    pub defaults: usize,
    /// Takes a session as first parameter.
    pub session: bool,
    /// Has an `Async.` form.
    pub async_ok: bool,
    /// Implementation.
    pub kind: Kind,
}

/// Side effects to run after the database lock is released.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Start the simulated guest of a VM (boot sequence number).
    GuestBoot {
        /// VM ref.
        vm: String,
        /// Boot sequence number (stale boots are ignored).
        boot: u64,
    },
}

/// Call context passed to handlers.
pub struct Ctx<'a> {
    /// The database (locked).
    pub db: &'a mut Db,
    /// Shared pool state (configuration etc.).
    pub shared: &'a Shared,
    /// The caller's session ref.
    pub session: String,
    /// The task running this call (for `Async.` calls).
    pub task: Option<String>,
    /// Effects to run after the call.
    pub effects: Vec<Effect>,
}

/// The method table.
#[derive(Clone, Default)]
pub struct Registry {
    methods: BTreeMap<String, Method>,
}

impl Registry {
    /// The full registry.
    pub fn build() -> Registry {
        let mut r = Registry::default();
        api::generic::register(&mut r);
        api::register_all(&mut r);
        r
    }

    /// Adds (or replaces) a synchronous session method.
    pub fn sync(
        &mut self,
        name: &str,
        params: &[&'static str],
        defaults: usize,
        async_ok: bool,
        f: impl Fn(&mut Ctx, &[Value]) -> ApiResult<Value> + Send + Sync + 'static,
    ) {
        self.methods.insert(
            name.to_string(),
            Method {
                params: params.to_vec(),
                defaults,
                session: true,
                async_ok,
                kind: Kind::Sync(Arc::new(f)),
            },
        );
    }

    /// Adds a method with an explicit definition.
    pub fn insert(&mut self, name: &str, m: Method) {
        self.methods.insert(name.to_string(), m);
    }

    /// Looks a method up by exact name.
    pub fn get(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    /// Every method name, with `Async.` forms.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.methods.keys().cloned().collect();
        for (k, m) in &self.methods {
            if m.async_ok {
                out.push(format!("Async.{k}"));
            }
        }
        out.sort();
        out
    }
}

/// The outcome of a call.
#[derive(Debug)]
pub enum Outcome {
    /// Success.
    Value(Value),
    /// API error.
    Error(ApiError),
    /// Drop the connection without answering.
    Drop,
}

impl From<ApiResult<Value>> for Outcome {
    fn from(r: ApiResult<Value>) -> Self {
        match r {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(e),
        }
    }
}

/// Resolves a method name: exact, then the `VM_start` alias form, with `Async.` prefix.
fn resolve<'a>(reg: &'a Registry, name: &str) -> Option<(&'a Method, bool)> {
    let (is_async, base) = match name.strip_prefix("Async.") {
        Some(b) => (true, b),
        None => (false, name),
    };
    let m = reg.get(base).or_else(|| {
        // alternative wire name: Class_method
        let mut found = None;
        for c in schema::CLASSES {
            if let Some(rest) = base.strip_prefix(&format!("{c}_")) {
                found = reg.get(&format!("{c}.{rest}"));
                if found.is_some() {
                    break;
                }
            }
        }
        found
    })?;
    Some((m, is_async))
}

/// Dispatches one call received on the listener of host `host`.
pub async fn call(shared: &Arc<Shared>, host: &str, method: &str, params: Vec<Value>) -> Outcome {
    shared.count(method);
    let (latency, action) = shared.faults_for(method);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let mut drop_after = false;
    match action {
        Some(FaultAction::Error(e)) => return Outcome::Error(e),
        Some(FaultAction::DropBefore) => return Outcome::Drop,
        Some(FaultAction::DropAfter) => drop_after = true,
        None => {}
    }
    let out = call_inner(shared, host, method, params).await;
    if drop_after { Outcome::Drop } else { out }
}

async fn call_inner(shared: &Arc<Shared>, host: &str, method: &str, params: Vec<Value>) -> Outcome {
    let Some((m, is_async)) = resolve(&shared.registry, method) else {
        return Outcome::Error(ApiError::new(codes::MESSAGE_METHOD_UNKNOWN, [method]));
    };
    let m = m.clone();
    let required = m.params.len() - m.defaults;
    let given = if m.session {
        params.len().saturating_sub(1)
    } else {
        params.len()
    };
    if given < required || (m.defaults == 0 && given > m.params.len()) {
        return Outcome::Error(ApiError::new(
            codes::MESSAGE_PARAMETER_COUNT_MISMATCH,
            [method.to_string(), required.to_string(), given.to_string()],
        ));
    }
    if is_async && !m.async_ok {
        return Outcome::Error(ApiError::new(
            "Fault",
            [format!("No async mode for this operation (rpc: {method})")],
        ));
    }
    // Pool members refuse everything except the introspection calls.
    if !method.starts_with("system.")
        && let Some(master_addr) = shared.slave_check(host)
    {
        return Outcome::Error(ApiError::new(codes::HOST_IS_SLAVE, [master_addr]));
    }
    match m.kind {
        Kind::ListMethods => Outcome::Value(Value::str_set(shared.registry.names())),
        Kind::Login => api::session::login(shared, &params).await.into(),
        Kind::EventFrom => {
            let session = params[0].as_str().unwrap_or("").to_string();
            if let Err(e) = shared.check_session(&session) {
                return Outcome::Error(e);
            }
            api::events::event_from(shared, &params[1..]).await.into()
        }
        Kind::Long(h) => {
            let session = params
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            if let Err(e) = shared.check_session(&session) {
                return Outcome::Error(e);
            }
            let args = params[1..].to_vec();
            if is_async {
                api::sysprep::spawn_long(shared, method, session, h, args).into()
            } else {
                h(shared.clone(), session, None, args).await.into()
            }
        }
        Kind::Sync(h) => {
            let session = params
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            if m.session
                && let Err(e) = shared.check_session(&session)
            {
                return Outcome::Error(e);
            }
            let args: Vec<Value> = if m.session {
                params[1..].to_vec()
            } else {
                params
            };
            if is_async {
                api::tasks::spawn_async(shared, method, session, h, args).into()
            } else {
                run_sync(shared, &session, None, &h, &args).into()
            }
        }
    }
}

/// Runs a synchronous handler under the lock, then its effects.
pub fn run_sync(
    shared: &Arc<Shared>,
    session: &str,
    task: Option<String>,
    h: &Handler,
    args: &[Value],
) -> ApiResult<Value> {
    let (res, effects) = {
        let mut db = shared.lock_db();
        let mut ctx = Ctx {
            db: &mut db,
            shared,
            session: session.to_string(),
            task,
            effects: Vec::new(),
        };
        let res = h(&mut ctx, args);
        (res, ctx.effects)
    };
    shared.notify();
    for e in effects {
        shared.run_effect(e);
    }
    res
}

/// Argument helpers.
pub mod args {
    use super::*;

    /// The argument at `i` (present: arity was checked).
    pub fn at(args: &[Value], i: usize) -> &Value {
        static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        args.get(i)
            .unwrap_or_else(|| EMPTY.get_or_init(|| Value::Str(String::new())))
    }

    /// A string argument.
    pub fn string(args: &[Value], i: usize) -> ApiResult<String> {
        at(args, i).to_string_value()
    }

    /// An int argument.
    pub fn int(args: &[Value], i: usize) -> ApiResult<i64> {
        at(args, i).to_int()
    }

    /// A bool argument.
    pub fn boolean(args: &[Value], i: usize) -> ApiResult<bool> {
        at(args, i).to_bool()
    }

    /// A ref argument of `class` that must exist (`HANDLE_INVALID` otherwise).
    pub fn obj(db: &Db, class: &str, args: &[Value], i: usize) -> ApiResult<String> {
        let r = string(args, i)?;
        if db.exists(class, &r) {
            Ok(r)
        } else {
            Err(crate::db::handle_invalid(class, &r))
        }
    }

    /// A ref that may be `OpaqueRef:NULL`; otherwise must exist.
    pub fn opt_obj(db: &Db, class: &str, args: &[Value], i: usize) -> ApiResult<Option<String>> {
        let r = string(args, i)?;
        if r == NULL_REF || r.is_empty() {
            Ok(None)
        } else if db.exists(class, &r) {
            Ok(Some(r))
        } else {
            Err(crate::db::handle_invalid(class, &r))
        }
    }

    /// A field of a constructor struct; missing -> XAPI's `Dispatcher_FieldNotFound`.
    pub fn field<'v>(m: &'v BTreeMap<String, Value>, name: &str) -> ApiResult<&'v Value> {
        m.get(name).ok_or_else(|| {
            ApiError::new(
                codes::INTERNAL_ERROR,
                [format!(
                    "Server_helpers.Dispatcher_FieldNotFound(\"{name}\")"
                )],
            )
        })
    }

    /// The constructor struct argument.
    pub fn ctor(args: &[Value]) -> ApiResult<BTreeMap<String, Value>> {
        match at(args, 0) {
            Value::Map(m) => Ok(m.clone()),
            other => Err(crate::value::type_error("Dict", other)),
        }
    }

    /// A record's uuid.
    pub fn uuid_of(db: &Db, class: &str, r: &str) -> String {
        db.get(class, r)
            .map(|rec| rs(rec, "uuid").to_string())
            .unwrap_or_default()
    }
}
