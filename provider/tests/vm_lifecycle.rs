//! `xenapi_vm` end to end against the in-process lab pool, through the
//! framework engine: create with the four memory limits, generated MACs and
//! a config drive with static addressing; empty second plan; refresh; import
//! round trip; destroy leaves nothing.

mod vm_support;

use schema::Value;
use terraform_provider_xenapi::resources::vm::schema::{attr, ci, mem, nic};
use vm_support::*;

fn web_config(name: &str) -> Value {
    vm(&[
        (attr::NAME_LABEL, Value::from(name)),
        (attr::VCPUS, Value::from(2i64)),
        (
            attr::MEMORY,
            memory(Some(512 * M), 2 * G, Some(G), Some(2 * G)),
        ),
        (
            attr::CLOUD_INIT,
            cloud_init(&[(ci::USER_DATA, Value::from("#cloud-config\nhostname: web\n"))]),
        ),
        (
            attr::NETWORK_INTERFACE,
            Value::List(vec![
                nic_block(&[
                    (nic::IPV4_ADDRESS, Value::from("192.168.100.50/24")),
                    (nic::IPV4_GATEWAY, Value::from("192.168.100.1")),
                    (
                        nic::DNS_SERVERS,
                        Value::List(vec![Value::from("192.168.100.1")]),
                    ),
                    (nic::EXPECTED_IP_CIDR, Value::from("192.168.100.0/24")),
                ]),
                nic_block(&[(nic::EXPECTED_IP_CIDR, Value::from("192.168.100.0/24"))]),
            ]),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_plan_empty_refresh_import_destroy() {
    let lab = start_lab().await;
    let tf = Tf::new(&lab, None).await;
    let vms_before = objects(&lab, "VM").await.len();
    let vdis_before = objects(&lab, "VDI").await.len();

    let config = web_config("web-1");
    let (state, plan_diags) = tf.up(&Value::Null, &config).await;
    assert!(plan_diags.is_empty(), "{plan_diags:?}");
    let id = s(&state, attr::ID).to_string();
    assert_eq!(id.len(), 36);

    // Memory: all four limits as configured.
    let m = state.get(attr::MEMORY).unwrap();
    assert_eq!(
        m.get(mem::STATIC_MIN).and_then(Value::as_i64),
        Some(512 * M)
    );
    assert_eq!(m.get(mem::DYNAMIC_MIN).and_then(Value::as_i64), Some(G));
    assert_eq!(s(&state, attr::POWER_STATE), "running");

    // Generated MACs: locally administered unicast, distinct, kept in state.
    let n = nics(&state);
    assert_eq!(n.len(), 2);
    let mac0 = s(&n[0], nic::MAC).to_string();
    let mac1 = s(&n[1], nic::MAC).to_string();
    assert_ne!(mac0, mac1);
    for mac in [&mac0, &mac1] {
        let first = u8::from_str_radix(&mac[..2], 16).unwrap();
        assert_eq!(
            first & 0x03,
            0x02,
            "{mac} is not locally administered unicast"
        );
    }
    // The guest reported exactly the static address on the first NIC and a
    // DHCP lease on the second (the create waited for both).
    assert_eq!(strings(&n[0], nic::IPV4_ADDRESSES), vec!["192.168.100.50"]);
    let dhcp = strings(&n[1], nic::IPV4_ADDRESSES);
    assert_eq!(dhcp.len(), 1, "{dhcp:?}");
    assert!(dhcp[0].starts_with("192.168.100."));

    // The lab pool's guest view: the drive was read, the network applied by MAC.
    let guest = admin(&lab, "GET", &format!("guest/{id}"), "").await;
    let applied = guest["network"].as_array().cloned().unwrap_or_default();
    let static_nic = applied
        .iter()
        .find(|x| x["mac"].as_str() == Some(mac0.as_str()))
        .unwrap_or_else(|| panic!("no applied network for {mac0}: {guest}"));
    assert_eq!(static_nic["mode"], "static");
    assert_eq!(guest["boot_count"], 1, "{guest}");
    assert_eq!(guest["hostname"], "web-1");

    // A second plan is empty.
    let plan = tf.plan(&state, &config, &[]).await;
    assert!(plan.diags.is_empty(), "{:?}", plan.diags);
    assert_eq!(plan.planned, state, "second plan is not empty");

    // Refresh is stable.
    let (refreshed, d) = tf.read(&state).await;
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(refreshed, state);

    // Import round trip: the original configuration plans empty.
    let (imported, d) = tf.import(&id).await;
    assert!(errors(&d).is_empty(), "{d:?}");
    let (imported, d) = tf.read(&imported).await;
    assert!(errors(&d).is_empty(), "{d:?}");
    assert_eq!(s(&imported, attr::TEMPLATE), TEMPLATE);
    let ci_back = imported.get(attr::CLOUD_INIT).unwrap();
    assert_eq!(s(ci_back, ci::USER_DATA), "#cloud-config\nhostname: web\n");
    let n_back = nics(&imported);
    assert_eq!(s(&n_back[0], nic::IPV4_ADDRESS), "192.168.100.50/24");
    let plan = tf.plan(&imported, &config, &[]).await;
    assert!(errors(&plan.diags).is_empty(), "{:?}", plan.diags);
    assert!(
        plan.requires_replace.is_empty(),
        "{:?}",
        plan.requires_replace
    );
    let mut diffs = Vec::new();
    diff("", &imported, &plan.planned, &mut diffs);
    assert!(
        diffs.is_empty(),
        "plan after import is not empty: {diffs:?}"
    );

    // Destroy leaves nothing behind.
    let d = tf.destroy(&state).await;
    assert!(errors(&d).is_empty(), "{d:?}");
    assert_eq!(objects(&lab, "VM").await.len(), vms_before);
    assert_eq!(
        objects(&lab, "VDI").await.len(),
        vdis_before,
        "VDIs left behind"
    );
    // Task records of the provider's own calls are destroyed; the lab pool's
    // GET /export_raw_vdi handler makes its own task (as XAPI does when no
    // task_id is passed), which the xapi client does not remove.
    let tasks: Vec<_> = objects(&lab, "task")
        .await
        .into_iter()
        .filter(|t| t["name_label"] != "VDI export")
        .collect();
    assert!(tasks.is_empty(), "task records left behind: {tasks:?}");
    // Out-of-band state: a refresh of the destroyed VM says it is gone.
    let (gone, d) = tf.read(&state).await;
    assert!(d.is_empty(), "{d:?}");
    assert!(gone.is_null());
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                diff(
                    &format!("{path}.{k}"),
                    v,
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::List(x), Value::List(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (p, q) if p != q => out.push(format!("{path}: {p:?} -> {q:?}")),
        _ => {}
    }
}
