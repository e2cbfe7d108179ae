//! The go-plugin transport at the gRPC level: handshake line, AutoMTLS with a
//! pinned P-521 client certificate, health, GRPCController.Shutdown,
//! StopProvider cancellation, concurrency and message limits; and the built
//! binary as Terraform starts it.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use proto::plugin as gp;
use proto::tfplugin6 as pb;
use schema::{Type, Value};
use support::*;
use terraform_provider_xenapi::server::handshake::MAGIC_COOKIE_VALUE;

#[tokio::test]
async fn plaintext_handshake_line_and_reattach_json() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let line = server.handshake_line();
    assert!(line.ends_with('\n'));
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 6, "{line}");
    assert_eq!(&parts[..3], ["1", "6", "unix"]);
    assert_eq!(parts[3], server.socket_path().to_str().unwrap());
    assert!(server.socket_path().starts_with(dir.path()));
    assert_eq!(parts[4], "grpc");
    assert_eq!(parts[5], "", "plaintext has no certificate");

    let json: serde_json::Value =
        serde_json::from_str(&server.reattach_json("registry.terraform.io/xenapi/xenapi")).unwrap();
    let entry = &json["registry.terraform.io/xenapi/xenapi"];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Pid"], std::process::id());
    assert_eq!(entry["Addr"]["Network"], "unix");
    assert_eq!(entry["Addr"]["String"], parts[3]);

    let path = server.socket_path().to_path_buf();
    server.shutdown().await.unwrap();
    assert!(!path.exists(), "the socket is removed on exit");
}

#[tokio::test]
async fn mtls_accepts_exactly_the_pinned_p521_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = go_plugin_client_cert();
    let (server, _) = start(dir.path(), Some(pinned.cert_pem.clone())).await;

    // The handshake carries the server certificate, base64 without padding.
    let line = server.handshake_line().trim_end().to_owned();
    let b64 = line.rsplit('|').next().unwrap();
    assert!(b64.len() > 50 && !b64.ends_with('='));
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64)
        .unwrap();
    assert_eq!(Some(der.as_slice()), server.server_cert_der());

    // The pinned certificate works, with ALPN h2.
    let (channel, alpn) = tls_connect(server.socket_path(), client_tls(&der, Some(&pinned)))
        .await
        .expect("pinned client connects");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let mut client = pb::provider_client::ProviderClient::new(channel);
    let s = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("RPC over mTLS")
        .into_inner();
    assert!(s.provider.is_some());

    // Another P-521 certificate of the same shape is refused.
    let other = go_plugin_client_cert();
    let refused = match tls_connect(server.socket_path(), client_tls(&der, Some(&other))).await {
        Err(_) => true,
        Ok((channel, _)) => pb::provider_client::ProviderClient::new(channel)
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .is_err(),
    };
    assert!(refused, "a client with another certificate must be refused");

    // No certificate at all is refused.
    let refused = match tls_connect(server.socket_path(), client_tls(&der, None)).await {
        Err(_) => true,
        Ok((channel, _)) => pb::provider_client::ProviderClient::new(channel)
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");

    // Plaintext against the TLS server fails.
    let mut plain =
        pb::provider_client::ProviderClient::new(plain_channel(server.socket_path()).await);
    assert!(
        plain
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .is_err()
    );

    // The pinned client still works after the refusals.
    let (channel, _) = tls_connect(server.socket_path(), client_tls(&der, Some(&pinned)))
        .await
        .unwrap();
    assert!(
        pb::provider_client::ProviderClient::new(channel)
            .get_metadata(pb::get_metadata::Request {})
            .await
            .is_ok()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_reports_plugin_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut health = HealthClient::new(plain_channel(server.socket_path()).await);
    let r = health
        .check(HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn controller_shutdown_stops_the_server_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let path = server.socket_path().to_path_buf();
    let channel = plain_channel(&path).await;
    let mut stdio = gp::grpc_stdio_client::GrpcStdioClient::new(channel.clone());
    let mut s = stdio.stream_stdio(()).await.unwrap().into_inner();
    assert!(s.message().await.unwrap().is_none(), "nothing to forward");

    let waiter = tokio::spawn(server.wait());
    let mut ctl = gp::grpc_controller_client::GrpcControllerClient::new(channel);
    let t0 = Instant::now();
    ctl.shutdown(gp::Empty {}).await.expect("Shutdown answers");
    drop(ctl);
    tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("server stops within go-plugin's 2 s")
        .unwrap()
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!path.exists());
}

#[tokio::test]
async fn stop_provider_cancels_in_flight_work_and_later_calls_work() {
    let dir = tempfile::tempdir().unwrap();
    let (server, provider) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let r = c
        .configure_provider(pb::configure_provider::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty());
    let ty = thing_type();
    let create = |name: &str| {
        let mut planned = thing(&[("name", Value::from(name))]);
        if let Value::Object(m) = &mut planned {
            m.insert("id".into(), Value::unknown());
            m.insert("revision".into(), Value::unknown());
        }
        pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null, &ty),
            planned_state: dv(&planned, &ty),
            config: dv(&thing(&[("name", Value::from(name))]), &ty),
            planned_private: b"planned".to_vec(),
            ..Default::default()
        }
    };
    let mut slow_client = c.clone();
    let slow_req = create("slow");
    let t0 = Instant::now();
    let slow = tokio::spawn(async move { slow_client.apply_resource_change(slow_req).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!slow.is_finished(), "the slow create is in flight");
    let r = c
        .stop_provider(pb::stop_provider::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.error, "");
    let r = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("cancelled promptly")
        .unwrap()
        .unwrap()
        .into_inner();
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(errors(&r.diagnostics)[0].summary, "Cancelled");
    assert_eq!(provider.counters.cancelled.load(Ordering::SeqCst), 1);

    // StopProvider is not an exit: later work runs with a fresh token.
    let r = c
        .apply_resource_change(create("fast"))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        undv(&r.new_state, &ty).get("id"),
        Some(&Value::from("t-fast"))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_rpcs_and_messages_above_4_mib() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let c = plain_client(server.socket_path()).await;
    let ty = thing_type();

    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut c = c.clone();
        let ty = ty.clone();
        tasks.push(tokio::spawn(async move {
            let config = thing(&[("name", Value::from(format!("n{i}")))]);
            c.plan_resource_change(pb::plan_resource_change::Request {
                type_name: "test_thing".into(),
                prior_state: dv(&Value::Null, &ty),
                proposed_new_state: dv(&config, &ty),
                config: dv(&config, &ty),
                ..Default::default()
            })
            .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap().unwrap().into_inner();
        assert!(r.diagnostics.is_empty());
        let v = undv(&r.planned_state, &ty);
        assert_eq!(v.get("name"), Some(&Value::from(format!("n{i}"))));
    }

    // A 6 MiB value (tonic's default limit is 4 MiB), both ways.
    let big = "x".repeat(6 << 20);
    let config = thing(&[("name", Value::from(big.as_str()))]);
    let mut c = c.clone();
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(&Value::Null, &ty),
            proposed_new_state: dv(&config, &ty),
            config: dv(&config, &ty),
            ..Default::default()
        })
        .await
        .expect("large messages are accepted")
        .into_inner();
    assert_eq!(
        undv(&r.planned_state, &ty)
            .get("name")
            .and_then(Value::as_str),
        Some(big.as_str())
    );
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// The binary, started the way go-plugin starts it
// ---------------------------------------------------------------------------

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terraform-provider-xenapi"));
    for var in [
        "TF_PLUGIN_MAGIC_COOKIE",
        "PLUGIN_CLIENT_CERT",
        "TF_DISABLE_PLUGIN_TLS",
        "PLUGIN_PROTOCOL_VERSIONS",
        "PLUGIN_UNIX_SOCKET_DIR",
        "TF_LOG",
        "TF_LOG_PROVIDER",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

#[test]
fn run_by_hand_prints_a_friendly_message_and_exits_1() {
    let out = binary().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not meant to be run directly"), "{err}");
    let out = binary()
        .env("TF_PLUGIN_MAGIC_COOKIE", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

struct Plugin {
    child: std::process::Child,
    line: String,
}

impl Plugin {
    fn start(dir: &std::path::Path, tls: Option<&str>, disable_tls: bool) -> Plugin {
        let mut cmd = binary();
        cmd.env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
            .env("PLUGIN_UNIX_SOCKET_DIR", dir)
            .env("TF_LOG", "DEBUG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(pem) = tls {
            cmd.env("PLUGIN_CLIENT_CERT", pem);
        }
        if disable_tls {
            cmd.env("TF_DISABLE_PLUGIN_TLS", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Plugin { child, line }
    }

    fn socket(&self) -> std::path::PathBuf {
        self.line.split('|').nth(3).unwrap().into()
    }

    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut s).unwrap();
        }
        s
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_with_automtls_ignores_sigint_and_exits_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = go_plugin_client_cert();
    let mut plugin = Plugin::start(dir.path(), Some(&pinned.cert_pem), false);
    let parts: Vec<&str> = plugin.line.trim_end().split('|').collect();
    assert_eq!(&parts[..3], ["1", "6", "unix"], "{}", plugin.line);
    assert_eq!(parts[4], "grpc");
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .expect("server certificate in the handshake");
    let socket = plugin.socket();
    assert!(socket.starts_with(dir.path()));

    let (channel, alpn) = tls_connect(&socket, client_tls(&der, Some(&pinned)))
        .await
        .expect("mTLS with the pinned certificate");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let mut client = pb::provider_client::ProviderClient::new(channel.clone());
    let s = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(s.resource_schemas.contains_key("xenapi_mac_address"));

    // Ctrl-C in the terminal reaches the provider too: it must survive it.
    let pid = plugin.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "SIGINT is ignored"
    );
    assert!(
        client
            .get_metadata(pb::get_metadata::Request {})
            .await
            .is_ok()
    );

    let t0 = Instant::now();
    gp::grpc_controller_client::GrpcControllerClient::new(channel)
        .shutdown(gp::Empty {})
        .await
        .unwrap();
    drop(client);
    let status = plugin
        .wait_exit(Duration::from_secs(2))
        .expect("exits within 2 s of Shutdown");
    assert!(status.success());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!socket.exists(), "socket removed");
    // Logs are hclog JSON lines on stderr.
    let err = plugin.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("Shutdown"))
        .unwrap_or_else(|| panic!("no Shutdown log in {err}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["@level"], "debug");
    assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_with_tls_disabled_serves_plaintext_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = go_plugin_client_cert();
    // TF_DISABLE_PLUGIN_TLS wins even if a certificate is present.
    let mut plugin = Plugin::start(dir.path(), Some(&pinned.cert_pem), true);
    assert!(plugin.line.ends_with("|grpc|\n"), "{}", plugin.line);
    let socket = plugin.socket();
    let mut client = plain_client(&socket).await;
    let ty = Type::String;
    let r = client
        .call_function(pb::call_function::Request {
            name: "mac_address".into(),
            arguments: vec![dv(&Value::from("seed"), &ty).unwrap()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none(), "{:?}", r.error);
    let pid = plugin.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(plugin.wait_exit(Duration::from_secs(3)).is_some());
    assert!(!socket.exists());
}

#[test]
fn debug_mode_prints_tf_reattach_providers() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .args(["--debug", "--address", "example.com/test/xenapi"])
        .env("PLUGIN_UNIX_SOCKET_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut found = None;
    for _ in 0..10 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            found = Some(rest.trim_end_matches('\'').to_owned());
            break;
        }
    }
    let json = found.expect("a TF_REATTACH_PROVIDERS line");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let e = &v["example.com/test/xenapi"];
    assert_eq!(e["ProtocolVersion"], 6);
    assert_eq!(e["Pid"], child.id());
    let socket = std::path::PathBuf::from(e["Addr"]["String"].as_str().unwrap());
    assert!(socket.exists());
    // Ctrl-C stops debug mode.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "debug mode stops on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!socket.exists());
}
