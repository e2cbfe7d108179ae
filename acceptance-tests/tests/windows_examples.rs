//! `examples/windows/` applied as written, with real Terraform (every CLI of
//! the matrix), on a fresh lab pool: the sysprep example runs sysprep once
//! with its rendered unattend (password redacted in the lab pool's view,
//! absent from the state) and ends running; the cloudbase-init example's two
//! NICs report their static addresses on their MACs. Second plans are empty;
//! destroy leaves no VM.

use acceptance_tests::cli::{matrix, workspace_root};
use acceptance_tests::{LabPool, ProviderMode, State, WorkDir};
use serde_json::Value as Json;

const PASSWORD: &str = "Ex4mple-Only-Secret";

fn run_example(name: &str, check: impl Fn(&mut WorkDir, &LabPool, &Json) -> Result<(), String>) {
    let dir = workspace_root().join("examples/windows").join(name);
    let mut failures = Vec::new();
    for cli in matrix().expect("Terraform CLI matrix") {
        let pool = LabPool::start_lab(labpool::Config::default()).expect("lab pool");
        let mut wd = WorkDir::new(cli, ProviderMode::DevOverrides).expect("work dir");
        for (k, v) in pool.provider_env() {
            wd.set_env(&k, &v);
        }
        wd.set_env("TF_VAR_admin_password", PASSWORD);
        let result = (|| -> Result<(), String> {
            wd.copy_config_dir(&dir).map_err(|e| e.to_string())?;
            wd.apply(&[]).map_err(|e| e.to_string())?;
            let state = wd.state().map_err(|e| e.to_string())?;
            check(&mut wd, &pool, &state)?;
            for refresh in [false, true] {
                let p = wd.plan_detailed(refresh).map_err(|e| e.to_string())?;
                if !p.empty {
                    return Err(format!("second plan not empty:\n{}", p.output.stdout));
                }
            }
            Ok(())
        })();
        let destroyed = wd.destroy().map(|_| ()).map_err(|e| e.to_string());
        let vms_left = pool
            .admin_get("/labpool/objects/VM")
            .ok()
            .flatten()
            .map(|d| d.to_string().contains("\"xenapi-terraform-owner\""))
            .unwrap_or(false);
        let mut errs: Vec<String> = [result.err(), destroyed.err()]
            .into_iter()
            .flatten()
            .collect();
        if vms_left {
            errs.push("a VM made by the example is left after destroy".into());
        }
        if errs.is_empty() {
            eprintln!("examples/windows/{name}: passed with {cli}");
        } else {
            failures.push(format!("{cli}: {}", errs.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn example_windows_sysprep_applies_on_the_lab_pool() {
    run_example("sysprep", |wd, pool, state| {
        let st = State(state);
        let uuid = st.attr_str("xenapi_vm.win", "id").ok_or("no id")?;
        if st.attr("xenapi_vm.win", "sysprep.runs") != Some(serde_json::json!(1)) {
            return Err("sysprep.runs should be 1".into());
        }
        let raw = wd.raw_state().ok_or("no state file")?;
        if raw.contains(PASSWORD) || state.to_string().contains(PASSWORD) {
            return Err("the password is in the state".into());
        }
        let guest = pool
            .guest(&uuid)
            .map_err(|e| e.to_string())?
            .ok_or("no guest")?;
        let runs = guest
            .get("sysprep_runs")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if runs.len() != 1 {
            return Err(format!("expected one sysprep run: {guest}"));
        }
        let text = runs[0].get("unattend").and_then(Json::as_str).unwrap_or("");
        if !text.contains("<ComputerName>WIN-SYSPREP-1</ComputerName>")
            || text.contains(PASSWORD)
            || !text.contains("<Value>***</Value>")
        {
            return Err(format!("unexpected unattend received:\n{text}"));
        }
        if st.attr_str("xenapi_vm.win", "power_state").as_deref() != Some("running") {
            return Err("the VM should be running".into());
        }
        Ok(())
    });
}

#[test]
fn example_windows_cloudbase_init_applies_on_the_lab_pool() {
    run_example("cloudbase-init", |_, _, state| {
        let st = State(state);
        for (i, ip) in ["192.168.10.21", "10.20.0.21"].iter().enumerate() {
            let got = st.attr(
                "xenapi_vm.win",
                &format!("network_interface.{i}.ipv4_addresses"),
            );
            if got != Some(serde_json::json!([ip])) {
                return Err(format!(
                    "network_interface[{i}] reported {got:?}, expected [{ip}]"
                ));
            }
            let mac = st
                .attr_str("xenapi_vm.win", &format!("network_interface.{i}.mac"))
                .ok_or("no mac")?;
            let out = st.output("ipv4_addresses").unwrap_or(Json::Null);
            if out.get("value").and_then(|v| v.get(&mac)) != Some(&serde_json::json!([ip]))
                && out.get(&mac) != Some(&serde_json::json!([ip]))
            {
                return Err(format!("output ipv4_addresses {out} lacks {mac} => [{ip}]"));
            }
        }
        Ok(())
    });
}
