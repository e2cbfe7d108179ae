//! The data sources against the in-process lab pool, through the framework's
//! `DataSource::read` with the provider data ConfigureProvider stores, with
//! call counts read from `/labpool/counts`.

mod labpool_support;

use std::sync::Arc;
use std::time::Duration;

use labpool::RunningPool;
use labpool_support::*;
use schema::{Diagnostics, Value};
use terraform_provider_xenapi::data_sources;
use terraform_provider_xenapi::framework::{ClientCapabilities, Context, DataSource};
use tokio_util::sync::CancellationToken;

fn context(lab: &RunningPool) -> Context {
    Context::new(
        CancellationToken::new(),
        Some(Arc::new(provider_config(lab))),
        ClientCapabilities::default(),
    )
}

fn ds(name: &str) -> Arc<dyn DataSource> {
    data_sources::all()
        .into_iter()
        .find(|d| d.type_name() == name)
        .expect("data source exists")
}

/// A configuration object with every schema attribute null except `set`.
fn config(name: &str, set: &[(&str, Value)]) -> Value {
    let schema = ds(name).schema();
    Value::object(schema.block.attributes.iter().map(|a| {
        let v = set
            .iter()
            .find(|(k, _)| *k == a.name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        (a.name.clone(), v)
    }))
}

async fn read(ctx: &Context, name: &str, set: &[(&str, Value)]) -> Result<Value, String> {
    let d = ds(name);
    let cfg = config(name, set);
    let mut diags = Diagnostics::new();
    d.validate(&cfg, &mut diags);
    if diags.has_errors() {
        return Err(format!("{diags:?}"));
    }
    let v = d.read(ctx, &cfg, &mut diags).await;
    if diags.has_errors() {
        return Err(format!("{diags:?}"));
    }
    assert!(v.is_wholly_known(), "{name}: {v:?}");
    // Every schema attribute is present.
    for a in &ds(name).schema().block.attributes {
        assert!(v.get(&a.name).is_some(), "{name}.{} missing", a.name);
    }
    Ok(v)
}

fn s(v: &Value, attr: &str) -> String {
    v.get(attr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn calls(c: &std::collections::BTreeMap<String, u64>) -> u64 {
    total_without_session(c)
}

#[tokio::test]
async fn pool_host_sr_network_each_cost_at_most_one_call() {
    let lab = start_lab().await;
    let ctx = context(&lab);
    // Log in first so that the counts below are the lookups only.
    terraform_provider_xenapi::pool::Pool::from_context(&ctx)
        .unwrap()
        .client()
        .await
        .unwrap();
    reset_counts(&lab).await;

    let p = read(&ctx, "xenapi_pool", &[]).await.unwrap();
    assert_eq!(s(&p, "name_label"), "labpool");
    assert_eq!(s(&p, "master_host_name_label"), "lab-host-1");
    assert_eq!(s(&p, "default_sr_name_label"), "Shared NFS storage");
    assert_eq!(s(&p, "id"), s(&p, "uuid"));
    let c = counts(&lab).await;
    assert_eq!(calls(&c), 1, "xenapi_pool: {c:?}");

    reset_counts(&lab).await;
    let h = read(&ctx, "xenapi_host", &[("name_label", "lab-host-2".into())])
        .await
        .unwrap();
    assert_eq!(h.get("is_master"), Some(&Value::Bool(false)));
    assert!(h.get("memory_total").and_then(Value::as_i64).unwrap_or(0) > 0);
    let c = counts(&lab).await;
    assert!(calls(&c) <= 1, "xenapi_host: {c:?}");
    let by_uuid = read(
        &ctx,
        "xenapi_host",
        &[("uuid", s(&p, "master_host_uuid").into())],
    )
    .await
    .unwrap();
    assert_eq!(by_uuid.get("is_master"), Some(&Value::Bool(true)));

    reset_counts(&lab).await;
    let sr = read(
        &ctx,
        "xenapi_sr",
        &[("name_label", "Shared NFS storage".into())],
    )
    .await
    .unwrap();
    assert_eq!(sr.get("is_default"), Some(&Value::Bool(true)));
    assert_eq!(s(&sr, "uuid"), s(&p, "default_sr_uuid"));
    let iso = read(&ctx, "xenapi_sr", &[("name_label", "ISO library".into())])
        .await
        .unwrap();
    assert_eq!(s(&iso, "content_type"), "iso");
    let c = counts(&lab).await;
    assert!(calls(&c) <= 1, "xenapi_sr twice: {c:?}");

    reset_counts(&lab).await;
    let n = read(
        &ctx,
        "xenapi_network",
        &[("name_label", "Lab storage network".into())],
    )
    .await
    .unwrap();
    assert_eq!(s(&n, "bridge"), "xenbr1");
    assert_eq!(n.get("mtu").and_then(Value::as_i64), Some(9000));
    let c = counts(&lab).await;
    assert!(calls(&c) <= 1, "xenapi_network: {c:?}");

    // Errors list the candidates.
    let e = read(&ctx, "xenapi_host", &[("name_label", "lab-host-9".into())])
        .await
        .unwrap_err();
    assert!(e.contains("lab-host-1") && e.contains("lab-host-3"), "{e}");
    let e = read(&ctx, "xenapi_network", &[]).await.unwrap_err();
    assert!(e.contains("Set at least one of"), "{e}");
}

#[tokio::test]
async fn vm_data_source_reports_interfaces_and_guest_addresses() {
    let lab = start_lab().await;
    let ctx = context(&lab);
    let pool = terraform_provider_xenapi::pool::Pool::from_context(&ctx).unwrap();
    let client = pool.client().await.unwrap().clone();
    let (template, _) = pool
        .resolve_template("labpool Ubuntu 24.04 cloud-init")
        .await
        .unwrap();
    let (net, net_rec) = pool
        .resolve_network("Pool-wide network associated with eth0")
        .await
        .unwrap();
    let vm = client.vm().clone(&template, "ds-vm").await.unwrap();
    client.vm().provision(&vm).await.unwrap();
    client.vm().set_is_a_template(&vm, false).await.unwrap();
    let vif = xapi::VifCreate::new(&vm, &net, 0, "02:aa:bb:cc:dd:01");
    client.vif().create(&vif).await.unwrap();
    client.vm().start(&vm, false, false).await.unwrap();
    client
        .wait_for::<xapi::Vm>(&vm, Duration::from_secs(30), |r| !r.guest_metrics.is_null())
        .await
        .unwrap();
    // The guest agent publishes its addresses shortly after.
    let mut v = Value::Null;
    for _ in 0..50 {
        pool.invalidate();
        v = read(&ctx, "xenapi_vm", &[("name_label", "ds-vm".into())])
            .await
            .unwrap();
        if v.get("ipv4_addresses")
            .and_then(Value::as_elements)
            .is_some_and(|e| !e.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s(&v, "power_state"), "running");
    let nics = v
        .get("network_interfaces")
        .and_then(Value::as_elements)
        .unwrap();
    assert_eq!(nics.len(), 1);
    assert_eq!(s(&nics[0], "mac"), "02:aa:bb:cc:dd:01");
    assert_eq!(s(&nics[0], "network_uuid"), net_rec.uuid);
    let ips = v
        .get("ipv4_addresses")
        .and_then(Value::as_elements)
        .unwrap();
    assert!(
        ips.iter()
            .any(|ip| ip.as_str().is_some_and(|a| a.starts_with("192.168.100."))),
        "DHCP lease from the network's range: {ips:?}"
    );
    assert!(!s(&v, "resident_on_host_uuid").is_empty());

    // Templates are not VMs.
    let e = read(
        &ctx,
        "xenapi_vm",
        &[("name_label", "labpool Ubuntu 24.04 cloud-init".into())],
    )
    .await
    .unwrap_err();
    assert!(e.contains("no VM matches"), "{e}");
    assert!(e.contains("ds-vm"), "candidates listed: {e}");
}

#[tokio::test]
async fn template_picks_the_newest_packer_build_with_at_most_two_calls() {
    let lab = start_lab().await;
    let ctx = context(&lab);
    let pool = terraform_provider_xenapi::pool::Pool::from_context(&ctx).unwrap();
    let client = pool.client().await.unwrap().clone();
    let (base, _) = pool
        .resolve_template("labpool Ubuntu 24.04 cloud-init")
        .await
        .unwrap();
    // Four Packer builds (Packer's `{{timestamp}}` in the name; one untagged),
    // installed (`VM.provision` sets `VM_metrics.install_time`; Packer then
    // converts the VM into a template) in an order
    // that disagrees with the names: the install time decides.
    let mut built = Vec::new();
    for (name, tag) in [
        ("packer-ubuntu-1718000300", true),
        ("packer-ubuntu-1718000100", true),
        ("packer-ubuntu-1718000200", true),
        ("packer-ubuntu-1718000900", false),
    ] {
        let t = client.vm().clone(&base, name).await.unwrap();
        if tag {
            client.vm().add_tags(&t, "packer").await.unwrap();
        }
        built.push(t);
    }
    for t in &built {
        // Packer: install, then convert the VM into a template.
        client.vm().provision(t).await.unwrap();
        client.vm().set_is_a_template(t, true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    pool.invalidate();
    reset_counts(&lab).await;
    let v = read(
        &ctx,
        "xenapi_template",
        &[
            ("name_regex", r"^packer-ubuntu-\d+$".into()),
            ("tags", Value::Set(vec!["packer".into()])),
            ("most_recent", true.into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(s(&v, "name_label"), "packer-ubuntu-1718000200");
    assert!(s(&v, "install_time").ends_with('Z'), "{v:?}");
    assert_eq!(v.get("most_recent"), Some(&Value::Bool(true)));
    let c = counts(&lab).await;
    assert!(calls(&c) <= 2, "xenapi_template: {c:?}");

    // Without most_recent: ambiguity lists every match.
    let e = read(
        &ctx,
        "xenapi_template",
        &[("name_regex", "^packer-ubuntu-".into())],
    )
    .await
    .unwrap_err();
    for n in ["1718000100", "1718000200", "1718000300", "1718000900"] {
        assert!(e.contains(n), "{e}");
    }
    assert!(e.contains("most_recent"), "{e}");

    // Exact name, and by uuid.
    let one = read(
        &ctx,
        "xenapi_template",
        &[("name_label", "packer-ubuntu-1718000900".into())],
    )
    .await
    .unwrap();
    let by_uuid = read(&ctx, "xenapi_template", &[("uuid", s(&one, "uuid").into())])
        .await
        .unwrap();
    assert_eq!(s(&by_uuid, "name_label"), "packer-ubuntu-1718000900");

    // An invalid regex is a validation error on its attribute.
    let e = read(&ctx, "xenapi_template", &[("name_regex", "([".into())])
        .await
        .unwrap_err();
    assert!(e.contains("Invalid regular expression"), "{e}");
}

#[tokio::test]
async fn fifty_lookups_in_one_process_share_one_load() {
    let lab = start_lab().await;
    let ctx = context(&lab);
    terraform_provider_xenapi::pool::Pool::from_context(&ctx)
        .unwrap()
        .client()
        .await
        .unwrap();
    reset_counts(&lab).await;
    let names = [
        "Debian Bookworm 12",
        "Ubuntu Noble Numbat 24.04",
        "Windows Server 2022 (64-bit)",
        "Other install media",
        "labpool Ubuntu 24.04 cloud-init",
    ];
    let mut handles = Vec::new();
    for i in 0..50 {
        let ctx = ctx.clone();
        let name = names[i % names.len()];
        handles.push(tokio::spawn(async move {
            read(&ctx, "xenapi_template", &[("name_label", name.into())])
                .await
                .map(|v| s(&v, "name_label"))
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap().unwrap(), names[i % names.len()]);
    }
    let c = counts(&lab).await;
    // One batched load of the VM class; VM metrics for install_time are read
    // per template until that class is batched too (threshold 3), then once.
    assert_eq!(c.get("event.from").copied().unwrap_or(0), 2, "{c:?}");
    assert!(calls(&c) <= 5, "50 lookups: {c:?}");
    assert_eq!(c.get("VM.get_all_records"), None, "{c:?}");
}

#[tokio::test]
async fn unconfigured_provider_is_a_diagnostic_not_a_panic() {
    let ctx = Context::new(
        CancellationToken::new(),
        None,
        ClientCapabilities::default(),
    );
    let d = ds("xenapi_pool");
    let mut diags = Diagnostics::new();
    let v = d.read(&ctx, &config("xenapi_pool", &[]), &mut diags).await;
    assert!(v.is_null());
    assert!(diags.has_errors());
}
