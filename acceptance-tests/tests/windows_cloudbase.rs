//! Windows through cloudbase-init with real Terraform (every CLI of the
//! matrix): two NICs with static addressing, rendered network config matched
//! by the MACs the provider chose; the simulated cloudbase-init guest reports
//! exactly those IPs on those MACs. User network configs cloudbase-init
//! cannot apply are plan-time errors.

use acceptance_tests::{PoolNames, Step, TestCase, config};
use serde_json::Value as Json;

const SECOND_NETWORK: &str = "Lab storage network";

fn two_nics(format: &str) -> String {
    let names = PoolNames::from_env();
    config(&format!(
        r#"
variable "admin_password" {{
  type      = string
  sensitive = true
  default   = "Cl0udbase-Secret"
}}

resource "xenapi_vm" "win" {{
  name_label = "win-cbi-acc"
  template   = "{template}"
  memory = {{
    static_max = 2147483648
  }}

  network_interface {{
    network          = "{network}"
    ipv4_address     = "192.168.50.21/24"
    ipv4_gateway     = "192.168.50.1"
    dns_servers      = ["192.168.50.1"]
    expected_ip_cidr = "192.168.50.0/24"
  }}

  network_interface {{
    network          = "{second}"
    ipv4_address     = "10.20.0.21/24"
    expected_ip_cidr = "10.20.0.0/24"
  }}

  cloud_init = {{
    flavor                = "cloudbase-init"
    network_config_format = "{format}"
    user_data             = <<-EOT
      #cloud-config
      users:
        - name: deploy
          passwd: ${{jsonencode(var.admin_password)}}
    EOT
  }}
}}
"#,
        template = names.windows_template,
        network = names.network,
        second = SECOND_NETWORK,
    ))
}

fn check_reported(ctx: &acceptance_tests::Ctx<'_>) -> Result<(), String> {
    let state = ctx.state();
    let mut expected = Vec::new();
    for (i, ip) in ["192.168.50.21", "10.20.0.21"].iter().enumerate() {
        let mac = state
            .attr_str("xenapi_vm.win", &format!("network_interface.{i}.mac"))
            .ok_or(format!("network_interface[{i}].mac missing"))?;
        let reported = state
            .attr(
                "xenapi_vm.win",
                &format!("network_interface.{i}.ipv4_addresses"),
            )
            .ok_or(format!("network_interface[{i}].ipv4_addresses missing"))?;
        if reported != serde_json::json!([ip]) {
            return Err(format!(
                "network_interface[{i}] ({mac}) reported {reported}, expected [{ip}]"
            ));
        }
        expected.push((mac, ip.to_string()));
    }
    let Some(pool) = ctx.labpool else {
        return Ok(());
    };
    let uuid = state.attr_str("xenapi_vm.win", "id").ok_or("no id")?;
    let guest = pool
        .guest(&uuid)
        .map_err(|e| e.to_string())?
        .ok_or("no guest view")?;
    let applied = guest
        .get("network")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    for (mac, ip) in &expected {
        let found = applied
            .iter()
            .find(|n| n.get("mac").and_then(Json::as_str) == Some(mac.as_str()));
        let Some(n) = found else {
            return Err(format!("the guest applied nothing on {mac}: {guest}"));
        };
        let addrs = n
            .get("addresses")
            .cloned()
            .unwrap_or(Json::Null)
            .to_string();
        if n.get("mode").and_then(Json::as_str) != Some("static") || !addrs.contains(ip.as_str()) {
            return Err(format!(
                "the guest applied {n} on {mac}, expected static {ip}"
            ));
        }
    }
    Ok(())
}

#[test]
fn windows_cloudbase_two_static_nics_matched_by_mac() {
    TestCase::new("windows_cloudbase_two_static_nics_matched_by_mac")
        .with_pool()
        .step(Step::config(two_nics("v1")).state_check(check_reported))
        .step(Step::config(two_nics("v2")).state_check(check_reported))
        .run();
}

#[test]
fn windows_cloudbase_rejects_what_cloudbase_init_cannot_apply() {
    let names = PoolNames::from_env();
    let with_network_config = |yaml: &str| {
        config(&format!(
            r#"
resource "xenapi_vm" "win" {{
  name_label = "win-cbi-bad"
  template   = "{template}"
  memory = {{
    static_max = 2147483648
  }}
  network_interface {{
    network = "{network}"
  }}
  cloud_init = {{
    flavor         = "cloudbase-init"
    network_config = <<-EOT
{yaml}    EOT
  }}
}}
"#,
            template = names.windows_template,
            network = names.network,
        ))
    };
    let no_mac = "      version: 2\n      ethernets:\n        lan:\n          addresses: [192.168.50.21/24]\n";
    let bridge = "      version: 2\n      ethernets:\n        lan:\n          match: {macaddress: \"02:00:00:00:00:01\"}\n      bridges:\n        br0:\n          interfaces: [lan]\n";
    let v1_no_mac = "      version: 1\n      config:\n        - type: physical\n          name: eth0\n          subnets:\n            - type: static\n              address: 192.168.50.21/24\n";
    TestCase::new("windows_cloudbase_rejects_what_cloudbase_init_cannot_apply")
        .with_pool()
        .step(Step::config(with_network_config(no_mac)).expect_plan_error("has no MAC address"))
        .step(Step::config(with_network_config(bridge)).expect_plan_error("bridges"))
        .step(Step::config(with_network_config(v1_no_mac)).expect_plan_error("has no MAC address"))
        .step(
            Step::config(two_nics("v1").replace("cloudbase-init\"", "windows\""))
                .expect_plan_error("cloud_init.flavor must be"),
        )
        // An empty configuration last (the final destroy uses it): nothing
        // was created by the failing plans.
        .step(Step::config(config("")).state_check(|ctx| {
            if ctx.state().resources().is_empty() {
                Ok(())
            } else {
                Err("a failing plan created something".into())
            }
        }))
        .run();
}
