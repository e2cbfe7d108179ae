//! The harness's pool helper against the in-process lab pool: it starts,
//! answers XAPI, and its leftover check sees an object a "test" created and
//! did not remove.

use acceptance_tests::labpool::{LAB_PASSWORD, LAB_USERNAME, LabPool, PoolNames, http_client};
use serde_json::{Value as Json, json};

fn rpc_raw(url: &str, method: &str, params: Json) -> Json {
    let client = http_client().expect("HTTP client");
    client
        .post(format!("{url}/jsonrpc"))
        .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn rpc(url: &str, method: &str, params: Json) -> Json {
    let response = rpc_raw(url, method, params);
    match response.get("result") {
        Some(result) => result.clone(),
        None => panic!("{method} failed: {response}"),
    }
}

#[test]
fn leftover_check_finds_what_a_test_left_behind() {
    if std::env::var_os("XENAPI_URL").is_some() {
        eprintln!("XENAPI_URL is set: this lab-pool-only check does not apply to a real pool");
        return;
    }
    let pool = LabPool::start().expect("lab pool starts");
    assert!(pool.is_lab());
    let env: std::collections::BTreeMap<_, _> = pool.provider_env().into_iter().collect();
    assert_eq!(env.get("XENAPI_URL").map(String::as_str), Some(pool.url()));
    let baseline = pool.snapshot().expect("snapshot");
    assert!(
        baseline.objects.iter().any(|o| o.starts_with("host/")),
        "the default inventory has hosts: {:?}",
        baseline.objects
    );
    assert!(pool.leftovers(&baseline).expect("leftovers").is_empty());

    let session = rpc(
        pool.url(),
        "session.login_with_password",
        json!([LAB_USERNAME, LAB_PASSWORD, "1.0", "acceptance-tests"]),
    );
    let templates = rpc(pool.url(), "VM.get_all_records", json!([session]));
    let template = templates
        .as_object()
        .and_then(|all| {
            all.iter()
                .find(|(_, r)| r.get("is_a_template") == Some(&Json::Bool(true)))
        })
        .map(|(reference, _)| reference.clone())
        .expect("the default inventory has templates");
    let clone = rpc(
        pool.url(),
        "VM.clone",
        json!([session, template, "left-behind"]),
    );
    let uuid = rpc(pool.url(), "VM.get_uuid", json!([session, clone]));
    let left = pool.leftovers(&baseline).expect("leftovers");
    assert!(
        left.iter()
            .any(|o| o == &format!("VM/{}", uuid.as_str().unwrap_or_default())),
        "the cloned VM {uuid} is not reported: {left:?}"
    );

    rpc(pool.url(), "VM.destroy", json!([session, clone]));
    let left = pool.leftovers(&baseline).expect("leftovers");
    assert!(
        !left.iter().any(|o| o.starts_with("VM/")),
        "the destroyed VM is still reported: {left:?}"
    );
    let counts = pool
        .call_counts()
        .expect("counts")
        .expect("lab pool counts");
    assert!(counts.get("VM.clone").is_some(), "counts: {counts}");
}

#[test]
fn default_names_exist_in_the_lab_pool() {
    if std::env::var_os("XENAPI_URL").is_some() {
        eprintln!("XENAPI_URL is set: the names come from XENAPI_TEST_* for the real pool");
        return;
    }
    let names = PoolNames::from_env();
    let pool = LabPool::start().expect("lab pool starts");
    let session = rpc(
        pool.url(),
        "session.login_with_password",
        json!([LAB_USERNAME, LAB_PASSWORD, "1.0", "acceptance-tests"]),
    );
    for (class, name) in [
        ("VM", &names.template),
        ("VM", &names.windows_template),
        ("network", &names.network),
        ("SR", &names.sr),
    ] {
        let found = rpc(
            pool.url(),
            &format!("{class}.get_by_name_label"),
            json!([session, name]),
        );
        assert_eq!(
            found.as_array().map(Vec::len),
            Some(1),
            "{class} {name:?} in the default inventory: {found}"
        );
    }
}

#[test]
fn a_case_with_a_pool_passes_the_pool_to_the_provider_and_checks_leftovers() {
    use acceptance_tests::{Step, TestCase, config};
    // xenapi_mac_address needs no pool, but with the pool's settings in the
    // environment the provider must still plan and apply, and the leftover
    // check must find nothing.
    TestCase::new("a_case_with_a_pool_passes_the_pool_to_the_provider_and_checks_leftovers")
        .with_pool()
        .step(
            Step::config(config(
                r#"
resource "xenapi_mac_address" "a" {}
"#,
            ))
            .state_check(|ctx| {
                let pool = ctx.labpool.ok_or("no pool in the context")?;
                if pool.url().is_empty() {
                    return Err("the pool has no URL".into());
                }
                Ok(())
            }),
        )
        .run();
}

#[test]
fn a_custom_lab_config_keeps_its_credentials() {
    let pool = LabPool::start_lab(labpool::Config {
        username: "tester".into(),
        password: "s3cret".into(),
        ..labpool::Config::default()
    })
    .expect("lab pool starts");
    let env: std::collections::BTreeMap<_, _> = pool.provider_env().into_iter().collect();
    assert_eq!(
        env.get("XENAPI_USERNAME").map(String::as_str),
        Some("tester")
    );
    assert_eq!(
        env.get("XENAPI_PASSWORD").map(String::as_str),
        Some("s3cret")
    );
    let session = rpc_raw(
        pool.url(),
        "session.login_with_password",
        json!(["tester", "s3cret", "1.0", "acceptance-tests"]),
    );
    assert!(session.get("result").is_some(), "login failed: {session}");
}
