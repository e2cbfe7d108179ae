//! The same `xenapi_mac_address` and function flows with the provider served
//! in this test process through `TF_REATTACH_PROVIDERS` (no handshake, no TLS,
//! one server for every command of a CLI run), with every CLI of the matrix.

mod common;

use std::sync::Arc;

use acceptance_tests::reattach::in_process;
use acceptance_tests::{ImportKind, Step, TestCase, config};
use common::{check_local_unicast, check_prefix, derived_local};
use serde_json::Value as Json;
use terraform_provider_xenapi::catalog::XenapiProvider;

const CONFIG: &str = r#"
resource "xenapi_mac_address" "a" {}

resource "xenapi_mac_address" "b" {
  prefix = "xensource"
  keepers = {
    k = "1"
  }
}

output "f" {
  value = provider::xenapi::mac_address("reattach")
}
"#;

#[test]
fn mac_address_through_reattach() {
    TestCase::new("mac_address_through_reattach")
        .without_pool()
        .reattach(in_process(|| Arc::new(XenapiProvider::new())))
        .step(Step::config(config(CONFIG)).state_check(|ctx| {
            let s = ctx.state();
            check_local_unicast(
                &s.attr_str("xenapi_mac_address.a", "address")
                    .ok_or("no a")?,
            )?;
            check_prefix(
                &s.attr_str("xenapi_mac_address.b", "address")
                    .ok_or("no b")?,
                "00:16:3e",
            )?;
            if s.output("f") != Some(Json::from(derived_local("reattach"))) {
                return Err(format!("output f = {:?}", s.output("f")));
            }
            Ok(())
        }))
        .step(
            Step::config(config(&CONFIG.replace("\"1\"", "\"2\""))).plan_check(|ctx| {
                let a = ctx
                    .plan()
                    .actions_for("xenapi_mac_address.b")
                    .unwrap_or_default();
                if a.len() != 2 {
                    return Err(format!("keepers change should replace b, got {a:?}"));
                }
                Ok(())
            }),
        )
        .step(
            Step::import("xenapi_mac_address.a")
                .kind(ImportKind::Command)
                .id_from_attribute("address"),
        )
        .step(
            Step::import("xenapi_mac_address.a")
                .kind(ImportKind::Block)
                .id_from_attribute("address"),
        )
        .run();
}
