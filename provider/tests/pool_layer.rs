//! The pool layer against the in-process lab pool: lazy login, the shared
//! snapshot's call counts (read through `/labpool/counts`), invalidation after
//! mutations, out-of-band changes, resolvers and their errors.

mod labpool_support;

use std::sync::Arc;
use std::time::Duration;

use labpool_support::*;
use terraform_provider_xenapi::pool::{ClassKey, Pool, PoolError, PoolOptions};
use terraform_provider_xenapi::provider_config::Password;

fn method(counts: &std::collections::BTreeMap<String, u64>, m: &str) -> u64 {
    counts.get(m).copied().unwrap_or(0)
}

#[tokio::test]
async fn fifty_record_reads_share_one_batched_load() {
    let lab = start_lab().await;
    let pool = private_pool(&lab, PoolOptions::default());
    let client = pool.client().await.expect("login");
    let vms = client.vm().get_all_records().await.expect("VMs");
    let refs: Vec<_> = vms
        .iter()
        .filter(|(_, r)| r.is_a_template)
        .map(|(r, _)| r.clone())
        .collect();
    assert!(refs.len() >= 4, "default inventory has templates");
    reset_counts(&lab).await;

    // 50 lookups, 10 at a time (Terraform's default parallelism).
    let mut handles = Vec::new();
    for i in 0..50 {
        let pool = pool.clone();
        let r = refs[i % refs.len()].clone();
        handles.push(tokio::spawn(async move {
            pool.record::<xapi::Vm>(&r).await.map(|rec| rec.is_some())
        }));
        if handles.len() == 10 {
            for h in handles.drain(..) {
                assert!(h.await.unwrap().expect("read"));
            }
        }
    }
    let c = counts(&lab).await;
    assert_eq!(method(&c, "VM.get_all_records"), 0, "{c:?}");
    assert!(method(&c, "VM.get_record") <= 3, "{c:?}");
    assert_eq!(method(&c, "event.from"), 1, "one batched load: {c:?}");
    assert!(total_without_session(&c) <= 4, "{c:?}");
    assert!(pool.snapshot().is_batched::<xapi::Vm>());
}

#[tokio::test]
async fn prefetch_loads_several_classes_in_one_call_and_deltas_after_invalidate() {
    let lab = start_lab().await;
    let pool = private_pool(
        &lab,
        PoolOptions {
            freshness: Duration::from_secs(3600),
            ..PoolOptions::default()
        },
    );
    pool.client().await.expect("login");
    reset_counts(&lab).await;
    let keys = [
        ClassKey::of::<xapi::Vm>(),
        ClassKey::of::<xapi::Vif>(),
        ClassKey::of::<xapi::Vbd>(),
        ClassKey::of::<xapi::Vdi>(),
    ];
    pool.prefetch(&keys).await.expect("prefetch");
    let vms = pool.all::<xapi::Vm>().await.expect("VMs");
    let vbds = pool.all::<xapi::Vbd>().await.expect("VBDs");
    assert!(!vms.is_empty() && !vbds.is_empty());
    // Fresh: no further call.
    pool.prefetch(&keys).await.expect("prefetch again");
    let c = counts(&lab).await;
    assert_eq!(method(&c, "event.from"), 1, "{c:?}");
    assert_eq!(total_without_session(&c), 1, "{c:?}");

    // A mutation through this process, then invalidate: one delta call
    // brings the change.
    let (template, _) = vms
        .iter()
        .find(|(_, r)| r.is_a_template && r.name_label == "labpool Ubuntu 24.04 cloud-init")
        .expect("template");
    let client = pool.client().await.unwrap();
    let clone = {
        let _slot = pool.mutation().await;
        client
            .vm()
            .clone(template, "pool-layer-clone")
            .await
            .expect("clone")
    };
    reset_counts(&lab).await;
    let rec = pool
        .record::<xapi::Vm>(&clone)
        .await
        .expect("read")
        .expect("clone is visible after invalidation");
    assert_eq!(rec.name_label, "pool-layer-clone");
    let vbds_after = pool.all::<xapi::Vbd>().await.expect("VBDs");
    assert!(
        vbds_after.values().any(|b| b.vm == clone),
        "cloned VBDs visible"
    );
    let c = counts(&lab).await;
    assert_eq!(
        method(&c, "event.from"),
        2,
        "one delta per class touched: {c:?}"
    );
    assert_eq!(total_without_session(&c), 2, "{c:?}");

    // Deletion shows up as a missing record.
    {
        let _slot = pool.mutation().await;
        client.vm().destroy(&clone).await.expect("destroy");
    }
    assert!(
        pool.record::<xapi::Vm>(&clone)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn out_of_band_changes_are_seen_after_the_freshness_window() {
    let lab = start_lab().await;
    let pool = private_pool(
        &lab,
        PoolOptions {
            freshness: Duration::from_millis(100),
            ..PoolOptions::default()
        },
    );
    let networks = pool.all::<xapi::Network>().await.expect("networks");
    let (net, _) = networks.iter().next().expect("a network");
    // Another client (another actor) renames the network.
    let other = xapi::Client::new(
        xapi::Config::new(lab.base_url(), lab.username(), lab.password()).unwrap(),
    )
    .unwrap();
    other
        .call_void(
            "network.set_name_label",
            vec![
                serde_json::json!(net),
                serde_json::json!("renamed out of band"),
            ],
        )
        .await
        .expect("rename");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rec = pool.record::<xapi::Network>(net).await.unwrap().unwrap();
    assert_eq!(rec.name_label, "renamed out of band");
}

#[tokio::test]
async fn resolvers_find_by_uuid_and_name_and_list_candidates() {
    let lab = start_lab().await;
    let pool = private_pool(&lab, PoolOptions::default());
    reset_counts(&lab).await;
    let (r, rec) = pool
        .resolve_template("Debian Bookworm 12")
        .await
        .expect("by name");
    assert!(rec.is_a_template);
    let c = counts(&lab).await;
    assert!(total_without_session(&c) <= 2, "{c:?}");
    let (r2, _) = pool.resolve_template(&rec.uuid).await.expect("by uuid");
    assert_eq!(r, r2);
    let (_, net) = pool
        .resolve_network("Pool-wide network associated with eth0")
        .await
        .expect("network");
    assert_eq!(net.bridge, "xenbr0");
    pool.resolve_sr("Shared NFS storage").await.expect("SR");
    pool.resolve_host("lab-host-2").await.expect("host");
    pool.resolve_vdi("debian-12.5.0-amd64-netinst.iso")
        .await
        .expect("ISO VDI");

    // Not found: lists the templates that exist.
    let err = pool.resolve_template("No such template").await.unwrap_err();
    assert!(matches!(err, PoolError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("Debian Bookworm 12"), "{err}");

    // A non-template VM with a template's UUID is not a template.
    let client = pool.client().await.unwrap();
    let a = client.vm().clone(&r, "twin").await.unwrap();
    client.vm().set_is_a_template(&a, false).await.unwrap();
    let a_uuid = client.get_uuid(&a).await.unwrap();
    pool.invalidate();
    assert!(pool.resolve_template(&a_uuid).await.is_err());

    // Two templates with one name: ambiguous, both listed.
    let b = client.vm().clone(&r, "twin").await.unwrap();
    let c2 = client.vm().clone(&r, "twin").await.unwrap();
    pool.invalidate();
    let err = pool.resolve_template("twin").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PoolError::Ambiguous { .. }), "{err:?}");
    for vm in [&b, &c2] {
        let uuid = client.get_uuid(vm).await.unwrap();
        assert!(text.contains(&uuid), "{text}");
    }
    assert!(
        !text.contains(&a_uuid),
        "the non-template is no candidate: {text}"
    );
}

#[tokio::test]
async fn wrong_password_is_a_clear_login_error_without_the_password() {
    let lab = start_lab().await;
    let mut settings = settings(&lab);
    settings.password = Password::new("not-the-password-xyz");
    let pool = Pool::new(settings, PoolOptions::default());
    let err = pool.client().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PoolError::Login { .. }), "{err:?}");
    assert!(
        text.contains("rejected the user name or password"),
        "{text}"
    );
    assert!(!text.contains("not-the-password-xyz"), "{text}");
    let diag = err.to_diagnostic();
    assert!(!format!("{diag:?}").contains("not-the-password-xyz"));
}

#[tokio::test]
async fn the_process_registry_shares_one_pool_and_never_connects_by_itself() {
    let lab = start_lab().await;
    reset_counts(&lab).await;
    let config = provider_config(&lab);
    let a = Pool::from_config(&config).expect("pool");
    let b = Pool::from_config(&config).expect("pool");
    assert!(Arc::ptr_eq(&a, &b));
    assert!(a.connected_client().is_none());
    let c = counts(&lab).await;
    assert_eq!(
        c.values().sum::<u64>(),
        0,
        "no call before first use: {c:?}"
    );
    a.all::<xapi::Pool>().await.expect("pool record");
    assert!(b.connected_client().is_some_and(|c| c.is_logged_in()));
    a.logout().await;
    let c = counts(&lab).await;
    assert_eq!(method(&c, "session.logout"), 1, "{c:?}");
}
