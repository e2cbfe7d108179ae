//! The `/labpool/` admin API (JSON): object dump, call counts, guest views, fault
//! injection, session expiry, master change, reset. Documented in README.md.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use crate::db::rs;
use crate::faults::{Faults, Rule};
use crate::http::AppState;

fn reply(status: StatusCode, body: J) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn ok(body: J) -> Response {
    reply(StatusCode::OK, body)
}

fn bad(msg: impl Into<String>) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({ "error": msg.into() }))
}

fn not_found(msg: impl Into<String>) -> Response {
    reply(StatusCode::NOT_FOUND, json!({ "error": msg.into() }))
}

/// Dispatches `/labpool/...`.
pub async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(e) => return bad(format!("body: {e}")),
    };
    let json_body = || -> Result<J, Box<Response>> {
        if body.is_empty() {
            Ok(J::Null)
        } else {
            serde_json::from_slice(&body).map_err(|e| Box::new(bad(format!("invalid JSON: {e}"))))
        }
    };
    let sub = path
        .strip_prefix("/labpool")
        .unwrap_or("")
        .trim_start_matches('/');
    let parts: Vec<&str> = sub.split('/').filter(|p| !p.is_empty()).collect();
    let shared = &st.shared;
    match (method, parts.as_slice()) {
        (Method::GET, []) => ok(json!({
            "endpoints": [
                "GET /labpool/objects", "GET /labpool/objects/<class>",
                "GET /labpool/hosts", "GET /labpool/counts", "POST /labpool/counts/reset",
                "GET /labpool/guest/<vm-uuid>", "POST /labpool/guest/<vm-uuid>",
                "GET /labpool/faults", "PUT /labpool/faults", "POST /labpool/faults/rules",
                "DELETE /labpool/faults", "POST /labpool/sessions/expire",
                "POST /labpool/master", "POST /labpool/reset"
            ]
        })),
        (Method::GET, ["objects"]) => {
            let db = shared.lock_db();
            let mut out = serde_json::Map::new();
            for (class, table) in &db.tables {
                if class == "session" {
                    continue;
                }
                let objs: serde_json::Map<String, J> = table
                    .iter()
                    .map(|(r, o)| (r.clone(), crate::value::Value::Map(o.rec.clone()).to_json()))
                    .collect();
                out.insert(class.clone(), J::Object(objs));
            }
            ok(J::Object(out))
        }
        (Method::GET, ["objects", class]) => {
            let db = shared.lock_db();
            let Some(c) = crate::db::schema::canonical_class(class) else {
                return not_found(format!("unknown class {class}"));
            };
            if c == "session" {
                return ok(json!({ "count": db.all("session").count() }));
            }
            ok(crate::api::generic::all_records(&db, c).to_json())
        }
        (Method::GET, ["hosts"]) => {
            let db = shared.lock_db();
            let master = db
                .all("pool")
                .next()
                .map(|(_, p)| rs(p, "master").to_string())
                .unwrap_or_default();
            let order = crate::pool::host_order(&db);
            let hosts: Vec<J> = order
                .iter()
                .filter_map(|r| db.get("host", r).ok().map(|h| (r, h)))
                .map(|(r, h)| {
                    json!({
                        "ref": r, "uuid": rs(h, "uuid"), "name_label": rs(h, "name_label"),
                        "address": rs(h, "address"),
                        "url": format!("{}://{}", st.scheme, rs(h, "address")),
                        "master": *r == master,
                    })
                })
                .collect();
            ok(J::Array(hosts))
        }
        (Method::GET, ["counts"]) => ok(json!(shared.counts())),
        (Method::POST, ["counts", "reset"]) | (Method::DELETE, ["counts"]) => {
            shared.reset_counts();
            ok(json!({}))
        }
        (Method::GET, ["guest", uuid]) => {
            let db = shared.lock_db();
            match db.by_uuid("VM", uuid) {
                Some(vm) => ok(crate::guest::view(&db, &vm)),
                None => not_found(format!("no VM with uuid {uuid}")),
            }
        }
        (Method::POST, ["guest", uuid]) => {
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return *r,
            };
            let mut db = shared.lock_db();
            let Some(vm) = db.by_uuid("VM", uuid) else {
                return not_found(format!("no VM with uuid {uuid}"));
            };
            crate::guest::windows::admin_update(&mut db, &vm, &b);
            let view = crate::guest::view(&db, &vm);
            drop(db);
            ok(view)
        }
        (Method::GET, ["faults"]) => ok(json!(
            *shared.faults.lock().unwrap_or_else(|e| e.into_inner())
        )),
        (Method::PUT, ["faults"]) | (Method::POST, ["faults"]) => {
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return *r,
            };
            match serde_json::from_value::<Faults>(b) {
                Ok(f) => {
                    *shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = f.clone();
                    ok(json!(f))
                }
                Err(e) => bad(format!("faults: {e}")),
            }
        }
        (Method::POST, ["faults", "rules"]) => {
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return *r,
            };
            match serde_json::from_value::<Rule>(b) {
                Ok(rule) => {
                    let mut f = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
                    f.rules.push(rule);
                    ok(json!(*f))
                }
                Err(e) => bad(format!("rule: {e}")),
            }
        }
        (Method::DELETE, ["faults"]) => {
            *shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = Faults::default();
            ok(json!({}))
        }
        (Method::POST, ["sessions", "expire"]) => {
            let n = {
                let mut db = shared.lock_db();
                let all: Vec<String> = db.all("session").map(|(r, _)| r.clone()).collect();
                for s in &all {
                    let _ = db.destroy("session", s);
                }
                all.len()
            };
            shared.notify();
            ok(json!({ "expired": n }))
        }
        (Method::POST, ["master"]) => {
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return *r,
            };
            let Some(want) = b.get("host").and_then(J::as_str) else {
                return bad("expected {\"host\": <name_label | uuid | ref>}");
            };
            let res = {
                let mut db = shared.lock_db();
                let h = db
                    .all("host")
                    .find(|(r, h)| {
                        *r == want || rs(h, "uuid") == want || rs(h, "name_label") == want
                    })
                    .map(|(r, _)| r.clone());
                match h {
                    Some(h) => {
                        let pool = db
                            .all("pool")
                            .next()
                            .map(|(r, _)| r.clone())
                            .unwrap_or_default();
                        let _ = db.set("pool", &pool, "master", crate::value::Value::s(&h));
                        let addr = db
                            .get("host", &h)
                            .map(|r| rs(r, "address").to_string())
                            .unwrap_or_default();
                        Some((h, addr))
                    }
                    None => None,
                }
            };
            shared.notify();
            match res {
                Some((h, addr)) => ok(json!({ "master": h, "address": addr })),
                None => not_found(format!("no host {want}")),
            }
        }
        (Method::POST, ["reset"]) => {
            crate::server::reset(shared);
            ok(json!({ "reset": true }))
        }
        _ => not_found(format!("no admin endpoint {path}")),
    }
}
