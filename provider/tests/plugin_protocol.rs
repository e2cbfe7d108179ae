//! tfplugin6 at the gRPC level: the framework end to end through a tonic
//! client over the in-process server's unix socket, with requests shaped like
//! Terraform's, Pulumi's bridge's and OpenTofu 1.10's, bad input, and every RPC
//! of the 6.10 service.

mod support;

use proto::tfplugin6 as pb;
use schema::{Number, Type, Value};
use support::*;

fn tofu_1_10() -> Option<pb::ClientCapabilities> {
    None
}

fn terraform_caps() -> Option<pb::ClientCapabilities> {
    Some(pb::ClientCapabilities {
        deferral_allowed: false,
        write_only_attributes_allowed: true,
    })
}

fn provider_config(prefix: Option<&str>) -> Option<pb::DynamicValue> {
    let ty = Type::object([("prefix", Type::String)]);
    dv(&Value::object([("prefix", Value::from(prefix))]), &ty)
}

async fn configure(
    client: &mut pb::provider_client::ProviderClient<tonic::transport::Channel>,
    version: &str,
    caps: Option<pb::ClientCapabilities>,
) {
    let r = client
        .configure_provider(pb::configure_provider::Request {
            terraform_version: version.to_owned(),
            config: provider_config(Some("p")),
            client_capabilities: caps,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(errors(&r.diagnostics).is_empty(), "{:?}", r.diagnostics);
}

struct Planned {
    state: Value,
    requires_replace: Vec<String>,
    private: Vec<u8>,
    diagnostics: Vec<pb::Diagnostic>,
}

async fn plan(
    client: &mut pb::provider_client::ProviderClient<tonic::transport::Channel>,
    prior: &Value,
    config: &Value,
    prior_private: &[u8],
    caps: Option<pb::ClientCapabilities>,
) -> Planned {
    let ty = thing_type();
    // Terraform's proposed new state: config, with prior values for computed
    // attributes that are null in config.
    let proposed = match (prior, config) {
        (_, Value::Null) => Value::Null,
        (Value::Object(p), Value::Object(c)) => {
            let mut m = c.clone();
            for k in ["id", "revision"] {
                m.insert(k.into(), p.get(k).cloned().unwrap_or(Value::Null));
            }
            if let (Some(Value::List(pd)), Some(Value::List(cd))) = (p.get("disk"), c.get("disk")) {
                let merged = cd
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let mut d = d.clone();
                        if let (Value::Object(dm), Some(Value::Object(pm))) = (&mut d, pd.get(i)) {
                            dm.insert(
                                "uuid".into(),
                                pm.get("uuid").cloned().unwrap_or(Value::Null),
                            );
                        }
                        d
                    })
                    .collect();
                m.insert("disk".into(), Value::List(merged));
            }
            Value::Object(m)
        }
        (_, c) => c.clone(),
    };
    let r = client
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(prior, &ty),
            proposed_new_state: dv(&proposed, &ty),
            config: dv(config, &ty),
            prior_private: prior_private.to_vec(),
            provider_meta: None,
            client_capabilities: caps,
            prior_identity: None,
        })
        .await
        .unwrap()
        .into_inner();
    Planned {
        state: undv(&r.planned_state, &ty),
        requires_replace: r
            .requires_replace
            .iter()
            .map(|p| {
                path_text(&pb::Diagnostic {
                    attribute: Some(p.clone()),
                    ..Default::default()
                })
            })
            .collect(),
        private: r.planned_private,
        diagnostics: r.diagnostics,
    }
}

async fn apply(
    client: &mut pb::provider_client::ProviderClient<tonic::transport::Channel>,
    prior: &Value,
    planned: &Value,
    config: &Value,
    planned_private: &[u8],
) -> (Value, Vec<u8>, Vec<pb::Diagnostic>) {
    let ty = thing_type();
    let r = client
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: dv(prior, &ty),
            planned_state: dv(planned, &ty),
            config: dv(config, &ty),
            planned_private: planned_private.to_vec(),
            provider_meta: None,
            planned_identity: None,
        })
        .await
        .unwrap()
        .into_inner();
    (undv(&r.new_state, &ty), r.private, r.diagnostics)
}

fn disk(size: i64) -> Value {
    Value::object([("size", Value::from(size)), ("uuid", Value::Null)])
}

#[tokio::test]
async fn schema_capabilities_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;

    let s = c
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    let provider = s.provider.expect("provider schema is never nil");
    assert_eq!(provider.block.unwrap().attributes[0].name, "prefix");
    let thing = &s.resource_schemas["test_thing"];
    assert_eq!(thing.version, 1);
    let block = thing.block.as_ref().unwrap();
    let secret = block
        .attributes
        .iter()
        .find(|a| a.name == "secret")
        .unwrap();
    assert!(secret.write_only && secret.sensitive && secret.optional);
    let id = block.attributes.iter().find(|a| a.name == "id").unwrap();
    assert!(id.computed && !id.optional && !id.required);
    assert_eq!(id.r#type, b"\"string\"");
    assert_eq!(block.block_types[0].type_name, "disk");
    assert_eq!(
        block.block_types[0].nesting,
        pb::schema::nested_block::NestingMode::List as i32
    );
    assert!(s.data_source_schemas.contains_key("test_info"));
    assert!(s.provider_meta.is_none());
    let caps = s.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional);
    assert!(!caps.move_resource_state && !caps.generate_resource_config);
    let join = &s.functions["join"];
    assert_eq!(join.parameters.len(), 1);
    assert!(join.variadic_parameter.is_some());
    assert_eq!(join.r#return.as_ref().unwrap().r#type, b"\"string\"");

    let f = c
        .get_functions(pb::get_functions::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.functions, s.functions);

    let m = c
        .get_metadata(pb::get_metadata::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.resources[0].type_name, "test_thing");
    assert_eq!(m.data_sources[0].type_name, "test_info");
    assert_eq!(m.functions[0].name, "join");
    assert_eq!(m.server_capabilities, Some(caps));

    let ids = c
        .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(ids.identity_schemas.is_empty() && ids.diagnostics.is_empty());
    server.shutdown().await.unwrap();
}

/// The full lifecycle as Terraform drives it, on a fresh process that never
/// got GetProviderSchema (get_provider_schema_optional).
#[tokio::test]
async fn lifecycle_create_read_update_replace_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let (server, provider) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    configure(&mut c, "1.15.5", terraform_caps()).await;

    let config = thing(&[
        ("name", Value::from("a")),
        ("size", Value::from(150i64)),
        ("secret", Value::from("hunter2")),
        ("disk", Value::List(vec![disk(10), disk(20)])),
    ]);
    // create
    let p = plan(&mut c, &Value::Null, &config, b"", terraform_caps()).await;
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    let w = warnings(&p.diagnostics);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].summary, "Big thing");
    assert_eq!(path_text(w[0]), "size");
    assert!(p.state.get("id").unwrap().is_unknown());
    assert!(p.state.get("revision").unwrap().is_unknown());
    assert!(
        p.state.get("secret").unwrap().is_null(),
        "write-only is null in the plan"
    );
    assert_eq!(p.state.get("name"), Some(&Value::from("a")));
    let disks = p.state.get("disk").unwrap().as_elements().unwrap();
    assert!(disks[1].get("uuid").unwrap().is_unknown());
    assert!(p.requires_replace.is_empty());
    assert_eq!(p.private, b"planned");

    let (state, private, diags) = apply(&mut c, &Value::Null, &p.state, &config, &p.private).await;
    assert!(errors(&diags).is_empty(), "{diags:?}");
    assert!(state.is_wholly_known());
    assert_eq!(state.get("id"), Some(&Value::from("p-a")));
    assert_eq!(state.get("secret"), Some(&Value::Null));
    assert_eq!(
        state.get("disk").unwrap().as_elements().unwrap()[1].get("uuid"),
        Some(&Value::from("p-a-disk1"))
    );
    assert_eq!(private, b"created");

    // refresh keeps state and private
    let ty = thing_type();
    let r = c
        .read_resource(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&state, &ty),
            private: private.clone(),
            provider_meta: None,
            client_capabilities: terraform_caps(),
            current_identity: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(undv(&r.new_state, &ty), state);
    assert_eq!(r.private, b"created");

    // no change: the plan is the prior state
    let p = plan(&mut c, &state, &config, &private, terraform_caps()).await;
    assert_eq!(p.state, state);
    assert!(p.requires_replace.is_empty());

    // in-place update: id kept (UseStateForUnknown), revision unknown
    let config2 = thing(&[
        ("name", Value::from("a")),
        ("size", Value::from(5i64)),
        ("disk", Value::List(vec![disk(10), disk(20)])),
    ]);
    let p = plan(&mut c, &state, &config2, &private, terraform_caps()).await;
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.state.get("id"), Some(&Value::from("p-a")));
    assert!(p.state.get("revision").unwrap().is_unknown());
    assert!(p.requires_replace.is_empty());
    let (state2, _, diags) = apply(&mut c, &state, &p.state, &config2, &p.private).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(state2.get("revision"), Some(&Value::from("r2")));
    assert_eq!(
        state2.get("size"),
        Some(&Value::Number(Number::from_i64(5)))
    );

    // a name change requires replacement
    let config3 = thing(&[("name", Value::from("b")), ("size", Value::from(5i64))]);
    let p = plan(&mut c, &state2, &config3, &private, terraform_caps()).await;
    assert_eq!(p.requires_replace, vec!["name".to_owned()]);

    // destroy: planned null, plan-time warning, delete called
    let p = plan(&mut c, &state2, &Value::Null, &private, terraform_caps()).await;
    assert_eq!(p.state, Value::Null);
    assert_eq!(warnings(&p.diagnostics)[0].summary, "Destroying a thing");
    let (gone, _, diags) = apply(&mut c, &state2, &Value::Null, &Value::Null, &p.private).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(gone, Value::Null);
    assert_eq!(
        provider
            .counters
            .deletes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // an object deleted outside Terraform reads as null, without error
    let vanished = thing(&[
        ("id", Value::from("x")),
        ("name", Value::from("vanished")),
        ("revision", Value::from("r1")),
    ]);
    let r = c
        .read_resource(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&vanished, &ty),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty());
    assert_eq!(undv(&r.new_state, &ty), Value::Null);
    server.shutdown().await.unwrap();
}

/// Pulumi's dynamic bridge: no provider_meta, write-only allowed,
/// terraform_version "1.0.0+pulumi-terraform-bridge", no deferral.
#[tokio::test]
async fn pulumi_bridge_shaped_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let caps = Some(pb::ClientCapabilities {
        deferral_allowed: false,
        write_only_attributes_allowed: true,
    });
    configure(&mut c, "1.0.0+pulumi-terraform-bridge", caps).await;
    let ty = thing_type();
    let config = thing(&[
        ("name", Value::from("pulumi")),
        ("secret", Value::from("s3cret")),
    ]);
    let v = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&config, &ty),
            client_capabilities: caps,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let p = plan(&mut c, &Value::Null, &config, b"", caps).await;
    assert!(errors(&p.diagnostics).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.state.get("secret"), Some(&Value::Null));
    let (state, _, diags) = apply(&mut c, &Value::Null, &p.state, &config, &p.private).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(state.get("id"), Some(&Value::from("p-pulumi")));
    assert_eq!(state.get("secret"), Some(&Value::Null));
    server.shutdown().await.unwrap();
}

/// OpenTofu 1.10 sends no client capabilities: write-only values are refused
/// at validation (with the attribute path); everything else works.
#[tokio::test]
async fn opentofu_1_10_shaped_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    configure(&mut c, "1.10.0", tofu_1_10()).await;
    let ty = thing_type();
    let with_secret = thing(&[("name", Value::from("tofu")), ("secret", Value::from("x"))]);
    let v = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&with_secret, &ty),
            client_capabilities: tofu_1_10(),
        })
        .await
        .unwrap()
        .into_inner();
    let e = errors(&v.diagnostics);
    assert_eq!(e.len(), 1, "{:?}", v.diagnostics);
    assert_eq!(e[0].summary, "Write-only attribute not allowed");
    assert_eq!(path_text(e[0]), "secret");

    let config = thing(&[("name", Value::from("tofu")), ("size", Value::from(1i64))]);
    let v = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&config, &ty),
            client_capabilities: tofu_1_10(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let p = plan(&mut c, &Value::Null, &config, b"", tofu_1_10()).await;
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let (state, _, diags) = apply(&mut c, &Value::Null, &p.state, &config, &p.private).await;
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(state.get("id"), Some(&Value::from("p-tofu")));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_becomes_diagnostics_with_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let ty = thing_type();
    let validate =
        |config: Option<pb::DynamicValue>, type_name: &str| pb::validate_resource_config::Request {
            type_name: type_name.into(),
            config,
            client_capabilities: terraform_caps(),
        };

    // wrong type: name is a number
    let wrong_type = Type::object(
        thing_type()
            .attribute_types()
            .unwrap()
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    if k == "name" { Type::Number } else { t.clone() },
                )
            }),
    );
    let bad = thing(&[("name", Value::from(42i64))]);
    let r = c
        .validate_resource_config(validate(dv(&bad, &wrong_type), "test_thing"))
        .await
        .unwrap()
        .into_inner();
    let e = errors(&r.diagnostics);
    assert_eq!(e.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(path_text(e[0]), "name", "{:?}", e[0]);

    // unknown attribute
    let mut attrs = thing_type().attribute_types().unwrap().clone();
    attrs.insert("bogus".into(), Type::String);
    let extra_ty = Type::object(attrs);
    let mut extra = thing(&[("name", Value::from("x"))]);
    if let Value::Object(m) = &mut extra {
        m.insert("bogus".into(), Value::from("y"));
    }
    let r = c
        .validate_resource_config(validate(dv(&extra, &extra_ty), "test_thing"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1, "{:?}", r.diagnostics);

    // a wrong type inside a nested block element
    let mut disk_attrs = thing_type().attribute_types().unwrap().clone();
    disk_attrs.insert(
        "disk".into(),
        Type::list(Type::object([
            ("size", Type::String),
            ("uuid", Type::String),
        ])),
    );
    let disk_ty = Type::object(disk_attrs);
    let bad_disk = thing(&[
        ("name", Value::from("x")),
        (
            "disk",
            Value::List(vec![Value::object([
                ("size", Value::from("big")),
                ("uuid", Value::Null),
            ])]),
        ),
    ]);
    let r = c
        .validate_resource_config(validate(dv(&bad_disk, &disk_ty), "test_thing"))
        .await
        .unwrap()
        .into_inner();
    let e = errors(&r.diagnostics);
    assert_eq!(e.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(path_text(e[0]), "disk[0].size");

    // garbage bytes, truncated msgpack, bad JSON
    for garbage in [
        pb::DynamicValue {
            msgpack: vec![0xc1, 0xff, 0x00],
            json: vec![],
        },
        pb::DynamicValue {
            msgpack: vec![0x87, 0xa4],
            json: vec![],
        },
        pb::DynamicValue {
            msgpack: vec![],
            json: b"{\"name\": [".to_vec(),
        },
    ] {
        let r = c
            .validate_resource_config(validate(Some(garbage), "test_thing"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(errors(&r.diagnostics).len(), 1, "{:?}", r.diagnostics);
    }

    // validation by the resource itself, with a path
    let negative = thing(&[("name", Value::from("x")), ("size", Value::from(-1i64))]);
    let r = c
        .validate_resource_config(validate(dv(&negative, &ty), "test_thing"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(path_text(errors(&r.diagnostics)[0]), "size");

    // unknown values are fine at validation
    let unknown = thing(&[("name", Value::unknown()), ("size", Value::unknown())]);
    let r = c
        .validate_resource_config(validate(dv(&unknown, &ty), "test_thing"))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);

    // unknown resource type
    let r = c
        .validate_resource_config(validate(dv(&negative, &ty), "test_nope"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics)[0].summary, "Unknown resource type");

    // bad input to plan and apply is a diagnostic too
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: None,
            proposed_new_state: Some(pb::DynamicValue {
                msgpack: vec![0x93, 1, 2],
                json: vec![],
            }),
            config: Some(pb::DynamicValue {
                msgpack: vec![0x93, 1, 2],
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!errors(&r.diagnostics).is_empty());
    let r = c
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            planned_state: Some(pb::DynamicValue {
                msgpack: vec![0xde],
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!errors(&r.diagnostics).is_empty());

    // provider config with the wrong type
    let r = c
        .validate_provider_config(pb::validate_provider_config::Request {
            config: dv(
                &Value::object([("prefix", Value::from(true))]),
                &Type::object([("prefix", Type::Bool)]),
            ),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(path_text(errors(&r.diagnostics)[0]), "prefix");
    let r = c
        .validate_provider_config(pb::validate_provider_config::Request {
            config: provider_config(Some("")),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics)[0].summary, "Empty prefix");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_upgrade_same_version_older_version_and_newer() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let ty = thing_type();
    let upgrade = |version: i64, json: &str| pb::upgrade_resource_state::Request {
        type_name: "test_thing".into(),
        version,
        raw_state: Some(pb::RawState {
            json: json.as_bytes().to_vec(),
            flatmap: Default::default(),
        }),
    };
    // same version; a missing attribute is null; a big number survives
    let r = c
        .upgrade_resource_state(upgrade(
            1,
            r#"{"id":"p-a","name":"a","size":12345678901234567890123,"tags":{"k":"v"},"secret":null,"disk":[{"size":1,"uuid":"u"}]}"#,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let v = undv(&r.upgraded_state, &ty);
    assert_eq!(v.get("revision"), Some(&Value::Null));
    assert_eq!(
        v.get("size")
            .and_then(Value::as_number)
            .map(ToString::to_string)
            .as_deref(),
        Some("12345678901234567890123")
    );
    // write-only values never survive an upgrade
    let r = c
        .upgrade_resource_state(upgrade(1, r#"{"id":"i","name":"n","secret":"leaked"}"#))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        undv(&r.upgraded_state, &ty).get("secret"),
        Some(&Value::Null)
    );
    // version 0 goes through the resource's upgrader
    let r = c
        .upgrade_resource_state(upgrade(0, r#"{"id":"old","name":"n"}"#))
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let v = undv(&r.upgraded_state, &ty);
    assert_eq!(v.get("revision"), Some(&Value::from("upgraded")));
    assert_eq!(v.get("id"), Some(&Value::from("old")));
    // a newer version is refused
    let r = c
        .upgrade_resource_state(upgrade(2, "{}"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        errors(&r.diagnostics)[0].summary,
        "Resource state from a newer provider"
    );
    // legacy flatmap is refused with a diagnostic
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 1,
            raw_state: Some(pb::RawState {
                json: vec![],
                flatmap: [("id".to_owned(), "x".to_owned())].into(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    // an attribute removed from the schema is a diagnostic
    let r = c
        .upgrade_resource_state(upgrade(1, r#"{"id":"i","name":"n","removed":1}"#))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1, "{:?}", r.diagnostics);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn import_data_source_and_functions() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let ty = thing_type();

    let r = c
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "test_thing".into(),
            id: "t-foo".into(),
            client_capabilities: None,
            identity: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.imported_resources.len(), 1);
    assert_eq!(r.imported_resources[0].type_name, "test_thing");
    let v = undv(&r.imported_resources[0].state, &ty);
    assert_eq!(v.get("name"), Some(&Value::from("foo")));
    let r = c
        .import_resource_state(pb::import_resource_state::Request {
            type_name: "test_thing".into(),
            id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.imported_resources.is_empty());
    assert_eq!(errors(&r.diagnostics)[0].summary, "Bad import id");

    let ds_ty = Type::object([("name", Type::String), ("length", Type::Number)]);
    let r = c
        .read_data_source(pb::read_data_source::Request {
            type_name: "test_info".into(),
            config: dv(
                &Value::object([("name", Value::from("abcd")), ("length", Value::Null)]),
                &ds_ty,
            ),
            provider_meta: None,
            client_capabilities: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        undv(&r.state, &ds_ty).get("length").and_then(Value::as_i64),
        Some(4)
    );
    let r = c
        .validate_data_resource_config(pb::validate_data_resource_config::Request {
            type_name: "test_nope".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        errors(&r.diagnostics)[0].summary,
        "Unknown data source type"
    );

    let s = |v: &str| dv(&Value::from(v), &Type::String).unwrap();
    let call = |name: &str, args: Vec<pb::DynamicValue>| pb::call_function::Request {
        name: name.into(),
        arguments: args,
    };
    let r = c
        .call_function(call("join", vec![s("-"), s("a"), s("b")]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(undv(&r.result, &Type::String), Value::from("a-b"));
    let r = c
        .call_function(call("join", vec![s("-")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(undv(&r.result, &Type::String), Value::from(""));
    // the function's own error, pointing at the argument
    let r = c
        .call_function(call("join", vec![s("-"), s("a"), s("")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.error.unwrap().function_argument, Some(2));
    // a malformed argument type
    let num = dv(&Value::from(1i64), &Type::Number).unwrap();
    let r = c
        .call_function(call("join", vec![s("-"), num]))
        .await
        .unwrap()
        .into_inner();
    let e = r.error.unwrap();
    assert_eq!(e.function_argument, Some(1), "{}", e.text);
    // null where not allowed
    let null = pb::DynamicValue {
        msgpack: vec![0xc0],
        json: vec![],
    };
    let r = c
        .call_function(call("join", vec![null]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.error.unwrap().function_argument, Some(0));
    // arity and unknown names
    let r = c
        .call_function(call("join", vec![]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.unwrap().function_argument.is_none());
    let r = c
        .call_function(call("nope", vec![]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_some());
    server.shutdown().await.unwrap();
}

/// Every RPC of the 6.10 service answers with a response, never a gRPC status;
/// features the provider lacks answer with an error diagnostic.
#[tokio::test]
async fn every_rpc_answers_without_a_grpc_error() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;

    macro_rules! unsupported {
        ($call:expr, $field:ident) => {{
            let r = $call.await.expect("no gRPC error").into_inner();
            assert_eq!(errors(&r.$field).len(), 1, "{:?}", r.$field);
            assert!(errors(&r.$field)[0].summary.contains("not supported"));
        }};
    }
    unsupported!(
        c.upgrade_resource_identity(pb::upgrade_resource_identity::Request::default()),
        diagnostics
    );
    unsupported!(
        c.move_resource_state(pb::move_resource_state::Request::default()),
        diagnostics
    );
    unsupported!(
        c.generate_resource_config(pb::generate_resource_config::Request::default()),
        diagnostics
    );
    unsupported!(
        c.validate_ephemeral_resource_config(
            pb::validate_ephemeral_resource_config::Request::default()
        ),
        diagnostics
    );
    unsupported!(
        c.open_ephemeral_resource(pb::open_ephemeral_resource::Request::default()),
        diagnostics
    );
    unsupported!(
        c.renew_ephemeral_resource(pb::renew_ephemeral_resource::Request::default()),
        diagnostics
    );
    unsupported!(
        c.close_ephemeral_resource(pb::close_ephemeral_resource::Request::default()),
        diagnostics
    );
    unsupported!(
        c.validate_list_resource_config(pb::validate_list_resource_config::Request::default()),
        diagnostics
    );
    unsupported!(
        c.validate_state_store_config(pb::validate_state_store::Request::default()),
        diagnostics
    );
    unsupported!(
        c.configure_state_store(pb::configure_state_store::Request::default()),
        diagnostics
    );
    unsupported!(
        c.lock_state(pb::lock_state::Request::default()),
        diagnostics
    );
    unsupported!(
        c.unlock_state(pb::unlock_state::Request::default()),
        diagnostics
    );
    unsupported!(
        c.get_states(pb::get_states::Request::default()),
        diagnostics
    );
    unsupported!(
        c.delete_state(pb::delete_state::Request::default()),
        diagnostics
    );
    unsupported!(
        c.plan_action(pb::plan_action::Request::default()),
        diagnostics
    );
    unsupported!(
        c.validate_action_config(pb::validate_action_config::Request::default()),
        diagnostics
    );

    let mut s = c
        .list_resource(pb::list_resource::Request::default())
        .await
        .unwrap()
        .into_inner();
    let ev = s.message().await.unwrap().unwrap();
    assert_eq!(errors(&ev.diagnostic).len(), 1);
    assert!(s.message().await.unwrap().is_none());

    let mut s = c
        .read_state_bytes(pb::read_state_bytes::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        errors(&s.message().await.unwrap().unwrap().diagnostics).len(),
        1
    );

    let chunks = tokio_stream::iter(vec![pb::write_state_bytes::RequestChunk::default()]);
    let r = c.write_state_bytes(chunks).await.unwrap().into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);

    let mut s = c
        .invoke_action(pb::invoke_action::Request::default())
        .await
        .unwrap()
        .into_inner();
    match s.message().await.unwrap().unwrap().r#type {
        Some(pb::invoke_action::event::Type::Completed(done)) => {
            assert_eq!(errors(&done.diagnostics).len(), 1)
        }
        other => panic!("unexpected {other:?}"),
    }

    // the supported RPCs with entirely empty requests: diagnostics, no status
    let r = c
        .validate_resource_config(pb::validate_resource_config::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .validate_data_resource_config(pb::validate_data_resource_config::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .read_resource(pb::read_resource::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .apply_resource_change(pb::apply_resource_change::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .import_resource_state(pb::import_resource_state::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .read_data_source(pb::read_data_source::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors(&r.diagnostics).len(), 1);
    let r = c
        .call_function(pb::call_function::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_some());
    // null provider config is valid (every attribute optional); configure works
    let r = c
        .validate_provider_config(pb::validate_provider_config::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let r = c
        .configure_provider(pb::configure_provider::Request::default())
        .await
        .unwrap()
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let r = c
        .stop_provider(pb::stop_provider::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.error, "");
    server.shutdown().await.unwrap();
}

/// A create before ConfigureProvider reports a diagnostic (the resource needs
/// the provider data), not a panic.
#[tokio::test]
async fn apply_without_configure_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    let config = thing(&[("name", Value::from("x"))]);
    let p = plan(&mut c, &Value::Null, &config, b"", terraform_caps()).await;
    let (state, _, diags) = apply(&mut c, &Value::Null, &p.state, &config, &p.private).await;
    assert_eq!(errors(&diags)[0].summary, "Provider not configured");
    assert_eq!(state, Value::Null);
    server.shutdown().await.unwrap();
}

/// Leftover unknowns after apply: with an error (partial create) they are
/// stored as null; without one it is reported as a provider bug.
#[tokio::test]
async fn apply_results_never_carry_unknowns() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path(), None).await;
    let mut c = plain_client(server.socket_path()).await;
    configure(&mut c, "1.15.5", terraform_caps()).await;
    for (name, summary) in [
        ("partial", "Half done"),
        (
            "buggy",
            "Provider returned invalid result object after apply",
        ),
    ] {
        let config = thing(&[("name", Value::from(name))]);
        let p = plan(&mut c, &Value::Null, &config, b"", terraform_caps()).await;
        let (state, _, diags) = apply(&mut c, &Value::Null, &p.state, &config, &p.private).await;
        let e = errors(&diags);
        assert_eq!(e.len(), 1, "{diags:?}");
        assert_eq!(e[0].summary, summary);
        assert!(state.is_wholly_known());
        assert_eq!(state.get("name"), Some(&Value::from(name)));
        assert_eq!(state.get("id"), Some(&Value::Null));
    }
    server.shutdown().await.unwrap();
}
