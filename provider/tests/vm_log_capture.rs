//! `xenapi_vm` user-data never reaches the logs, even at trace level.
//!
//! This test has its own test binary: it installs the process-wide `tracing`
//! subscriber, so that events from every thread are captured and no other test
//! running in parallel can race with the subscriber's callsite registration
//! (which made a scoped subscriber miss events in a shared binary).

mod vm_support;

use schema::Value;
use terraform_provider_xenapi::resources::vm::schema::{attr, ci, nic};
use tracing_subscriber::layer::SubscriberExt;
use vm_support::*;

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn config_with_user_data(user_data: &str) -> Value {
    vm(&[
        (attr::NAME_LABEL, Value::from("log-1")),
        (attr::MEMORY, memory(None, G, None, None)),
        (
            attr::NETWORK_INTERFACE,
            Value::List(vec![nic_block(&[(
                nic::EXPECTED_IP_CIDR,
                Value::from("192.168.100.0/24"),
            )])]),
        ),
        (
            attr::CLOUD_INIT,
            cloud_init(&[(ci::USER_DATA, Value::from(user_data))]),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_never_reaches_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false),
        )
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("terraform_provider_xenapi", tracing::Level::TRACE)
                .with_target("xapi", tracing::Level::TRACE),
        );
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber of this binary");

    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let secret = "password: s3cr3t-Us3r-Data-42";
    let (state, _) = tf.up(&Value::Null, &config_with_user_data(secret)).await;
    let (state, _) = tf
        .up(&state, &config_with_user_data(&format!("{secret}-v2")))
        .await;
    let (_, _) = tf.import(s(&state, attr::ID)).await;
    assert!(errors(&tf.destroy(&state).await).is_empty());
    let text = String::from_utf8_lossy(&capture.0.lock().unwrap()).to_string();
    assert!(text.contains("VM created"), "nothing captured: {text}");
    assert!(!text.contains("s3cr3t"), "user-data in the logs");
}
