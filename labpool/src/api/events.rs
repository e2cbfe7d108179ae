//! `event.from` (X `ocaml/xapi/xapi_event.ml`): classes (`*`, a class name in any case, or
//! `class/ref`), tokens `"%020d,%020d"`, `add` events for everything on the empty token,
//! coalesced changes, blocking until a change or the timeout.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::dispatch::{Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::pool::Shared;
use crate::value::Value;

/// Registers `event.inject` and `event.get_current_id`.
pub fn register(r: &mut Registry) {
    r.insert(
        "event.from",
        crate::dispatch::Method {
            params: vec!["classes", "token", "timeout"],
            defaults: 0,
            session: true,
            async_ok: false,
            kind: crate::dispatch::Kind::EventFrom,
        },
    );
    r.sync("event.inject", &["class", "ref"], 0, false, |ctx, a| {
        let class = args::string(a, 0)?;
        let r = args::string(a, 1)?;
        let canonical = crate::db::schema::canonical_class(&class).unwrap_or("");
        ctx.db
            .get(canonical, &r)
            .map_err(|_| crate::db::handle_invalid(&class, &r))?;
        ctx.db.touch(canonical, &r);
        Ok(Value::Str(token(ctx.db)))
    });
    r.sync("event.get_current_id", &[], 0, false, |ctx, _| {
        Ok(Value::Str(ctx.db.generation.to_string()))
    });
}

fn token(db: &Db) -> String {
    format!("{:020},{:020}", db.generation, db.message_generation)
}

/// Parses a token; `""` is the beginning of time.
pub fn parse_token(t: &str) -> ApiResult<u64> {
    if t.is_empty() {
        return Ok(0);
    }
    let fail = || ApiError::new(codes::EVENT_FROM_TOKEN_PARSE_FAILURE, [t]);
    let (a, b) = t.split_once(',').ok_or_else(fail)?;
    let g: u64 = a.trim().parse().map_err(|_| fail())?;
    let _m: u64 = b.trim().parse().map_err(|_| fail())?;
    Ok(g)
}

struct Filter {
    all: bool,
    classes: Vec<String>,
    objects: Vec<(String, String)>,
}

impl Filter {
    fn new(classes: &[String]) -> Filter {
        let mut f = Filter {
            all: false,
            classes: Vec::new(),
            objects: Vec::new(),
        };
        for c in classes {
            if c == "*" {
                f.all = true;
            } else if let Some((cls, r)) = c.split_once('/') {
                f.objects.push((cls.to_lowercase(), r.to_string()));
            } else {
                f.classes.push(c.to_lowercase());
            }
        }
        f
    }

    fn wants(&self, class: &str, r: &str) -> bool {
        let lc = class.to_lowercase();
        if class == "session" {
            // Sessions are not reported (they are secrets).
            return false;
        }
        self.all
            || self.classes.contains(&lc)
            || self.objects.iter().any(|(c, o)| *c == lc && o == r)
    }
}

/// `event.from(classes, token, timeout)`.
pub async fn event_from(shared: &Arc<Shared>, a: &[Value]) -> ApiResult<Value> {
    let classes = args::at(a, 0).to_string_set()?;
    let tok = args::string(a, 1)?;
    let timeout = args::at(a, 2).to_float()?;
    let since = parse_token(&tok)?;
    let filter = Filter::new(&classes);
    let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
    let mut rx = shared.subscribe();
    loop {
        {
            let db = shared.lock_db();
            let events = db.events_since(since, &|c, r| filter.wants(c, r));
            if !events.is_empty() || Instant::now() >= deadline {
                return Ok(render(&db, &filter, events));
            }
            rx.borrow_and_update();
        }
        let now = Instant::now();
        if now >= deadline {
            continue;
        }
        let _ = tokio::time::timeout(deadline - now, rx.changed()).await;
    }
}

fn render(db: &Db, filter: &Filter, events: Vec<crate::db::Event>) -> Value {
    let evs: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut m = BTreeMap::new();
            m.insert("id".to_string(), Value::Str(e.id.to_string()));
            m.insert("timestamp".to_string(), Value::s("0.0"));
            m.insert("class".to_string(), Value::Str(e.class.to_lowercase()));
            m.insert("operation".to_string(), Value::s(e.operation));
            m.insert("ref".to_string(), Value::Str(e.r#ref));
            if let Some(s) = e.snapshot {
                m.insert("snapshot".to_string(), Value::Map(s));
            }
            Value::Map(m)
        })
        .collect();
    let counts: BTreeMap<String, Value> = db
        .counts()
        .into_iter()
        .filter(|(c, _)| filter.all || filter.classes.contains(c))
        .filter(|(c, _)| c != "session")
        .map(|(c, n)| (c, Value::Int(n as i64)))
        .collect();
    let mut out = BTreeMap::new();
    out.insert("events".to_string(), Value::Set(evs));
    out.insert("valid_ref_counts".to_string(), Value::Map(counts));
    out.insert("token".to_string(), Value::Str(token(db)));
    Value::Map(out)
}
