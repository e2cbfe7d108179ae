//! Windows support of `xenapi_vm` through the framework engine against the
//! in-process lab pool: sysprep at create (one run, exactly the unattend,
//! password redacted by the lab pool), empty second plan, run = "once" /
//! "on_change", write-only unattend (capability check, never in state),
//! precondition failures, older XAPI versions, cloudbase-init flavour
//! (validation, import recovers it).

mod vm_support;

use std::collections::BTreeMap;

use labpool::api::sysprep::SysprepMode;
use labpool::{Config, LabPool, RunningPool};
use schema::Value;
use terraform_provider_xenapi::framework::{ClientCapabilities, RawValue};
use terraform_provider_xenapi::resources::vm::schema::{attr, ci, nic};
use terraform_provider_xenapi::resources::vm::sysprep;
use vm_support::*;

const WINDOWS: &str = "labpool Windows Server 2022 cloudbase-init";
const PASSWORD: &str = "Eng1ne-Secret!";

fn unattend(computer: &str, password: &str) -> String {
    format!(
        "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"specialize\">\n    \
         <component name=\"Microsoft-Windows-Shell-Setup\"><ComputerName>{computer}</ComputerName></component>\n  \
         </settings>\n  <settings pass=\"oobeSystem\">\n    <component name=\"Microsoft-Windows-Shell-Setup\">\
         <UserAccounts><AdministratorPassword><Value>{password}</Value><PlainText>true</PlainText>\
         </AdministratorPassword></UserAccounts></component>\n  </settings>\n</unattend>\n"
    )
}

async fn lab(mode: SysprepMode) -> RunningPool {
    let mut cfg = Config {
        boot_seconds: 0.05,
        ..Config::default()
    };
    cfg.sysprep.mode = mode;
    LabPool::start(cfg).await.expect("lab pool starts")
}

fn sysprep_obj(fields: &[(&str, Value)]) -> Value {
    let mut m: BTreeMap<String, Value> = [
        sysprep::attr::UNATTEND,
        sysprep::attr::UNATTEND_WO,
        sysprep::attr::UNATTEND_WO_VERSION,
        sysprep::attr::RUN,
        sysprep::attr::TIMEOUT,
        sysprep::attr::AGENT_TIMEOUT,
        sysprep::attr::RUNS,
        sysprep::attr::UNATTEND_SHA256,
    ]
    .into_iter()
    .map(|k| (k.to_owned(), Value::Null))
    .collect();
    m.insert(sysprep::attr::TIMEOUT.into(), Value::from(60i64));
    m.insert(sysprep::attr::AGENT_TIMEOUT.into(), Value::from(30i64));
    for (k, v) in fields {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

fn win(name: &str, sysprep: Value, extra: &[(&str, Value)]) -> Value {
    let mut fields = vec![
        (attr::NAME_LABEL, Value::from(name)),
        (attr::TEMPLATE, Value::from(WINDOWS)),
        (attr::MEMORY, memory(None, 2 * G, None, None)),
        (attr::NETWORK_INTERFACE, Value::List(vec![nic_block(&[])])),
        (attr::SYSPREP, sysprep),
    ];
    fields.extend(extra.iter().cloned());
    vm(&fields)
}

fn sp<'a>(state: &'a Value, name: &str) -> &'a Value {
    state
        .get(attr::SYSPREP)
        .and_then(|s| s.get(name))
        .unwrap_or(&Value::Null)
}

async fn guest(lab: &RunningPool, state: &Value) -> serde_json::Value {
    admin(lab, "GET", &format!("guest/{}", s(state, attr::ID)), "").await
}

async fn runs(lab: &RunningPool, state: &Value) -> Vec<serde_json::Value> {
    guest(lab, state)
        .await
        .get("sysprep_runs")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default()
}

fn received(run: &serde_json::Value) -> String {
    run.get("unattend")
        .and_then(|u| u.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn wo_caps() -> ClientCapabilities {
    ClientCapabilities {
        write_only_attributes_allowed: true,
        ..ClientCapabilities::default()
    }
}

fn validate_with(tf: &Tf, config: &Value, caps: ClientCapabilities) -> schema::Diagnostics {
    tf.engine.validate_resource_config(
        TYPE,
        &RawValue::msgpack(schema::msgpack::encode(config, &tf.ty).expect("encodes")),
        caps,
    )
}

async fn vm_power(lab: &RunningPool, uuid: &str) -> String {
    objects(lab, "VM")
        .await
        .into_iter()
        .find(|v| v.get("uuid").and_then(|u| u.as_str()) == Some(uuid))
        .and_then(|v| {
            v.get("power_state")
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysprep_at_create_then_once_then_on_change() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    let first = unattend("WIN-E1", PASSWORD);
    let config = win(
        "win-e1",
        sysprep_obj(&[(sysprep::attr::UNATTEND, Value::from(first.as_str()))]),
        &[],
    );
    let (state, plan_diags) = tf.up(&Value::Null, &config).await;
    assert!(plan_diags.is_empty(), "{:?}", warnings(&plan_diags));
    assert_eq!(sp(&state, sysprep::attr::RUNS), &Value::from(1i64));
    let hash = sp(&state, sysprep::attr::UNATTEND_SHA256)
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hash.len(), 64);
    let seen = runs(&lab, &state).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(received(&seen[0]), first.replace(PASSWORD, "***"));
    assert_eq!(s(&state, attr::POWER_STATE), "running");
    assert_eq!(vm_power(&lab, s(&state, attr::ID)).await, "Running");

    // The same configuration plans exactly the prior state; refresh keeps it.
    let again = tf.plan(&state, &config, &[]).await;
    assert!(errors(&again.diags).is_empty());
    assert_eq!(again.planned, state);
    let (read, d) = tf.read(&state).await;
    assert!(errors(&d).is_empty());
    assert_eq!(
        read.get(attr::SYSPREP),
        state.get(attr::SYSPREP),
        "refresh keeps sysprep"
    );

    // run = "once": a changed unattend is recorded, not applied.
    let second = unattend("WIN-E2", "Other-Pa55");
    let once = win(
        "win-e1",
        sysprep_obj(&[(sysprep::attr::UNATTEND, Value::from(second.as_str()))]),
        &[],
    );
    let p = tf.plan(&state, &once, &[]).await;
    assert!(p.diags.is_empty(), "{:?}", warnings(&p.diags));
    assert_eq!(sp(&p.planned, sysprep::attr::RUNS), &Value::from(1i64));
    let (state, d) = tf.apply(&state, &p, &once).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(runs(&lab, &state).await.len(), 1);
    assert_eq!(
        sp(&state, sysprep::attr::UNATTEND_SHA256).as_str(),
        Some(hash.as_str())
    );

    // run = "on_change": the unattend differs from the applied one: a re-run,
    // announced by a warning naming the VM.
    let on_change = win(
        "win-e1",
        sysprep_obj(&[
            (sysprep::attr::UNATTEND, Value::from(second.as_str())),
            (sysprep::attr::RUN, Value::from("on_change")),
        ]),
        &[],
    );
    let (state, d) = tf.up(&state, &on_change).await;
    let w = warnings(&d);
    assert!(
        w.iter()
            .any(|x| x.contains("Sysprep will run on VM \"win-e1\"")),
        "{w:?}"
    );
    assert!(!w.iter().any(|x| x.contains("Other-Pa55")));
    assert_eq!(sp(&state, sysprep::attr::RUNS), &Value::from(2i64));
    let seen = runs(&lab, &state).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(received(&seen[1]), second.replace("Other-Pa55", "***"));
    assert_eq!(vm_power(&lab, s(&state, attr::ID)).await, "Running");
    let again = tf.plan(&state, &on_change, &[]).await;
    assert_eq!(again.planned, state, "second plan is empty");

    // Import: the unattend cannot be recovered, the run count can; the
    // original configuration then plans no sysprep run (it only records the
    // configured values) and adopts the configured unattend as applied.
    let (imported, d) = tf.import(s(&state, attr::ID)).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(sp(&imported, sysprep::attr::RUNS), &Value::from(2i64));
    assert_eq!(sp(&imported, sysprep::attr::UNATTEND), &Value::Null);
    let p = tf.plan(&imported, &on_change, &[]).await;
    assert!(p.diags.is_empty(), "{:?}", warnings(&p.diags));
    assert_eq!(sp(&p.planned, sysprep::attr::RUNS), &Value::from(2i64));
    assert_eq!(
        sp(&p.planned, sysprep::attr::UNATTEND_SHA256),
        sp(&state, sysprep::attr::UNATTEND_SHA256)
    );
    let (after_import, d) = tf.apply(&imported, &p, &on_change).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(runs(&lab, &after_import).await.len(), 2, "no new run");
    assert_eq!(
        tf.plan(&after_import, &on_change, &[]).await.planned,
        after_import
    );

    let d = tf.destroy(&state).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_only_unattend_needs_the_capability_and_is_never_stored() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    let text = unattend("WIN-WO", PASSWORD);
    let config = win(
        "win-wo",
        sysprep_obj(&[
            (sysprep::attr::UNATTEND_WO, Value::from(text.as_str())),
            (sysprep::attr::UNATTEND_WO_VERSION, Value::from(1i64)),
            (sysprep::attr::RUN, Value::from("on_change")),
        ]),
        &[(attr::POWER_STATE, Value::from("halted"))],
    );
    // A client without write-only support (OpenTofu 1.10) is refused.
    let d = validate_with(&tf, &config, ClientCapabilities::default());
    assert!(
        errors(&d).iter().any(|e| e.contains("sysprep.unattend_wo")),
        "{:?}",
        errors(&d)
    );
    let d = validate_with(&tf, &config, wo_caps());
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    let plan = tf.plan(&Value::Null, &config, &[]).await;
    assert!(errors(&plan.diags).is_empty(), "{:?}", errors(&plan.diags));
    assert_eq!(sp(&plan.planned, sysprep::attr::UNATTEND_WO), &Value::Null);
    let (state, d) = tf.apply(&Value::Null, &plan, &config).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    let stored = format!("{state:?}");
    assert!(
        !stored.contains(PASSWORD) && !stored.contains("WIN-WO"),
        "{stored}"
    );
    assert_eq!(sp(&state, sysprep::attr::UNATTEND_SHA256), &Value::Null);
    assert_eq!(sp(&state, sysprep::attr::RUNS), &Value::from(1i64));
    assert_eq!(runs(&lab, &state).await.len(), 1);
    // power_state = "halted": sysprep ran, the VM ends halted.
    assert_eq!(vm_power(&lab, s(&state, attr::ID)).await, "Halted");
    assert_eq!(s(&state, attr::POWER_STATE), "halted");
    // Same version, new content: nothing planned.
    let mut changed = config.clone();
    if let Some(Value::Object(m)) = changed.get_mut(attr::SYSPREP) {
        m.insert(
            sysprep::attr::UNATTEND_WO.into(),
            Value::from(unattend("WIN-WO2", "x").as_str()),
        );
    }
    let p = tf.plan(&state, &changed, &[]).await;
    assert_eq!(p.planned, state);
    // Import recovers runs and the version (not the unattend): the original
    // configuration plans no run.
    let (imported, d) = tf.import(s(&state, attr::ID)).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(
        sp(&imported, sysprep::attr::UNATTEND_WO_VERSION),
        &Value::from(1i64)
    );
    let p = tf.plan(&imported, &config, &[]).await;
    assert_eq!(sp(&p.planned, sysprep::attr::RUNS), &Value::from(1i64));
    assert!(p.diags.is_empty(), "{:?}", warnings(&p.diags));
    let d = tf.destroy(&state).await;
    assert!(errors(&d).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions_fail_with_their_diagnostics() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    // A running Windows VM whose agent stops advertising feature-sysprep.
    let base = win(
        "win-pre",
        Value::Null,
        &[(attr::WAIT_FOR_GUEST, Value::from(true))],
    );
    let (state, _) = tf.up(&Value::Null, &base).await;
    admin(
        &lab,
        "POST",
        &format!("guest/{}", s(&state, attr::ID)),
        r#"{"feature_sysprep": false}"#,
    )
    .await;
    let with = win(
        "win-pre",
        sysprep_obj(&[
            (
                sysprep::attr::UNATTEND,
                Value::from(unattend("WIN-PRE", PASSWORD).as_str()),
            ),
            (sysprep::attr::AGENT_TIMEOUT, Value::from(2i64)),
        ]),
        &[(attr::WAIT_FOR_GUEST, Value::from(true))],
    );
    let p = tf.plan(&state, &with, &[]).await;
    assert!(
        warnings(&p.diags)
            .iter()
            .any(|w| w.contains("Sysprep will run")),
        "adding sysprep to an existing VM warns"
    );
    let (after, d) = tf.apply(&state, &p, &with).await;
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("sysprep: "), "{e:?}");
    assert!(e[0].contains("`feature-sysprep` missing"), "{e:?}");
    assert!(e[0].contains("XenServer VM Tools"), "{e:?}");
    assert!(!e[0].contains(PASSWORD));
    assert_eq!(s(&after, attr::ID), s(&state, attr::ID), "the VM stays");
    assert_eq!(runs(&lab, &after).await.len(), 0);
    let d = tf.destroy(&after).await;
    assert!(errors(&d).is_empty());

    // Plan-time: invalid XML, size, both/none, cdrom with an ISO.
    for (sp_fields, extra, want) in [
        (
            vec![(
                sysprep::attr::UNATTEND,
                Value::from("<unattend><a></unattend>"),
            )],
            vec![],
            "sysprep.unattend: Invalid unattend: The unattend is not well-formed XML",
        ),
        (
            vec![(
                sysprep::attr::UNATTEND,
                Value::from(format!("<unattend>{}</unattend>", " ".repeat(33 * 1024)).as_str()),
            )],
            vec![],
            "at most 32768 bytes",
        ),
        (vec![], vec![], "sysprep: Missing unattend"),
        (
            vec![(sysprep::attr::UNATTEND, Value::from("<unattend/>"))],
            vec![(
                attr::CDROM,
                Value::from("ubuntu-24.04-live-server-amd64.iso"),
            )],
            "cdrom: sysprep needs an empty CD drive",
        ),
    ] {
        let c = win("win-bad", sysprep_obj(&sp_fields), &extra);
        let d = tf.validate(&c);
        let e = errors(&d);
        assert!(e.iter().any(|x| x.contains(want)), "{want}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_xapi_is_reported_and_nothing_is_left() {
    for (mode, want) in [
        (SysprepMode::Absent, "This XAPI has no VM.sysprep"),
        (SysprepMode::Disabled, "VM.sysprep is disabled on this pool"),
    ] {
        let lab = lab(mode).await;
        let tf = Tf::new(&lab, None).await;
        let vms_before = objects(&lab, "VM").await.len();
        let config = win(
            "win-old",
            sysprep_obj(&[(
                sysprep::attr::UNATTEND,
                Value::from(unattend("WIN-OLD", PASSWORD).as_str()),
            )]),
            &[],
        );
        let plan = tf.plan(&Value::Null, &config, &[]).await;
        let (state, d) = tf.apply(&Value::Null, &plan, &config).await;
        let e = errors(&d);
        assert!(e.iter().any(|x| x.contains(want)), "{mode:?}: {e:?}");
        assert!(e.iter().all(|x| !x.contains(PASSWORD)));
        // The failed create removed what it made.
        assert_eq!(state, Value::Null);
        assert_eq!(objects(&lab, "VM").await.len(), vms_before);
    }
    // 25.24 enabled: the 2-parameter call works, with a warning.
    let lab = lab(SysprepMode::NoTimeout).await;
    let tf = Tf::new(&lab, None).await;
    let config = win(
        "win-old",
        sysprep_obj(&[(
            sysprep::attr::UNATTEND,
            Value::from(unattend("WIN-OLD", PASSWORD).as_str()),
        )]),
        &[],
    );
    let plan = tf.plan(&Value::Null, &config, &[]).await;
    let (state, d) = tf.apply(&Value::Null, &plan, &config).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert!(
        warnings(&d)
            .iter()
            .any(|w| w.contains("Older XAPI: VM.sysprep without timeout")),
        "{:?}",
        warnings(&d)
    );
    assert_eq!(runs(&lab, &state).await.len(), 1);
    assert_eq!(vm_power(&lab, s(&state, attr::ID)).await, "Running");
    tf.destroy(&state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudbase_flavor_validates_and_round_trips_through_import() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    let bad = win(
        "win-cbi",
        Value::Null,
        &[(
            attr::CLOUD_INIT,
            cloud_init(&[
                (ci::FLAVOR, Value::from("cloudbase-init")),
                (
                    ci::NETWORK_CONFIG,
                    Value::from("version: 2\nethernets:\n  lan:\n    addresses: [10.0.0.5/24]\n"),
                ),
            ]),
        )],
    );
    let e = errors(&tf.validate(&bad));
    assert!(
        e.iter()
            .any(|x| x.starts_with("cloud_init.network_config") && x.contains("no MAC address")),
        "{e:?}"
    );
    let good = win(
        "win-cbi",
        Value::Null,
        &[
            (
                attr::CLOUD_INIT,
                cloud_init(&[
                    (ci::FLAVOR, Value::from("cloudbase-init")),
                    (ci::NETWORK_CONFIG_FORMAT, Value::from("v1")),
                    (ci::USER_DATA, Value::from("#cloud-config\n")),
                ]),
            ),
            (
                attr::NETWORK_INTERFACE,
                Value::List(vec![nic_block(&[
                    (nic::IPV4_ADDRESS, Value::from("192.168.60.7/24")),
                    (nic::IPV4_GATEWAY, Value::from("192.168.60.1")),
                    (nic::EXPECTED_IP_CIDR, Value::from("192.168.60.0/24")),
                ])]),
            ),
        ],
    );
    let (state, _) = tf.up(&Value::Null, &good).await;
    assert_eq!(
        strings(&nics(&state)[0], nic::IPV4_ADDRESSES),
        vec!["192.168.60.7"]
    );
    let (imported, d) = tf.import(s(&state, attr::ID)).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(
        imported
            .get(attr::CLOUD_INIT)
            .and_then(|c| c.get(ci::FLAVOR))
            .and_then(Value::as_str),
        Some("cloudbase-init")
    );
    let p = tf.plan(&imported, &good, &[]).await;
    assert!(errors(&p.diags).is_empty(), "{:?}", errors(&p.diags));
    assert_eq!(
        p.planned.get(attr::CLOUD_INIT),
        imported.get(attr::CLOUD_INIT)
    );
    tf.destroy(&state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd_drive_added_to_a_running_vm_restarts_it_once() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    let halted = win(
        "win-cd",
        Value::Null,
        &[(attr::POWER_STATE, Value::from("halted"))],
    );
    let (state, _) = tf.up(&Value::Null, &halted).await;
    // Remove the VM's CD drive behind Terraform's back (as if the template
    // had none), then start the VM.
    let c = xapi::Client::new(
        xapi::Config::new(lab.base_url(), lab.username(), lab.password()).unwrap(),
    )
    .unwrap();
    let vm = c.vm().get_by_uuid(s(&state, attr::ID)).await.unwrap();
    for vbd in c.vm().get_record(&vm).await.unwrap().vbds {
        if c.vbd().get_record(&vbd).await.unwrap().vbd_type == xapi::VbdType::Cd {
            c.vbd().destroy(&vbd).await.unwrap();
        }
    }
    let base = win(
        "win-cd",
        Value::Null,
        &[(attr::WAIT_FOR_GUEST, Value::from(true))],
    );
    let (state, _) = tf.up(&state, &base).await;
    let boots_before = guest(&lab, &state).await["boot_count"].as_i64().unwrap();
    let with = win(
        "win-cd",
        sysprep_obj(&[(
            sysprep::attr::UNATTEND,
            Value::from(unattend("WIN-CD", PASSWORD).as_str()),
        )]),
        &[(attr::WAIT_FOR_GUEST, Value::from(true))],
    );
    let plan = tf.plan(&state, &with, &[]).await;
    let (state, d) = tf.apply(&state, &plan, &with).await;
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert!(
        warnings(&d)
            .iter()
            .any(|w| w.contains("VM restarted to add a CD drive")),
        "{:?}",
        warnings(&d)
    );
    assert_eq!(runs(&lab, &state).await.len(), 1);
    let cds: Vec<_> = {
        let mut out = Vec::new();
        for vbd in c.vm().get_record(&vm).await.unwrap().vbds {
            let b = c.vbd().get_record(&vbd).await.unwrap();
            if b.vbd_type == xapi::VbdType::Cd {
                out.push(b);
            }
        }
        out
    };
    assert_eq!(cds.len(), 1, "one CD drive, created by the provider");
    assert!(cds[0].empty, "XAPI ejected the sysprep ISO");
    assert_eq!(
        cds[0]
            .other_config
            .get("xenapi-terraform-owner")
            .map(String::as_str),
        Some("terraform-provider-xenapi")
    );
    let boots_after = guest(&lab, &state).await["boot_count"].as_i64().unwrap();
    assert!(
        boots_after > boots_before,
        "{boots_before} -> {boots_after}"
    );
    assert_eq!(vm_power(&lab, s(&state, attr::ID)).await, "Running");
    tf.destroy(&state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_vm_is_not_sysprepped() {
    let lab = lab(SysprepMode::Full).await;
    let tf = Tf::new(&lab, None).await;
    let base = win("win-paused", Value::Null, &[]);
    let (state, _) = tf.up(&Value::Null, &base).await;
    let c = xapi::Client::new(
        xapi::Config::new(lab.base_url(), lab.username(), lab.password()).unwrap(),
    )
    .unwrap();
    let vm = c.vm().get_by_uuid(s(&state, attr::ID)).await.unwrap();
    c.call_void("VM.pause", vec![serde_json::json!(vm)])
        .await
        .unwrap();
    let with = win(
        "win-paused",
        sysprep_obj(&[(
            sysprep::attr::UNATTEND,
            Value::from(unattend("WIN-PAUSED", PASSWORD).as_str()),
        )]),
        &[],
    );
    let plan = tf.plan(&state, &with, &[]).await;
    let (_, d) = tf.apply(&state, &plan, &with).await;
    let e = errors(&d);
    assert!(
        e.iter()
            .any(|x| x.contains("VM is not running") || x.contains("paused")),
        "{e:?}"
    );
    assert!(e.iter().all(|x| !x.contains(PASSWORD)));
    assert!(runs(&lab, &state).await.is_empty());
    c.call_void("VM.unpause", vec![serde_json::json!(vm)])
        .await
        .unwrap();
    tf.destroy(&state).await;
}
