//! `xenapi_vm.sysprep` with real Terraform (every CLI of the matrix) against
//! the lab pool's Windows guest: one sysprep run with exactly the given
//! unattend (password redacted by the lab pool), run = "once" / "on_change",
//! the write-only variant (nothing of the unattend in `show -json` or the raw
//! state), every precondition failure's diagnostic, older XAPI versions, and
//! the unattend and password never reaching the logs at TF_LOG=trace.

use acceptance_tests::cli::matrix;
use acceptance_tests::{LabPool, PoolNames, ProviderMode, Step, TestCase, WorkDir, config};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "Acc3ptance-Pa55word!";
const PASSWORD_2: &str = "Second-Pa55word?";

fn unattend(computer: &str, password: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64">
      <ComputerName>{computer}</ComputerName>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64">
      <UserAccounts>
        <AdministratorPassword>
          <Value>{password}</Value>
          <PlainText>true</PlainText>
        </AdministratorPassword>
      </UserAccounts>
    </component>
  </settings>
</unattend>
"#
    )
}

/// What the lab pool records: the same text with every password value as `***`.
fn redacted(computer: &str) -> String {
    unattend(computer, "***")
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A heredoc body (`<<-EOT` strips the common indentation; none here).
fn heredoc(text: &str) -> String {
    format!("<<-EOT\n{text}EOT")
}

fn vm_config(sysprep: &str, extra: &str) -> String {
    let names = PoolNames::from_env();
    config(&format!(
        r#"
variable "admin_password" {{
  type      = string
  sensitive = true
  default   = "{PASSWORD}"
}}

variable "admin_password_2" {{
  type      = string
  sensitive = true
  default   = "{PASSWORD_2}"
}}

resource "xenapi_vm" "win" {{
  name_label = "win-sysprep-acc"
  template   = "{template}"
  memory = {{
    static_max = 2147483648
  }}
  network_interface {{
    network          = "{network}"
    expected_ip_cidr = "0.0.0.0/0"
  }}
{extra}
{sysprep}
}}
"#,
        template = names.windows_template,
        network = names.network,
    ))
}

fn sysprep_block(body: &str) -> String {
    format!("  sysprep = {{\n{body}\n    timeout       = 120\n    agent_timeout = 60\n  }}")
}

/// The configuration's spelling of a password: a reference to the sensitive
/// variable holding it (as users write it), never the literal.
fn var_of(password: &str) -> &'static str {
    if password == PASSWORD_2 {
        "${var.admin_password_2}"
    } else {
        "${var.admin_password}"
    }
}

fn plain(computer: &str, password: &str, run: &str) -> String {
    sysprep_block(&format!(
        "    unattend = {}\n    run = \"{run}\"",
        heredoc(&unattend(computer, var_of(password)))
    ))
}

fn vm_uuid(ctx: &acceptance_tests::Ctx<'_>) -> Result<String, String> {
    ctx.state()
        .attr_str("xenapi_vm.win", "id")
        .ok_or("xenapi_vm.win.id missing".to_string())
}

fn sysprep_runs(ctx: &acceptance_tests::Ctx<'_>) -> Result<Option<Vec<Json>>, String> {
    let Some(pool) = ctx.labpool else {
        return Ok(None);
    };
    let uuid = vm_uuid(ctx)?;
    let Some(guest) = pool.guest(&uuid).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    Ok(Some(
        guest
            .get("sysprep_runs")
            .and_then(Json::as_array)
            .cloned()
            .ok_or(format!("no sysprep_runs in the guest view: {guest}"))?,
    ))
}

fn check_runs(ctx: &acceptance_tests::Ctx<'_>, expected: &[&str]) -> Result<(), String> {
    let Some(runs) = sysprep_runs(ctx)? else {
        return Ok(());
    };
    if runs.len() != expected.len() {
        return Err(format!(
            "expected {} sysprep runs, the guest saw {}: {runs:?}",
            expected.len(),
            runs.len()
        ));
    }
    for (i, (run, want)) in runs.iter().zip(expected).enumerate() {
        let got = run.get("unattend").and_then(Json::as_str).unwrap_or("");
        if got != *want {
            return Err(format!(
                "sysprep run {i}: the guest received\n{got}\nexpected\n{want}"
            ));
        }
    }
    Ok(())
}

fn attr(ctx: &acceptance_tests::Ctx<'_>, path: &str) -> Option<Json> {
    ctx.state().attr("xenapi_vm.win", path)
}

fn power_state_is(ctx: &acceptance_tests::Ctx<'_>, want: &str) -> Result<(), String> {
    let got = ctx.state().attr_str("xenapi_vm.win", "power_state");
    if got.as_deref() != Some(want) {
        return Err(format!("power_state {got:?}, expected {want:?}"));
    }
    // The pool agrees.
    if let Some(pool) = ctx.labpool
        && let Some(dump) = pool
            .admin_get("/labpool/objects/VM")
            .map_err(|e| e.to_string())?
    {
        let uuid = vm_uuid(ctx)?;
        let text = dump.to_string();
        let found = collect_records(&dump)
            .into_iter()
            .find(|r| r.get("uuid").and_then(Json::as_str) == Some(uuid.as_str()))
            .ok_or(format!(
                "VM {uuid} not in the lab pool dump ({} bytes)",
                text.len()
            ))?;
        let ps = found
            .get("power_state")
            .and_then(Json::as_str)
            .unwrap_or("");
        if !ps.eq_ignore_ascii_case(want) {
            return Err(format!("the lab pool says the VM is {ps}, expected {want}"));
        }
    }
    Ok(())
}

fn collect_records(v: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    match v {
        Json::Object(m) => {
            if m.get("uuid").is_some_and(Json::is_string) {
                out.push(v.clone());
            } else {
                for x in m.values() {
                    out.extend(collect_records(x));
                }
            }
        }
        Json::Array(a) => {
            for x in a {
                out.extend(collect_records(x));
            }
        }
        _ => {}
    }
    out
}

#[test]
fn windows_sysprep_once_then_on_change() {
    let first = unattend("WIN-ACC-1", PASSWORD);
    let second_redacted = redacted("WIN-ACC-2");
    let first_redacted = redacted("WIN-ACC-1");
    let first_hash = sha256(&first);
    let first_hash_2 = first_hash.clone();
    let second_hash = sha256(&unattend("WIN-ACC-2", PASSWORD_2));
    TestCase::new("windows_sysprep_once_then_on_change")
        .with_pool()
        // 1. Create: one sysprep run with exactly this unattend; the VM runs.
        .step(
            Step::config(vm_config(&plain("WIN-ACC-1", PASSWORD, "once"), ""))
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    let actions = plan.actions_for("xenapi_vm.win");
                    if actions.as_deref() != Some(&["create".to_string()][..]) {
                        return Err(format!("expected create, got {actions:?}"));
                    }
                    match plan.after("xenapi_vm.win", "sysprep.runs") {
                        Some(v) if v.as_i64() == Some(1) => Ok(()),
                        other => Err(format!("planned sysprep.runs = {other:?}, expected 1")),
                    }
                })
                .state_check({
                    let first_redacted = first_redacted.clone();
                    move |ctx| {
                        check_runs(ctx, &[&first_redacted])?;
                        power_state_is(ctx, "running")?;
                        let h = attr(ctx, "sysprep.unattend_sha256");
                        if h.as_ref().and_then(Json::as_str) != Some(first_hash.as_str()) {
                            return Err(format!("unattend_sha256 {h:?}"));
                        }
                        Ok(())
                    }
                }),
        )
        // 2. Changed unattend with run = "once": no sysprep run is planned
        //    (only the new sensitive value is recorded), nothing runs.
        .step(
            Step::config(vm_config(&plain("WIN-ACC-2", PASSWORD_2, "once"), ""))
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    if plan
                        .after("xenapi_vm.win", "sysprep.runs")
                        .and_then(Json::as_i64)
                        != Some(1)
                    {
                        return Err("run = once must not plan another sysprep run".into());
                    }
                    if !plan.replace_paths("xenapi_vm.win").is_empty() {
                        return Err("the VM must not be replaced".into());
                    }
                    Ok(())
                })
                .state_check({
                    let first_redacted = first_redacted.clone();
                    move |ctx| {
                        check_runs(ctx, &[&first_redacted])?;
                        let h = attr(ctx, "sysprep.unattend_sha256");
                        if h.as_ref().and_then(Json::as_str) != Some(first_hash_2.as_str()) {
                            return Err(format!(
                                "unattend_sha256 must stay the applied one: {h:?}"
                            ));
                        }
                        Ok(())
                    }
                }),
        )
        // 3. run = "on_change": the unattend differs from the one applied, so a
        //    second run is planned (runs 1 -> 2) and the guest sees it.
        .step(
            Step::config(vm_config(&plain("WIN-ACC-2", PASSWORD_2, "on_change"), ""))
                .plan_output_check(|text| {
                    if text.contains("Sysprep will run on VM \"win-sysprep-acc\"") {
                        Ok(())
                    } else {
                        Err(format!("the plan does not warn about the re-run:\n{text}"))
                    }
                })
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    let actions = plan.actions_for("xenapi_vm.win");
                    if actions.as_deref() != Some(&["update".to_string()][..]) {
                        return Err(format!("expected an in-place update, got {actions:?}"));
                    }
                    match plan
                        .after("xenapi_vm.win", "sysprep.runs")
                        .and_then(Json::as_i64)
                    {
                        Some(2) => Ok(()),
                        other => Err(format!("planned sysprep.runs = {other:?}, expected 2")),
                    }
                })
                .state_check(move |ctx| {
                    check_runs(ctx, &[&first_redacted, &second_redacted])?;
                    power_state_is(ctx, "running")?;
                    let h = attr(ctx, "sysprep.unattend_sha256");
                    if h.as_ref().and_then(Json::as_str) != Some(second_hash.as_str()) {
                        return Err(format!("unattend_sha256 {h:?}"));
                    }
                    Ok(())
                }),
        )
        // Import: everything but the unattend (and the arguments that only
        // steer sysprep) is recovered; `runs` comes back from the pool.
        .step(
            Step::import("xenapi_vm.win")
                .verify_ignore(&[
                    "sysprep.unattend",
                    "sysprep.run",
                    "sysprep.timeout",
                    "sysprep.agent_timeout",
                    "sysprep.unattend_sha256",
                ])
                .state_check(|ctx| {
                    let runs = ctx.state().attr("xenapi_vm.win", "sysprep.runs");
                    if runs != Some(serde_json::json!(2)) {
                        return Err(format!("imported sysprep.runs = {runs:?}, expected 2"));
                    }
                    Ok(())
                }),
        )
        // 4. power_state = "halted": no sysprep run, the VM is shut down.
        .step(
            Step::config(vm_config(
                &plain("WIN-ACC-2", PASSWORD_2, "on_change"),
                "  power_state = \"halted\"",
            ))
            .state_check(|ctx| {
                if let Some(runs) = sysprep_runs(ctx)?
                    && runs.len() != 2
                {
                    return Err(format!("expected still 2 runs, got {}", runs.len()));
                }
                power_state_is(ctx, "halted")
            }),
        )
        .run();
}

#[test]
fn windows_sysprep_ends_in_configured_halted_state() {
    TestCase::new("windows_sysprep_ends_in_configured_halted_state")
        .with_pool()
        .step(
            Step::config(vm_config(
                &plain("WIN-ACC-H", PASSWORD, "once"),
                "  power_state = \"halted\"",
            ))
            .state_check(|ctx| {
                check_runs(ctx, &[&redacted("WIN-ACC-H")])?;
                power_state_is(ctx, "halted")
            }),
        )
        .run();
}

fn expect_no_secret(diags: &[acceptance_tests::Diagnostic]) -> Result<(), String> {
    for d in diags {
        let text = format!("{} {}", d.summary, d.detail);
        if text.contains(PASSWORD) || text.contains("AdministratorPassword") {
            return Err(format!("a diagnostic quotes the unattend: {text}"));
        }
    }
    Ok(())
}

#[test]
fn windows_sysprep_plan_time_errors() {
    let big = format!(
        "<unattend>{}</unattend>\n",
        "<!-- padding -->".repeat(32 * 1024 / 16 + 1)
    );
    let bad_xml = "<unattend><Password>${var.admin_password}</Password>\n<settings></unattend>\n";
    let mut case = TestCase::new("windows_sysprep_plan_time_errors").with_pool();
    for (sysprep, extra, pattern) in [
        (
            sysprep_block(&format!("    unattend = {}", heredoc(bad_xml))),
            "",
            "not well-formed XML",
        ),
        (
            sysprep_block(&format!(
                "    unattend = {}",
                heredoc("<settings><x/></settings>\n")
            )),
            "",
            "root element is `settings`",
        ),
        (
            sysprep_block(&format!("    unattend = {}", heredoc(&big))),
            "",
            "at most 32768 bytes",
        ),
        (
            sysprep_block(&format!(
                "    unattend = {}\n    unattend_wo = {}",
                heredoc(&unattend("A", var_of(PASSWORD))),
                heredoc(&unattend("A", var_of(PASSWORD)))
            )),
            "",
            "exactly one of sysprep.unattend and sysprep.unattend_wo",
        ),
        (sysprep_block("    run = \"once\""), "", "Missing unattend"),
        (
            sysprep_block(&format!(
                "    unattend = {}\n    run = \"always\"",
                heredoc(&unattend("A", var_of(PASSWORD)))
            )),
            "",
            "must be \"once\" or \"on_change\"",
        ),
        (
            plain("A", PASSWORD, "once"),
            "  cdrom = \"ubuntu-24.04-live-server-amd64.iso\"",
            "sysprep needs an empty CD drive",
        ),
    ] {
        case = case.step(
            Step::config(vm_config(&sysprep, extra))
                .expect_plan_error(pattern)
                .diagnostics(|d, _| expect_no_secret(d)),
        );
    }
    // An empty configuration last: nothing was created by the failing plans.
    case.step(Step::config(config("")).state_check(|ctx| {
        if !ctx.state().resources().is_empty() {
            return Err("a failing plan created something".into());
        }
        Ok(())
    }))
    .run();
}

#[test]
fn windows_sysprep_apply_preconditions() {
    // 1. A running Windows VM whose agent stops advertising feature-sysprep:
    //    adding sysprep fails naming the feature.
    // 2. A VM whose CD drive holds an ISO (cdrom then left unmanaged): adding
    //    sysprep fails naming the disc.
    if std::env::var("XENAPI_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!(
            "windows_sysprep_apply_preconditions: needs the lab pool's guest switches; skipped"
        );
        return;
    }
    let iso = "ubuntu-24.04-live-server-amd64.iso";
    TestCase::new("windows_sysprep_apply_preconditions")
        .with_pool()
        .step(
            Step::config(vm_config("", "  wait_for_guest = true")).state_check(|ctx| {
                let Some(pool) = ctx.labpool else {
                    return Ok(());
                };
                let uuid = vm_uuid(ctx)?;
                pool.admin_send(
                    reqwest::Method::POST,
                    &format!("/labpool/guest/{uuid}"),
                    &serde_json::json!({"feature_sysprep": false}),
                )
                .map_err(|e| e.to_string())?;
                Ok(())
            }),
        )
        .step(
            Step::config(vm_config(
                &sysprep_block(&format!(
                    "    unattend = {}\n    agent_timeout = 3",
                    heredoc(&unattend("WIN-P", var_of(PASSWORD)))
                ))
                .replace("    agent_timeout = 60\n", ""),
                "  wait_for_guest = true",
            ))
            .expect_error("feature-sysprep")
            .diagnostics(|d, _| {
                expect_no_secret(d)?;
                if !d.iter().any(|x| x.detail.contains("XenServer VM Tools")) {
                    return Err(format!(
                        "the diagnostic should say what the guest needs: {d:?}"
                    ));
                }
                Ok(())
            }),
        )
        .step(Step::config(vm_config("", &format!("  cdrom = \"{iso}\""))))
        .step(
            Step::config(vm_config(&plain("WIN-P", PASSWORD, "once"), ""))
                .expect_error("CD drive is not empty")
                .diagnostics(move |d, _| {
                    expect_no_secret(d)?;
                    if !d.iter().any(|x| x.detail.contains(iso)) {
                        return Err(format!("the diagnostic should name the ISO: {d:?}"));
                    }
                    Ok(())
                }),
        )
        .run();
}

/// Runs `f` once per CLI of the matrix with a fresh lab pool built from `cfg`.
fn with_each_cli(
    min_minor: u64,
    cfg: impl Fn() -> labpool::Config,
    f: impl Fn(&mut WorkDir, &LabPool) -> Result<(), String>,
) {
    let clis = matrix().expect("Terraform CLI matrix");
    let mut failures = Vec::new();
    for cli in clis {
        if !cli.version.at_least(1, min_minor) {
            eprintln!("skipping {cli}: needs Terraform 1.{min_minor}");
            continue;
        }
        let pool = LabPool::start_lab(cfg()).expect("lab pool");
        let mut wd = WorkDir::new(cli, ProviderMode::DevOverrides).expect("work dir");
        for (k, v) in pool.provider_env() {
            wd.set_env(&k, &v);
        }
        let result = f(&mut wd, &pool);
        let destroyed = wd.destroy().map(|_| ()).map_err(|e| e.to_string());
        match (result, destroyed) {
            (Ok(()), Ok(())) => eprintln!("passed with {cli}"),
            (r, d) => failures.push(format!(
                "{cli}: {}",
                [r.err(), d.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn lab_config() -> labpool::Config {
    labpool::Config {
        username: "root".into(),
        password: "labpool".into(),
        ..labpool::Config::default()
    }
}

fn wo_config(computer: &str, password: &str, version: i64) -> String {
    vm_config(
        &sysprep_block(&format!(
            "    unattend_wo = {}\n    unattend_wo_version = {version}\n    run = \"on_change\"",
            heredoc(&unattend(computer, var_of(password)))
        )),
        "",
    )
}

fn guest_runs(pool: &LabPool, state: &Json) -> Result<usize, String> {
    let uuid = acceptance_tests::State(state)
        .attr_str("xenapi_vm.win", "id")
        .ok_or("no id")?;
    let g = pool
        .guest(&uuid)
        .map_err(|e| e.to_string())?
        .ok_or("no guest view")?;
    Ok(g.get("sysprep_runs")
        .and_then(Json::as_array)
        .map(Vec::len)
        .unwrap_or(0))
}

#[test]
fn windows_sysprep_write_only_unattend_is_never_stored() {
    with_each_cli(11, lab_config, |wd, pool| {
        wd.write_config(&wo_config("WIN-WO-1", PASSWORD, 1))
            .map_err(|e| e.to_string())?;
        wd.plan_saved(&[]).map_err(|e| e.to_string())?;
        wd.apply_saved().map_err(|e| e.to_string())?;
        let state = wd.state().map_err(|e| e.to_string())?;
        let shown = state.to_string();
        let raw = wd.raw_state().ok_or("no terraform.tfstate")?;
        for (what, text) in [
            ("terraform show -json", &shown),
            ("terraform.tfstate", &raw),
        ] {
            for needle in [
                PASSWORD,
                "AdministratorPassword",
                "WIN-WO-1",
                "unattend xmlns",
            ] {
                if text.contains(needle) {
                    return Err(format!("{what} contains {needle:?}"));
                }
            }
            if text.contains(&sha256(&unattend("WIN-WO-1", PASSWORD))) {
                return Err(format!("{what} contains the unattend's hash"));
            }
        }
        let st = acceptance_tests::State(&state);
        if st.attr("xenapi_vm.win", "sysprep.unattend_wo") != Some(Json::Null) {
            return Err("sysprep.unattend_wo must be null in the state".into());
        }
        if st
            .attr("xenapi_vm.win", "sysprep.runs")
            .and_then(|v| v.as_i64())
            != Some(1)
        {
            return Err("sysprep.runs must be 1".into());
        }
        if guest_runs(pool, &state)? != 1 {
            return Err("the guest should have seen one sysprep run".into());
        }
        // A new content with the same version: nothing to do (Terraform's
        // write-only convention), the plan is empty.
        wd.write_config(&wo_config("WIN-WO-2", PASSWORD_2, 1))
            .map_err(|e| e.to_string())?;
        let p = wd.plan_detailed(true).map_err(|e| e.to_string())?;
        if !p.empty {
            return Err(format!(
                "same version must plan nothing:\n{}",
                p.output.stdout
            ));
        }
        // A new version with run = "on_change": a second run, with a warning.
        wd.write_config(&wo_config("WIN-WO-2", PASSWORD_2, 2))
            .map_err(|e| e.to_string())?;
        let plan = wd.plan_saved(&[]).map_err(|e| e.to_string())?;
        let planned_runs = acceptance_tests::Plan(&plan)
            .after("xenapi_vm.win", "sysprep.runs")
            .and_then(Json::as_i64);
        if planned_runs != Some(2) {
            return Err(format!("planned runs {planned_runs:?}, expected 2"));
        }
        let out = wd.apply_saved().map_err(|e| e.to_string())?;
        let state = wd.state().map_err(|e| e.to_string())?;
        if guest_runs(pool, &state)? != 2 {
            return Err(format!(
                "expected 2 sysprep runs; apply said:\n{}",
                out.stdout
            ));
        }
        let raw = wd.raw_state().ok_or("no terraform.tfstate")?;
        if raw.contains(PASSWORD_2) || raw.contains("WIN-WO-2") {
            return Err("the raw state contains the second unattend".into());
        }
        let p = wd.plan_detailed(true).map_err(|e| e.to_string())?;
        if !p.empty {
            return Err(format!("second plan not empty:\n{}", p.output.stdout));
        }
        Ok(())
    });
}

fn older_xapi(mode: labpool::api::sysprep::SysprepMode) -> impl Fn() -> labpool::Config {
    move || {
        let mut c = lab_config();
        c.sysprep.mode = mode;
        c
    }
}

fn apply_error(wd: &mut WorkDir) -> Result<String, String> {
    let out = wd
        .run(&["apply", "-input=false", "-no-color", "-auto-approve"])
        .map_err(|e| e.to_string())?;
    if out.success() {
        return Err("apply should have failed".into());
    }
    Ok(format!("{}\n{}", out.stdout, out.stderr))
}

#[test]
fn windows_sysprep_older_xapi_versions_are_diagnosed() {
    use labpool::api::sysprep::SysprepMode;
    // Before 25.24.0: no VM.sysprep at all.
    with_each_cli(0, older_xapi(SysprepMode::Absent), |wd, _| {
        wd.write_config(&vm_config(&plain("WIN-OLD", PASSWORD, "once"), ""))
            .map_err(|e| e.to_string())?;
        let text = apply_error(wd)?;
        for want in [
            "This XAPI has no VM.sysprep",
            "25.24.0",
            "MESSAGE_METHOD_UNKNOWN",
        ] {
            if !text.contains(want) {
                return Err(format!("missing {want:?} in:\n{text}"));
            }
        }
        if text.contains(PASSWORD) {
            return Err("the error output contains the password".into());
        }
        Ok(())
    });
    // 25.26–25.32 as installed: the call is disabled in xapi.conf.
    with_each_cli(0, older_xapi(SysprepMode::Disabled), |wd, _| {
        wd.write_config(&vm_config(&plain("WIN-OLD", PASSWORD, "once"), ""))
            .map_err(|e| e.to_string())?;
        let text = apply_error(wd)?;
        for want in ["VM.sysprep is disabled on this pool", "vm-sysprep-enabled"] {
            if !text.contains(want) {
                return Err(format!("missing {want:?} in:\n{text}"));
            }
        }
        Ok(())
    });
    // 25.24–25.25 enabled: the two-parameter call is used, with a warning.
    with_each_cli(0, older_xapi(SysprepMode::NoTimeout), |wd, pool| {
        wd.write_config(&vm_config(&plain("WIN-OLD", PASSWORD, "once"), ""))
            .map_err(|e| e.to_string())?;
        let out = wd.apply(&[]).map_err(|e| e.to_string())?;
        if !out
            .stdout
            .contains("Older XAPI: VM.sysprep without timeout")
        {
            return Err(format!("no legacy-signature warning:\n{}", out.stdout));
        }
        let state = wd.state().map_err(|e| e.to_string())?;
        if guest_runs(pool, &state)? != 1 {
            return Err("expected one sysprep run".into());
        }
        Ok(())
    });
}

#[test]
fn windows_sysprep_secrets_never_reach_the_logs() {
    with_each_cli(11, lab_config, |wd, _| {
        wd.set_env("TF_LOG", "trace");
        for config in [
            vm_config(&plain("WIN-LOG-1", PASSWORD, "on_change"), ""),
            wo_config("WIN-LOG-2", PASSWORD_2, 1),
        ] {
            wd.write_config(&config).map_err(|e| e.to_string())?;
            wd.apply(&[]).map_err(|e| e.to_string())?;
        }
        // Terraform relays the provider's stderr lines into its own log,
        // prefixed with `provider.terraform-provider-xenapi`. No line at all
        // (provider, plugin client or core) may carry the passwords, no
        // provider line the unattend; the provider's sysprep steps must be in
        // the log (so that the check is real).
        let mut provider_lines = 0;
        let mut sysprep_lines = 0;
        for out in wd.history() {
            for line in out.stderr.lines().chain(out.stdout.lines()) {
                if line.contains("provider.terraform-provider-xenapi") {
                    provider_lines += 1;
                    if line.contains("sysprep: calling VM.sysprep") {
                        sysprep_lines += 1;
                    }
                }
                // Terraform's diagnostics quote the configuration's source
                // (which references the password variable): only the
                // passwords themselves are checked in every line, the
                // unattend's content in the provider's lines.
                let needles: &[&str] = if line.contains("provider.terraform-provider-xenapi") {
                    &[
                        PASSWORD,
                        PASSWORD_2,
                        "AdministratorPassword",
                        "WIN-LOG-1",
                        "WIN-LOG-2",
                    ]
                } else {
                    &[PASSWORD, PASSWORD_2]
                };
                for needle in needles {
                    if line.contains(needle) {
                        return Err(format!("a log line contains {needle:?}: {line}"));
                    }
                }
            }
        }
        if provider_lines == 0 || sysprep_lines < 2 {
            return Err(format!(
                "expected the provider's trace log with both sysprep runs \
                 ({provider_lines} provider lines, {sysprep_lines} sysprep calls)"
            ));
        }
        Ok(())
    });
}
