//! No secret (password, session id) reaches the logs or `Debug` output.
//!
//! Its own test binary: it installs the process-wide `tracing` subscriber so
//! that every thread's events are captured and no parallel test can race with
//! the subscriber's callsite registration.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

/// A writer that collects everything `tracing` prints.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_or_debug_output() {
    let lab = Lab::start().await;
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber of this binary");

    let c = lab.client();
    let vm = new_vm(&c, "log-check").await;
    lab.expire_sessions().await;
    c.vm().get_record(&vm).await.unwrap();
    let e = c
        .call("VM.get_record", vec![serde_json::json!("OpaqueRef:nope")])
        .await
        .unwrap_err();
    c.logout().await.unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("VM.get_record"),
        "spans carry method names: {logs}"
    );
    assert!(
        logs.contains("session no longer valid"),
        "re-login is logged: {logs}"
    );
    // No reference of any kind (session ids are OpaqueRefs) is logged.
    assert!(!logs.contains("OpaqueRef:"), "{logs}");
    let debug = format!("{c:?} {:?}", c.config());
    assert!(!debug.contains("OpaqueRef:"), "{debug}");
    // The failed call's error names the VM reference it was given, nothing else.
    assert!(e.is_not_found());
    assert!(!logs.contains(PASSWORD));
    assert!(!debug.contains(PASSWORD));
}
