//! `examples/quickstart` — what the README's first command applies — with
//! every CLI of the matrix, on the lab pool: the two VMs come up, the static
//! one with exactly its configured address on its generated MAC, the DHCP one
//! with a lease in the subnet; the guests' own reports (through the lab
//! pool's admin API) agree with the state; nothing is left after destroy.

mod common;

use acceptance_tests::cli::workspace_root;
use acceptance_tests::{Step, TestCase};
use common::check_local_unicast;
use serde_json::Value as Json;

fn output_field(
    state: &acceptance_tests::State<'_>,
    vm: &str,
    field: &str,
) -> Result<Json, String> {
    state
        .output(vm)
        .and_then(|o| o.get(field).cloned())
        .ok_or_else(|| format!("output {vm}.{field} missing"))
}

#[test]
fn quickstart_applies_on_the_lab_pool() {
    let path = workspace_root().join("examples/quickstart/main.tf");
    let hcl = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TestCase::new("quickstart_applies_on_the_lab_pool")
        .with_pool()
        .step(Step::config(hcl).state_check(|ctx| {
            let s = ctx.state();
            for vm in ["web", "db"] {
                let mac = output_field(&s, vm, "mac")?;
                check_local_unicast(mac.as_str().ok_or("mac is not a string")?)?;
            }
            let web_ips = output_field(&s, "web", "ipv4")?;
            if web_ips != Json::from(vec!["192.168.100.50"]) {
                return Err(format!("web reported {web_ips}, configured 192.168.100.50"));
            }
            let db_ips = output_field(&s, "db", "ipv4")?;
            let leased = db_ips.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.iter()
                        .all(|ip| ip.as_str().is_some_and(|t| t.starts_with("192.168.100.")))
            });
            if !leased {
                return Err(format!(
                    "db reported {db_ips}, expected a lease in 192.168.100.0/24"
                ));
            }
            // The simulated guests' own view (lab pool only).
            let Some(pool) = ctx.labpool.filter(|p| p.is_lab()) else {
                return Ok(());
            };
            for (vm, hostname, mode) in [
                ("web", "quickstart-web", "static"),
                ("db", "quickstart-db", "dhcp"),
            ] {
                let id = output_field(&s, vm, "id")?;
                let id = id.as_str().ok_or("id is not a string")?;
                let guest = pool
                    .guest(id)
                    .map_err(|e| e.to_string())?
                    .ok_or("no guest report")?;
                if guest.get("hostname") != Some(&Json::from(hostname)) {
                    return Err(format!("{vm}: guest hostname {:?}", guest.get("hostname")));
                }
                if guest.get("instance_id") != Some(&Json::from(id)) {
                    return Err(format!(
                        "{vm}: instance-id {:?}, expected the VM UUID",
                        guest.get("instance_id")
                    ));
                }
                let nic = guest
                    .get("network")
                    .and_then(|n| n.get(0))
                    .ok_or(format!("{vm}: the guest configured no interface"))?;
                if nic.get("mac") != Some(&output_field(&s, vm, "mac")?) {
                    return Err(format!(
                        "{vm}: the guest's NIC {nic} is not on the state's MAC"
                    ));
                }
                if nic.get("mode") != Some(&Json::from(mode)) {
                    return Err(format!("{vm}: the guest configured {nic}, expected {mode}"));
                }
            }
            Ok(())
        }))
        .run();
}
