//! Async calls and tasks, event.from, import_raw_vdi / export_raw_vdi.
mod common;

use std::time::{Duration, Instant};

use common::Pool;
use serde_json::json;

#[tokio::test]
async fn async_calls_complete_tasks_with_xml_fragment_results() {
    let p = Pool::start().await;
    let t = p.by_name("VM", "labpool Ubuntu 24.04 cloud-init").await;
    let task = p.s("Async.VM.clone", json!([t, "async-clone"])).await;
    assert!(task.starts_with("OpaqueRef:"));
    let rec = p.wait_task(&task).await;
    assert_eq!(rec["status"], "success");
    assert_eq!(rec["name_label"], "Async.VM.clone");
    assert_eq!(rec["progress"], 1.0);
    let result = rec["result"].as_str().unwrap();
    assert!(
        result.starts_with("<value>OpaqueRef:") && result.ends_with("</value>"),
        "{result}"
    );
    let vm = result
        .trim_start_matches("<value>")
        .trim_end_matches("</value>");
    assert_eq!(p.s("VM.get_name_label", json!([vm])).await, "async-clone");
    // void results
    let task = p.s("Async.VM.provision", json!([vm])).await;
    let rec = p.wait_task(&task).await;
    assert_eq!(rec["result"], "<value></value>");
    // failures land in error_info
    let task = p.s("Async.VM.provision", json!([vm])).await;
    let rec = p.wait_task(&task).await;
    assert_eq!(rec["status"], "failure");
    assert_eq!(rec["error_info"], json!(["ONLY_PROVISION_TEMPLATE"]));
    // an immediately failing async call is a plain error (bad ref)
    // (XAPI checks refs before creating the task only for some calls; the task records it)
    let task = p
        .s("Async.VM.start", json!(["OpaqueRef:nope", false, false]))
        .await;
    let rec = p.wait_task(&task).await;
    assert_eq!(
        rec["error_info"],
        json!(["HANDLE_INVALID", "VM", "OpaqueRef:nope"])
    );
}

#[tokio::test]
async fn task_cancel_while_pending() {
    let p = Pool::start().await;
    p.admin_post("faults", json!({"async_delay_ms": 300})).await;
    let t = p.by_name("VM", "Debian Bookworm 12").await;
    let task = p.s("Async.VM.clone", json!([t, "never"])).await;
    assert_eq!(
        p.ok("task.get_allowed_operations", json!([task])).await,
        json!(["cancel"])
    );
    p.ok("task.cancel", json!([task])).await;
    let rec = p.wait_task(&task).await;
    assert_eq!(rec["status"], "cancelled");
    assert_eq!(rec["error_info"], json!(["TASK_CANCELLED", task]));
    assert!(
        p.ok("VM.get_by_name_label", json!(["never"]))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        p.err("task.cancel", json!([task])).await[0],
        "OPERATION_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn event_from_tokens_add_mod_del_and_timeout() {
    let p = Pool::start().await;
    let r = p.ok("event.from", json!([["vm"], "", 0.0])).await;
    let events = r["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["class"] == "vm" && e["operation"] == "add" && e["snapshot"].is_object())
    );
    assert_eq!(
        r["valid_ref_counts"]["vm"].as_u64().unwrap() as usize,
        events.len()
    );
    let token = r["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 41);
    // nothing new: returns after the timeout with no events
    let t0 = Instant::now();
    let r = p.ok("event.from", json!([["vm"], token, 0.3])).await;
    assert!(t0.elapsed() >= Duration::from_millis(250));
    assert!(r["events"].as_array().unwrap().is_empty());
    let token = r["token"].as_str().unwrap().to_string();
    // a change wakes a waiter
    let vm = p.by_name("VM", "Debian Bookworm 12").await;
    let waiter = {
        let http = p.http.clone();
        let url = format!("{}/jsonrpc", p.url());
        let body = json!({"jsonrpc":"2.0","method":"event.from","params":[p.session, ["VM"], token, 10.0],"id":1});
        tokio::spawn(async move {
            let v: serde_json::Value = http
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    p.ok("VM.set_name_description", json!([vm, "changed"]))
        .await;
    let r = waiter.await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let evs = r["result"]["events"].as_array().unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["operation"], "mod");
    assert_eq!(evs[0]["ref"], vm);
    assert_eq!(evs[0]["snapshot"]["name_description"], "changed");
    // del events and per-object subscriptions
    let token = r["result"]["token"].as_str().unwrap().to_string();
    let c = p.s("VM.clone", json!([vm, "to-delete"])).await;
    let r = p
        .ok("event.from", json!([[format!("vm/{c}")], token, 1.0]))
        .await;
    assert_eq!(r["events"][0]["operation"], "add");
    let token = r["token"].as_str().unwrap().to_string();
    p.ok("VM.destroy", json!([c])).await;
    let r = p.ok("event.from", json!([["*"], token, 1.0])).await;
    let del = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ref"] == c)
        .unwrap()
        .clone();
    assert_eq!(del["operation"], "del");
    assert!(del.get("snapshot").is_none());
    assert_eq!(
        p.err("event.from", json!([["vm"], "garbage", 1.0])).await,
        vec!["EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"]
    );
}

#[tokio::test]
async fn import_and_export_raw_vdi() {
    let p = Pool::start().await;
    let sr = p.default_sr().await;
    let vdi = p
        .s(
            "VDI.create",
            json!([{
                "name_label": "drive", "name_description": "", "SR": sr, "virtual_size": 4096,
                "type": "user", "sharable": false, "read_only": false, "other_config": {}
            }]),
        )
        .await;
    let task = p.s("task.create", json!(["upload", ""])).await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let resp = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id={}&vdi={}&format=raw&task_id={}",
            p.url(),
            p.session,
            vdi,
            task
        ))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["task-id"].to_str().unwrap(), task);
    let rec = p.wait_task(&task).await;
    assert_eq!(rec["status"], "success");
    assert_eq!(rec["result"], format!("<value>{vdi}</value>"));
    // by uuid, no task given: one is created and named in the header
    let uuid = p.s("VDI.get_uuid", json!([vdi])).await;
    let resp = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id={}&vdi={uuid}",
            p.url(),
            p.session
        ))
        .body(vec![7u8; 10])
        .send()
        .await
        .unwrap();
    let t2 = resp.headers()["task-id"].to_str().unwrap().to_string();
    assert_eq!(p.wait_task(&t2).await["status"], "success");
    // export returns the bytes, zero-extended to virtual_size
    let resp = p
        .http
        .get(format!(
            "{}/export_raw_vdi?session_id={}&vdi={vdi}&format=raw",
            p.url(),
            p.session
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), 4096);
    assert_eq!(&body[..10], &[7u8; 10]);
    assert_eq!(&body[10..1000], &data[10..]);
    assert!(body[1000..].iter().all(|b| *b == 0));
    // too large for the VDI: the task fails
    let task = p.s("task.create", json!(["upload", ""])).await;
    let resp = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id={}&vdi={vdi}&task_id={task}",
            p.url(),
            p.session
        ))
        .body(vec![0u8; 5000])
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
    assert_eq!(p.wait_task(&task).await["status"], "failure");
    // no VDI, no SR
    let resp = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id={}",
            p.url(),
            p.session
        ))
        .body(vec![0u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // bad session
    let resp = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id=OpaqueRef:x&vdi={vdi}",
            p.url()
        ))
        .body(vec![0u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn import_to_a_member_local_sr_redirects() {
    let p = Pool::start().await;
    let sr = p.by_name("SR", "Local storage on lab-host-2").await;
    let vdi = p
        .s(
            "VDI.create",
            json!([{
                "name_label": "local", "name_description": "", "SR": sr, "virtual_size": 4096,
                "type": "user", "sharable": false, "read_only": false, "other_config": {}
            }]),
        )
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .put(format!(
            "{}/import_raw_vdi?session_id={}&vdi={vdi}",
            p.url(),
            p.session
        ))
        .body(vec![1u8; 16])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(!loc.starts_with(p.url()));
    let resp = client.put(&loc).body(vec![1u8; 16]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
