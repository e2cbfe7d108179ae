//! A VM created from the newest Packer-style template, picked by
//! `data "xenapi_template"` with `name_regex` + `most_recent`: two templates
//! with timestamped names are made through XAPI first (clones of the ready
//! Linux template), removed again after the case.

mod vm_common;

use acceptance_tests::{Ctx, LabPool, Step, TestCase, config};
use serde_json::{Value as Json, json};
use vm_common::{Xapi, expect_actions, id_of, lab, names, vm_record};

const OLDER: &str = "acc-ubuntu-24.04-packer-1718000000";
const NEWER: &str = "acc-ubuntu-24.04-packer-1719000000";
const VM: &str = "xenapi_vm.from_packer";

/// Clones the ready Linux template twice under Packer-style names.
fn make_templates(pool: &LabPool) -> Result<(), String> {
    let x = Xapi::login(pool)?;
    let base = x.call("VM.get_by_name_label", &[json!(names().template)])?;
    let base = base
        .as_array()
        .and_then(|l| l.first())
        .cloned()
        .ok_or("the ready template is missing")?;
    for name in [OLDER, NEWER] {
        let t = x.call("VM.clone", &[base.clone(), json!(name)])?;
        if x.call("VM.get_is_a_template", std::slice::from_ref(&t))? != Json::Bool(true) {
            return Err(format!("the clone {name} is not a template"));
        }
        x.call("VM.add_tags", &[t, json!("packer")])?;
    }
    Ok(())
}

/// Destroys the templates made by [`make_templates`] and their disks.
fn remove_templates(pool: &LabPool) -> Result<(), String> {
    let x = Xapi::login(pool)?;
    for name in [OLDER, NEWER] {
        let found = x.call("VM.get_by_name_label", &[json!(name)])?;
        for t in found.as_array().cloned().unwrap_or_default() {
            let mut vdis = Vec::new();
            for vbd in x
                .call("VM.get_VBDs", std::slice::from_ref(&t))?
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let rec = x.call("VBD.get_record", &[vbd])?;
                if rec.get("type").and_then(Json::as_str) == Some("Disk")
                    && let Some(vdi) = rec.get("VDI").and_then(Json::as_str)
                {
                    vdis.push(vdi.to_string());
                }
            }
            x.call("VM.destroy", &[t])?;
            for vdi in vdis {
                x.call("VDI.destroy", &[json!(vdi)])?;
            }
        }
    }
    Ok(())
}

fn packer_config() -> String {
    let n = names();
    config(&format!(
        r#"
data "xenapi_template" "latest" {{
  name_regex  = "^acc-ubuntu-24\\.04-packer-\\d+$"
  tags        = ["packer"]
  most_recent = true
}}

resource "xenapi_vm" "from_packer" {{
  name_label = "acc-from-packer"
  template   = data.xenapi_template.latest.id

  memory = {{
    static_max = 1073741824
  }}

  network_interface {{
    network = "{network}"
  }}
}}

output "template_name" {{
  value = data.xenapi_template.latest.name_label
}}
"#,
        network = n.network,
    ))
}

fn template_uuid(pool: &LabPool, name: &str) -> Result<String, String> {
    let x = Xapi::login(pool)?;
    let found = x.call("VM.get_by_name_label", &[json!(name)])?;
    let t = found
        .as_array()
        .and_then(|l| l.first())
        .cloned()
        .ok_or_else(|| format!("no template {name}"))?;
    x.call("VM.get_uuid", &[t])?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "VM.get_uuid: not a string".to_string())
}

fn check_newest(ctx: &Ctx<'_>, planned: bool) -> Result<(), String> {
    let Some(pool) = lab(ctx) else {
        return Ok(());
    };
    let newer = template_uuid(pool, NEWER)?;
    if planned {
        let name = ctx.plan().output_after("template_name").cloned();
        if name != Some(json!(NEWER)) {
            return Err(format!("the data source picked {name:?} at plan time"));
        }
        let template = ctx.plan().after(VM, "template").cloned();
        if template != Some(json!(newer)) {
            return Err(format!("planned template {template:?}, want {newer}"));
        }
        return Ok(());
    }
    let s = ctx.state();
    if s.attr_str(VM, "template_uuid").as_deref() != Some(newer.as_str()) {
        return Err(format!(
            "template_uuid {:?}, want {newer}",
            s.attr(VM, "template_uuid")
        ));
    }
    // The template the VM was made from is recorded for import.
    let rec = vm_record(pool, &id_of(&s, VM)?)?;
    let recorded = rec
        .get("other_config")
        .and_then(|o| o.get("xenapi-terraform-template-uuid"))
        .and_then(Json::as_str);
    if recorded != Some(newer.as_str()) {
        return Err(format!(
            "the VM records template {recorded:?}, want {newer}: {}",
            rec.get("other_config").unwrap_or(&Json::Null)
        ));
    }
    Ok(())
}

#[test]
fn vm_from_most_recent_packer_template() {
    TestCase::new("vm_from_most_recent_packer_template")
        .with_pool()
        .step(
            Step::config(packer_config())
                .pre_config(|ctx| match lab(ctx) {
                    Some(pool) => make_templates(pool),
                    None => Ok(()),
                })
                .plan_check(|ctx| {
                    expect_actions(ctx, VM, &["create"])?;
                    check_newest(ctx, true)
                })
                .state_check(|ctx| check_newest(ctx, false)),
        )
        // The templates are not the test's leftovers: remove them after the
        // VM is destroyed (before the leftover check).
        .check_destroy(|ctx| match lab(ctx) {
            Some(pool) => remove_templates(pool),
            None => Ok(()),
        })
        .run();
}
