//! Wire format, sessions and generic errors.
mod common;

use common::Pool;
use serde_json::{Value as J, json};

#[tokio::test]
async fn json_rpc_v1_and_v2_envelopes_and_errors() {
    let p = Pool::start().await;
    let post = |body: String| {
        let http = p.http.clone();
        let url = format!("{}/jsonrpc", p.url());
        async move {
            let r = http.post(url).body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, ct, r.text().await.unwrap())
        }
    };
    // V1 success and failure
    let (st, ct, body) = post(format!(
        r#"{{"method":"VM.get_all","params":["{}"],"id":"a"}}"#,
        p.session
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert!(body.starts_with(r#"{"result":["#), "{body}");
    assert!(body.ends_with(r#""error":null,"id":"a"}"#), "{body}");
    let (_, _, body) =
        post(r#"{"method":"VM.get_all","params":["OpaqueRef:bad"],"id":7}"#.into()).await;
    assert_eq!(
        body,
        r#"{"result":null,"error":["SESSION_INVALID","OpaqueRef:bad"],"id":7}"#
    );
    // V2 failure
    let (_, _, body) =
        post(r#"{"jsonrpc":"2.0","method":"VM.nope","params":[],"id":3}"#.into()).await;
    assert_eq!(
        body,
        r#"{"jsonrpc":"2.0","error":{"code":1,"message":"MESSAGE_METHOD_UNKNOWN","data":["VM.nope"]},"id":3}"#
    );
    // malformed requests: HTTP 500
    for bad in [
        r#"{"method":"VM.get_all","params":[]}"#,
        r#"{"jsonrpc":"1.0","method":"VM.get_all","params":[],"id":1}"#,
        r#"{"method":"VM.get_all","params":{},"id":1}"#,
        "not json",
    ] {
        let (st, _, _) = post(bad.into()).await;
        assert_eq!(st, 500, "{bad}");
    }
}

#[tokio::test]
async fn xml_rpc_is_non_strict_with_status_envelope() {
    let p = Pool::start().await;
    let call = |method: &str, params: &[&str]| {
        let mut body =
            format!("<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>");
        for prm in params {
            body.push_str(&format!("<param><value>{prm}</value></param>"));
        }
        body.push_str("</params></methodCall>");
        let http = p.http.clone();
        let url = format!("{}/RPC2", p.url());
        async move {
            http.post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let vm = p.by_name("VM", "Debian Bookworm 12").await;
    let body = call("VM.get_memory_static_max", &[&p.session, &vm]).await;
    assert!(
        body.contains("<name>Value</name><value>1073741824</value>"),
        "ints are untyped strings: {body}"
    );
    let body = call("VM.get_is_a_template", &[&p.session, &vm]).await;
    assert!(
        body.contains("<value><boolean>1</boolean></value>"),
        "{body}"
    );
    let body = call("VM.get_record", &[&p.session, "OpaqueRef:nope"]).await;
    assert!(
        body.contains("<name>Status</name><value>Failure</value>"),
        "{body}"
    );
    assert!(
        body.contains(
            "<value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:nope</value>"
        ),
        "{body}"
    );
    // typed ints accepted
    let body = call("VM.set_user_version", &[&p.session, &vm, "<int>7</int>"]).await;
    assert!(body.contains("Success"), "{body}");
    assert_eq!(p.ok("VM.get_user_version", json!([vm])).await, json!(7));
}

#[tokio::test]
async fn sessions_and_generic_errors() {
    let p = Pool::start().await;
    // 2, 3 and 4 parameters
    for params in [
        json!(["root", "labpool"]),
        json!(["root", "labpool", "1.0"]),
        json!(["root", "labpool", "1.0", "tests"]),
    ] {
        assert!(
            p.call_raw("session.login_with_password", params)
                .await
                .is_ok()
        );
    }
    assert_eq!(
        p.call_raw("session.login_with_password", json!(["root"]))
            .await
            .unwrap_err(),
        vec![
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "session.login_with_password",
            "2",
            "1"
        ]
    );
    assert_eq!(
        p.call_raw("session.login_with_password", json!(["root", "x"]))
            .await
            .unwrap_err(),
        vec![
            "SESSION_AUTHENTICATION_FAILED",
            "root",
            "Authentication failure"
        ]
    );
    assert_eq!(
        p.err("VM.get_record", json!([])).await,
        vec![
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            "VM.get_record",
            "1",
            "0"
        ]
    );
    assert_eq!(
        p.err(
            "VM.get_by_uuid",
            json!(["00000000-0000-0000-0000-000000000000"])
        )
        .await,
        vec!["UUID_INVALID", "VM", "00000000-0000-0000-0000-000000000000"]
    );
    let vm = p.by_name("VM", "Debian Bookworm 12").await;
    let uuid = p.s("VM.get_uuid", json!([vm])).await;
    assert_eq!(p.s("VM.get_by_uuid", json!([uuid])).await, vm);
    // alias wire name VM_get_uuid
    assert_eq!(p.s("VM_get_uuid", json!([vm])).await, uuid);
    p.ok("VM.add_to_other_config", json!([vm, "k", "v"])).await;
    assert_eq!(
        p.err("VM.add_to_other_config", json!([vm, "k", "v"])).await,
        vec!["MAP_DUPLICATE_KEY", "VM", "other_config", vm.as_str(), "k"]
    );
    p.ok("VM.remove_from_other_config", json!([vm, "k"])).await;
    p.ok("VM.remove_from_other_config", json!([vm, "absent"]))
        .await;
    // Async on a call without async mode
    assert_eq!(p.err("Async.VM.get_record", json!([vm])).await[0], "Fault");
    let methods = p.call_raw("system.listMethods", json!([])).await.unwrap();
    let names: Vec<&str> = methods
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for m in [
        "VM.clone",
        "Async.VM.clone",
        "VM.get_all_records",
        "event.from",
        "VIF.create",
    ] {
        assert!(names.contains(&m), "{m}");
    }
    // logout invalidates
    let s = p
        .call_raw("session.login_with_password", json!(["root", "labpool"]))
        .await
        .unwrap();
    let s = s.as_str().unwrap();
    p.call_raw("session.logout", json!([s])).await.unwrap();
    assert_eq!(
        p.call_raw("VM.get_all", json!([s])).await.unwrap_err(),
        vec!["SESSION_INVALID", s]
    );
}

#[tokio::test]
async fn members_answer_host_is_slave_with_the_master_address() {
    let p = Pool::start().await;
    let member = p.pool.member_url().unwrap();
    let master_addr = p.pool.master_address();
    assert!(p.url().ends_with(&master_addr));
    assert_eq!(
        p.call_at(
            &member,
            "session.login_with_password",
            json!(["root", "labpool"])
        )
        .await
        .unwrap_err(),
        vec!["HOST_IS_SLAVE".to_string(), master_addr.clone()]
    );
    assert_eq!(
        p.call_at(&member, "VM.get_all", json!([p.session]))
            .await
            .unwrap_err(),
        vec!["HOST_IS_SLAVE".to_string(), master_addr]
    );
    // host records carry the addresses; pool.master is the first listener
    let pool_ref = p.ok("pool.get_all", json!([])).await[0]
        .as_str()
        .unwrap()
        .to_string();
    let master = p.s("pool.get_master", json!([pool_ref])).await;
    let addr = p.s("host.get_address", json!([master])).await;
    assert_eq!(format!("http://{addr}"), p.url());
}

#[tokio::test]
async fn default_inventory_shape() {
    let p = Pool::start().await;
    assert_eq!(
        p.ok("host.get_all", json!([]))
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let srs = p.ok("SR.get_all_records", json!([])).await;
    let srs: Vec<&J> = srs.as_object().unwrap().values().collect();
    assert_eq!(srs.iter().filter(|s| s["content_type"] == "iso").count(), 1);
    assert_eq!(
        srs.iter()
            .filter(|s| s["shared"] == true && s["content_type"] == "user")
            .count(),
        1
    );
    assert_eq!(srs.iter().filter(|s| s["shared"] == false).count(), 3);
    let nets = p.ok("network.get_all_records", json!([])).await;
    let dhcp: Vec<_> = nets
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["other_config"].get("labpool-dhcp").is_some())
        .collect();
    assert_eq!(dhcp.len(), 1);
    let vms = p.ok("VM.get_all_records", json!([])).await;
    let vms: Vec<&J> = vms.as_object().unwrap().values().collect();
    let defaults: Vec<_> = vms
        .iter()
        .filter(|v| v["is_default_template"] == true)
        .collect();
    assert!(defaults.len() >= 3);
    for d in &defaults {
        assert!(
            d["other_config"]["disks"]
                .as_str()
                .unwrap()
                .contains("sr=\"\"")
        );
    }
    assert!(
        vms.iter()
            .any(|v| v["name_label"] == "labpool Ubuntu 24.04 cloud-init"
                && v["is_a_template"] == true
                && v["VBDs"].as_array().unwrap().len() == 2)
    );
    assert!(vms.iter().any(|v| v["is_control_domain"] == true));
    let hm = p.ok("host_metrics.get_all_records", json!([])).await;
    for m in hm.as_object().unwrap().values() {
        assert!(m["memory_total"].as_i64().unwrap() > m["memory_free"].as_i64().unwrap());
    }
}
