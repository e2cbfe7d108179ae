//! Helpers for the Windows tests: Windows VMs from the ready template, guest views, waits.
#![allow(dead_code)]

use serde_json::{Value as J, json};

use crate::common::Pool;

pub const WIN_TEMPLATE: &str = "labpool Windows Server 2022 cloudbase-init";

pub const UNATTEND: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64"><ComputerName>WEB-01</ComputerName></component>
    <component name="Microsoft-Windows-Deployment" processorArchitecture="amd64"><RunSynchronous>
      <RunSynchronousCommand wcm:action="add" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State"><Order>1</Order><Path>powershell -Command Enable-PSRemoting</Path><Description>remoting</Description></RunSynchronousCommand>
    </RunSynchronous></component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-International-Core" processorArchitecture="amd64"><InputLocale>de-DE</InputLocale><SystemLocale>de-DE</SystemLocale><UILanguage>en-US</UILanguage><UserLocale>de-CH</UserLocale></component>
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64"><UserAccounts>
      <AdministratorPassword><Value>Adm1n-S3cret!</Value><PlainText>true</PlainText></AdministratorPassword>
    </UserAccounts></component>
  </settings>
</unattend>"#;

pub const SECRET: &str = "Adm1n-S3cret!";

/// UNATTEND with the password value redacted, as the guest view must show it.
pub fn redacted() -> String {
    UNATTEND.replace("<Value>Adm1n-S3cret!</Value>", "<Value>***</Value>")
}

/// A halted Windows VM (not a template) from the ready template, with VIFs on network 0.
pub async fn windows_vm(p: &Pool, name: &str, macs: &[&str]) -> String {
    let vm = p.clone_of(WIN_TEMPLATE, name).await;
    p.ok("VM.provision", json!([vm])).await;
    p.ok("VM.set_is_a_template", json!([vm, false])).await;
    let net = p.network0().await;
    for (i, mac) in macs.iter().enumerate() {
        p.vif(&vm, &i.to_string(), mac, &net)
            .await
            .expect("VIF.create");
    }
    vm
}

pub async fn uuid(p: &Pool, vm: &str) -> String {
    p.s("VM.get_uuid", json!([vm])).await
}

/// Starts the VM and waits until its agent reports (with `feature-sysprep` when `feature`).
pub async fn start_and_wait(p: &Pool, vm: &str) -> J {
    p.ok("VM.start", json!([vm, false, false])).await;
    p.wait_guest(vm, |gm| gm["os_version"]["distro"] == "windows")
        .await
}

pub async fn guest(p: &Pool, vm: &str) -> J {
    let u = uuid(p, vm).await;
    p.admin_get(&format!("guest/{u}")).await
}

pub async fn set_guest(p: &Pool, vm: &str, body: J) -> J {
    let u = uuid(p, vm).await;
    p.admin_post(&format!("guest/{u}"), body).await
}

/// The VM's CD VBD.
pub async fn cd_vbd(p: &Pool, vm: &str) -> Option<String> {
    let rec = p.record("VM", vm).await;
    for b in rec["VBDs"].as_array().unwrap() {
        let b = b.as_str().unwrap();
        if p.record("VBD", b).await["type"] == "CD" {
            return Some(b.to_string());
        }
    }
    None
}

pub async fn power_state(p: &Pool, vm: &str) -> String {
    p.s("VM.get_power_state", json!([vm])).await
}

/// Polls until `pred` holds (5 s at most).
pub async fn eventually<F, Fut>(what: &str, mut pred: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if pred().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every admin dump concatenated (objects, counts, hosts, faults, every VM's guest view).
pub async fn all_dumps(p: &Pool) -> String {
    let mut out = String::new();
    let objects = p.admin_get("objects").await;
    out.push_str(&objects.to_string());
    for path in ["counts", "hosts", "faults"] {
        out.push_str(&p.admin_get(path).await.to_string());
    }
    for (_, vm) in objects["VM"].as_object().unwrap() {
        let u = vm["uuid"].as_str().unwrap();
        out.push_str(&p.admin_get(&format!("guest/{u}")).await.to_string());
    }
    out
}
