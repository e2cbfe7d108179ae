//! `xenapi_vm`: default templates (provisioning XML with `sr=""`), full copies,
//! CD, tags/maps, vCPU changes, out-of-band drift, lookup errors.

mod vm_support;

use schema::Value;
use terraform_provider_xenapi::resources::vm::schema::attr;
use vm_support::*;

fn xapi_client(lab: &labpool::RunningPool) -> xapi::Client {
    xapi::Client::new(xapi::Config::new(lab.base_url(), lab.username(), lab.password()).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_template_full_copy_cd_maps_and_drift() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let vdis_before = objects(&lab, "VDI").await.len();
    let map = |pairs: &[(&str, &str)]| {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
        )
    };
    let config = |vcpus: i64, role: &str| {
        vm(&[
            (attr::NAME_LABEL, Value::from("deb-1")),
            (attr::TEMPLATE, Value::from("Debian Bookworm 12")),
            (attr::CLONE_TYPE, Value::from("full")),
            (attr::SR, Value::from("Shared NFS storage")),
            (attr::MEMORY, memory(None, G, None, None)),
            (attr::VCPUS, Value::from(vcpus)),
            (attr::VCPUS_MAX, Value::from(4i64)),
            (attr::CORES_PER_SOCKET, Value::from(2i64)),
            (attr::CDROM, Value::from("debian-12.5.0-amd64-netinst.iso")),
            (attr::BOOT_ORDER, Value::from("dc")),
            (
                attr::TAGS,
                Value::Set(vec![Value::from("lab"), Value::from("deb")]),
            ),
            (attr::OTHER_CONFIG, map(&[("team", "infra")])),
            (attr::XENSTORE_DATA, map(&[("vm-data/role", role)])),
            (attr::SHUTDOWN_TIMEOUT, Value::from(5i64)),
        ])
    };
    let (state, _) = tf.up(&Value::Null, &config(2, "db")).await;
    let id = s(&state, attr::ID).to_string();
    assert_eq!(s(&state, attr::CDROM), "debian-12.5.0-amd64-netinst.iso");
    assert_eq!(s(&state, attr::BOOT_ORDER), "dc");
    // The provisioned disk landed on the chosen SR (sr="" was rewritten).
    let vm_rec = objects(&lab, "VM")
        .await
        .into_iter()
        .find(|v| v["uuid"] == id.as_str())
        .unwrap();
    assert!(vm_rec["other_config"].get("disks").is_none(), "{vm_rec}");
    let plan = tf.plan(&state, &config(2, "db"), &[]).await;
    assert_eq!(plan.planned, state);

    // vCPUs within vcpus_max and xenstore_data: live, no warning.
    let (state, diags) = tf.up(&state, &config(4, "web")).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(state.get(attr::VCPUS).and_then(Value::as_i64), Some(4));

    // Out-of-band changes show as drift; untracked keys are ignored.
    let c = xapi_client(&lab);
    let vm_ref = c.vm().get_by_uuid(&id).await.unwrap();
    c.vm()
        .remove_from_other_config(&vm_ref, "team")
        .await
        .unwrap();
    c.vm()
        .add_to_other_config(&vm_ref, "team", "someone-else")
        .await
        .unwrap();
    c.vm()
        .add_to_other_config(&vm_ref, "not-mine", "x")
        .await
        .unwrap();
    c.vm().set_name_label(&vm_ref, "renamed").await.unwrap();
    c.vm()
        .set_memory_dynamic_range(&vm_ref, G / 2, G)
        .await
        .unwrap();
    let (refreshed, d) = tf.read(&state).await;
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(s(&refreshed, attr::NAME_LABEL), "renamed");
    let oc = refreshed.get(attr::OTHER_CONFIG).unwrap().as_map().unwrap();
    assert_eq!(oc.len(), 1);
    assert_eq!(oc["team"].as_str(), Some("someone-else"));
    let m = refreshed.get(attr::MEMORY).unwrap();
    assert_eq!(
        m.get(terraform_provider_xenapi::resources::vm::schema::mem::DYNAMIC_MIN)
            .and_then(Value::as_i64),
        Some(G / 2),
        "memory drift not seen"
    );
    // The next apply puts it back.
    let (state, _) = tf.up(&refreshed, &config(4, "web")).await;
    assert_eq!(s(&state, attr::NAME_LABEL), "deb-1");
    let (again, _) = tf.read(&state).await;
    assert_eq!(again, state);

    // Delete: the VM has no guest agent, so the clean shutdown is refused and
    // the hard one follows; the copied disk goes, the ISO stays.
    assert!(errors(&tf.destroy(&state).await).is_empty());
    assert_eq!(objects(&lab, "VDI").await.len(), vdis_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_errors_name_the_attribute_and_create_nothing() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let vms = objects(&lab, "VM").await.len();
    for (field, value, path) in [
        (attr::TEMPLATE, "No Such Template", "template"),
        (attr::SR, "no-such-sr", "sr"),
        (attr::AFFINITY_HOST, "no-such-host", "affinity_host"),
    ] {
        let config = vm(&[
            (attr::NAME_LABEL, Value::from("x")),
            (attr::MEMORY, memory(None, G, None, None)),
            (field, Value::from(value)),
        ]);
        let plan = tf.plan(&Value::Null, &config, &[]).await;
        let (state, d) = tf.apply(&Value::Null, &plan, &config).await;
        assert!(state.is_null());
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with(&format!("{path}:")), "{e:?}");
        assert!(e[0].contains(value), "{e:?}");
    }
    assert_eq!(objects(&lab, "VM").await.len(), vms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_template_lists_candidates_uuid_picks_one() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    // A second template with the same name (as Packer re-runs produce).
    let c = xapi_client(&lab);
    let refs = c.vm().get_by_name_label(TEMPLATE).await.unwrap();
    let copy = c.vm().clone(&refs[0], TEMPLATE).await.unwrap();
    let copy_uuid = c.vm().get_record(&copy).await.unwrap().uuid;
    let config = |template: &str| {
        vm(&[
            (attr::NAME_LABEL, Value::from("amb")),
            (attr::TEMPLATE, Value::from(template)),
            (attr::MEMORY, memory(None, G, None, None)),
        ])
    };
    let plan = tf.plan(&Value::Null, &config(TEMPLATE), &[]).await;
    let (state, d) = tf.apply(&Value::Null, &plan, &config(TEMPLATE)).await;
    assert!(state.is_null());
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("template:"), "{e:?}");
    assert!(e[0].contains(&copy_uuid), "candidates not listed: {e:?}");
    // By UUID it works, and the next plan is empty.
    let (state, _) = tf.up(&Value::Null, &config(&copy_uuid)).await;
    assert_eq!(s(&state, attr::TEMPLATE_UUID), copy_uuid);
    let plan = tf.plan(&state, &config(&copy_uuid), &[]).await;
    assert_eq!(plan.planned, state);
    assert!(errors(&tf.destroy(&state).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_and_vcpu_max_changes_restart_with_a_warning() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let config = |sb: bool, max: i64| {
        vm(&[
            (attr::NAME_LABEL, Value::from("uefi-1")),
            (attr::MEMORY, memory(None, G, None, None)),
            (attr::BOOT_FIRMWARE, Value::from("uefi")),
            (attr::SECURE_BOOT, Value::from(sb)),
            (attr::VCPUS, Value::from(2i64)),
            (attr::VCPUS_MAX, Value::from(max)),
        ])
    };
    let (state, _) = tf.up(&Value::Null, &config(true, 2)).await;
    assert_eq!(s(&state, attr::BOOT_FIRMWARE), "uefi");
    assert_eq!(state.get(attr::SECURE_BOOT), Some(&Value::Bool(true)));
    let (state, diags) = tf.up(&state, &config(false, 4)).await;
    let w = warnings(&diags);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("vcpus_max") && w[0].contains("secure_boot"),
        "{w:?}"
    );
    assert_eq!(state.get(attr::SECURE_BOOT), Some(&Value::Bool(false)));
    assert_eq!(state.get(attr::VCPUS_MAX).and_then(Value::as_i64), Some(4));
    assert_eq!(s(&state, attr::POWER_STATE), "running");
    // Invalid combination at plan time.
    let bad = vm(&[
        (attr::NAME_LABEL, Value::from("uefi-1")),
        (attr::MEMORY, memory(None, G, None, None)),
        (attr::BOOT_FIRMWARE, Value::from("bios")),
        (attr::SECURE_BOOT, Value::from(true)),
    ]);
    let e = errors(&tf.validate(&bad));
    assert!(e.len() == 1 && e[0].starts_with("secure_boot:"), "{e:?}");
    assert!(errors(&tf.destroy(&state).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_vm_import_is_adopted_without_replacement() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    // A VM made by another tool.
    let c = xapi_client(&lab);
    let tpl = c.vm().get_by_name_label(TEMPLATE).await.unwrap()[0].clone();
    let vm_ref = c.vm().clone(&tpl, "foreign").await.unwrap();
    c.vm().provision(&vm_ref).await.unwrap();
    let id = c.vm().get_record(&vm_ref).await.unwrap().uuid;

    let (imported, d) = tf.import(&id).await;
    assert!(errors(&d).is_empty(), "{d:?}");
    let (imported, _) = tf.read(&imported).await;
    assert_eq!(s(&imported, attr::POWER_STATE), "halted");
    assert_eq!(
        s(&imported, attr::TEMPLATE),
        TEMPLATE,
        "from base_template_name"
    );
    let config = vm(&[
        (attr::NAME_LABEL, Value::from("foreign")),
        (attr::MEMORY, memory(None, 2 * G, None, None)),
        (attr::POWER_STATE, Value::from("halted")),
    ]);
    // A pool without a default SR: an update that creates no disk needs no SR.
    let pool_ref = c.pool().get_all().await.unwrap()[0].clone();
    c.call(
        "pool.set_default_SR",
        vec![
            serde_json::to_value(&pool_ref).unwrap(),
            serde_json::json!("OpaqueRef:NULL"),
        ],
    )
    .await
    .unwrap();
    let plan = tf.plan(&imported, &config, &[]).await;
    assert!(errors(&plan.diags).is_empty(), "{:?}", plan.diags);
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    let (state, d) = tf.apply(&imported, &plan, &config).await;
    assert!(errors(&d).is_empty(), "{d:?}");
    assert_eq!(s(&state, attr::ID), id);
    let plan = tf.plan(&state, &config, &[]).await;
    assert_eq!(plan.planned, state);
    // The provider did not create its disk: destroy leaves the VDI alone.
    let vdis = objects(&lab, "VDI").await.len();
    assert!(errors(&tf.destroy(&state).await).is_empty());
    assert_eq!(objects(&lab, "VDI").await.len(), vdis);
}
