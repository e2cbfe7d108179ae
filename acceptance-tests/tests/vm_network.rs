//! `xenapi_vm` network interfaces with real Terraform against the lab pool:
//! MACs the provider generates, static guest addressing rendered into the
//! config drive (the simulated guest applies exactly those addresses on
//! those MACs), the import round trip of such a VM, and a MAC known only at
//! apply (from `xenapi_mac_address`), also when it changes later.

mod common;
mod vm_common;

use acceptance_tests::{Ctx, ImportKind, Step, TestCase, config};
use common::check_local_unicast;
use serde_json::Value as Json;
use vm_common::{SUBNET, expect_actions, guest, id_of, lab, names, records};

const VM: &str = "xenapi_vm.net";
const STORAGE_NETWORK: &str = "Lab storage network";

fn two_nics(user_data: &str) -> String {
    let n = names();
    let storage = std::env::var("XENAPI_TEST_SECOND_NETWORK")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| STORAGE_NETWORK.to_string());
    config(&format!(
        r#"
resource "xenapi_vm" "net" {{
  name_label = "acc-two-nics"
  template   = "{template}"

  memory = {{
    static_max = 1073741824
  }}

  cloud_init = {{
    user_data             = "{user_data}"
    network_config_format = "v2"
  }}

  network_interface {{
    network          = "{network}"
    ipv4_address     = "192.168.100.50/24"
    ipv4_gateway     = "192.168.100.1"
    dns_servers      = ["192.168.100.1"]
    dns_search       = ["lab.example"]
    expected_ip_cidr = "{SUBNET}"
  }}

  network_interface {{
    network          = "{storage}"
    ipv4_address     = "10.10.0.5/24"
    expected_ip_cidr = "10.10.0.0/24"
  }}
}}
"#,
        template = n.template,
        network = n.network,
    ))
}

/// The MACs in the state, checked: generated (locally administered unicast,
/// lowercase), distinct.
fn macs(ctx: &Ctx<'_>) -> Result<[String; 2], String> {
    let s = ctx.state();
    let get = |i: usize| {
        s.attr_str(VM, &format!("network_interface.{i}.mac"))
            .ok_or_else(|| format!("network_interface.{i}.mac missing"))
    };
    let macs = [get(0)?, get(1)?];
    for m in &macs {
        check_local_unicast(m)?;
    }
    if macs[0] == macs[1] {
        return Err(format!("both interfaces got {}", macs[0]));
    }
    Ok(macs)
}

fn reported(ctx: &Ctx<'_>, i: usize) -> Vec<String> {
    ctx.state()
        .attr(VM, &format!("network_interface.{i}.ipv4_addresses"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn check_two_nics(ctx: &Ctx<'_>) -> Result<(), String> {
    let macs = macs(ctx)?;
    let want = [["192.168.100.50"], ["10.10.0.5"]];
    for (i, w) in want.iter().enumerate() {
        let got = reported(ctx, i);
        if got != w {
            return Err(format!(
                "network_interface.{i}.ipv4_addresses = {got:?}, want {w:?}"
            ));
        }
    }
    let Some(pool) = lab(ctx) else {
        return Ok(());
    };
    let id = id_of(&ctx.state(), VM)?;
    // The VIFs carry the MACs in state, on devices 0 and 1.
    let vm_ref = records(pool, "VM")?
        .into_iter()
        .find(|(_, r)| r.get("uuid").and_then(Json::as_str) == Some(id.as_str()))
        .map(|(k, _)| k)
        .ok_or("VM not in the pool")?;
    let mut vifs: Vec<(String, String)> = records(pool, "VIF")?
        .into_iter()
        .filter(|(_, r)| r.get("VM").and_then(Json::as_str) == Some(vm_ref.as_str()))
        .map(|(_, r)| {
            (
                r.get("device").and_then(Json::as_str).unwrap_or("").into(),
                r.get("MAC").and_then(Json::as_str).unwrap_or("").into(),
            )
        })
        .collect();
    vifs.sort();
    let expected = vec![
        ("0".to_string(), macs[0].clone()),
        ("1".to_string(), macs[1].clone()),
    ];
    if vifs != expected {
        return Err(format!("VIFs (device, MAC) {vifs:?}, want {expected:?}"));
    }
    // No other VIF in the pool uses these MACs.
    let all: Vec<String> = records(pool, "VIF")?
        .values()
        .filter_map(|r| r.get("MAC").and_then(Json::as_str).map(str::to_lowercase))
        .collect();
    for m in &macs {
        let n = all.iter().filter(|x| *x == m).count();
        if n != 1 {
            return Err(format!("MAC {m} is used by {n} VIFs in the pool"));
        }
    }
    // The guest applied exactly these addresses on exactly these MACs.
    let g = guest(pool, &id)?;
    let mut applied: Vec<(String, String, Vec<String>)> = g
        .get("network")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            (
                n.get("mac")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string(),
                n.get("mode")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string(),
                n.get("addresses")
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect();
    applied.sort();
    let mut want_applied = vec![
        (
            macs[0].clone(),
            "static".to_string(),
            vec!["192.168.100.50/24".to_string()],
        ),
        (
            macs[1].clone(),
            "static".to_string(),
            vec!["10.10.0.5/24".to_string()],
        ),
    ];
    want_applied.sort();
    if applied != want_applied {
        return Err(format!(
            "the guest applied {applied:?}, want {want_applied:?}; guest view: {g}"
        ));
    }
    if g.get("network_source").and_then(Json::as_str) != Some("network-config") {
        return Err(format!(
            "the guest did not configure from network-config: {g}"
        ));
    }
    let first = g
        .get("network")
        .and_then(Json::as_array)
        .and_then(|l| {
            l.iter()
                .find(|n| n.get("mac").and_then(Json::as_str) == Some(macs[0].as_str()))
        })
        .cloned()
        .unwrap_or(Json::Null);
    if first.get("gateway").and_then(Json::as_str) != Some("192.168.100.1") {
        return Err(format!("gateway not applied: {first}"));
    }
    Ok(())
}

#[test]
fn vm_two_nics_generated_macs_static_addresses_and_import() {
    TestCase::new("vm_two_nics_generated_macs_static_addresses_and_import")
        .with_pool()
        .step(
            Step::config(two_nics("#cloud-config\\nhostname: two-nics\\n"))
                .plan_check(|ctx| {
                    expect_actions(ctx, VM, &["create"])?;
                    for i in 0..2 {
                        if !ctx
                            .plan()
                            .is_unknown_after(VM, &format!("network_interface.{i}.mac"))
                        {
                            return Err(format!(
                                "network_interface.{i}.mac should be unknown until apply"
                            ));
                        }
                    }
                    Ok(())
                })
                .state_check(check_two_nics),
        )
        // terraform import by UUID with the original configuration: the
        // template, cloud_init and guest addressing come back, the state
        // equals the original one and the plan is empty.
        .step(
            Step::import(VM)
                .kind(ImportKind::Command)
                .expect_empty_plan(),
        )
        // An import block with the original configuration.
        .step(Step::import(VM).kind(ImportKind::Block).expect_empty_plan())
        // An import block alone + plan -generate-config-out: the generated
        // configuration plans empty.
        .step(
            Step::import(VM)
                .kind(ImportKind::BlockGenerateConfig)
                .no_verify(),
        )
        .run();
}

fn with_mac_resource(keeper: &str) -> String {
    let n = names();
    config(&format!(
        r#"
resource "xenapi_mac_address" "nic" {{
  keepers = {{
    generation = "{keeper}"
  }}
}}

resource "xenapi_vm" "given" {{
  name_label = "acc-given-mac"
  template   = "{template}"

  memory = {{
    static_max = 1073741824
  }}

  network_interface {{
    network          = "{network}"
    mac              = xenapi_mac_address.nic.address
    expected_ip_cidr = "{SUBNET}"
  }}
}}
"#,
        template = n.template,
        network = n.network,
    ))
}

const GIVEN: &str = "xenapi_vm.given";

/// The VM's MAC in state is the one `xenapi_mac_address` generated and the
/// VM's only VIF carries it; with `booted`, the guest (which configures its
/// network at boot) got a DHCP lease on it and the VM reports it.
fn check_given_mac(ctx: &Ctx<'_>, booted: bool) -> Result<String, String> {
    let s = ctx.state();
    let want = s
        .attr_str("xenapi_mac_address.nic", "address")
        .ok_or("xenapi_mac_address.nic.address missing")?;
    let got = s
        .attr_str(GIVEN, "network_interface.0.mac")
        .ok_or("network_interface.0.mac missing")?;
    if got != want {
        return Err(format!(
            "the VM has MAC {got}, xenapi_mac_address gave {want}"
        ));
    }
    if let Some(pool) = lab(ctx) {
        let id = id_of(&s, GIVEN)?;
        let vm_ref = records(pool, "VM")?
            .into_iter()
            .find(|(_, r)| r.get("uuid").and_then(Json::as_str) == Some(id.as_str()))
            .map(|(k, _)| k)
            .ok_or("VM not in the pool")?;
        let vifs: Vec<String> = records(pool, "VIF")?
            .values()
            .filter(|r| r.get("VM").and_then(Json::as_str) == Some(vm_ref.as_str()))
            .filter_map(|r| r.get("MAC").and_then(Json::as_str).map(str::to_string))
            .collect();
        if vifs != [want.clone()] {
            return Err(format!("the VM's VIFs have MACs {vifs:?}, want [{want}]"));
        }
        if !booted {
            return Ok(want);
        }
        let g = guest(pool, &id)?;
        let nics = g
            .get("network")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let nic = nics
            .iter()
            .find(|n| n.get("mac").and_then(Json::as_str) == Some(want.as_str()))
            .ok_or_else(|| format!("the guest has no interface with MAC {want}: {g}"))?;
        let leased = nic
            .get("addresses")
            .and_then(Json::as_array)
            .and_then(|a| a.first())
            .and_then(Json::as_str)
            .unwrap_or("");
        if !leased.starts_with("192.168.100.") {
            return Err(format!("no DHCP lease on {want}: {nic}"));
        }
        let reported = s
            .attr(GIVEN, "network_interface.0.ipv4_addresses")
            .unwrap_or(Json::Null);
        let ip = leased.split('/').next().unwrap_or("");
        if reported != Json::Array(vec![Json::String(ip.to_string())]) {
            return Err(format!(
                "ipv4_addresses {reported}, the guest leased {leased}"
            ));
        }
    }
    Ok(want)
}

#[test]
fn vm_mac_known_only_at_apply_from_mac_address_resource() {
    TestCase::new("vm_mac_known_only_at_apply_from_mac_address_resource")
        .with_pool()
        .step(
            Step::config(with_mac_resource("1"))
                .plan_check(|ctx| {
                    expect_actions(ctx, GIVEN, &["create"])?;
                    if !ctx
                        .plan()
                        .is_unknown_after(GIVEN, "network_interface.0.mac")
                    {
                        return Err("the MAC should be unknown in the plan".into());
                    }
                    Ok(())
                })
                .state_check(|ctx| check_given_mac(ctx, true).map(|_| ())),
        )
        // A new MAC (known only at apply again) replaces the interface, not
        // the VM: the VM keeps its id.
        .step(
            Step::config(with_mac_resource("2"))
                .plan_check(|ctx| {
                    expect_actions(ctx, "xenapi_mac_address.nic", &["delete", "create"])?;
                    expect_actions(ctx, GIVEN, &["update"])?;
                    if !ctx
                        .plan()
                        .is_unknown_after(GIVEN, "network_interface.0.mac")
                    {
                        return Err("the new MAC should be unknown in the plan".into());
                    }
                    Ok(())
                })
                .state_check(|ctx| {
                    // The guest configured its network at boot (cloud-init's
                    // fallback matches the first MAC); a hot-plugged
                    // replacement is not reconfigured until the next
                    // instance, so only the pool side is checked here.
                    let mac = check_given_mac(ctx, false)?;
                    let prev = ctx.previous().ok_or("no previous state")?;
                    let (old_id, new_id) = (id_of(&prev, GIVEN)?, id_of(&ctx.state(), GIVEN)?);
                    if old_id != new_id {
                        return Err(format!("the VM was replaced: {old_id} -> {new_id}"));
                    }
                    let old_mac = prev
                        .attr_str(GIVEN, "network_interface.0.mac")
                        .unwrap_or_default();
                    if old_mac == mac {
                        return Err(format!("the MAC did not change: {mac}"));
                    }
                    Ok(())
                }),
        )
        .run();
}
