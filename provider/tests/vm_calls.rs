//! XAPI calls per VM create and per refresh, counted by the lab pool
//! (`/labpool/counts`). Bounds, not timings: refreshing N VMs must not cost N
//! whole-pool scans (DESIGN decision 8).

mod vm_support;

use std::collections::BTreeMap;

use schema::Value;
use terraform_provider_xenapi::resources::vm::schema::{attr, ci, nic};
use vm_support::*;

async fn counts(lab: &labpool::RunningPool) -> BTreeMap<String, u64> {
    serde_json::from_value(admin(lab, "GET", "counts", "").await).unwrap_or_default()
}

fn total(c: &BTreeMap<String, u64>) -> u64 {
    c.iter()
        .filter(|(m, _)| !m.starts_with("session."))
        .map(|(_, n)| n)
        .sum()
}

fn config(name: &str) -> Value {
    vm(&[
        (attr::NAME_LABEL, Value::from(name)),
        (
            attr::MEMORY,
            memory(Some(512 * M), 2 * G, Some(G), Some(2 * G)),
        ),
        (
            attr::CLOUD_INIT,
            cloud_init(&[(ci::USER_DATA, Value::from("#cloud-config\n"))]),
        ),
        (
            attr::NETWORK_INTERFACE,
            Value::List(vec![nic_block(&[
                (nic::IPV4_ADDRESS, Value::from("192.168.100.60/24")),
                (nic::EXPECTED_IP_CIDR, Value::from("192.168.100.0/24")),
            ])]),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_create_and_per_refresh() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    // Warm up the session (login is not counted below).
    let (first, _) = tf.up(&Value::Null, &config("calls-0")).await;

    admin(&lab, "POST", "counts/reset", "").await;
    let (state, _) = tf.up(&Value::Null, &config("calls-1")).await;
    let create = counts(&lab).await;
    eprintln!("calls per create ({}): {create:?}", total(&create));
    assert!(
        total(&create) <= 80,
        "create: {} calls: {create:?}",
        total(&create)
    );
    assert!(!create.contains_key("VM.get_all_records"), "{create:?}");

    let mut states = vec![first, state];
    for i in 2..6 {
        states.push(tf.up(&Value::Null, &config(&format!("calls-{i}"))).await.0);
    }

    admin(&lab, "POST", "counts/reset", "").await;
    let (again, _) = tf.read(&states[1]).await;
    assert_eq!(again.get(attr::ID), states[1].get(attr::ID));
    let one = counts(&lab).await;
    eprintln!("calls per refresh of 1 VM ({}): {one:?}", total(&one));
    assert!(total(&one) <= 3, "{one:?}");

    admin(&lab, "POST", "counts/reset", "").await;
    for s in &states {
        tf.read(s).await;
    }
    let six = counts(&lab).await;
    eprintln!("calls per refresh of 6 VMs ({}): {six:?}", total(&six));
    // Never one whole-table scan per VM.
    for (m, n) in &six {
        if m.ends_with("get_all_records") {
            assert!(*n <= 1, "{m} called {n} times: {six:?}");
        }
    }
    assert!(total(&six) < 6 * total(&one), "{six:?}");

    // An update that changes one plain setting reads each of the VM's VBDs
    // once for the disks and once for the config drive, not again after.
    let id = s(&states[1], attr::ID).to_owned();
    let vbd_count = objects(&lab, "VM")
        .await
        .iter()
        .find(|v| v["uuid"] == id.as_str())
        .and_then(|v| v["VBDs"].as_array().map(Vec::len))
        .expect("the VM and its VBDs");
    assert!(vbd_count > 0);
    let mut changed = config("calls-1");
    set_attr(&mut changed, attr::NAME_DESCRIPTION, Value::from("updated"));
    admin(&lab, "POST", "counts/reset", "").await;
    let (updated, _) = tf.up(&states[1], &changed).await;
    let update = counts(&lab).await;
    eprintln!("calls per update ({}): {update:?}", total(&update));
    let vbd_reads = update.get("VBD.get_record").copied().unwrap_or(0);
    assert!(
        vbd_reads <= 2 * vbd_count as u64,
        "{vbd_reads} VBD reads for {vbd_count} VBDs: {update:?}"
    );
    states[1] = updated;
    for s in &states {
        assert!(errors(&tf.destroy(s).await).is_empty());
    }
}
