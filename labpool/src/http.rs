//! HTTP serving: one listener per host on 127.0.0.1, XML-RPC at `/` and `/RPC2`, JSON-RPC
//! at `/jsonrpc`, `PUT /import_raw_vdi`, `GET /export_raw_vdi`, the `/labpool/` admin API.
//! Connections are served by our own accept loop so fault injection can drop them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::db::{rb, ri, rs};
use crate::dispatch::{self, Outcome};
use crate::error::{ApiError, codes};
use crate::pool::Shared;
use crate::rpc::{jsonrpc, xmlrpc};
use crate::value::Value;

/// Per-listener state.
#[derive(Clone)]
pub struct AppState {
    /// The pool.
    pub shared: Arc<Shared>,
    /// Index of the host this listener belongs to (see `Shared::host_ref`).
    pub host_index: usize,
    /// `http` or `https`.
    pub scheme: &'static str,
}

/// Per-connection handle to drop the connection.
#[derive(Clone)]
pub struct DropHandle(pub Arc<Notify>);

const MAX_RPC_BODY: usize = 300 * 1024;

/// Builds the router for one host.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(xml_rpc).options(cors_preflight))
        .route("/RPC2", post(xml_rpc).options(cors_preflight))
        .route("/jsonrpc", post(json_rpc).options(cors_preflight))
        .route("/import_raw_vdi", put(import_raw_vdi))
        .route("/import_raw_vdi/", put(import_raw_vdi))
        .route("/export_raw_vdi", get(export_raw_vdi))
        .route("/export_raw_vdi/", get(export_raw_vdi))
        .route("/labpool", any(crate::admin::handle))
        .route("/labpool/", any(crate::admin::handle))
        .route("/labpool/{*rest}", any(crate::admin::handle))
        .with_state(state)
}

fn cors(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
    h.insert(
        "Access-Control-Allow-Headers",
        HeaderValue::from_static("X-Requested-With"),
    );
}

async fn cors_preflight() -> Response {
    let mut r = StatusCode::OK.into_response();
    cors(&mut r);
    r
}

fn internal_error_page(what: &str) -> Response {
    let mut body = String::from(
        "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>",
    );
    crate::rpc::xmlrpc::escape(what, &mut body);
    body.push_str("</body></html>");
    let mut r = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

fn rpc_response(body: String, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    cors(&mut r);
    r
}

async fn drop_connection(req_drop: Option<DropHandle>) -> Response {
    if let Some(d) = req_drop {
        d.0.notify_one();
        std::future::pending::<()>().await;
    }
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn read_body(req: Request) -> Result<(Option<DropHandle>, Bytes), Response> {
    let drop = req.extensions().get::<DropHandle>().cloned();
    match axum::body::to_bytes(req.into_body(), MAX_RPC_BODY).await {
        Ok(b) => Ok((drop, b)),
        Err(e) => Err(internal_error_page(&format!("Http.Too_large ({e})"))),
    }
}

async fn xml_rpc(State(st): State<AppState>, req: Request) -> Response {
    let (drop, body) = match read_body(req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = String::from_utf8_lossy(&body);
    let call = match xmlrpc::parse_call(&text) {
        Ok(c) => c,
        Err(e) => return internal_error_page(&e),
    };
    match dispatch::call(
        &st.shared,
        &st.shared.host_ref(st.host_index),
        &call.method,
        call.params,
    )
    .await
    {
        Outcome::Value(v) => rpc_response(xmlrpc::success(&v), "text/xml"),
        Outcome::Error(e) => rpc_response(xmlrpc::failure(&e), "text/xml"),
        Outcome::Drop => drop_connection(drop).await,
    }
}

async fn json_rpc(State(st): State<AppState>, req: Request) -> Response {
    let (drop, body) = match read_body(req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let call = match jsonrpc::parse_call(&body) {
        Ok(c) => c,
        Err(e) => return internal_error_page(&e),
    };
    let listing = call.method == "system.listMethods";
    match dispatch::call(
        &st.shared,
        &st.shared.host_ref(st.host_index),
        &call.method,
        call.params,
    )
    .await
    {
        Outcome::Value(v) => rpc_response(
            jsonrpc::success(call.version, &call.id, &v),
            "application/json",
        ),
        Outcome::Error(e) => {
            let version = if listing {
                jsonrpc::Version::V1
            } else {
                call.version
            };
            rpc_response(jsonrpc::failure(version, &call.id, &e), "application/json")
        }
        Outcome::Drop => drop_connection(drop).await,
    }
}

/// Authenticates an HTTP handler request: `session_id` query/cookie or Basic auth.
fn http_session(
    shared: &Shared,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Option<String> {
    if let Some(s) = q.get("session_id") {
        return shared.check_session(s).ok().map(|_| s.clone());
    }
    if let Some(cookie) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
        for part in cookie.split(';') {
            if let Some(s) = part.trim().strip_prefix("session_id=") {
                return shared.check_session(s).ok().map(|_| s.to_string());
            }
        }
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = auth.strip_prefix("Basic ")?;
    let decoded = base64_decode(b64)?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    if u == shared.settings.username && p == shared.settings.password {
        let mut db = shared.lock_db();
        Some(crate::api::session::create_session(
            &mut db,
            u,
            "http-basic",
        ))
    } else {
        None
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = T.iter().position(|&t| t == c)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn resolve_vdi(db: &crate::db::Db, v: &str) -> Option<String> {
    if db.exists("VDI", v) {
        Some(v.to_string())
    } else {
        db.by_uuid("VDI", v)
    }
}

/// If the VDI's SR is not visible from `host`, the address of a host that sees it.
fn redirect_target(db: &crate::db::Db, host: &str, vdi: &str) -> Option<String> {
    let sr = rs(db.get("VDI", vdi).ok()?, "SR").to_string();
    if crate::api::storage::host_srs(db, host).contains(&sr) {
        return None;
    }
    let h = db
        .all("host")
        .find(|(h, _)| crate::api::storage::host_srs(db, h).contains(&sr))?;
    Some(rs(h.1, "address").to_string())
}

fn task_headers(task: &str, resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(task) {
        h.insert("task-id", v);
    }
}

async fn import_raw_vdi(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let shared = &st.shared;
    shared.count("HTTP PUT /import_raw_vdi");
    let Some(session) = http_session(shared, &q, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let format = q.get("format").cloned().unwrap_or_else(|| "raw".into());
    // task: given or new
    let task = {
        let mut db = shared.lock_db();
        match q.get("task_id") {
            Some(t) if db.exists("task", t) => t.clone(),
            _ => crate::api::tasks::create_task(&mut db, "VDI import", "", &session, false),
        }
    };
    let fail = |status: StatusCode, e: ApiError| {
        {
            let mut db = shared.lock_db();
            crate::api::tasks::complete_task(&mut db, &task, Err(e));
        }
        shared.notify();
        let mut r = status.into_response();
        task_headers(&task, &mut r);
        r
    };
    if let Some(te) = headers.get(header::TRANSFER_ENCODING) {
        let te = te.to_str().unwrap_or("").to_string();
        return fail(
            StatusCode::NOT_FOUND,
            ApiError::new(
                codes::INTERNAL_ERROR,
                [format!("Cannot handle encoding: {te}")],
            ),
        );
    }
    if format != "raw" {
        let known = ["vhd", "tar", "qcow2"].contains(&format.as_str());
        let msg = if known {
            format!("Format {format} is not simulated by the lab pool")
        } else {
            format!("Unknown format {format}")
        };
        return fail(
            StatusCode::NOT_FOUND,
            ApiError::new(codes::INTERNAL_ERROR, [msg]),
        );
    }
    let length: usize = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // target VDI (or a new one in sr_id / sr_uuid)
    let vdi = {
        let mut db = shared.lock_db();
        match q.get("vdi") {
            Some(v) => match resolve_vdi(&db, v) {
                Some(v) => Some(v),
                None => {
                    drop(db);
                    return fail(StatusCode::NOT_FOUND, crate::db::handle_invalid("VDI", v));
                }
            },
            None => {
                let sr = q
                    .get("sr_id")
                    .filter(|s| db.exists("SR", s))
                    .cloned()
                    .or_else(|| q.get("sr_uuid").and_then(|u| db.by_uuid("SR", u)));
                match sr {
                    Some(sr) => {
                        let m: std::collections::BTreeMap<String, Value> = [
                            ("name_label", Value::s("Imported VDI")),
                            ("name_description", Value::s("")),
                            ("SR", Value::s(&sr)),
                            ("virtual_size", Value::Int(length as i64)),
                            ("type", Value::s("user")),
                            ("sharable", Value::Bool(false)),
                            ("read_only", Value::Bool(false)),
                            ("other_config", Value::empty_map()),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                        match crate::api::storage::vdi_create(&mut db, &m) {
                            Ok(Value::Str(v)) => Some(v),
                            Ok(_) => None,
                            Err(e) => {
                                drop(db);
                                return fail(StatusCode::INTERNAL_SERVER_ERROR, e);
                            }
                        }
                    }
                    None => None,
                }
            }
        }
    };
    let Some(vdi) = vdi else {
        return fail(StatusCode::BAD_REQUEST, ApiError::bare(codes::VDI_MISSING));
    };
    if let Some(addr) = redirect_target(&shared.lock_db(), &shared.host_ref(st.host_index), &vdi) {
        let uri = req.uri().clone();
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/import_raw_vdi");
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{}://{addr}{pq}", st.scheme)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let (size, attached_rw_running) = {
        let db = shared.lock_db();
        let rec = db.get("VDI", &vdi).cloned().unwrap_or_default();
        (ri(&rec, "virtual_size"), rb(&rec, "read_only"))
    };
    if attached_rw_running {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::new(codes::VDI_READONLY, [vdi.as_str()]),
        );
    }
    let body = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError::new(
                    codes::INTERNAL_ERROR,
                    [format!(
                        "Unix.Unix_error(Unix.ECONNRESET, \"read\", \"\") ({e})"
                    )],
                ),
            );
        }
    };
    if body.len() as i64 > size {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::new(
                "VDI_IO_ERROR",
                [format!(
                    "Device I/O errors: {} bytes sent to a VDI of {size} bytes",
                    body.len()
                )],
            ),
        );
    }
    {
        let mut db = shared.lock_db();
        let mut data = db.vdi_data.get(&vdi).cloned().unwrap_or_default();
        if data.len() < body.len() {
            data.resize(body.len(), 0);
        }
        data[..body.len()].copy_from_slice(&body);
        db.vdi_data.insert(vdi.clone(), data);
        let _ = db.update("VDI", &vdi, |r| {
            let used = ri(r, "physical_utilisation").max(body.len() as i64);
            r.insert("physical_utilisation".into(), Value::Int(used));
        });
        crate::api::tasks::complete_task(
            &mut db,
            &task,
            Ok(xmlrpc::value_to_string(&Value::s(&vdi))),
        );
    }
    shared.notify();
    let mut r = StatusCode::OK.into_response();
    task_headers(&task, &mut r);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

async fn export_raw_vdi(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let shared = &st.shared;
    shared.count("HTTP GET /export_raw_vdi");
    let Some(session) = http_session(shared, &q, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let format = q.get("format").cloned().unwrap_or_else(|| "raw".into());
    let (task, vdi) = {
        let mut db = shared.lock_db();
        let task = match q.get("task_id") {
            Some(t) if db.exists("task", t) => t.clone(),
            _ => crate::api::tasks::create_task(&mut db, "VDI export", "", &session, false),
        };
        (task, q.get("vdi").and_then(|v| resolve_vdi(&db, v)))
    };
    let Some(vdi) = vdi else {
        let mut db = shared.lock_db();
        crate::api::tasks::complete_task(&mut db, &task, Err(ApiError::bare(codes::VDI_MISSING)));
        drop(db);
        shared.notify();
        return StatusCode::BAD_REQUEST.into_response();
    };
    if format != "raw" {
        let mut db = shared.lock_db();
        crate::api::tasks::complete_task(
            &mut db,
            &task,
            Err(ApiError::new(
                codes::INTERNAL_ERROR,
                [format!("Format {format} is not simulated by the lab pool")],
            )),
        );
        drop(db);
        shared.notify();
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(addr) = redirect_target(&shared.lock_db(), &shared.host_ref(st.host_index), &vdi) {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{}://{addr}{pq}", st.scheme)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let (data, size, uuid) = {
        let mut db = shared.lock_db();
        let rec = db.get("VDI", &vdi).cloned().unwrap_or_default();
        let data = db.vdi_data.get(&vdi).cloned().unwrap_or_default();
        crate::api::tasks::complete_task(&mut db, &task, Ok(String::new()));
        (
            data,
            ri(&rec, "virtual_size").max(0) as u64,
            rs(&rec, "uuid").to_string(),
        )
    };
    shared.notify();
    let data_len = data.len() as u64;
    let head =
        futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(data)) });
    let zeros_total = size.saturating_sub(data_len);
    const CHUNK: u64 = 1 << 20;
    let zero_chunk = Bytes::from(vec![0u8; CHUNK as usize]);
    let tail = futures_util::stream::unfold(zeros_total, move |left| {
        let zc = zero_chunk.clone();
        async move {
            if left == 0 {
                None
            } else {
                let n = left.min(CHUNK);
                Some((Ok(zc.slice(0..n as usize)), left - n))
            }
        }
    });
    let body = Body::from_stream(head.chain(tail));
    let mut r = Response::new(body);
    task_headers(&task, &mut r);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{uuid}.raw\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&size.max(data_len).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    r
}

/// Serves connections on a listener until `stop` flips to true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, _peer)) = accepted else { continue };
        let app = app.clone();
        let tls = tls.clone();
        let stop2 = stop.clone();
        tokio::spawn(async move {
            match tls {
                Some(acc) => {
                    if let Ok(s) = acc.accept(tcp).await {
                        serve_conn(s, app, stop2).await;
                    }
                }
                None => serve_conn(tcp, app, stop2).await,
            }
        });
    }
}

async fn serve_conn<S>(io: S, app: Router, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let dropper = Arc::new(Notify::new());
    let handle = DropHandle(dropper.clone());
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(handle.clone());
        let app = app.clone();
        async move { app.oneshot(req.map(Body::new)).await }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        _ = dropper.notified() => {}
        _ = stop.changed() => {}
    }
}

/// Binds a listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
