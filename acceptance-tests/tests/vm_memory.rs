//! `xenapi_vm` memory control with real Terraform against the lab pool: all
//! four limits set before the first boot, a live dynamic-range change, a
//! static change that restarts the VM (with the plan's warning) or is refused
//! (`restart_on_update = false`), and every invalid order refused at plan
//! time without touching the pool.

mod vm_common;

use acceptance_tests::{Ctx, ImportKind, Step, TestCase, config};
use serde_json::{Value as Json, json};
use vm_common::{
    GIB, MIB, Xapi, boot_count, count, expect_actions, id_of, lab, memory_of, memory4, names,
    no_vm_created, points_at_memory, vm_record,
};

const VM: &str = "xenapi_vm.mem";
const NAME: &str = "acc-memory";

fn vm(memory: &str, restart_on_update: Option<bool>) -> String {
    let n = names();
    let restart = restart_on_update
        .map(|r| format!("  restart_on_update = {r}\n"))
        .unwrap_or_default();
    config(&format!(
        r#"
resource "xenapi_vm" "mem" {{
  name_label     = "{NAME}"
  template       = "{template}"
  wait_for_guest = true
{restart}
  {memory}

  network_interface {{
    network = "{network}"
  }}
}}
"#,
        template = n.template,
        network = n.network,
    ))
}

/// The planned (or applied) memory object matches `want`.
fn planned_memory(ctx: &Ctx<'_>, want: [u64; 4]) -> Result<(), String> {
    let plan = ctx.plan();
    for (name, value) in ["static_min", "dynamic_min", "dynamic_max", "static_max"]
        .iter()
        .zip(want)
    {
        let got = plan
            .after(VM, &format!("memory.{name}"))
            .and_then(Json::as_f64);
        if got != Some(value as f64) {
            return Err(format!("planned memory.{name} = {got:?}, want {value}"));
        }
    }
    Ok(())
}

/// The VM record in the lab pool has `want` and the guest booted `boots` times.
fn pool_memory(ctx: &Ctx<'_>, want: [u64; 4], boots: u64) -> Result<(), String> {
    let Some(pool) = lab(ctx) else {
        return Ok(());
    };
    let id = id_of(&ctx.state(), VM)?;
    let rec = vm_record(pool, &id)?;
    let got = memory_of(&rec)?;
    if got != want {
        return Err(format!("the VM record has memory {got:?}, want {want:?}"));
    }
    if rec.get("power_state").and_then(Json::as_str) != Some("Running") {
        return Err(format!("power_state {:?}", rec.get("power_state")));
    }
    let b = boot_count(pool, &id)?;
    if b != boots {
        return Err(format!("the guest booted {b} times, want {boots}"));
    }
    Ok(())
}

fn state_memory(ctx: &Ctx<'_>, want: [u64; 4]) -> Result<(), String> {
    let s = ctx.state();
    for (name, value) in ["static_min", "dynamic_min", "dynamic_max", "static_max"]
        .iter()
        .zip(want)
    {
        let got = s
            .attr(VM, &format!("memory.{name}"))
            .and_then(|v| v.as_f64());
        if got != Some(value as f64) {
            return Err(format!("state memory.{name} = {got:?}, want {value}"));
        }
    }
    Ok(())
}

#[test]
fn vm_memory_limits_live_change_restart_and_refusal() {
    let first = [512 * MIB, 768 * MIB, GIB, 2 * GIB];
    let live = [512 * MIB, GIB, 1536 * MIB, 2 * GIB];
    let grown = [512 * MIB, GIB, 1536 * MIB, 3 * GIB];
    let m = |v: [u64; 4]| memory4(v[0], v[1], v[2], v[3]);
    TestCase::new("vm_memory_limits_live_change_restart_and_refusal")
        .with_pool()
        // Create with all four limits: set before the first (only) boot.
        .step(
            Step::config(vm(&m(first), None))
                .plan_check(move |ctx| {
                    expect_actions(ctx, VM, &["create"])?;
                    planned_memory(ctx, first)
                })
                .state_check(move |ctx| {
                    state_memory(ctx, first)?;
                    pool_memory(ctx, first, 1)?;
                    if let Some(pool) = lab(ctx) {
                        // Set while halted, once; never a restart to apply them.
                        let limits = count(pool, "VM.set_memory_limits")?;
                        if limits != 1 {
                            return Err(format!("VM.set_memory_limits called {limits} times"));
                        }
                        for m in [
                            "VM.clean_shutdown",
                            "Async.VM.clean_shutdown",
                            "VM.hard_shutdown",
                            "Async.VM.hard_shutdown",
                        ] {
                            if count(pool, m)? != 0 {
                                return Err(format!("{m} was called during the create"));
                            }
                        }
                    }
                    Ok(())
                }),
        )
        // Dynamic range only: applied live, the guest does not reboot, no warning.
        .step(
            Step::config(vm(&m(live), None))
                .plan_check(move |ctx| {
                    expect_actions(ctx, VM, &["update"])?;
                    planned_memory(ctx, live)
                })
                .plan_output_check(|out| {
                    if out.contains("will be restarted") {
                        return Err(format!("a live change warns about a restart:\n{out}"));
                    }
                    Ok(())
                })
                .state_check(move |ctx| {
                    state_memory(ctx, live)?;
                    pool_memory(ctx, live, 1)
                }),
        )
        // static_max: the plan warns naming the VM and the attribute; apply
        // restarts the VM once.
        .step(
            Step::config(vm(&m(grown), None))
                .plan_check(move |ctx| {
                    expect_actions(ctx, VM, &["update"])?;
                    planned_memory(ctx, grown)
                })
                .plan_output_check(|out| {
                    let warning = out
                        .split("Warning: ")
                        .skip(1)
                        .find(|w| w.starts_with("VM will be restarted"))
                        .ok_or_else(|| format!("no \"VM will be restarted\" warning:\n{out}"))?;
                    for needle in [NAME, "memory.static_max"] {
                        if !warning.contains(needle) {
                            return Err(format!("the warning does not name {needle}:\n{warning}"));
                        }
                    }
                    if warning.contains("dynamic_") {
                        return Err(format!(
                            "the warning names unchanged attributes:\n{warning}"
                        ));
                    }
                    Ok(())
                })
                .state_check(move |ctx| {
                    state_memory(ctx, grown)?;
                    pool_memory(ctx, grown, 2)
                }),
        )
        // The same kind of change with restart_on_update = false: refused at
        // plan time at the attribute, naming it; nothing changes.
        .step(
            Step::config(vm(&m([512 * MIB, GIB, 1536 * MIB, 4 * GIB]), Some(false)))
                .expect_plan_error("Change needs a VM restart")
                .diagnostics(|diags, source| {
                    let e = diags
                        .iter()
                        .find(|d| d.is_error() && d.summary.contains("Change needs a VM restart"))
                        .ok_or("no restart error")?;
                    for needle in [NAME, "memory.static_max", "restart_on_update"] {
                        if !e.detail.contains(needle) {
                            return Err(format!("the error does not name {needle}: {e}"));
                        }
                    }
                    points_at_memory("mem", 4 * GIB)(diags, source)
                }),
        )
        // Still the VM of the previous step: nothing was restarted or changed.
        .step(Step::config(vm(&m(grown), None)).state_check(move |ctx| {
            state_memory(ctx, grown)?;
            pool_memory(ctx, grown, 2)
        }))
        // The dynamic range changed behind Terraform's back: the refreshing
        // plan shows the drift and puts it back, live.
        .step(
            Step::config(vm(&m(grown), None))
                .pre_config(|ctx| {
                    let Some(pool) = lab(ctx) else {
                        return Ok(());
                    };
                    let x = Xapi::login(pool)?;
                    let vm = x.vm_ref(&id_of(&ctx.state(), VM)?)?;
                    x.call(
                        "VM.set_memory_dynamic_range",
                        &[json!(vm), json!(900 * MIB), json!(1280 * MIB)],
                    )?;
                    Ok(())
                })
                .plan_check(move |ctx| {
                    if lab(ctx).is_none() {
                        return Ok(());
                    }
                    expect_actions(ctx, VM, &["update"])?;
                    planned_memory(ctx, grown)?;
                    let before = ctx
                        .plan()
                        .change(VM)
                        .and_then(|c| c.get("before"))
                        .and_then(|b| b.get("memory"))
                        .cloned()
                        .unwrap_or(Json::Null);
                    let drifted = [
                        ("dynamic_min", 900 * MIB),
                        ("dynamic_max", 1280 * MIB),
                    ];
                    for (name, value) in drifted {
                        if before.get(name).and_then(Json::as_f64) != Some(value as f64) {
                            return Err(format!(
                                "the plan does not show the drift of memory.{name}: before = {before}"
                            ));
                        }
                    }
                    Ok(())
                })
                .state_check(move |ctx| {
                    state_memory(ctx, grown)?;
                    pool_memory(ctx, grown, 2)
                }),
        )
        // terraform import by UUID: memory and the behaviour settings
        // (wait_for_guest, restart_on_update) round-trip, the plan with the
        // original configuration is empty.
        .step(Step::import(VM).kind(ImportKind::Command).expect_empty_plan())
        .step(Step::import(VM).kind(ImportKind::BlockGenerateConfig).no_verify())
        .run();
}

/// A configuration that is valid and needs no pool object, so that the
/// state holds something the failing steps must leave alone.
fn with_anchor(memory: &str) -> String {
    let n = names();
    config(&format!(
        r#"
resource "xenapi_mac_address" "anchor" {{}}

resource "xenapi_vm" "bad" {{
  name_label = "acc-bad-memory"
  template   = "{template}"
  {memory}
}}
"#,
        template = n.template
    ))
}

#[test]
fn vm_memory_invalid_orders_are_plan_errors_and_create_nothing() {
    let anchor = config("resource \"xenapi_mac_address\" \"anchor\" {}\n");
    let mut case =
        TestCase::new("vm_memory_invalid_orders_are_plan_errors_and_create_nothing").with_pool();
    case = case.step(Step::config(anchor));
    // (memory block, the value the error must point at, attributes named)
    let bad: Vec<(String, u64, [&'static str; 2])> = vec![
        // static_min > dynamic_min
        (
            memory4(GIB, 512 * MIB, 2 * GIB, 2 * GIB),
            GIB,
            ["memory.static_min", "memory.dynamic_min"],
        ),
        // dynamic_min > dynamic_max
        (
            memory4(512 * MIB, 2 * GIB, GIB, 2 * GIB),
            2 * GIB,
            ["memory.dynamic_min", "memory.dynamic_max"],
        ),
        // dynamic_max > static_max
        (
            memory4(512 * MIB, GIB, 3 * GIB, 2 * GIB),
            3 * GIB,
            ["memory.dynamic_max", "memory.static_max"],
        ),
        // static_min > static_max with the dynamic range defaulted
        (
            format!(
                "memory = {{\n    static_min = {}\n    static_max = {}\n  }}",
                4 * GIB,
                2 * GIB
            ),
            4 * GIB,
            ["memory.static_min", "memory.dynamic_min"],
        ),
        // dynamic_min alone above the (defaulted) dynamic_max = static_max
        (
            format!(
                "memory = {{\n    dynamic_min = {}\n    static_max  = {}\n  }}",
                3 * GIB,
                2 * GIB
            ),
            3 * GIB,
            ["memory.dynamic_min", "memory.dynamic_max"],
        ),
        // dynamic_max alone above static_max
        (
            format!(
                "memory = {{\n    dynamic_max = {}\n    static_max  = {}\n  }}",
                3 * GIB,
                2 * GIB
            ),
            3 * GIB,
            ["memory.dynamic_max", "memory.static_max"],
        ),
        // dynamic_min below the template's static_min (512 MiB), static_min unset
        (
            format!(
                "memory = {{\n    dynamic_min = {}\n    static_max  = {}\n  }}",
                256 * MIB,
                2 * GIB
            ),
            256 * MIB,
            ["memory.static_min", "memory.dynamic_min"],
        ),
    ];
    for (memory, value, named) in bad {
        case = case.step(
            Step::config(with_anchor(&memory))
                .expect_plan_error("(?i)memory")
                .diagnostics(move |diags, source| {
                    let e = diags
                        .iter()
                        .find(|d| d.is_error())
                        .ok_or("no error diagnostic")?;
                    let text = format!("{}\n{}", e.summary, e.detail);
                    for needle in named {
                        if !text.contains(needle) {
                            return Err(format!("the error does not name {needle}: {e}"));
                        }
                    }
                    if !text.chars().any(|c| c.is_ascii_digit()) {
                        return Err(format!("the error does not give the numbers: {e}"));
                    }
                    points_at_memory("bad", value)(diags, source)
                })
                .pre_config(|ctx| match lab(ctx) {
                    Some(pool) => no_vm_created(pool),
                    None => Ok(()),
                }),
        );
    }
    case.check_destroy(|ctx| match lab(ctx) {
        Some(pool) => no_vm_created(pool),
        None => Ok(()),
    })
    .run();
}
