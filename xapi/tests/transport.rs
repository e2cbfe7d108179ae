//! Transport edge cases the lab pool does not simulate, against a scripted HTTP server:
//! HTTP 503/500, non-JSON bodies, JSON-RPC 1.0 error shapes, ints as strings, endless
//! HOST_IS_SLAVE, and the exact request shape.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use xapi::{Client, Config, Error, ErrorCode, RetryPolicy};

/// What the scripted server answers to one request.
enum Reply {
    Result(Value),
    /// JSON-RPC 2.0 error: code and params.
    Error(Vec<String>),
    /// A raw HTTP response: status and body.
    Raw(u16, &'static str, &'static str),
}

type Handler = Box<dyn FnMut(&str, &Value) -> Reply + Send>;

/// Starts a one-request-per-connection HTTP server; returns its base URL and the log of
/// requests (method, full JSON body).
async fn serve(mut handler: Handler) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            let (head_end, content_length) = loop {
                let n = sock.read(&mut tmp).await.unwrap_or(0);
                if n == 0 {
                    break (None, 0);
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                    let cl = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    assert!(head.contains("content-type: application/json"), "{head}");
                    break (Some(p + 4), cl);
                }
            };
            let Some(start) = head_end else { continue };
            while buf.len() < start + content_length {
                let n = sock.read(&mut tmp).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            let req: Value = serde_json::from_slice(&buf[start..start + content_length]).unwrap();
            log2.lock().unwrap().push(req.clone());
            let method = req["method"].as_str().unwrap_or("").to_string();
            let (status, ctype, body) = match handler(&method, &req["params"]) {
                Reply::Result(v) => (
                    200,
                    "application/json",
                    json!({"jsonrpc": "2.0", "result": v, "id": req["id"]}).to_string(),
                ),
                Reply::Error(desc) => (
                    200,
                    "application/json",
                    json!({"jsonrpc": "2.0", "error": {"code": 1, "message": &desc[0], "data": &desc[1..]}, "id": req["id"]})
                        .to_string(),
                ),
                Reply::Raw(status, ctype, body) => (status, ctype, body.to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, log)
}

fn client(url: &str) -> Client {
    Client::new(
        Config::new(url, "root", "pw")
            .unwrap()
            .with_originator("xapi-tests")
            .with_retry(RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(10),
            }),
    )
    .unwrap()
}

fn login_ok(method: &str) -> Option<Reply> {
    (method == "session.login_with_password").then(|| Reply::Result(json!("OpaqueRef:s1")))
}

#[tokio::test]
async fn request_shape_and_login_parameters() {
    let (url, log) = serve(Box::new(|m, _| {
        login_ok(m).unwrap_or(Reply::Result(json!(["OpaqueRef:v"])))
    }))
    .await;
    let c = client(&url);
    let vms = c.vm().get_all().await.unwrap();
    assert_eq!(vms.len(), 1);
    let log = log.lock().unwrap();
    assert_eq!(log[0]["jsonrpc"], "2.0");
    assert_eq!(log[0]["method"], "session.login_with_password");
    assert_eq!(log[0]["params"], json!(["root", "pw", "1.1", "xapi-tests"]));
    assert_eq!(log[1]["method"], "VM.get_all");
    assert_eq!(log[1]["params"], json!(["OpaqueRef:s1"]));
    assert!(log[1]["id"].is_u64());
    assert_ne!(log[0]["id"], log[1]["id"]);
}

#[tokio::test]
async fn http_503_is_retried_for_reads_only() {
    let mut reads = 0;
    let (url, log) = serve(Box::new(move |m, _| {
        if let Some(r) = login_ok(m) {
            return r;
        }
        if m == "VM.get_all" {
            reads += 1;
            if reads == 1 {
                return Reply::Raw(503, "text/plain", "busy");
            }
            return Reply::Result(json!([]));
        }
        Reply::Raw(503, "text/plain", "busy")
    }))
    .await;
    let c = client(&url);
    assert!(c.vm().get_all().await.unwrap().is_empty());
    assert_eq!(c.call_counts()["VM.get_all"], 2);
    let e = c
        .vm()
        .set_name_label(&xapi::VmRef::new("OpaqueRef:v"), "x")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Http { status: 503, .. }), "{e}");
    assert_eq!(c.call_counts()["VM.set_name_label"], 1);
    let sent = log.lock().unwrap();
    assert_eq!(
        sent.iter()
            .filter(|r| r["method"] == "VM.set_name_label")
            .count(),
        1
    );
}

#[tokio::test]
async fn malformed_responses_are_protocol_errors() {
    let (url, _log) = serve(Box::new(|m, _| {
        if let Some(r) = login_ok(m) {
            return r;
        }
        match m {
            "VM.get_all" => Reply::Raw(500, "text/html", "<html>Internal error</html>"),
            "host.get_all" => Reply::Raw(200, "text/html", "<html>not json</html>"),
            _ => Reply::Result(json!({"unexpected": true})),
        }
    }))
    .await;
    let c = client(&url);
    let e = c.vm().get_all().await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 500, .. }), "{e}");
    let e = c.host().get_all().await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e}");
    // A result of the wrong type.
    let e = c.sr().get_all().await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e}");
}

#[tokio::test]
async fn lenient_records_and_v1_errors() {
    let (url, _log) = serve(Box::new(|m, _| {
        if let Some(r) = login_ok(m) {
            return r;
        }
        match m {
            "VM.get_record" => Reply::Result(json!({
                "uuid": "u", "power_state": "running", "memory_static_max": "4294967296",
                "VCPUs_max": "4", "is_a_template": false, "other_config": {"k": "v"}
            })),
            "VM.destroy" => Reply::Raw(
                200,
                "application/json",
                r#"{"result":null,"error":["VM_BAD_POWER_STATE","OpaqueRef:v","halted, suspended","running"],"id":null}"#,
            ),
            _ => Reply::Error(vec!["SOMETHING_NEW".into(), "a".into(), "b".into()]),
        }
    }))
    .await;
    let c = client(&url);
    let vm = xapi::VmRef::new("OpaqueRef:v");
    let r = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(r.power_state, xapi::PowerState::Running);
    assert_eq!(r.memory_static_max, 4 << 30);
    assert_eq!(r.vcpus_max, 4);
    let e = c.vm().destroy(&vm).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    assert_eq!(e.api().unwrap().param(1), Some("halted, suspended"));
    let e = c.vm().provision(&vm).await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::Other("SOMETHING_NEW".into())));
    assert_eq!(e.api().unwrap().params, vec!["a", "b"]);
}

#[tokio::test]
async fn endless_host_is_slave_stops() {
    let addr = Arc::new(Mutex::new(String::new()));
    let addr2 = addr.clone();
    let (url, log) = serve(Box::new(move |_, _| {
        Reply::Error(vec!["HOST_IS_SLAVE".into(), addr2.lock().unwrap().clone()])
    }))
    .await;
    *addr.lock().unwrap() = url.trim_start_matches("http://").to_string();
    let c = client(&url);
    let e = c.login().await.unwrap_err();
    assert!(matches!(e, Error::TooManyRedirects { .. }), "{e}");
    // The first attempt plus max_master_redirects (3) redirects.
    assert_eq!(log.lock().unwrap().len(), 4);
}
