//! `examples/quickstart-local` (what the README's first command applies until
//! the VM quickstart exists) applies with every CLI, with no pool, and its
//! outputs are what it promises.

mod common;

use acceptance_tests::cli::workspace_root;
use acceptance_tests::{Step, TestCase};
use common::{check_local_unicast, check_prefix, derived_local, derived_with_prefix};
use serde_json::Value as Json;

#[test]
fn quickstart_local_applies_and_shows_macs() {
    let path = workspace_root().join("examples/quickstart-local/main.tf");
    let hcl = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TestCase::new("quickstart_local_applies_and_shows_macs")
        .without_pool()
        .step(Step::config(hcl).state_check(|ctx| {
            let s = ctx.state();
            let macs = s.output("resource_macs").ok_or("no resource_macs output")?;
            let get = |k: &str| {
                macs.get(k)
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .ok_or(format!("resource_macs.{k} missing"))
            };
            check_local_unicast(&get("web")?)?;
            check_prefix(&get("db")?, "00:16:3e")?;
            check_prefix(&get("lab")?, "0a:00:27")?;
            let functions = s.output("function_macs").ok_or("no function_macs output")?;
            for seed in ["web-01/eth0", "web-01/eth1", "db-01/eth0"] {
                let got = functions.get(seed).and_then(Json::as_str);
                if got != Some(derived_local(seed).as_str()) {
                    return Err(format!("function_macs[{seed}] = {got:?}"));
                }
            }
            let xs = s.output("function_xensource_mac");
            if xs != Some(Json::from(derived_with_prefix("db-01/eth0", "00:16:3e"))) {
                return Err(format!("function_xensource_mac = {xs:?}"));
            }
            Ok(())
        }))
        .run();
}
