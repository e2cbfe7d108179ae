//! `VM.sysprep` as XAPI does it: happy path (JSON-RPC async, XML-RPC sync), every failure
//! cause with its message, the simulated older XAPI versions, and redaction.
mod common;
mod windows_support;

use common::Pool;
use labpool::api::sysprep::{SysprepConfig, SysprepMode};
use serde_json::{Value as J, json};
use windows_support::*;

async fn pool_with(mode: SysprepMode) -> Pool {
    Pool::start_with(labpool::Config {
        boot_seconds: 0.05,
        sysprep: SysprepConfig {
            mode,
            wait_seconds: 0.05,
            ack_timeout_seconds: 0.5,
            guest_seconds: 0.2,
        },
        ..labpool::Config::default()
    })
    .await
}

async fn running_windows(p: &Pool, name: &str) -> String {
    let vm = windows_vm(p, name, &["02:1e:00:00:00:01"]).await;
    let gm = start_and_wait(p, &vm).await;
    assert_eq!(gm["other"]["feature-sysprep"], "1");
    vm
}

#[tokio::test]
async fn async_sysprep_over_json_rpc_runs_the_whole_handshake() {
    let p = pool_with(SysprepMode::Full).await;
    let vm = running_windows(&p, "win-1").await;
    let u = uuid(&p, &vm).await;
    let cd = cd_vbd(&p, &vm).await.unwrap();
    let gm = p.wait_guest(&vm, |_| true).await;
    assert!(
        gm["os_version"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Microsoft Windows Server 2022 Standard")
    );
    assert_eq!(gm["PV_drivers_detected"], true);
    let view = guest(&p, &vm).await;
    let domid = p.ok("VM.get_domid", json!([vm])).await.as_i64().unwrap();
    assert_eq!(
        view["xenstore"][format!("/local/domain/{domid}/control/feature-sysprep")],
        "1"
    );
    set_guest(&p, &vm, json!({"sysprep_seconds": 0.6})).await;

    let task = p.s("Async.VM.sysprep", json!([vm, UNATTEND, 30.0])).await;
    assert!(task.starts_with("OpaqueRef:"));
    // While it runs: the ISO is in the CD drive, the agent acknowledged, the op is current.
    let action_key = format!("/local/domain/{domid}/control/sysprep/action");
    eventually("the guest to acknowledge", || async {
        guest(&p, &vm).await["xenstore"][&action_key] == "running"
    })
    .await;
    let view = guest(&p, &vm).await;
    assert_eq!(
        view["xenstore"][format!("/local/domain/{domid}/control/sysprep/filename")],
        "D://unattend.xml"
    );
    let vdi_uuid = view["xenstore"][format!("/local/domain/{domid}/control/sysprep/vdi-uuid")]
        .as_str()
        .unwrap()
        .to_string();
    let cdrec = p.record("VBD", &cd).await;
    assert_eq!(cdrec["empty"], false);
    let vdi = cdrec["VDI"].as_str().unwrap().to_string();
    let vdirec = p.record("VDI", &vdi).await;
    assert_eq!(vdirec["uuid"], vdi_uuid.as_str());
    let label = vdirec["name_label"].as_str().unwrap();
    assert!(label.starts_with(&format!("sysprep-{u}-")) && label.ends_with(".iso"));
    let sr = p.record("SR", vdirec["SR"].as_str().unwrap()).await;
    let host = p.s("VM.get_resident_on", json!([vm])).await;
    let hostname = p.s("host.get_hostname", json!([host])).await;
    let sr_name = sr["name_label"].as_str().unwrap();
    assert!(
        sr_name.starts_with(&format!("SYSPREP-{hostname}-"))
            && sr_name.len() == format!("SYSPREP-{hostname}-").len() + 4
    );
    assert_eq!(sr["type"], "iso");
    assert_eq!(sr["content_type"], "iso");
    assert_eq!(sr["name_description"], "Sysprep ISOs");
    let ops = p.ok("VM.get_current_operations", json!([vm])).await;
    assert_eq!(ops[&task], "sysprep");
    // A second sysprep meanwhile is refused.
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 30.0])).await,
        vec!["OTHER_OPERATION_IN_PROGRESS", "VM", &vm, "sysprep", &task]
    );

    let t = p.wait_task(&task).await;
    assert_eq!(t["status"], "success", "{t}");
    assert_eq!(t["result"], "<value></value>");
    assert_eq!(power_state(&p, &vm).await, "Halted");
    let cdrec = p.record("VBD", &cd).await;
    assert_eq!(cdrec["empty"], true);
    assert_eq!(cdrec["VDI"], "OpaqueRef:NULL");
    assert_eq!(
        p.ok("VM.get_current_operations", json!([vm])).await,
        json!({})
    );

    let view = guest(&p, &vm).await;
    let runs = view["sysprep_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["unattend"], redacted().as_str());
    assert_eq!(run["unattend_bytes"], UNATTEND.len());
    assert_eq!(run["outcome"], "shut down");
    assert_eq!(run["vdi"], vdi_uuid.as_str());
    let a = &run["applied"];
    assert_eq!(a["computer_name"], "WEB-01");
    assert_eq!(
        a["locale"],
        json!({"input_locale": "de-DE", "system_locale": "de-DE", "ui_language": "en-US", "user_locale": "de-CH"})
    );
    assert_eq!(
        a["run_synchronous"],
        json!([{"order": "1", "path": "powershell -Command Enable-PSRemoting", "description": "remoting"}])
    );
    assert_eq!(a["administrator_password_present"], true);
    assert_eq!(a["passes"], json!(["specialize", "oobeSystem"]));
    assert_eq!(view["xenstore"], json!({}));

    // The password is nowhere in the admin dumps, and the ISO's bytes are gone.
    let dumps = all_dumps(&p).await;
    assert!(!dumps.contains(SECRET));
    assert!(dumps.contains("***"));
    let bytes = p
        .http
        .get(format!(
            "{}/export_raw_vdi?session_id={}&vdi={vdi}&format=raw",
            p.url(),
            p.session
        ))
        .send()
        .await
        .unwrap();
    if bytes.status().is_success() {
        let body = bytes.bytes().await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains(SECRET));
        assert!(body.iter().all(|b| *b == 0));
    }

    // Next boot: specialize applied the ComputerName.
    start_and_wait(&p, &vm).await;
    eventually("the new computer name", || async {
        guest(&p, &vm).await["hostname"] == "WEB-01"
    })
    .await;
    // A second run reuses the SR; the scan drops the previous run's ISO.
    p.ok("VM.sysprep", json!([vm, UNATTEND, 30.0])).await;
    let srs = p.ok("SR.get_by_name_label", json!([sr_name])).await;
    assert_eq!(srs.as_array().unwrap().len(), 1);
    let vdis = p.ok("SR.get_VDIs", json!([srs[0]])).await;
    assert_eq!(vdis.as_array().unwrap().len(), 1);
    assert!(!vdis.as_array().unwrap().contains(&J::String(vdi)));
    assert_eq!(
        guest(&p, &vm).await["sysprep_runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

fn xmlrpc_call(method: &str, params: &[&str], timeout: f64) -> String {
    let mut body =
        format!("<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>");
    for p in params {
        let esc = p
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        body.push_str(&format!(
            "<param><value><string>{esc}</string></value></param>"
        ));
    }
    body.push_str(&format!(
        "<param><value><double>{timeout}</double></value></param></params></methodCall>"
    ));
    body
}

#[tokio::test]
async fn sync_sysprep_over_xml_rpc_returns_after_the_shutdown() {
    let p = pool_with(SysprepMode::Full).await;
    let vm = running_windows(&p, "win-x").await;
    let body = xmlrpc_call("VM.sysprep", &[&p.session, &vm, UNATTEND], 20.0);
    let resp = p
        .http
        .post(format!("{}/", p.url()))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(resp.contains("Success"), "{resp}");
    assert_eq!(power_state(&p, &vm).await, "Halted");
    let runs = guest(&p, &vm).await["sysprep_runs"].clone();
    assert_eq!(runs[0]["unattend"], redacted().as_str());
}

#[tokio::test]
async fn every_failure_cause_gives_xapis_error() {
    let p = pool_with(SysprepMode::Full).await;
    let vm = windows_vm(&p, "win-f", &["02:1e:00:00:00:02"]).await;
    let u = uuid(&p, &vm).await;
    // Gate first: halted.
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        vec!["VM_BAD_POWER_STATE", &vm, "running", "halted"]
    );
    assert_eq!(
        p.err("VM.sysprep", json!(["OpaqueRef:nope", UNATTEND, 10.0]))
            .await,
        vec!["HANDLE_INVALID", "VM", "OpaqueRef:nope"]
    );
    start_and_wait(&p, &vm).await;
    let sys = |m: &str| vec!["SYSPREP".to_string(), u.clone(), m.to_string()];
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, -1.0])).await,
        vec!["INVALID_VALUE", "timeout", "-1."]
    );
    let big = format!("<unattend>{}</unattend>", "x".repeat(32 * 1024));
    assert_eq!(
        p.err("VM.sysprep", json!([vm, big, 10.0])).await,
        sys("unattend.xml file too large")
    );
    // The agent stops advertising the feature (admin toggle): metrics and xenstore follow.
    set_guest(&p, &vm, json!({"feature_sysprep": false})).await;
    let gm = p
        .wait_guest(&vm, |gm| gm["other"].get("feature-sysprep").is_none())
        .await;
    assert_eq!(gm["other"]["feature-shutdown"], "1");
    // exactly 32 KiB passes the size check and reaches the feature check
    let exact = "y".repeat(32 * 1024);
    assert_eq!(
        p.err("VM.sysprep", json!([vm, exact, 10.0])).await,
        sys("VM driver does not support sysprep")
    );
    set_guest(&p, &vm, json!({"feature_sysprep": true})).await;
    p.wait_guest(&vm, |gm| gm["other"]["feature-sysprep"] == "1")
        .await;

    // Occupied CD: an ISO from the library is inserted.
    let cd = cd_vbd(&p, &vm).await.unwrap();
    let lib = p.by_name("SR", "ISO library").await;
    let iso = p.ok("SR.get_VDIs", json!([lib])).await[0]
        .as_str()
        .unwrap()
        .to_string();
    p.ok("VBD.insert", json!([cd, iso])).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        sys("CD-ROM drive not found")
    );
    // Like XAPI, the ISO made before the CD check stays in the sysprep SR.
    let objects = p.admin_get("objects/SR").await;
    let sysprep_sr = objects
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, s)| s["name_label"].as_str().unwrap().starts_with("SYSPREP-"))
        .map(|(r, _)| r.clone())
        .expect("sysprep SR created");
    assert_eq!(
        p.ok("SR.get_VDIs", json!([sysprep_sr]))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    p.ok("VBD.eject", json!([cd])).await;

    // Internal VBD.insert / VBD.eject failures.
    p.admin_post(
        "faults/rules",
        json!({"method": "internal:VBD.insert", "count": 1, "error": "INTERNAL_ERROR"}),
    )
    .await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        sys("VM failed to insert CD")
    );
    assert_eq!(p.record("VBD", &cd).await["empty"], true);
    p.admin_post(
        "faults/rules",
        json!({"method": "internal:VBD.eject", "count": 1, "error": "INTERNAL_ERROR"}),
    )
    .await;
    set_guest(&p, &vm, json!({"sysprep_ack": false})).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        sys("VM failed to eject CD")
    );
    // (the eject failed: the CD still holds the ISO, whose bytes are gone)
    assert_eq!(p.record("VBD", &cd).await["empty"], false);
    p.ok("VBD.eject", json!([cd])).await;

    // No acknowledgement within 5 s (here 0.5 s).
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        sys("No response from sysprep within allocated time")
    );
    assert_eq!(p.record("VBD", &cd).await["empty"], true);
    assert_eq!(power_state(&p, &vm).await, "Running");
    set_guest(&p, &vm, json!({"sysprep_ack": true})).await;

    // Malformed unattend: sysprep fails in the guest, `action` stays "running".
    assert_eq!(
        p.err(
            "VM.sysprep",
            json!([vm, "<unattend><oops></unattend>", 0.4])
        )
        .await,
        sys("No response from sysprep within allocated time")
    );
    let view = guest(&p, &vm).await;
    let last = view["sysprep_runs"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["unattend"], J::Null);
    assert!(last["error"].as_str().unwrap().contains("not well-formed"));
    assert_eq!(power_state(&p, &vm).await, "Running");

    // Guest slower than the timeout: XAPI gives up, the guest still shuts down later.
    set_guest(&p, &vm, json!({"sysprep_seconds": 1.0})).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 0.3])).await,
        sys("No response from sysprep within allocated time")
    );
    assert_eq!(p.record("VBD", &cd).await["empty"], true);
    eventually("the late shutdown", || async {
        power_state(&p, &vm).await == "Halted"
    })
    .await;
    assert!(!all_dumps(&p).await.contains(SECRET));

    // No CD drive at all.
    p.ok("VBD.destroy", json!([cd])).await;
    start_and_wait(&p, &vm).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        sys("CD-ROM drive not found")
    );
}

#[tokio::test]
async fn feature_off_from_the_template_or_vm_other_config() {
    let p = pool_with(SysprepMode::Full).await;
    let vm = windows_vm(&p, "win-nf", &[]).await;
    p.ok(
        "VM.add_to_other_config",
        json!([vm, "labpool-feature-sysprep", "0"]),
    )
    .await;
    let gm = start_and_wait(&p, &vm).await;
    assert!(gm["other"].get("feature-sysprep").is_none(), "{gm}");
    let u = uuid(&p, &vm).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        vec!["SYSPREP", &u, "VM driver does not support sysprep"]
    );
    // Async: the same error ends up in the task.
    let t = p.s("Async.VM.sysprep", json!([vm, UNATTEND, 10.0])).await;
    let t = p.wait_task(&t).await;
    assert_eq!(t["status"], "failure");
    assert_eq!(
        t["error_info"],
        json!(["SYSPREP", u, "VM driver does not support sysprep"])
    );
}

#[tokio::test]
async fn older_xapi_versions() {
    // < 25.24: no such call.
    let p = pool_with(SysprepMode::Absent).await;
    let vm = running_windows(&p, "w").await;
    for m in ["VM.sysprep", "Async.VM.sysprep"] {
        assert_eq!(
            p.err(m, json!([vm, UNATTEND, 10.0])).await,
            vec!["MESSAGE_METHOD_UNKNOWN", m]
        );
    }
    let methods = p.call_raw("system.listMethods", json!([])).await.unwrap();
    assert!(!methods.as_array().unwrap().contains(&json!("VM.sysprep")));
    let host = p.ok("host.get_all", json!([])).await[0].clone();
    assert_eq!(
        p.record("host", host.as_str().unwrap()).await["software_version"]["xapi_build"],
        "25.23.0"
    );

    // 25.26-25.32 as installed: 4 parameters, disabled; the gate and the timeout check first.
    let p = pool_with(SysprepMode::Disabled).await;
    let vm = running_windows(&p, "w").await;
    let u = uuid(&p, &vm).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        vec!["SYSPREP", &u, "API call is disabled"]
    );
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, -2.5])).await,
        vec!["INVALID_VALUE", "timeout", "-2.5"]
    );
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND])).await,
        vec!["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.sysprep", "3", "2"]
    );
    let t = p.s("Async.VM.sysprep", json!([vm, UNATTEND, 10.0])).await;
    assert_eq!(
        p.wait_task(&t).await["error_info"],
        json!(["SYSPREP", u, "API call is disabled"])
    );

    // 25.24-25.25 as installed: 3 parameters, disabled.
    let p = pool_with(SysprepMode::NoTimeoutDisabled).await;
    let vm = running_windows(&p, "w").await;
    let u = uuid(&p, &vm).await;
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        vec!["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.sysprep", "2", "3"]
    );
    assert_eq!(
        p.err("VM.sysprep", json!([vm, UNATTEND])).await,
        vec!["SYSPREP", &u, "API call is disabled"]
    );

    // 25.24-25.25 enabled: 3 parameters; returns once the guest acknowledged and the CD was
    // ejected, without waiting for the shutdown.
    let p = pool_with(SysprepMode::NoTimeout).await;
    let vm = running_windows(&p, "w").await;
    set_guest(&p, &vm, json!({"sysprep_seconds": 0.8})).await;
    assert_eq!(
        p.err("Async.VM.sysprep", json!([vm, UNATTEND, 10.0])).await,
        vec![
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "Async.VM.sysprep",
            "2",
            "3"
        ]
    );
    p.ok("VM.sysprep", json!([vm, UNATTEND])).await;
    assert_eq!(power_state(&p, &vm).await, "Running");
    let cd = cd_vbd(&p, &vm).await.unwrap();
    assert_eq!(p.record("VBD", &cd).await["empty"], true);
    eventually("the shutdown after sysprep", || async {
        power_state(&p, &vm).await == "Halted"
    })
    .await;
    let run = guest(&p, &vm).await["sysprep_runs"][0].clone();
    assert_eq!(run["unattend"], redacted().as_str());
    assert_eq!(run["outcome"], "shut down");
    assert_eq!(
        p.record(
            "host",
            p.ok("host.get_all", json!([])).await[0].as_str().unwrap()
        )
        .await["software_version"]["xapi_build"],
        "25.24.0"
    );
}

#[tokio::test]
async fn the_binary_accepts_the_sysprep_mode_flag() {
    let exe = env!("CARGO_BIN_EXE_xapi-labpool");
    let out = std::process::Command::new(exe)
        .args(["--sysprep-mode", "sometimes", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-timeout-disabled"), "{err}");
}
