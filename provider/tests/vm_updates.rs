//! `xenapi_vm` updates, plan-time errors and failure handling against the
//! in-process lab pool, through the framework engine.

mod vm_support;

use schema::Value;
use terraform_provider_xenapi::resources::vm::schema::{attr, ci, disk, mem, nic};
use vm_support::*;

fn small(name: &str, mem_v: Value, extra: &[(&str, Value)]) -> Value {
    let mut f = vec![
        (attr::NAME_LABEL, Value::from(name)),
        (attr::MEMORY, mem_v),
        (
            attr::NETWORK_INTERFACE,
            Value::List(vec![nic_block(&[(
                nic::EXPECTED_IP_CIDR,
                Value::from("192.168.100.0/24"),
            )])]),
        ),
    ];
    f.extend(extra.iter().cloned());
    vm(&f)
}

async fn boot_count(lab: &labpool::RunningPool, id: &str) -> i64 {
    admin(lab, "GET", &format!("guest/{id}"), "").await["boot_count"]
        .as_i64()
        .unwrap_or(-1)
}

fn mem_of(state: &Value, name: &str) -> i64 {
    state
        .get(attr::MEMORY)
        .and_then(|m| m.get(name))
        .and_then(Value::as_i64)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_updates_live_restart_and_refusal() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let config = small("mem-1", memory(None, 2 * G, Some(G), Some(2 * G)), &[]);
    let (state, _) = tf.up(&Value::Null, &config).await;
    let id = s(&state, attr::ID).to_string();
    assert_eq!(boot_count(&lab, &id).await, 1);
    // static_min defaulted to the template's.
    assert_eq!(mem_of(&state, mem::STATIC_MIN), 512 * M);

    // Dynamic range: live, no warning, no reboot.
    let config = small(
        "mem-1",
        memory(None, 2 * G, Some(3 * G / 2), Some(2 * G)),
        &[],
    );
    let (state, diags) = tf.up(&state, &config).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(mem_of(&state, mem::DYNAMIC_MIN), 3 * G / 2);
    assert_eq!(
        boot_count(&lab, &id).await,
        1,
        "a dynamic change must not reboot"
    );

    // Static change with restart_on_update = false: plan error naming it.
    let refused = small(
        "mem-1",
        memory(None, 4 * G, Some(3 * G / 2), Some(2 * G)),
        &[(attr::RESTART_ON_UPDATE, Value::from(false))],
    );
    let plan = tf.plan(&state, &refused, &[]).await;
    let e = errors(&plan.diags);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("memory.static_max:"), "{e:?}");
    assert!(e[0].contains("mem-1"), "{e:?}");

    // Static change allowed: warning naming the VM and attribute, one restart.
    let config = small(
        "mem-1",
        memory(None, 4 * G, Some(3 * G / 2), Some(2 * G)),
        &[],
    );
    let (state, diags) = tf.up(&state, &config).await;
    let w = warnings(&diags);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&id) && w[0].contains("memory.static_max"),
        "{w:?}"
    );
    assert_eq!(mem_of(&state, mem::STATIC_MAX), 4 * G);
    assert_eq!(s(&state, attr::POWER_STATE), "running");
    assert_eq!(boot_count(&lab, &id).await, 2);
    assert_eq!(s(&state, attr::ID), id, "not replaced");

    // Second plan empty.
    let plan = tf.plan(&state, &config, &[]).await;
    assert_eq!(plan.planned, state);

    // Drift: an out-of-band change of a limit shows on refresh.
    let d = tf.destroy(&state).await;
    assert!(errors(&d).is_empty(), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_memory_orders_fail_at_plan_time() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let cases = [
        (
            memory(Some(2 * G), 4 * G, Some(G), None),
            "memory.static_min",
        ),
        (
            memory(None, 4 * G, Some(3 * G), Some(2 * G)),
            "memory.dynamic_min",
        ),
        (memory(None, 4 * G, None, Some(5 * G)), "memory.dynamic_max"),
        (memory(Some(8 * G), 4 * G, None, None), "memory.static_min"),
    ];
    for (m, path) in cases {
        let d = tf.validate(&small("bad", m, &[]));
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with(&format!("{path}:")), "{e:?}");
    }
    // The template's static_min (512 MiB) is looked up at plan time: a fixed
    // 256 MiB VM is refused by the plan, not at apply.
    let config = small("bad", memory(None, 256 * M, None, None), &[]);
    assert!(errors(&tf.validate(&config)).is_empty());
    let plan = tf.plan(&Value::Null, &config, &[]).await;
    let e = errors(&plan.diags);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("memory.static_min:") && e[0].contains("template"),
        "{e:?}"
    );
    // With it set explicitly the plan knows all four limits.
    let config = small("ok", memory(Some(128 * M), 256 * M, None, None), &[]);
    let plan = tf.plan(&Value::Null, &config, &[]).await;
    assert!(plan.diags.is_empty(), "{:?}", plan.diags);
    let default_min = tf
        .plan(
            &Value::Null,
            &small("ok", memory(None, G, None, None), &[]),
            &[],
        )
        .await;
    assert_eq!(
        default_min
            .planned
            .get(attr::MEMORY)
            .and_then(|m| m.get(mem::STATIC_MIN)),
        Some(&Value::from(512 * M))
    );
    assert!(
        objects(&lab, "VM")
            .await
            .iter()
            .all(|v| v["name_label"] != "bad")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_create_leaves_nothing_behind() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let vms = objects(&lab, "VM").await.len();
    let vdis = objects(&lab, "VDI").await.len();
    let vbds = objects(&lab, "VBD").await.len();
    admin(
        &lab,
        "POST",
        "faults/rules",
        r#"{"method": "VIF.create", "rate": 1.0, "error": "INTERNAL_ERROR", "params": ["injected fault"]}"#,
    )
    .await;
    let config = small(
        "doomed",
        memory(None, G, None, None),
        &[(
            attr::CLOUD_INIT,
            cloud_init(&[(ci::USER_DATA, Value::from("secret-user-data-xyz"))]),
        )],
    );
    let plan = tf.plan(&Value::Null, &config, &[]).await;
    assert!(errors(&plan.diags).is_empty());
    let (state, d) = tf.apply(&Value::Null, &plan, &config).await;
    assert!(state.is_null());
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("VIF.create") && e[0].contains("injected fault"),
        "{e:?}"
    );
    assert!(e[0].contains("removed"), "{e:?}");
    assert!(!e[0].contains("secret-user-data-xyz"));
    assert_eq!(objects(&lab, "VM").await.len(), vms, "VM left behind");
    assert_eq!(objects(&lab, "VDI").await.len(), vdis, "VDIs left behind");
    assert_eq!(objects(&lab, "VBD").await.len(), vbds, "VBDs left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_change_rebuilds_drive_in_place_and_power_cycle() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let with_ud = |ud: &str, power: &str| {
        small(
            "ci-1",
            memory(None, G, None, None),
            &[
                (
                    attr::CLOUD_INIT,
                    cloud_init(&[(ci::USER_DATA, Value::from(ud))]),
                ),
                (attr::POWER_STATE, Value::from(power)),
            ],
        )
    };
    let (state, _) = tf
        .up(&Value::Null, &with_ud("#cloud-config\na: 1\n", "running"))
        .await;
    let id = s(&state, attr::ID).to_string();
    let drives = |objs: Vec<serde_json::Value>| -> Vec<String> {
        objs.iter()
            .filter(|v| v["other_config"]["xenapi-terraform-config-drive"] == id.as_str())
            .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let before = drives(objects(&lab, "VDI").await);
    assert_eq!(before.len(), 1);

    let (state, diags) = tf
        .up(&state, &with_ud("#cloud-config\na: 2\n", "running"))
        .await;
    assert!(warnings(&diags).is_empty(), "{diags:?}");
    assert_eq!(s(&state, attr::ID), id);
    let after = drives(objects(&lab, "VDI").await);
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the drive was not rebuilt");
    assert_eq!(
        boot_count(&lab, &id).await,
        1,
        "a drive rebuild must not reboot"
    );

    // Power off, then on again.
    let (state, _) = tf
        .up(&state, &with_ud("#cloud-config\na: 2\n", "halted"))
        .await;
    assert_eq!(s(&state, attr::POWER_STATE), "halted");
    let (state, _) = tf
        .up(&state, &with_ud("#cloud-config\na: 2\n", "running"))
        .await;
    assert_eq!(s(&state, attr::POWER_STATE), "running");
    assert_eq!(boot_count(&lab, &id).await, 2);
    let plan = tf
        .plan(&state, &with_ud("#cloud-config\na: 2\n", "running"), &[])
        .await;
    assert_eq!(plan.planned, state);
    assert!(errors(&tf.destroy(&state).await).is_empty());
    assert!(drives(objects(&lab, "VDI").await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_after_boot_and_given_macs() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, Some("xensource")).await;
    let config = vm(&[
        (attr::NAME_LABEL, Value::from("rab-1")),
        (attr::MEMORY, memory(None, G, None, None)),
        (
            attr::CLOUD_INIT,
            cloud_init(&[(ci::REMOVE_AFTER_BOOT, Value::from(true))]),
        ),
        (
            attr::NETWORK_INTERFACE,
            Value::List(vec![
                nic_block(&[
                    (nic::MAC, Value::from("02:AB:CD:00:00:01")),
                    (nic::IPV4_ADDRESS, Value::from("192.168.100.77/24")),
                ]),
                nic_block(&[]),
            ]),
        ),
    ]);
    // A MAC known only at apply (from another resource) plans as unknown.
    let mut unknown_mac = config.clone();
    if let Some(Value::List(items)) = unknown_mac.get_mut(attr::NETWORK_INTERFACE) {
        set_attr(&mut items[0], nic::MAC, Value::unknown());
    }
    let v = tf.validate(&unknown_mac);
    assert!(errors(&v).is_empty(), "{v:?}");
    let plan = tf.plan(&Value::Null, &unknown_mac, &[]).await;
    assert!(errors(&plan.diags).is_empty(), "{:?}", plan.diags);
    assert!(nics(&plan.planned)[0].get(nic::MAC).unwrap().is_unknown());

    let (state, _) = tf.up(&Value::Null, &config).await;
    let id = s(&state, attr::ID).to_string();
    let n = nics(&state);
    assert_eq!(
        s(&n[0], nic::MAC),
        "02:AB:CD:00:00:01",
        "configured spelling kept"
    );
    assert!(
        s(&n[1], nic::MAC).starts_with("00:16:3e:"),
        "{}",
        s(&n[1], nic::MAC)
    );
    let guest = admin(&lab, "GET", &format!("guest/{id}"), "").await;
    assert_eq!(guest["hostname"], "rab-1", "{guest}");
    let applied = guest["network"].as_array().cloned().unwrap_or_default();
    assert!(
        applied
            .iter()
            .any(|x| x["mac"] == "02:ab:cd:00:00:01" && x["mode"] == "static"),
        "{guest}"
    );
    // The drive is gone, on purpose; the next plan is empty.
    assert!(
        objects(&lab, "VDI")
            .await
            .iter()
            .all(|v| v["other_config"]["xenapi-terraform-config-drive"] != id.as_str())
    );
    let plan = tf.plan(&state, &config, &[]).await;
    assert_eq!(plan.planned, state);
    let (refreshed, _) = tf.read(&state).await;
    assert_eq!(refreshed, state);
    assert!(errors(&tf.destroy(&state).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disks_nics_and_out_of_band_delete() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let disk_entry = |size: i64| {
        Value::object([
            (disk::DEVICE, Value::Null),
            (disk::SIZE, Value::from(size)),
            (disk::SR, Value::Null),
            (disk::NAME_LABEL, Value::from("data")),
            (disk::VDI_UUID, Value::Null),
            (disk::CREATED, Value::Null),
        ])
    };
    let with = |disks: Vec<Value>, second_net: &str| {
        vm(&[
            (attr::NAME_LABEL, Value::from("dsk-1")),
            (attr::MEMORY, memory(None, G, None, None)),
            (attr::DISK, Value::List(disks)),
            (
                attr::NETWORK_INTERFACE,
                Value::List(vec![
                    nic_block(&[]),
                    nic_block(&[(nic::NETWORK, Value::from(second_net))]),
                ]),
            ),
        ])
    };
    let (state, _) = tf
        .up(&Value::Null, &with(vec![disk_entry(G)], NETWORK))
        .await;
    let id = s(&state, attr::ID).to_string();
    let d0 = state.get(attr::DISK).and_then(Value::as_elements).unwrap()[0].clone();
    assert_eq!(d0.get(disk::CREATED), Some(&Value::Bool(true)));
    assert_eq!(s(&d0, disk::DEVICE), "1");

    // Grow the new disk: needs the VM halted -> warning, restart.
    let (state, diags) = tf.up(&state, &with(vec![disk_entry(2 * G)], NETWORK)).await;
    assert!(
        warnings(&diags).iter().any(|w| w.contains("disk[0].size")),
        "{diags:?}"
    );
    let d0 = state.get(attr::DISK).and_then(Value::as_elements).unwrap()[0].clone();
    assert_eq!(d0.get(disk::SIZE).and_then(Value::as_i64), Some(2 * G));

    // Shrink: plan error.
    let plan = tf
        .plan(&state, &with(vec![disk_entry(G)], NETWORK), &[])
        .await;
    assert!(
        errors(&plan.diags)
            .iter()
            .any(|e| e.starts_with("disk[0].size"))
    );

    // Network change of the second interface: that VIF is replaced, the MAC
    // kept, the VM not replaced.
    let nets = objects(&lab, "network").await;
    let other = nets
        .iter()
        .find(|n| n["name_label"].as_str() != Some(NETWORK))
        .expect("a second network")["name_label"]
        .as_str()
        .unwrap()
        .to_string();
    let mac1 = s(&nics(&state)[1], nic::MAC).to_string();
    let vif1 = s(&nics(&state)[1], nic::VIF_UUID).to_string();
    let vif0 = s(&nics(&state)[0], nic::VIF_UUID).to_string();
    let (state, _) = tf.up(&state, &with(vec![disk_entry(2 * G)], &other)).await;
    assert_eq!(s(&state, attr::ID), id);
    let n = nics(&state);
    assert_eq!(s(&n[1], nic::MAC), mac1);
    assert_ne!(s(&n[1], nic::VIF_UUID), vif1);
    assert_eq!(s(&n[0], nic::VIF_UUID), vif0);

    // Removing the disk entry destroys the disk the provider created.
    let data_vdi = s(&d0, disk::VDI_UUID).to_string();
    let (state, _) = tf.up(&state, &with(vec![], &other)).await;
    assert!(
        objects(&lab, "VDI")
            .await
            .iter()
            .all(|v| v["uuid"] != data_vdi.as_str()),
        "created disk not destroyed"
    );

    // Out-of-band delete: refresh says gone (no error).
    let client_cfg = admin(&lab, "GET", "objects/VM", "").await;
    assert!(client_cfg.to_string().contains(&id));
    assert!(errors(&tf.destroy(&state).await).is_empty());
    let (gone, d) = tf.read(&state).await;
    assert!(d.is_empty());
    assert!(gone.is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_after_boot_waits_for_the_first_boot() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let config = |power: &str| {
        small(
            "rab-2",
            memory(None, G, None, None),
            &[
                (
                    attr::CLOUD_INIT,
                    cloud_init(&[(ci::REMOVE_AFTER_BOOT, Value::from(true))]),
                ),
                (attr::POWER_STATE, Value::from(power)),
            ],
        )
    };
    let (state, _) = tf.up(&Value::Null, &config("halted")).await;
    let id = s(&state, attr::ID).to_string();
    let drives = || async {
        objects(&lab, "VDI")
            .await
            .iter()
            .filter(|v| v["other_config"]["xenapi-terraform-config-drive"] == id.as_str())
            .count()
    };
    assert_eq!(
        drives().await,
        1,
        "halted: the drive waits for the first boot"
    );
    let (state, _) = tf.up(&state, &config("running")).await;
    assert_eq!(drives().await, 0, "removed after the guest reported");
    let guest = admin(&lab, "GET", &format!("guest/{id}"), "").await;
    assert_eq!(
        guest["hostname"], "rab-2",
        "the guest read the drive first: {guest}"
    );
    let plan = tf.plan(&state, &config("running"), &[]).await;
    assert_eq!(plan.planned, state);
    assert!(errors(&tf.destroy(&state).await).is_empty());
}
