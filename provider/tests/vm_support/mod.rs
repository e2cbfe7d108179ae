//! Drives `xenapi_vm` through the framework engine (the same code path as the
//! gRPC server: msgpack values, planning rules, unknowns) against an
//! in-process lab pool.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use labpool::{Config, LabPool, RunningPool};
use schema::{AttributePath, Block, Diagnostics, Type, Value};
use terraform_provider_xenapi::catalog::XenapiProvider;
use terraform_provider_xenapi::framework::{ClientCapabilities, Engine, RawValue};
use terraform_provider_xenapi::resources::vm::schema::{
    attr, cloud_init_value, mem, network_interface_value, nic, schema,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TYPE: &str = "xenapi_vm";
pub const TEMPLATE: &str = "labpool Ubuntu 24.04 cloud-init";
pub const NETWORK: &str = "Pool-wide network associated with eth0";
pub const G: i64 = 1 << 30;
pub const M: i64 = 1 << 20;

pub async fn start_lab() -> RunningPool {
    LabPool::start(Config {
        boot_seconds: 0.05,
        ..Config::default()
    })
    .await
    .expect("lab pool starts")
}

pub struct Tf {
    pub engine: Engine,
    pub ty: Type,
    pub block: Block,
}

fn encode(v: &Value, ty: &Type) -> RawValue {
    RawValue::msgpack(schema::msgpack::encode(v, ty).expect("encodes"))
}

fn decode(raw: &RawValue, ty: &Type) -> Value {
    if raw.msgpack.is_empty() {
        return Value::Null;
    }
    schema::msgpack::decode(&raw.msgpack, ty).expect("decodes")
}

pub fn errors(d: &Diagnostics) -> Vec<String> {
    d.iter()
        .filter(|x| x.severity == schema::Severity::Error)
        .map(|x| {
            format!(
                "{}: {}: {}",
                x.attribute
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                x.summary,
                x.detail
            )
        })
        .collect()
}

pub fn warnings(d: &Diagnostics) -> Vec<String> {
    d.iter()
        .filter(|x| x.severity == schema::Severity::Warning)
        .map(|x| format!("{}: {}", x.summary, x.detail))
        .collect()
}

/// Terraform's proposed new state: configuration values, with computed
/// attributes that are null in the configuration taken from the prior state.
pub fn proposed(block: &Block, prior: &Value, config: &Value) -> Value {
    let Value::Object(cfg) = config else {
        return config.clone();
    };
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        let c = cfg.get(&a.name).cloned().unwrap_or(Value::Null);
        let p = prior.get(&a.name).cloned().unwrap_or(Value::Null);
        let v = match &a.ty {
            schema::AttributeType::Nested(n)
                if n.nesting == schema::Nesting::Single && matches!(c, Value::Object(_)) =>
            {
                let inner = Block {
                    attributes: n.attributes.clone(),
                    ..Block::new()
                };
                proposed(&inner, &p, &c)
            }
            _ if a.is_computed() && c.is_null() => p,
            _ => c,
        };
        out.insert(a.name.clone(), v);
    }
    for b in &block.blocks {
        let cs = cfg
            .get(&b.type_name)
            .and_then(Value::as_elements)
            .unwrap_or(&[])
            .to_vec();
        let ps = prior
            .get(&b.type_name)
            .and_then(Value::as_elements)
            .unwrap_or(&[])
            .to_vec();
        let items = cs
            .iter()
            .enumerate()
            .map(|(i, c)| proposed(&b.block, ps.get(i).unwrap_or(&Value::Null), c))
            .collect();
        out.insert(b.type_name.clone(), Value::List(items));
    }
    Value::Object(out)
}

pub struct Plan {
    pub planned: Value,
    pub requires_replace: Vec<AttributePath>,
    pub diags: Diagnostics,
    pub private: Vec<u8>,
}

impl Tf {
    pub async fn new(lab: &RunningPool, mac_prefix: Option<&str>) -> Tf {
        let engine = Engine::new(Arc::new(XenapiProvider::new()));
        let pblock = engine.provider_block().clone();
        let pty = pblock.implied_type();
        let cfg = Value::object(pblock.attributes.iter().map(|a| {
            let v = match a.name.as_str() {
                "url" => Value::from(lab.base_url()),
                "username" => Value::from(lab.username()),
                "password" => Value::from(lab.password()),
                "mac_prefix" => mac_prefix.map(Value::from).unwrap_or(Value::Null),
                _ => Value::Null,
            };
            (a.name.clone(), v)
        }));
        let d = engine
            .configure_provider("1.15.5", &encode(&cfg, &pty), ClientCapabilities::default())
            .await;
        assert!(errors(&d).is_empty(), "{d:?}");
        let block = schema().block;
        Tf {
            engine,
            ty: block.implied_type(),
            block,
        }
    }

    pub fn validate(&self, config: &Value) -> Diagnostics {
        self.engine.validate_resource_config(
            TYPE,
            &encode(config, &self.ty),
            ClientCapabilities::default(),
        )
    }

    pub async fn plan(&self, prior: &Value, config: &Value, private: &[u8]) -> Plan {
        let prop = proposed(&self.block, prior, config);
        let out = self
            .engine
            .plan_resource_change(
                TYPE,
                &encode(prior, &self.ty),
                &encode(&prop, &self.ty),
                &encode(config, &self.ty),
                private,
                ClientCapabilities::default(),
            )
            .await;
        Plan {
            planned: decode(&out.planned_state, &self.ty),
            requires_replace: out.requires_replace,
            diags: out.diagnostics,
            private: out.planned_private,
        }
    }

    pub async fn apply(&self, prior: &Value, plan: &Plan, config: &Value) -> (Value, Diagnostics) {
        let out = self
            .engine
            .apply_resource_change(
                TYPE,
                &encode(prior, &self.ty),
                &encode(&plan.planned, &self.ty),
                &encode(config, &self.ty),
                &plan.private,
            )
            .await;
        (decode(&out.new_state, &self.ty), out.diagnostics)
    }

    /// Validate, plan and apply; panics on errors. Returns the new state and
    /// the plan's diagnostics.
    pub async fn up(&self, prior: &Value, config: &Value) -> (Value, Diagnostics) {
        let v = self.validate(config);
        assert!(errors(&v).is_empty(), "validate: {:?}", errors(&v));
        let plan = self.plan(prior, config, &[]).await;
        assert!(
            errors(&plan.diags).is_empty(),
            "plan: {:?}",
            errors(&plan.diags)
        );
        assert!(
            plan.requires_replace.is_empty(),
            "replace: {:?}",
            plan.requires_replace
        );
        let (state, d) = self.apply(prior, &plan, config).await;
        assert!(errors(&d).is_empty(), "apply: {:?}", errors(&d));
        // Terraform's consistency rule: known planned values are kept.
        assert_consistent(&plan.planned, &state, "");
        (state, plan.diags)
    }

    pub async fn read(&self, state: &Value) -> (Value, Diagnostics) {
        let out = self
            .engine
            .read_resource(
                TYPE,
                &encode(state, &self.ty),
                &[],
                ClientCapabilities::default(),
            )
            .await;
        (decode(&out.new_state, &self.ty), out.diagnostics)
    }

    pub async fn import(&self, id: &str) -> (Value, Diagnostics) {
        let (items, d) = self
            .engine
            .import_resource_state(TYPE, id, ClientCapabilities::default())
            .await;
        let v = items
            .first()
            .map(|i| decode(&i.state, &self.ty))
            .unwrap_or(Value::Null);
        (v, d)
    }

    pub async fn destroy(&self, state: &Value) -> Diagnostics {
        let plan = Plan {
            planned: Value::Null,
            requires_replace: vec![],
            diags: Diagnostics::new(),
            private: vec![],
        };
        let (_, d) = self.apply(state, &plan, &Value::Null).await;
        d
    }
}

/// Every known value of the plan is the same in the new state.
pub fn assert_consistent(planned: &Value, state: &Value, path: &str) {
    match (planned, state) {
        (p, _) if p.is_unknown() => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                assert_consistent(v, b.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"));
            }
        }
        (Value::List(a), Value::List(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_consistent(x, y, &format!("{path}[{i}]"));
            }
        }
        (p, s) => assert_eq!(p, s, "planned value at {path} changed after apply"),
    }
}

/// A full VM configuration: every attribute null except the given ones.
pub fn vm(fields: &[(&str, Value)]) -> Value {
    let s = schema();
    let mut m = BTreeMap::new();
    for a in &s.block.attributes {
        m.insert(a.name.clone(), Value::Null);
    }
    for b in &s.block.blocks {
        m.insert(b.type_name.clone(), Value::List(vec![]));
    }
    m.insert(attr::TEMPLATE.into(), Value::from(TEMPLATE));
    for (k, v) in fields {
        m.insert(k.to_string(), v.clone());
    }
    Value::Object(m)
}

pub fn set_attr(v: &mut Value, name: &str, value: Value) {
    if let Some(slot) = v.get_mut(name) {
        *slot = value;
    }
}

pub fn memory(smin: Option<i64>, smax: i64, dmin: Option<i64>, dmax: Option<i64>) -> Value {
    let o = |v: Option<i64>| v.map(Value::from).unwrap_or(Value::Null);
    Value::object([
        (mem::STATIC_MIN, o(smin)),
        (mem::STATIC_MAX, Value::from(smax)),
        (mem::DYNAMIC_MIN, o(dmin)),
        (mem::DYNAMIC_MAX, o(dmax)),
    ])
}

pub fn nic_block(fields: &[(&str, Value)]) -> Value {
    let mut with_network = vec![(nic::NETWORK, Value::from(NETWORK))];
    with_network.extend(fields.iter().cloned());
    network_interface_value(&with_network)
}

pub fn cloud_init(fields: &[(&str, Value)]) -> Value {
    cloud_init_value(fields)
}

pub fn s<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or_default()
}

pub fn nics(v: &Value) -> Vec<Value> {
    v.get(attr::NETWORK_INTERFACE)
        .and_then(Value::as_elements)
        .unwrap_or(&[])
        .to_vec()
}

pub fn strings(v: &Value, name: &str) -> Vec<String> {
    v.get(name)
        .and_then(Value::as_elements)
        .unwrap_or(&[])
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// Admin API request with an optional JSON body.
pub async fn admin(lab: &RunningPool, method: &str, path: &str, body: &str) -> serde_json::Value {
    let url = url::Url::parse(lab.base_url()).expect("lab URL");
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let request = format!(
        "{method} /labpool/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.1 2"),
        "admin {path}: {head} {body}"
    );
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, r)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&r[..n]);
            rest = r[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    if body.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body))
}

/// The records of one class from the admin dump.
pub async fn objects(lab: &RunningPool, class: &str) -> Vec<serde_json::Value> {
    let v = admin(lab, "GET", &format!("objects/{class}"), "").await;
    match v {
        serde_json::Value::Object(m) => {
            // Either {ref: record} or {"<class>": {ref: record}}.
            let inner = if m.len() == 1
                && m.values().all(|x| x.is_object())
                && !m.keys().any(|k| k.starts_with("OpaqueRef"))
            {
                m.into_iter().next().map(|(_, x)| x).unwrap_or_default()
            } else {
                serde_json::Value::Object(m)
            };
            inner
                .as_object()
                .map(|o| o.values().cloned().collect())
                .unwrap_or_default()
        }
        serde_json::Value::Array(a) => a,
        _ => vec![],
    }
}
