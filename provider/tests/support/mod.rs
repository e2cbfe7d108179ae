//! Shared by the gRPC-level tests: a tiny test-only provider that exercises
//! the framework, and tonic clients over the server's unix socket (plaintext
//! or mTLS).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use proto::tfplugin6 as pb;
use proto::tfplugin6::provider_client::ProviderClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use schema::{Attribute, AttributePath, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use terraform_provider_xenapi::framework::{
    ConfigureRequest, Context, CreateRequest, DataSource, DeleteRequest, Function,
    FunctionDefinition, FunctionError, NewState, Parameter, PlanModifier, PlanRequest,
    PlannedChange, Provider, ProviderData, ReadRequest, Resource, UpdateRequest, UpgradeRequest,
};
use terraform_provider_xenapi::server::{self, RunningServer, ServeOptions};
use tonic::transport::{Channel, Endpoint, Uri};

// ---------------------------------------------------------------------------
// The test provider
// ---------------------------------------------------------------------------

/// What `configure` stores: the `prefix` from the provider block.
#[derive(Debug)]
pub struct TestData {
    pub prefix: String,
}

/// Counters the tests look at.
#[derive(Debug, Default)]
pub struct Counters {
    pub deletes: AtomicUsize,
    pub cancelled: AtomicUsize,
}

#[derive(Debug, Clone, Default)]
pub struct TestProvider {
    pub counters: Arc<Counters>,
}

#[async_trait]
impl Provider for TestProvider {
    fn type_name(&self) -> &'static str {
        "test"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new().description("Test provider.").attribute(
                Attribute::optional("prefix", Type::String).description("Prefix of ids."),
            ),
        )
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        if config.get("prefix").and_then(Value::as_str) == Some("") {
            diags.error_at(
                AttributePath::new("prefix"),
                "Empty prefix",
                "Give a prefix.",
            );
        }
    }

    async fn configure(
        &self,
        _ctx: &Context,
        req: &ConfigureRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> Option<ProviderData> {
        let prefix = req
            .config
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or("t")
            .to_owned();
        Some(Arc::new(TestData { prefix }))
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing {
            counters: self.counters.clone(),
        })]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(Info)]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(Join)]
    }
}

/// `test_thing`: exercises computed values, plan modifiers, write-only,
/// nested blocks, private state, import, upgrade and cancellation.
pub struct Thing {
    counters: Arc<Counters>,
}

pub fn thing_schema() -> Schema {
    Schema::new(
        1,
        Block::new()
            .description("A thing.")
            .attribute(Attribute::computed("id", Type::String).description("Id."))
            .attribute(Attribute::required("name", Type::String).description("Name; replaces."))
            .attribute(Attribute::optional("size", Type::Number).description("Size."))
            .attribute(Attribute::optional("tags", Type::map(Type::String)).description("Tags."))
            .attribute(
                Attribute::optional("secret", Type::String)
                    .sensitive()
                    .write_only()
                    .description("Write-only secret."),
            )
            .attribute(
                Attribute::computed("revision", Type::String).description("Changes on update."),
            )
            .block(NestedBlock::list(
                "disk",
                Block::new()
                    .description("A disk.")
                    .attribute(Attribute::required("size", Type::Number).description("Size."))
                    .attribute(Attribute::computed("uuid", Type::String).description("UUID.")),
            )),
    )
}

fn str_of<'a>(v: &'a Value, attr: &str) -> &'a str {
    v.get(attr).and_then(Value::as_str).unwrap_or("")
}

fn fill_disks(planned: &Value, id: &str) -> Value {
    match planned.get("disk") {
        Some(Value::List(disks)) => Value::List(
            disks
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut d = d.clone();
                    if let Value::Object(m) = &mut d
                        && m.get("uuid").is_some_and(Value::is_unknown)
                    {
                        m.insert("uuid".into(), Value::from(format!("{id}-disk{i}")));
                    }
                    d
                })
                .collect(),
        ),
        Some(other) => other.clone(),
        None => Value::List(Vec::new()),
    }
}

#[async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &'static str {
        "test_thing"
    }

    fn schema(&self) -> Schema {
        thing_schema()
    }

    fn plan_modifiers(&self) -> Vec<PlanModifier> {
        vec![
            PlanModifier::UseStateForUnknown(AttributePath::new("id")),
            PlanModifier::RequiresReplace(AttributePath::new("name")),
        ]
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(n) = config.get("size").and_then(Value::as_i64)
            && n < 0
        {
            diags.error_at(
                AttributePath::new("size"),
                "Negative size",
                "size must be >= 0",
            );
        }
    }

    async fn modify_plan(
        &self,
        _ctx: &Context,
        req: &PlanRequest<'_>,
        plan: &mut PlannedChange,
        diags: &mut Diagnostics,
    ) {
        if req.is_destroy() {
            diags.warning("Destroying a thing", "It will be gone.");
            return;
        }
        if let Some(n) = req.config.get("size").and_then(Value::as_i64)
            && n > 100
        {
            diags.warning_at(AttributePath::new("size"), "Big thing", "size is over 100");
        }
        plan.planned_private = b"planned".to_vec();
    }

    async fn create(
        &self,
        ctx: &Context,
        req: &CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState {
        let data = match ctx.require_provider_data::<TestData>() {
            Ok(d) => d,
            Err(d) => {
                diags.push(d);
                return NewState::gone();
            }
        };
        let name = str_of(req.planned_state, "name");
        if name == "slow" {
            tokio::select! {
                () = ctx.cancelled() => {
                    self.counters.cancelled.fetch_add(1, Ordering::SeqCst);
                    diags.error("Cancelled", "StopProvider cancelled the creation.");
                    return NewState::gone();
                }
                () = tokio::time::sleep(Duration::from_secs(20)) => {}
            }
        }
        if name == "partial" {
            // Something was created, then a step failed: partial state + error.
            diags.error("Half done", "The second step failed.");
            return NewState::new(req.planned_state.clone());
        }
        if name == "buggy" {
            // A provider bug: computed values left unknown without an error.
            return NewState::new(req.planned_state.clone());
        }
        if req.planned_private != b"planned" {
            diags.error("Private state lost", "planned_private did not arrive");
        }
        let id = format!("{}-{name}", data.prefix);
        let mut state = req.planned_state.clone();
        if let Value::Object(m) = &mut state {
            m.insert("disk".into(), fill_disks(req.planned_state, &id));
            m.insert("id".into(), Value::from(id));
            m.insert("revision".into(), Value::from("r1"));
        }
        NewState::new(state).with_private(b"created".to_vec())
    }

    async fn read(
        &self,
        _ctx: &Context,
        req: &ReadRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> NewState {
        if str_of(req.current_state, "name") == "vanished" {
            return NewState::gone();
        }
        NewState::new(req.current_state.clone())
    }

    async fn update(
        &self,
        _ctx: &Context,
        req: &UpdateRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> NewState {
        let mut state = req.planned_state.clone();
        let id = str_of(req.prior_state, "id").to_owned();
        if let Value::Object(m) = &mut state {
            m.insert("disk".into(), fill_disks(req.planned_state, &id));
            m.insert("revision".into(), Value::from("r2"));
        }
        NewState::new(state)
    }

    async fn delete(&self, _ctx: &Context, _req: &DeleteRequest<'_>, _diags: &mut Diagnostics) {
        self.counters.deletes.fetch_add(1, Ordering::SeqCst);
    }

    async fn import(&self, _ctx: &Context, id: &str, diags: &mut Diagnostics) -> NewState {
        let Some(name) = id.strip_prefix("t-") else {
            diags.error("Bad import id", format!("{id:?} does not start with t-"));
            return NewState::gone();
        };
        NewState::new(Value::object([
            ("id", Value::from(id)),
            ("name", Value::from(name)),
            ("size", Value::Null),
            ("tags", Value::Null),
            ("secret", Value::Null),
            ("revision", Value::from("imported")),
            ("disk", Value::List(Vec::new())),
        ]))
    }

    fn upgrade_state(&self, req: &UpgradeRequest<'_>, diags: &mut Diagnostics) -> Value {
        // Version 0 had only id and name.
        let v0 = Type::object([("id", Type::String), ("name", Type::String)]);
        match schema::json::decode(req.json, &v0) {
            Ok(old) => Value::object([
                ("id", old.get("id").cloned().unwrap_or(Value::Null)),
                ("name", old.get("name").cloned().unwrap_or(Value::Null)),
                ("size", Value::Null),
                ("tags", Value::Null),
                ("secret", Value::Null),
                ("revision", Value::from("upgraded")),
                ("disk", Value::List(Vec::new())),
            ]),
            Err(e) => {
                diags.error("Bad v0 state", e.to_string());
                Value::Null
            }
        }
    }
}

/// `test_info`: length of `name`.
pub struct Info;

#[async_trait]
impl DataSource for Info {
    fn type_name(&self) -> &'static str {
        "test_info"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new()
                .description("Info.")
                .attribute(Attribute::required("name", Type::String).description("Name."))
                .attribute(Attribute::computed("length", Type::Number).description("Length.")),
        )
    }
    async fn read(&self, _ctx: &Context, config: &Value, _diags: &mut Diagnostics) -> Value {
        let name = str_of(config, "name");
        Value::object([
            ("name", Value::from(name)),
            ("length", Value::from(name.len() as i64)),
        ])
    }
}

/// `provider::test::join(sep, parts...)`.
pub struct Join;

impl Function for Join {
    fn name(&self) -> &'static str {
        "join"
    }
    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            parameters: vec![Parameter::new("separator", Type::String, "Separator.")],
            variadic_parameter: Some(Parameter::new("parts", Type::String, "Parts.")),
            return_type: Type::String,
            summary: "Joins strings.".into(),
            description: "Joins `parts` with `separator`.".into(),
            deprecation_message: None,
        }
    }
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let sep = args[0].as_str().unwrap_or("");
        let mut parts = Vec::new();
        for (i, a) in args.iter().enumerate().skip(1) {
            match a.as_str() {
                Some("") => return Err(FunctionError::argument(i, "empty part")),
                Some(s) => parts.push(s.to_owned()),
                None => return Err(FunctionError::argument(i, "not a string")),
            }
        }
        Ok(Value::from(parts.join(sep)))
    }
}

// ---------------------------------------------------------------------------
// Values on the wire
// ---------------------------------------------------------------------------

pub fn thing_type() -> Type {
    thing_schema().implied_type()
}

pub fn dv(value: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: schema::msgpack::encode(value, ty).expect("test value encodes"),
        json: Vec::new(),
    })
}

pub fn undv(v: &Option<pb::DynamicValue>, ty: &Type) -> Value {
    let v = v.as_ref().expect("a DynamicValue");
    if v.msgpack.is_empty() && v.json.is_empty() {
        return Value::Null;
    }
    schema::msgpack::decode(&v.msgpack, ty).expect("response decodes")
}

/// A thing object with defaults for everything not given.
pub fn thing(attrs: &[(&str, Value)]) -> Value {
    let mut m: BTreeMap<String, Value> = ["id", "name", "size", "tags", "secret", "revision"]
        .iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect();
    m.insert("disk".into(), Value::List(Vec::new()));
    for (k, v) in attrs {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

pub fn errors(diags: &[pb::Diagnostic]) -> Vec<&pb::Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .collect()
}

pub fn warnings(diags: &[pb::Diagnostic]) -> Vec<&pb::Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Warning as i32)
        .collect()
}

/// The attribute path of a diagnostic as `a.b[0]["k"]`-ish text.
pub fn path_text(d: &pb::Diagnostic) -> String {
    use pb::attribute_path::step::Selector;
    let Some(p) = &d.attribute else {
        return String::new();
    };
    let mut s = String::new();
    for step in &p.steps {
        match &step.selector {
            Some(Selector::AttributeName(a)) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(a);
            }
            Some(Selector::ElementKeyString(k)) => s.push_str(&format!("[{k:?}]")),
            Some(Selector::ElementKeyInt(i)) => s.push_str(&format!("[{i}]")),
            None => s.push_str("<none>"),
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Servers and clients
// ---------------------------------------------------------------------------

/// Starts the test provider in-process on a unix socket in `dir`.
pub async fn start(dir: &Path, client_cert_pem: Option<String>) -> (RunningServer, TestProvider) {
    let provider = TestProvider::default();
    let server = server::start(
        Arc::new(provider.clone()),
        ServeOptions {
            client_cert_pem,
            socket_dir: Some(dir.to_path_buf()),
            socket_group: None,
        },
    )
    .await
    .expect("server starts");
    (server, provider)
}

/// A plaintext (h2c) channel over the unix socket.
pub async fn plain_channel(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let s = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(s))
            }
        }))
        .await
        .expect("plaintext connect")
}

pub async fn plain_client(socket: &Path) -> ProviderClient<Channel> {
    ProviderClient::new(plain_channel(socket).await)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20)
}

/// A client certificate like go-plugin's: ECDSA P-521, SHA-512, CA, localhost.
pub struct ClientIdentity {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

pub fn go_plugin_client_cert() -> ClientIdentity {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "HashiCorp");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    ClientIdentity {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// Trusts exactly the server certificate from the handshake line (what
/// go-plugin's client does with its RootCAs).
#[derive(Debug)]
struct PinnedServer {
    cert: Vec<u8>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_slice()
            && server_name == &ServerName::try_from("localhost").unwrap()
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// TLS client configuration presenting `identity` (or no certificate).
pub fn client_tls(
    server_cert_der: &[u8],
    identity: Option<&ClientIdentity>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedServer {
        cert: server_cert_der.to_vec(),
        algs: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![id.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(cfg)
}

/// Performs the TLS handshake over the unix socket and then one request,
/// returning the negotiated ALPN protocol on success.
pub async fn tls_connect(
    socket: &Path,
    config: Arc<rustls::ClientConfig>,
) -> Result<(Channel, Option<Vec<u8>>), String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .map_err(|e| e.to_string())?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let slot = Arc::new(std::sync::Mutex::new(Some(tls)));
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let conn = slot.lock().unwrap().take();
            async move {
                conn.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the TLS connection was already used"))
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    Ok((channel, alpn))
}
