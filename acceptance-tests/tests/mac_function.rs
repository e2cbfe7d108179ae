//! `provider::xenapi::mac_address(seed[, prefix])` with real Terraform: known
//! at plan time, deterministic, the documented derivation, with prefixes.

mod common;

use acceptance_tests::{Step, TestCase, config};
use common::{check_local_unicast, derived_local, derived_with_prefix};
use serde_json::Value as Json;

const SEEDS: [&str; 4] = ["web-01/eth0", "web-01/eth1", "", "ünïcode seed ✓"];

fn function_config() -> String {
    config(
        r#"
locals {
  seeds = ["web-01/eth0", "web-01/eth1", "", "ünïcode seed ✓"]
}

output "local" {
  value = [for s in local.seeds : provider::xenapi::mac_address(s)]
}

output "again" {
  value = [for s in local.seeds : provider::xenapi::mac_address(s)]
}

output "explicit_local" {
  value = provider::xenapi::mac_address("web-01/eth0", "local")
}

output "xensource" {
  value = [for s in local.seeds : provider::xenapi::mac_address(s, "xensource")]
}

output "prefixed" {
  value = provider::xenapi::mac_address("web-01/eth0", "0a:00:27")
}

output "upper_prefix" {
  value = provider::xenapi::mac_address("web-01/eth0", "0A:00:27")
}
"#,
    )
}

fn strings(value: Option<&Json>) -> Result<Vec<String>, String> {
    value
        .and_then(Json::as_array)
        .ok_or_else(|| format!("not a list: {value:?}"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or(format!("not a string: {v}"))
        })
        .collect()
}

fn check_outputs(get: &dyn Fn(&str) -> Option<Json>) -> Result<(), String> {
    let local = strings(get("local").as_ref())?;
    let again = strings(get("again").as_ref())?;
    let xensource = strings(get("xensource").as_ref())?;
    if local != again {
        return Err(format!(
            "the same seeds gave different MACs: {local:?} vs {again:?}"
        ));
    }
    for (i, seed) in SEEDS.iter().enumerate() {
        check_local_unicast(&local[i])?;
        if local[i] != derived_local(seed) {
            return Err(format!(
                "mac_address({seed:?}) = {}, documented derivation gives {}",
                local[i],
                derived_local(seed)
            ));
        }
        if xensource[i] != derived_with_prefix(seed, "00:16:3e") {
            return Err(format!(
                "mac_address({seed:?}, \"xensource\") = {}, want {}",
                xensource[i],
                derived_with_prefix(seed, "00:16:3e")
            ));
        }
    }
    let mut distinct = local.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != local.len() {
        return Err(format!("different seeds collided: {local:?}"));
    }
    let expect = |name: &str, want: String| -> Result<(), String> {
        match get(name) {
            Some(Json::String(got)) if got == want => Ok(()),
            other => Err(format!("output {name} = {other:?}, want {want}")),
        }
    };
    expect("explicit_local", derived_local("web-01/eth0"))?;
    expect("prefixed", derived_with_prefix("web-01/eth0", "0a:00:27"))?;
    expect(
        "upper_prefix",
        derived_with_prefix("web-01/eth0", "0a:00:27"),
    )?;
    Ok(())
}

#[test]
fn mac_address_function_is_deterministic_and_known_at_plan_time() {
    TestCase::new("mac_address_function_is_deterministic_and_known_at_plan_time")
        .without_pool()
        .step(
            Step::config(function_config())
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    check_outputs(&|name| plan.output_after(name).cloned())
                })
                .state_check(|ctx| {
                    let state = ctx.state();
                    check_outputs(&|name| state.output(name))
                }),
        )
        // Re-applying the same configuration is a no-op (checked by the step's
        // empty-plan checks) and yields the same values.
        .step(Step::config(function_config()).state_check(|ctx| {
            let prev = ctx.previous().ok_or("no previous state")?;
            let now = ctx.state();
            for name in ["local", "xensource", "prefixed"] {
                if prev.output(name) != now.output(name) {
                    return Err(format!("output {name} changed between runs"));
                }
            }
            Ok(())
        }))
        .run();
}

#[test]
fn documented_examples_match_the_rule() {
    // examples/functions/mac_address/function.tf documents these values.
    assert_eq!(derived_local("web-01/eth0"), "16:d3:5f:73:10:51");
    assert_eq!(
        derived_with_prefix("web-01/eth1", "00:16:3e"),
        "00:16:3e:a0:c7:9f"
    );
    assert!(check_local_unicast("02:00:00:00:00:01").is_ok());
    assert!(check_local_unicast("03:00:00:00:00:01").is_err());
    assert!(check_local_unicast("00:16:3e:00:00:01").is_err());
    assert!(check_local_unicast("02:00:00:00:00:0G").is_err());
    assert!(check_local_unicast("02:00:00:00:00:0A").is_err());
    assert!(common::check_prefix("00:16:3e:01:02:03", "00:16:3e").is_ok());
    assert!(common::check_prefix("00:16:3f:01:02:03", "00:16:3e").is_err());
}
