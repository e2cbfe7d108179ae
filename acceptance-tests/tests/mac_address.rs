//! `xenapi_mac_address` with real Terraform (every CLI of the matrix), with no
//! pool: create, no-op plans, keepers forcing a new MAC, imports, destroy.

mod common;

use acceptance_tests::{ImportKind, Step, TestCase, config};
use common::{check_local_unicast, check_prefix, parse_mac};
use serde_json::Value as Json;

fn resources(db_name: &str) -> String {
    config(&format!(
        r#"
resource "xenapi_mac_address" "web" {{}}

resource "xenapi_mac_address" "xs" {{
  prefix = "xensource"
}}

resource "xenapi_mac_address" "lab" {{
  prefix = "aa:bb:cc"
}}

resource "xenapi_mac_address" "db" {{
  keepers = {{
    vm_name = "{db_name}"
  }}
}}

output "web" {{
  value = xenapi_mac_address.web.address
}}
"#
    ))
}

const ALL: [&str; 4] = [
    "xenapi_mac_address.web",
    "xenapi_mac_address.xs",
    "xenapi_mac_address.lab",
    "xenapi_mac_address.db",
];

fn address(state: &acceptance_tests::State<'_>, resource: &str) -> Result<String, String> {
    state
        .attr_str(resource, "address")
        .ok_or_else(|| format!("{resource}.address missing from state"))
}

#[test]
fn mac_address_lifecycle_keepers_and_imports() {
    TestCase::new("mac_address_lifecycle_keepers_and_imports")
        .without_pool()
        .step(
            Step::config(resources("db-01"))
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    for r in ALL {
                        let actions = plan.actions_for(r).ok_or(format!("no change for {r}"))?;
                        if actions != ["create"] {
                            return Err(format!("{r}: expected create, got {actions:?}"));
                        }
                        if !plan.is_unknown_after(r, "address") {
                            return Err(format!("{r}.address should be unknown until apply"));
                        }
                    }
                    Ok(())
                })
                .state_check(|ctx| {
                    let s = ctx.state();
                    check_local_unicast(&address(&s, "xenapi_mac_address.web")?)?;
                    check_local_unicast(&address(&s, "xenapi_mac_address.db")?)?;
                    check_prefix(&address(&s, "xenapi_mac_address.xs")?, "00:16:3e")?;
                    check_prefix(&address(&s, "xenapi_mac_address.lab")?, "aa:bb:cc")?;
                    let web = address(&s, "xenapi_mac_address.web")?;
                    if s.output("web") != Some(Json::String(web.clone())) {
                        return Err(format!("output web = {:?}, want {web}", s.output("web")));
                    }
                    let mut all: Vec<String> = ALL
                        .iter()
                        .map(|r| address(&s, r))
                        .collect::<Result<_, _>>()?;
                    all.sort();
                    all.dedup();
                    if all.len() != ALL.len() {
                        return Err(format!("generated MACs are not distinct: {all:?}"));
                    }
                    if s.attr("xenapi_mac_address.db", "keepers.vm_name")
                        != Some(Json::String("db-01".into()))
                    {
                        return Err("keepers not kept in state".into());
                    }
                    Ok(())
                }),
        )
        .step(
            // A changed keeper forces a new MAC for that resource only.
            Step::config(resources("db-02"))
                .plan_check(|ctx| {
                    let plan = ctx.plan();
                    let db = plan
                        .actions_for("xenapi_mac_address.db")
                        .ok_or("no change for db")?;
                    if !(db == ["delete", "create"] || db == ["create", "delete"]) {
                        return Err(format!("db: expected a replacement, got {db:?}"));
                    }
                    let paths = plan.replace_paths("xenapi_mac_address.db");
                    if !paths
                        .iter()
                        .any(|p| p.get(0) == Some(&Json::from("keepers")))
                    {
                        return Err(format!("keepers should force the replacement: {paths:?}"));
                    }
                    for r in [
                        "xenapi_mac_address.web",
                        "xenapi_mac_address.xs",
                        "xenapi_mac_address.lab",
                    ] {
                        let a = plan.actions_for(r).unwrap_or_default();
                        if a != ["no-op"] {
                            return Err(format!("{r}: expected no-op, got {a:?}"));
                        }
                    }
                    Ok(())
                })
                .state_check(|ctx| {
                    let s = ctx.state();
                    let prev = ctx.previous().ok_or("no previous state")?;
                    let (old, new) = (
                        address(&prev, "xenapi_mac_address.db")?,
                        address(&s, "xenapi_mac_address.db")?,
                    );
                    if old == new {
                        return Err(format!("db kept {old} although its keepers changed"));
                    }
                    check_local_unicast(&new)?;
                    for r in [
                        "xenapi_mac_address.web",
                        "xenapi_mac_address.xs",
                        "xenapi_mac_address.lab",
                    ] {
                        if address(&prev, r)? != address(&s, r)? {
                            return Err(format!("{r} changed its MAC without reason"));
                        }
                    }
                    Ok(())
                }),
        )
        // `terraform import` by address (the prefix is inferred: local).
        .step(
            Step::import("xenapi_mac_address.web")
                .kind(ImportKind::Command)
                .id_from_attribute("address"),
        )
        // Upper-case and '-' separators are accepted on import and normalised.
        .step(
            Step::import("xenapi_mac_address.web")
                .kind(ImportKind::Command)
                .id_with(|s| {
                    s.attr_str("xenapi_mac_address.web", "address")
                        .map(|a| a.to_uppercase().replace(':', "-"))
                }),
        )
        // An import block: the prefix of a 00:16:3e address is inferred as xensource.
        .step(
            Step::import("xenapi_mac_address.xs")
                .kind(ImportKind::Block)
                .id_from_attribute("address"),
        )
        // An explicit prefix is given after a comma; the generated config round-trips.
        .step(
            Step::import("xenapi_mac_address.lab")
                .kind(ImportKind::BlockGenerateConfig)
                .id_with(|s| {
                    s.attr_str("xenapi_mac_address.lab", "address")
                        .map(|a| format!("{a},aa:bb:cc"))
                }),
        )
        // Keepers live only in Terraform: an imported MAC has none.
        .step(
            Step::import("xenapi_mac_address.db")
                .kind(ImportKind::Command)
                .id_from_attribute("address")
                .verify_ignore(&["keepers"]),
        )
        .check_destroy(|ctx| {
            let before = ctx.previous().ok_or("no state before destroy")?;
            if before.resources().len() != ALL.len() {
                return Err(format!(
                    "expected {} resources before destroy, had {}",
                    ALL.len(),
                    before.resources().len()
                ));
            }
            if !ctx.state().is_empty() {
                return Err("resources remain after destroy".into());
            }
            Ok(())
        })
        .run();
}

#[test]
fn mac_address_import_rejects_malformed_ids() {
    TestCase::new("mac_address_import_rejects_malformed_ids")
        .without_pool()
        .step(Step::config(config(
            r#"
resource "xenapi_mac_address" "a" {}
"#,
        )))
        .step(
            // A multicast address can never be a NIC's MAC.
            Step::config(config(
                r#"
resource "xenapi_mac_address" "a" {}

import {
  to = xenapi_mac_address.b
  id = "01:00:5e:00:00:01"
}

resource "xenapi_mac_address" "b" {}
"#,
            ))
            .expect_error("(?i)multicast|not.*(unicast|valid)"),
        )
        .step(
            Step::config(config(
                r#"
resource "xenapi_mac_address" "a" {}

import {
  to = xenapi_mac_address.b
  id = "024f.a100.3c9e"
}

resource "xenapi_mac_address" "b" {}
"#,
            ))
            .expect_error("(?i)not a MAC address"),
        )
        .run();
}

#[test]
fn parse_mac_helper_is_strict() {
    assert!(parse_mac("02:00:00:00:00:01").is_ok());
    assert!(parse_mac("02-00-00-00-00-01").is_err());
    assert!(parse_mac("02:00:00:00:00").is_err());
}
