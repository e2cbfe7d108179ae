//! Pool/host/network reads, tasks and events, retries under injected faults, the mutation
//! limiter, call counters, and raw-call error shapes.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use xapi::{Error, ErrorCode, EventOperation, TaskStatus, VifCreate, Vm, object_subscription};

#[tokio::test]
async fn pool_host_network_pif_reads() {
    let lab = Lab::start().await;
    let c = lab.client();
    let (pref, pool) = c.pool().the_pool().await.unwrap();
    assert_eq!(c.pool().get_record(&pref).await.unwrap().uuid, pool.uuid);
    assert_eq!(c.pool().get_by_uuid(&pool.uuid).await.unwrap(), pref);
    assert_eq!(c.pool().get_all().await.unwrap(), vec![pref.clone()]);

    let hosts = c.host().get_all_records().await.unwrap();
    assert_eq!(hosts.len(), 3);
    let master = &hosts[&pool.master];
    assert_eq!(
        c.host()
            .get_by_name_label(&master.name_label)
            .await
            .unwrap(),
        vec![pool.master.clone()]
    );
    assert_eq!(
        c.host().get_by_uuid(&master.uuid).await.unwrap(),
        pool.master
    );
    assert_eq!(
        c.host().get_record(&pool.master).await.unwrap().uuid,
        master.uuid
    );
    assert_eq!(c.host().get_all().await.unwrap().len(), 3);
    let hm = c.metrics().host(&master.metrics).await.unwrap();
    assert!(hm.memory_total >= 64 * GIB);
    let free = c.host().compute_free_memory(&pool.master).await.unwrap();
    assert!(free > 0 && free <= hm.memory_total);

    let nets = c.network().get_all_records().await.unwrap();
    let dhcp = nets
        .values()
        .find(|n| n.other_config.contains_key("labpool-dhcp"))
        .unwrap();
    assert_eq!(dhcp.mtu, 1500);
    let (nref, nrec) = nets.iter().next().unwrap();
    assert_eq!(c.network().get_record(nref).await.unwrap().uuid, nrec.uuid);
    assert_eq!(&c.network().get_by_uuid(&nrec.uuid).await.unwrap(), nref);
    assert_eq!(c.network().get_all().await.unwrap().len(), nets.len());

    let pifs = c.pif().get_all_records().await.unwrap();
    assert!(!pifs.is_empty());
    let (pref2, prec) = pifs.iter().next().unwrap();
    assert!(nets.contains_key(&prec.network));
    assert_eq!(c.pif().get_record(pref2).await.unwrap().uuid, prec.uuid);
    assert_eq!(&c.pif().get_by_uuid(&prec.uuid).await.unwrap(), pref2);
    assert_eq!(c.pif().get_all().await.unwrap().len(), pifs.len());

    let methods = c.list_methods().await.unwrap();
    assert!(methods.iter().any(|m| m == "VM.set_memory_limits"));
}

#[tokio::test]
async fn raw_call_error_shapes() {
    let lab = Lab::start().await;
    let c = lab.client();
    let e = c.call("VM.no_such_call", vec![]).await.unwrap_err();
    assert!(e.is(&ErrorCode::MessageMethodUnknown), "{e}");
    assert_eq!(e.api().unwrap().param(0), Some("VM.no_such_call"));
    let e = c.call("VM.get_record", vec![]).await.unwrap_err();
    assert!(e.is(&ErrorCode::MessageParameterCountMismatch), "{e}");
    assert_eq!(e.api().unwrap().params, vec!["VM.get_record", "1", "0"]);
    // A call without an async form.
    let e = c
        .start_async("VM.set_VCPUs_max", vec![json!("OpaqueRef:x"), json!(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Some(ErrorCode::Other(code)) if code == "Fault"),
        "{e}"
    );
}

#[tokio::test]
async fn tasks_events_and_waits() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "events").await;

    // event.from: the empty token returns the object as an `add`, then changes as `mod`.
    let sub = vec![object_subscription(&vm)];
    let b = c.event_from(&sub, "", Duration::ZERO).await.unwrap();
    assert_eq!(b.events.len(), 1);
    assert_eq!(b.events[0].operation, EventOperation::Add);
    assert!(b.events[0].is_about(&vm));
    c.vm().set_name_description(&vm, "changed").await.unwrap();
    let b2 = c
        .event_from(&sub, &b.token, Duration::from_secs(5))
        .await
        .unwrap();
    let rec = b2.events[0].record::<Vm>().unwrap().unwrap();
    assert_eq!(b2.events[0].operation, EventOperation::Mod);
    assert_eq!(rec.name_description, "changed");
    // Nothing happens: returns empty at the timeout.
    let b3 = c
        .event_from(&sub, &b2.token, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(b3.events.is_empty());
    let e = c
        .event_from(&sub, "garbage", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::EventFromTokenParseFailure), "{e}");

    // wait_for with a deadline that passes.
    let e = c
        .wait_for::<Vm>(&vm, Duration::from_millis(300), |r| r.name_label == "never")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    // wait_for on a change made concurrently.
    let c2 = c.clone();
    let vm2 = vm.clone();
    let waiter = tokio::spawn(async move {
        c2.wait_for::<Vm>(&vm2, Duration::from_secs(10), |r| r.name_label == "renamed")
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.vm().set_name_label(&vm, "renamed").await.unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().name_label, "renamed");
    // wait_for_events over a whole class.
    let c3 = c.clone();
    let vm3 = vm.clone();
    let waiter = tokio::spawn(async move {
        c3.wait_for_events(
            &["vm".to_string()],
            Duration::from_secs(10),
            "VM start",
            |ev| {
                Ok(ev
                    .is_about(&vm3)
                    .then(|| ev.record::<Vm>())
                    .transpose()?
                    .flatten()
                    .filter(|r| r.power_state == xapi::PowerState::Running))
            },
        )
        .await
    });
    c.vm().start(&vm, false, false).await.unwrap();
    assert_eq!(
        waiter.await.unwrap().unwrap().power_state,
        xapi::PowerState::Running
    );
    // A deleted object ends the wait.
    c.vm().hard_shutdown(&vm).await.unwrap();
    let c4 = c.clone();
    let vm4 = vm.clone();
    let waiter = tokio::spawn(async move {
        c4.wait_for::<Vm>(&vm4, Duration::from_secs(10), |r| r.name_label == "never")
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.vm().destroy(&vm).await.unwrap();
    assert!(waiter.await.unwrap().unwrap_err().is_not_found());

    // Tasks: create/get/cancel/destroy; a delayed async call can be cancelled.
    let t = c.task().create("manual", "by test").await.unwrap();
    let tr = c.task().get_record(&t).await.unwrap();
    assert_eq!(tr.status, TaskStatus::Pending);
    assert_eq!(c.task().get_by_uuid(&tr.uuid).await.unwrap(), t);
    assert_eq!(
        c.task().get_by_name_label("manual").await.unwrap(),
        vec![t.clone()]
    );
    assert!(c.task().get_all().await.unwrap().contains(&t));
    let e = c
        .await_task(&t, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    c.task().destroy(&t).await.unwrap();

    lab.faults(json!({"async_delay_ms": 1500})).await;
    let vm = new_vm(&c, "cancel-me").await;
    let task = c.vm().start_async(&vm, false, false).await.unwrap();
    c.task().cancel(&task).await.unwrap();
    let e = c
        .await_task(&task, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::TaskCancelled), "{e}");
    assert_eq!(
        c.task().get_record(&task).await.unwrap().status,
        TaskStatus::Cancelled
    );
    lab.clear_faults().await;
}

#[tokio::test]
async fn dropped_connection_on_a_read_is_retried() {
    let lab = Lab::start().await;
    let c = lab.client();
    c.login().await.unwrap();
    lab.faults(json!({"rules": [{"method": "VM.get_all_records", "drop": "before", "count": 2}]}))
        .await;
    let vms = c.vm().get_all_records().await.unwrap();
    assert!(!vms.is_empty());
    assert_eq!(c.call_counts()["VM.get_all_records"], 3);
    assert_eq!(lab.counts().await["VM.get_all_records"], 3);
    // Reads are also retried when the server ran the call but the answer was lost.
    lab.faults(json!({"rules": [{"method": "VM.get_all", "drop": "after", "count": 1}]}))
        .await;
    c.vm().get_all().await.unwrap();
    assert_eq!(c.call_counts()["VM.get_all"], 2);
}

#[tokio::test]
async fn dropped_connection_on_a_create_is_not_retried() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "drop").await;
    let nets = c.network().get_all().await.unwrap();
    // The server creates the VIF, then drops the connection.
    lab.faults(json!({"rules": [{"method": "VIF.create", "drop": "after", "count": 1}]}))
        .await;
    let e = c
        .vif()
        .create(&VifCreate::new(&vm, &nets[0], 0, "06:00:00:00:00:01"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e}");
    assert_eq!(c.call_counts()["VIF.create"], 1, "never resent");
    assert_eq!(lab.counts().await["VIF.create"], 1);
    // It did run: the caller must reconcile (here: the VIF exists once).
    let vifs = c.vm().get_record(&vm).await.unwrap().vifs;
    assert_eq!(vifs.len(), 1);
    // Dropped before running: still not resent, since the client cannot know.
    lab.faults(json!({"rules": [{"method": "VIF.create", "drop": "before", "count": 1}]}))
        .await;
    let e = c
        .vif()
        .create(&VifCreate::new(&vm, &nets[0], 1, "06:00:00:00:00:02"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e}");
    assert_eq!(c.call_counts()["VIF.create"], 2);
    assert_eq!(c.vm().get_record(&vm).await.unwrap().vifs.len(), 1);
}

#[tokio::test]
async fn connect_failures_are_retried_then_reported() {
    // Nothing listens on this port (bound then released).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = xapi::Config::new(&format!("http://127.0.0.1:{port}"), USER, PASSWORD)
        .unwrap()
        .with_retry(xapi::RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        });
    let c = xapi::Client::new(cfg).unwrap();
    let e = c.login().await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert_eq!(c.call_counts()["session.login_with_password"], 3);
}

#[tokio::test]
async fn mutation_limiter_bounds_concurrency() {
    let lab = Lab::start().await;
    let c = xapi::Client::new(lab.config().with_max_concurrent_mutations(1)).unwrap();
    let vm = new_vm(&c, "limit").await;
    assert_eq!(c.available_mutation_permits(), 1);
    // Hold the only permit: a mutating call waits, a read does not.
    let permit = c.mutation_permit().await.unwrap();
    let c2 = c.clone();
    let vm2 = vm.clone();
    let pending = tokio::spawn(async move { c2.vm().set_name_description(&vm2, "x").await });
    c.vm().get_record(&vm).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "mutation waited for the permit");
    assert_eq!(c.call_counts().get("VM.set_name_description"), None);
    drop(permit);
    pending.await.unwrap().unwrap();
    assert_eq!(c.available_mutation_permits(), 1);
}

#[tokio::test]
async fn call_counters_match_the_server() {
    let lab = Lab::start().await;
    let c = lab.client();
    c.login().await.unwrap();
    lab.reset_counts().await;
    c.reset_call_counts();
    let _ = c.vm().get_all_records().await.unwrap();
    let _ = c.host().get_all_records().await.unwrap();
    let _ = c.vm().get_all_records().await.unwrap();
    let ours = c.call_counts();
    assert_eq!(ours["VM.get_all_records"], 2);
    assert_eq!(ours["host.get_all_records"], 1);
    assert_eq!(c.total_calls(), 3);
    let theirs = lab.counts().await;
    assert_eq!(theirs["VM.get_all_records"], 2);
    assert_eq!(theirs["host.get_all_records"], 1);
}

#[tokio::test]
async fn waiting_for_guest_metrics_follows_the_metrics_object() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "guest-ip").await;
    let nets = c.network().get_all_records().await.unwrap();
    let (dhcp, rec) = nets
        .iter()
        .find(|(_, n)| n.other_config.contains_key("labpool-dhcp"))
        .unwrap();
    let cidr_prefix = rec.other_config["labpool-dhcp"]
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string();
    c.vif()
        .create(&VifCreate::new(&vm, dhcp, 0, ""))
        .await
        .unwrap();

    // Halted: nothing is reported before the deadline.
    let e = c
        .wait_for_guest_metrics(&vm, Duration::from_millis(300), |_| true)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");

    let t = Duration::from_secs(30);
    c.vm().start(&vm, false, false).await.unwrap();
    let prefix = cidr_prefix.clone();
    let (vrec, gm) = c
        .wait_for_guest_metrics(&vm, t, |g| {
            g.ipv4_addresses("0")
                .iter()
                .any(|ip| ip.starts_with(&prefix))
        })
        .await
        .unwrap();
    assert_eq!(vrec.power_state, xapi::PowerState::Running);
    let ip = gm.ipv4_addresses("0")[0].clone();
    assert!(ip.starts_with(&cidr_prefix), "{ip}");

    // A restart replaces the metrics object; the wait follows the new one.
    c.vm().hard_shutdown(&vm).await.unwrap();
    c.vm().start(&vm, false, false).await.unwrap();
    let old = vrec.guest_metrics.clone();
    let (vrec2, gm2) = c
        .wait_for_guest_metrics(&vm, t, |g| !g.ipv4_addresses("0").is_empty())
        .await
        .unwrap();
    assert_ne!(vrec2.guest_metrics, old);
    assert!(!gm2.ipv4_addresses("0").is_empty());

    // The VM disappears while waiting.
    c.vm().hard_shutdown(&vm).await.unwrap();
    let c2 = c.clone();
    let vm2 = vm.clone();
    let waiter = tokio::spawn(async move {
        c2.wait_for_guest_metrics(&vm2, Duration::from_secs(10), |_| false)
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.vm().destroy(&vm).await.unwrap();
    assert!(waiter.await.unwrap().unwrap_err().is_not_found());
}
