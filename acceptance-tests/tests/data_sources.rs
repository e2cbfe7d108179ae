//! The six data sources with real Terraform against the lab pool: each
//! resolves during `plan` (its values are known in the plan), and a lookup
//! with no match or several matches fails at plan time with a diagnostic
//! that says what was looked up and lists the candidates.

mod vm_common;

use acceptance_tests::{Ctx, Step, TestCase, config};
use serde_json::{Value as Json, json};
use vm_common::{SUBNET, id_of, lab, names};

fn vm_resource() -> String {
    let n = names();
    format!(
        r#"
resource "xenapi_vm" "ds" {{
  name_label = "acc-data-source-vm"
  template   = "{template}"

  memory = {{
    static_max = 1073741824
  }}

  network_interface {{
    network          = "{network}"
    expected_ip_cidr = "{SUBNET}"
  }}
}}
"#,
        template = n.template,
        network = n.network,
    )
}

fn lookups() -> String {
    let n = names();
    format!(
        r#"
data "xenapi_pool" "p" {{}}

data "xenapi_host" "h" {{
  uuid = data.xenapi_pool.p.master_host_uuid
}}

data "xenapi_sr" "s" {{
  name_label = "{sr}"
}}

data "xenapi_network" "n" {{
  name_label = "{network}"
}}

data "xenapi_template" "t" {{
  name_label = "{template}"
}}

data "xenapi_vm" "v" {{
  name_label = "acc-data-source-vm"
}}

output "pool" {{
  value = {{
    name       = data.xenapi_pool.p.name_label
    default_sr = data.xenapi_pool.p.default_sr_name_label
    hosts      = length(data.xenapi_pool.p.host_uuids)
    master     = data.xenapi_pool.p.master_host_name_label
  }}
}}

output "host" {{
  value = {{
    name      = data.xenapi_host.h.name_label
    is_master = data.xenapi_host.h.is_master
    cpus      = data.xenapi_host.h.cpu_count
  }}
}}

output "sr" {{
  value = {{
    id         = data.xenapi_sr.s.id
    shared     = data.xenapi_sr.s.shared
    is_default = data.xenapi_sr.s.is_default
    type       = data.xenapi_sr.s.type
    default    = data.xenapi_pool.p.default_sr_uuid
  }}
}}

output "network" {{
  value = {{
    id     = data.xenapi_network.n.id
    mtu    = data.xenapi_network.n.mtu
    bridge = data.xenapi_network.n.bridge
  }}
}}

output "template" {{
  value = {{
    id         = data.xenapi_template.t.id
    is_default = data.xenapi_template.t.is_default_template
    static_max = data.xenapi_template.t.memory_static_max
  }}
}}

output "vm" {{
  value = {{
    id         = data.xenapi_vm.v.id
    power      = data.xenapi_vm.v.power_state
    mac        = data.xenapi_vm.v.network_interfaces[0].mac
    network    = data.xenapi_vm.v.network_interfaces[0].network_uuid
    ipv4       = data.xenapi_vm.v.ipv4_addresses
    static_max = data.xenapi_vm.v.memory_static_max
  }}
}}
"#,
        sr = n.sr,
        network = n.network,
        template = n.template,
    )
}

fn output<'a>(ctx: &'a Ctx<'_>, name: &str) -> Result<&'a Json, String> {
    ctx.plan()
        .output_after(name)
        .ok_or_else(|| format!("output {name} is not known at plan time"))
}

fn field<'a>(value: &'a Json, key: &str) -> &'a Json {
    value.get(key).unwrap_or(&Json::Null)
}

fn expect(what: &str, got: &Json, want: Json) -> Result<(), String> {
    let same = match (got.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => *got == want,
    };
    if same {
        Ok(())
    } else {
        Err(format!("{what} = {got}, want {want}"))
    }
}

/// Every data source resolved at plan time; on the lab pool, to the objects
/// of the default inventory and to the VM of the previous step.
fn check_resolved(ctx: &Ctx<'_>) -> Result<(), String> {
    let outputs = ["pool", "host", "sr", "network", "template", "vm"];
    let values: Vec<&Json> = outputs
        .iter()
        .map(|o| output(ctx, o))
        .collect::<Result<_, _>>()?;
    let [pool, host, sr, network, template, vm] = values[..] else {
        return Err("outputs".into());
    };
    let prev = ctx.previous().ok_or("no previous state")?;
    let vm_id = id_of(&prev, "xenapi_vm.ds")?;
    expect("vm.id", field(vm, "id"), json!(vm_id))?;
    let mac = prev
        .attr_str("xenapi_vm.ds", "network_interface.0.mac")
        .ok_or("no MAC in the previous state")?;
    expect("vm.mac", field(vm, "mac"), json!(mac))?;
    let reported = prev
        .attr("xenapi_vm.ds", "network_interface.0.ipv4_addresses")
        .unwrap_or(Json::Null);
    expect("vm.ipv4", field(vm, "ipv4"), reported)?;
    expect("vm.power", field(vm, "power"), json!("Running"))
        .or_else(|_| expect("vm.power", field(vm, "power"), json!("running")))?;
    expect(
        "vm.static_max",
        field(vm, "static_max"),
        json!(1073741824u64),
    )?;
    expect(
        "vm.network",
        field(vm, "network"),
        field(network, "id").clone(),
    )?;
    expect(
        "sr is the default",
        field(sr, "id"),
        field(sr, "default").clone(),
    )?;
    expect("host.is_master", field(host, "is_master"), json!(true))?;
    expect(
        "template.is_default",
        field(template, "is_default"),
        json!(false),
    )?;
    let template_uuid = prev
        .attr_str("xenapi_vm.ds", "template_uuid")
        .ok_or("no template_uuid")?;
    expect("template.id", field(template, "id"), json!(template_uuid))?;
    if lab(ctx).is_some() {
        expect("pool.name", field(pool, "name"), json!("labpool"))?;
        expect(
            "pool.default_sr",
            field(pool, "default_sr"),
            json!("Shared NFS storage"),
        )?;
        expect("pool.hosts", field(pool, "hosts"), json!(3))?;
        expect("pool.master", field(pool, "master"), json!("lab-host-1"))?;
        expect("host.name", field(host, "name"), json!("lab-host-1"))?;
        expect("host.cpus", field(host, "cpus"), json!(16))?;
        expect("sr.shared", field(sr, "shared"), json!(true))?;
        expect("sr.is_default", field(sr, "is_default"), json!(true))?;
        expect("sr.type", field(sr, "type"), json!("nfs"))?;
        expect("network.mtu", field(network, "mtu"), json!(1500))?;
        expect("network.bridge", field(network, "bridge"), json!("xenbr0"))?;
        expect(
            "template.static_max",
            field(template, "static_max"),
            json!(2147483648u64),
        )?;
    }
    Ok(())
}

/// The error diagnostic of a failed lookup says `summary`, names the data
/// source's query and lists `candidates`.
fn lookup_error(
    summary: &'static str,
    query: &'static str,
    candidates: &'static [&'static str],
) -> impl Fn(&[acceptance_tests::Diagnostic], &str) -> Result<(), String> {
    move |diags, _| {
        let e = diags
            .iter()
            .find(|d| d.is_error())
            .ok_or("no error diagnostic")?;
        if e.summary != summary {
            return Err(format!("summary {:?}, want {summary:?}: {e}", e.summary));
        }
        for needle in std::iter::once(&query).chain(candidates) {
            if !e.detail.contains(needle) {
                return Err(format!("the detail does not mention {needle:?}: {e}"));
            }
        }
        if e.range.is_none() {
            return Err(format!("the error has no source range: {e}"));
        }
        Ok(())
    }
}

#[test]
fn data_sources_resolve_at_plan_time_and_fail_clearly() {
    let base = config(&vm_resource());
    let with_lookups = config(&format!("{}\n{}", vm_resource(), lookups()));
    let bad = |body: &str| config(&format!("{}\n{body}", vm_resource()));
    let mut case = TestCase::new("data_sources_resolve_at_plan_time_and_fail_clearly")
        .with_pool()
        .step(Step::config(base))
        .step(Step::config(with_lookups).plan_check(check_resolved));
    if std::env::var_os("XENAPI_URL").is_none() {
        case = case
            // No match: the error lists what exists.
            .step(
                Step::config(bad(
                    "data \"xenapi_sr\" \"missing\" {\n  name_label = \"no such SR\"\n}\n",
                ))
                .expect_plan_error("No matching object")
                .diagnostics(lookup_error(
                    "No matching object",
                    "no such SR",
                    &["Shared NFS storage", "ISO library"],
                )),
            )
            .step(
                Step::config(bad(
                    "data \"xenapi_host\" \"missing\" {\n  name_label = \"lab-host-9\"\n}\n",
                ))
                .expect_plan_error("No matching object")
                .diagnostics(lookup_error(
                    "No matching object",
                    "lab-host-9",
                    &["lab-host-1", "lab-host-2", "lab-host-3"],
                )),
            )
            .step(
                Step::config(bad(
                    "data \"xenapi_network\" \"missing\" {\n  uuid = \"00000000-0000-4000-8000-000000000000\"\n}\n",
                ))
                .expect_plan_error("No matching object")
                .diagnostics(lookup_error(
                    "No matching object",
                    "00000000-0000-4000-8000-000000000000",
                    &["Pool-wide network associated with eth0"],
                )),
            )
            .step(
                Step::config(bad(
                    "data \"xenapi_vm\" \"missing\" {\n  name_label = \"acc-no-such-vm\"\n}\n",
                ))
                .expect_plan_error("No matching object")
                .diagnostics(lookup_error(
                    "No matching object",
                    "acc-no-such-vm",
                    &["acc-data-source-vm"],
                )),
            )
            .step(
                Step::config(bad(
                    "data \"xenapi_template\" \"missing\" {\n  name_regex = \"^packer-never-built-\"\n}\n",
                ))
                .expect_plan_error("No matching object")
                .diagnostics(lookup_error(
                    "No matching object",
                    "^packer-never-built-",
                    &["labpool Ubuntu 24.04 cloud-init"],
                )),
            )
            // Several matches without most_recent: every match is listed,
            // with the hint.
            .step(
                Step::config(bad(
                    "data \"xenapi_template\" \"ambiguous\" {\n  name_regex = \"^labpool \"\n}\n",
                ))
                .expect_plan_error("(?i)ambiguous|several|more than one")
                .diagnostics(|diags, _| {
                    let e = diags.iter().find(|d| d.is_error()).ok_or("no error")?;
                    for needle in [
                        "labpool Ubuntu 24.04 cloud-init",
                        "labpool Windows Server 2022 cloudbase-init",
                        "most_recent",
                    ] {
                        if !e.detail.contains(needle) && !e.summary.contains(needle) {
                            return Err(format!("the error does not mention {needle:?}: {e}"));
                        }
                    }
                    if e.range.is_none() {
                        return Err(format!("the error has no source range: {e}"));
                    }
                    Ok(())
                }),
            )
            // The same regex with most_recent resolves.
            .step(
                Step::config(bad(
                    "data \"xenapi_template\" \"newest\" {\n  name_regex  = \"^labpool \"\n  most_recent = true\n}\n\noutput \"newest\" {\n  value = data.xenapi_template.newest.name_label\n}\n",
                ))
                .plan_check(|ctx| {
                    let got = ctx.plan().output_after("newest").cloned();
                    match got.as_ref().and_then(Json::as_str) {
                        Some(n) if n.starts_with("labpool ") => Ok(()),
                        _ => Err(format!("most_recent picked {got:?}")),
                    }
                }),
            );
    }
    case.run();
}
