//! `VM.sysprep` through the client, against every XAPI version the lab pool simulates.

mod common;

use std::time::Duration;

use common::*;
use labpool::api::sysprep::SysprepMode;
use xapi::{Client, ErrorCode, PowerState, SysprepSignature, VmRef};

const UNATTEND: &str = "<?xml version=\"1.0\"?><unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><settings pass=\"oobeSystem\"/></unattend>";

/// A running Windows VM whose agent advertises `feature-sysprep`.
async fn running_windows(c: &Client, name: &str) -> VmRef {
    let tpl = template(c, WINDOWS_TEMPLATE).await;
    let vm = c.vm().clone(&tpl, name).await.unwrap();
    c.vm().provision(&vm).await.unwrap();
    c.vm().start(&vm, false, false).await.unwrap();
    c.wait_for_guest_metrics(&vm, Duration::from_secs(30), |g| {
        g.other.get("feature-sysprep").map(String::as_str) == Some("1")
    })
    .await
    .unwrap();
    vm
}

#[tokio::test]
async fn sysprep_with_timeout_parameter() {
    let lab = Lab::start_with_sysprep(SysprepMode::Full).await;
    let c = lab.client();
    let vm = running_windows(&c, "win-full").await;
    let sig = c
        .vm()
        .sysprep(&vm, UNATTEND, 60.0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(sig, SysprepSignature::WithTimeout);
    let uuid = c.vm().get_record(&vm).await.unwrap().uuid;
    let view = lab.admin_get(&format!("guest/{uuid}")).await;
    assert_eq!(
        view["sysprep_runs"].as_array().map(Vec::len),
        Some(1),
        "{view}"
    );
    // The task is cleaned up and the unattend content was never logged by the client.
    let tasks = c.task().get_all_records().await.unwrap();
    assert!(tasks.values().all(|t| t.name_label != "Async.VM.sysprep"));
}

#[tokio::test]
async fn sysprep_without_timeout_parameter_is_detected() {
    let lab = Lab::start_with_sysprep(SysprepMode::NoTimeout).await;
    let c = lab.client();
    let vm = running_windows(&c, "win-old").await;
    let sig = c
        .vm()
        .sysprep(&vm, UNATTEND, 60.0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(sig, SysprepSignature::WithoutTimeout);
    let counts = c.call_counts();
    assert_eq!(
        counts["Async.VM.sysprep"], 2,
        "one refused at dispatch, one run"
    );
}

#[tokio::test]
async fn sysprep_absent_or_disabled_is_reported() {
    let lab = Lab::start_with_sysprep(SysprepMode::Absent).await;
    let c = lab.client();
    let vm = running_windows(&c, "win-absent").await;
    let e = c
        .vm()
        .sysprep(&vm, UNATTEND, 60.0, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::MessageMethodUnknown), "{e}");

    let lab = Lab::start_with_sysprep(SysprepMode::Disabled).await;
    let c = lab.client();
    let vm = running_windows(&c, "win-disabled").await;
    let e = c
        .vm()
        .sysprep(&vm, UNATTEND, 60.0, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::Sysprep), "{e}");
    assert_eq!(e.api().unwrap().param(1), Some("API call is disabled"));
    assert!(!format!("{e} {e:?}").contains("unattend xmlns"));
}

#[tokio::test]
async fn sysprep_preconditions() {
    let lab = Lab::start().await;
    let c = lab.client();
    // Halted VM: the operation gate.
    let tpl = template(&c, WINDOWS_TEMPLATE).await;
    let halted = c.vm().clone(&tpl, "win-halted").await.unwrap();
    c.vm().provision(&halted).await.unwrap();
    let e = c
        .vm()
        .sysprep(&halted, UNATTEND, 60.0, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    // A Linux guest has no sysprep-capable agent.
    let linux = new_vm(&c, "linux").await;
    c.vm().start(&linux, false, false).await.unwrap();
    c.wait_for_guest_metrics(&linux, Duration::from_secs(30), |_| true)
        .await
        .unwrap();
    let e = c
        .vm()
        .sysprep(&linux, UNATTEND, 60.0, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::Sysprep), "{e}");
    assert_eq!(
        e.api().unwrap().param(1),
        Some("VM driver does not support sysprep")
    );
    // The async form returns the task; its failure carries the same code.
    let task = c
        .vm()
        .sysprep_async(&linux, UNATTEND, Some(60.0))
        .await
        .unwrap();
    let e = c
        .await_task(&task, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::Sysprep), "{e}");
    assert_eq!(
        c.vm().get_record(&linux).await.unwrap().power_state,
        PowerState::Running
    );
}
