//! The provider configuration block: what it declares, how it is validated, and the
//! validated [`ProviderConfig`] the XAPI-backed resources use to connect.
//!
//! Nothing here connects to a pool. `ConfigureProvider` only validates and stores;
//! a resource that needs XAPI calls [`ProviderConfig::connection`] when it first
//! needs a session (DESIGN decision 2: connect lazily). A configuration that uses
//! only the XAPI-free features (`xenapi_mac_address`, the functions) therefore
//! works with every setting unset and no reachable pool.
//!
//! Precedence: a value in the provider block wins; when it is null (or an empty
//! string) the `XENAPI_*` environment variable is used; an empty environment
//! variable counts as unset.
//!
//! TLS (DESIGN decision 3): verified by default against the system's roots. One of
//! three options changes that: `ca_certificate` (trust these CAs instead),
//! `tls_fingerprint_sha256` (accept exactly the certificate with this SHA-256
//! fingerprint, e.g. a pool master's self-signed certificate), or `insecure = true`
//! (no verification). They exclude each other.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};

use crate::mac::MacPrefix;

/// The attribute names of the provider block, as used in diagnostics paths.
pub mod attr {
    pub const URL: &str = "url";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const INSECURE: &str = "insecure";
    pub const CA_CERTIFICATE: &str = "ca_certificate";
    pub const TLS_FINGERPRINT_SHA256: &str = "tls_fingerprint_sha256";
    pub const MAC_PREFIX: &str = "mac_prefix";
}

/// The environment variables that supply defaults for unset attributes.
pub mod env {
    pub const URL: &str = "XENAPI_URL";
    pub const USERNAME: &str = "XENAPI_USERNAME";
    pub const PASSWORD: &str = "XENAPI_PASSWORD";
    pub const INSECURE: &str = "XENAPI_INSECURE";
    pub const CA_CERTIFICATE: &str = "XENAPI_CA_CERTIFICATE";
    pub const TLS_FINGERPRINT_SHA256: &str = "XENAPI_TLS_FINGERPRINT_SHA256";
}

/// One attribute of the provider block as Terraform sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Input<T> {
    /// Null in the configuration.
    #[default]
    Unset,
    /// Not known yet (depends on a resource that is not created yet).
    Unknown,
    /// A known value.
    Set(T),
}

/// The provider block, decoded but not validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawProviderConfig {
    pub url: Input<String>,
    pub username: Input<String>,
    pub password: Input<String>,
    pub insecure: Input<bool>,
    pub ca_certificate: Input<String>,
    pub tls_fingerprint_sha256: Input<String>,
    pub mac_prefix: Input<String>,
}

/// Severity of a [`ConfigProblem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemSeverity {
    Error,
    Warning,
}

/// A validation finding. `attribute` is the provider-block attribute to point at,
/// `None` when the value came from the environment (there is no configuration
/// line to point at; the detail names the variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub severity: ProblemSeverity,
    pub attribute: Option<&'static str>,
    pub summary: String,
    pub detail: String,
}

/// A password that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    /// The secret itself, for the login call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How the pool master's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsVerification {
    /// Against the platform's trusted roots (the default).
    #[default]
    SystemRoots,
    /// Against these CA certificates (DER) only.
    CustomRoots(Vec<CertificateDer<'static>>),
    /// Accept exactly the end-entity certificate whose DER has this SHA-256 digest.
    Fingerprint([u8; 32]),
    /// No verification (`insecure = true`).
    Insecure,
}

/// Everything a resource needs to open a XAPI session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `http` or `https`, with a host; the XAPI client appends `/jsonrpc`.
    pub url: url::Url,
    pub username: String,
    pub password: Password,
    pub tls: TlsVerification,
}

/// Why [`ProviderConfig::connection`] cannot give connection settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Settings needed to reach the pool are not set.
    #[error(
        "this resource talks to a XenServer/XCP-ng pool, but the provider configuration \
         does not say how to reach it: set {}",
        describe_missing(.0)
    )]
    Missing(Vec<&'static str>),
    /// Settings depend on values not known yet.
    #[error(
        "the provider configuration is not known yet ({}); it depends on values known \
         only after apply",
        .0.join(", ")
    )]
    Unknown(Vec<&'static str>),
}

fn describe_missing(names: &[&'static str]) -> String {
    names
        .iter()
        .map(|name| match env_var_of(name) {
            Some(var) => format!("`{name}` (or {var})"),
            None => format!("`{name}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn env_var_of(attribute: &str) -> Option<&'static str> {
    Some(match attribute {
        attr::URL => env::URL,
        attr::USERNAME => env::USERNAME,
        attr::PASSWORD => env::PASSWORD,
        attr::INSECURE => env::INSECURE,
        attr::CA_CERTIFICATE => env::CA_CERTIFICATE,
        attr::TLS_FINGERPRINT_SHA256 => env::TLS_FINGERPRINT_SHA256,
        _ => return None,
    })
}

/// The validated provider configuration, stored by `ConfigureProvider`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderConfig {
    pub url: Option<url::Url>,
    pub username: Option<String>,
    pub password: Option<Password>,
    pub tls: TlsVerification,
    /// The prefix for MACs the provider generates for VIFs.
    pub mac_prefix: MacPrefix,
    /// Attributes whose value was unknown at configure time.
    pub unknown: BTreeSet<&'static str>,
}

impl ProviderConfig {
    /// The settings to open a session, or what is missing. Called lazily by the
    /// resources that need XAPI, never by `ConfigureProvider`.
    pub fn connection(&self) -> Result<ConnectionSettings, ConfigError> {
        let needed = [
            attr::URL,
            attr::USERNAME,
            attr::PASSWORD,
            attr::INSECURE,
            attr::CA_CERTIFICATE,
            attr::TLS_FINGERPRINT_SHA256,
        ];
        let unknown: Vec<&'static str> = needed
            .into_iter()
            .filter(|name| self.unknown.contains(name))
            .collect();
        if !unknown.is_empty() {
            return Err(ConfigError::Unknown(unknown));
        }
        match (&self.url, &self.username, &self.password) {
            (Some(url), Some(username), Some(password)) => Ok(ConnectionSettings {
                url: url.clone(),
                username: username.clone(),
                password: password.clone(),
                tls: self.tls.clone(),
            }),
            _ => {
                let mut missing = Vec::new();
                if self.url.is_none() {
                    missing.push(attr::URL);
                }
                if self.username.is_none() {
                    missing.push(attr::USERNAME);
                }
                if self.password.is_none() {
                    missing.push(attr::PASSWORD);
                }
                Err(ConfigError::Missing(missing))
            }
        }
    }

    /// The prefix for generated VIF MACs, unless it is not known yet.
    pub fn mac_prefix(&self) -> Result<MacPrefix, ConfigError> {
        if self.unknown.contains(attr::MAC_PREFIX) {
            Err(ConfigError::Unknown(vec![attr::MAC_PREFIX]))
        } else {
            Ok(self.mac_prefix)
        }
    }
}

/// Where a value came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Config(&'static str),
    Env(&'static str),
}

impl Origin {
    fn attribute(self) -> Option<&'static str> {
        match self {
            Origin::Config(name) => Some(name),
            Origin::Env(_) => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Origin::Config(name) => format!("`{name}`"),
            Origin::Env(var) => format!("the environment variable {var}"),
        }
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn error(&mut self, origin: Origin, summary: impl Into<String>, detail: impl Into<String>) {
        self.0.push(ConfigProblem {
            severity: ProblemSeverity::Error,
            attribute: origin.attribute(),
            summary: summary.into(),
            detail: detail.into(),
        });
    }

    fn warning(&mut self, origin: Origin, summary: impl Into<String>, detail: impl Into<String>) {
        self.0.push(ConfigProblem {
            severity: ProblemSeverity::Warning,
            attribute: origin.attribute(),
            summary: summary.into(),
            detail: detail.into(),
        });
    }
}

/// A resolved string setting: config value, else environment, else none.
enum Resolved<T> {
    None,
    Unknown,
    Some(T, Origin),
}

fn resolve_string(
    input: &Input<String>,
    name: &'static str,
    var: Option<&'static str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Resolved<String> {
    match input {
        Input::Unknown => Resolved::Unknown,
        Input::Set(value) if !value.is_empty() => {
            Resolved::Some(value.clone(), Origin::Config(name))
        }
        Input::Set(_) | Input::Unset => match var.and_then(|var| lookup(var).map(|v| (var, v))) {
            Some((var, value)) if !value.is_empty() => Resolved::Some(value, Origin::Env(var)),
            _ => Resolved::None,
        },
    }
}

/// Validates the provider block. `lookup` reads environment variables (injected so
/// that tests do not depend on the process environment). Returns the configuration
/// unless there is an error; problems include warnings either way.
pub fn validate(
    raw: &RawProviderConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (Option<ProviderConfig>, Vec<ConfigProblem>) {
    let mut problems = Problems::default();
    let mut config = ProviderConfig::default();

    // url
    match resolve_string(&raw.url, attr::URL, Some(env::URL), lookup) {
        Resolved::None => {}
        Resolved::Unknown => {
            config.unknown.insert(attr::URL);
        }
        Resolved::Some(text, origin) => match parse_pool_url(&text) {
            Ok(url) => config.url = Some(url),
            Err(reason) => problems.error(
                origin,
                "Invalid pool URL",
                format!(
                    "{} is {text:?}: {reason}. Expected the pool master's address, e.g. \
                     \"https://xcp-master.example.com\".",
                    origin.describe()
                ),
            ),
        },
    }

    // username, password
    match resolve_string(&raw.username, attr::USERNAME, Some(env::USERNAME), lookup) {
        Resolved::None => {}
        Resolved::Unknown => {
            config.unknown.insert(attr::USERNAME);
        }
        Resolved::Some(name, _) => config.username = Some(name),
    }
    match resolve_string(&raw.password, attr::PASSWORD, Some(env::PASSWORD), lookup) {
        Resolved::None => {}
        Resolved::Unknown => {
            config.unknown.insert(attr::PASSWORD);
        }
        Resolved::Some(secret, _) => config.password = Some(Password::new(secret)),
    }

    // insecure
    let insecure: Option<(bool, Origin)> = match &raw.insecure {
        Input::Unknown => {
            config.unknown.insert(attr::INSECURE);
            None
        }
        Input::Set(value) => Some((*value, Origin::Config(attr::INSECURE))),
        Input::Unset => match lookup(env::INSECURE).filter(|v| !v.is_empty()) {
            None => None,
            Some(text) => match parse_bool(&text) {
                Some(value) => Some((value, Origin::Env(env::INSECURE))),
                None => {
                    problems.error(
                        Origin::Env(env::INSECURE),
                        "Invalid XENAPI_INSECURE",
                        format!(
                            "The environment variable {} is {text:?}; expected \"true\" or \
                             \"false\" (or 1 / 0).",
                            env::INSECURE
                        ),
                    );
                    None
                }
            },
        },
    };

    // ca_certificate
    let ca = match resolve_string(
        &raw.ca_certificate,
        attr::CA_CERTIFICATE,
        Some(env::CA_CERTIFICATE),
        lookup,
    ) {
        Resolved::None => None,
        Resolved::Unknown => {
            config.unknown.insert(attr::CA_CERTIFICATE);
            None
        }
        Resolved::Some(text, origin) => match load_ca_certificates(&text) {
            Ok(certs) => Some((certs, origin)),
            Err(reason) => {
                problems.error(
                    origin,
                    "Invalid CA certificate",
                    format!(
                        "{}: {reason}. Give the PEM text of one or more CA certificates \
                         (-----BEGIN CERTIFICATE-----) or the path of a file holding it.",
                        origin.describe()
                    ),
                );
                None
            }
        },
    };

    // tls_fingerprint_sha256
    let fingerprint = match resolve_string(
        &raw.tls_fingerprint_sha256,
        attr::TLS_FINGERPRINT_SHA256,
        Some(env::TLS_FINGERPRINT_SHA256),
        lookup,
    ) {
        Resolved::None => None,
        Resolved::Unknown => {
            config.unknown.insert(attr::TLS_FINGERPRINT_SHA256);
            None
        }
        Resolved::Some(text, origin) => match parse_fingerprint(&text) {
            Ok(digest) => Some((digest, origin)),
            Err(reason) => {
                problems.error(
                    origin,
                    "Invalid TLS fingerprint",
                    format!(
                        "{} is {text:?}: {reason}. Expected the SHA-256 fingerprint of the \
                         pool master's certificate as 32 hex octets, with or without ':' \
                         separators (as printed by `openssl x509 -noout -fingerprint \
                         -sha256`).",
                        origin.describe()
                    ),
                );
                None
            }
        },
    };

    // The TLS options exclude each other.
    let insecure_on = insecure.filter(|(value, _)| *value);
    if let (Some((_, insecure_origin)), Some((_, fp_origin))) = (insecure_on, &fingerprint) {
        problems.error(
            insecure_origin,
            "Conflicting TLS settings",
            format!(
                "{} is true but {} pins the server certificate. `insecure` turns \
                 verification off, a fingerprint makes it strict: set only one.",
                insecure_origin.describe(),
                fp_origin.describe()
            ),
        );
    }
    if let (Some((_, insecure_origin)), Some((_, ca_origin))) = (insecure_on, &ca) {
        problems.error(
            insecure_origin,
            "Conflicting TLS settings",
            format!(
                "{} is true but {} names trusted CAs. `insecure` turns verification off: \
                 set only one.",
                insecure_origin.describe(),
                ca_origin.describe()
            ),
        );
    }
    if let (Some((_, ca_origin)), Some((_, fp_origin))) = (&ca, &fingerprint) {
        problems.error(
            *fp_origin,
            "Conflicting TLS settings",
            format!(
                "Both {} and {} are set. A fingerprint accepts exactly one certificate \
                 whatever signed it; a CA accepts any certificate it signed: set only one.",
                ca_origin.describe(),
                fp_origin.describe()
            ),
        );
    }
    config.tls = match (insecure_on, ca, fingerprint) {
        (Some(_), None, None) => TlsVerification::Insecure,
        (None, Some((certs, _)), None) => TlsVerification::CustomRoots(certs),
        (None, None, Some((digest, _))) => TlsVerification::Fingerprint(digest),
        _ => TlsVerification::SystemRoots,
    };

    // Warnings about plain HTTP.
    if let Some(url) = &config.url
        && url.scheme() == "http"
    {
        let url_origin = match &raw.url {
            Input::Set(v) if !v.is_empty() => Origin::Config(attr::URL),
            _ => Origin::Env(env::URL),
        };
        let tls_set = insecure.is_some()
            || !matches!(config.tls, TlsVerification::SystemRoots)
            || problems.0.iter().any(|p| {
                matches!(
                    p.attribute,
                    Some(attr::CA_CERTIFICATE | attr::TLS_FINGERPRINT_SHA256)
                )
            });
        if tls_set {
            problems.warning(
                url_origin,
                "TLS settings ignored",
                "The pool URL uses http://, so `insecure`, `ca_certificate` and \
                 `tls_fingerprint_sha256` have no effect.",
            );
        }
        if !is_loopback_host(url) {
            problems.warning(
                url_origin,
                "Unencrypted connection to the pool",
                format!(
                    "The pool URL {url} uses http://: the password and every session id \
                     travel in clear text. Use https:// unless this is a test pool."
                ),
            );
        }
    }

    // mac_prefix
    match &raw.mac_prefix {
        Input::Unset => {}
        Input::Unknown => {
            config.unknown.insert(attr::MAC_PREFIX);
        }
        Input::Set(text) => match text.as_str() {
            MacPrefix::LOCAL => config.mac_prefix = MacPrefix::Local,
            MacPrefix::XENSOURCE => config.mac_prefix = MacPrefix::XenSource,
            other => problems.error(
                Origin::Config(attr::MAC_PREFIX),
                "Invalid MAC prefix",
                format!(
                    "`mac_prefix` is {other:?}; expected \"local\" (locally administered \
                     unicast addresses, 46 random bits) or \"xensource\" (00:16:3e followed \
                     by 24 random bits)."
                ),
            ),
        },
    }

    let failed = problems
        .0
        .iter()
        .any(|p| p.severity == ProblemSeverity::Error);
    (if failed { None } else { Some(config) }, problems.0)
}

/// Reads the process environment (what `ConfigureProvider` passes to [`validate`]).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_pool_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            format!("it has no scheme; did you mean \"https://{text}\"?")
        }
        other => other.to_string(),
    })?;
    match url.scheme() {
        "https" | "http" => {}
        other => {
            return Err(format!(
                "the scheme is {other:?}; XAPI is reached over \"https\" (or \"http\")"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials; set `username` and `password` instead".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it has a query or fragment".to_owned());
    }
    Ok(url)
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `ca_certificate` is PEM text when it contains `-----BEGIN`, otherwise the path of
/// a PEM file, read when the provider is configured.
fn load_ca_certificates(value: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem_text;
    let (bytes, source) = if value.contains("-----BEGIN") {
        (value.as_bytes(), "the PEM text".to_owned())
    } else {
        let path = Path::new(value);
        pem_text = std::fs::read(path)
            .map_err(|e| format!("cannot read the file {}: {e}", path.display()))?;
        (pem_text.as_slice(), format!("the file {}", path.display()))
    };
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(bytes) {
        match item {
            Ok(cert) => certs.push(cert.into_owned()),
            Err(pem::Error::NoItemsFound) => break,
            Err(e) => return Err(format!("{source} is not valid PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err(format!("{source} holds no CERTIFICATE block"));
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            format!(
                "certificate {} in {source} is not a usable X.509 CA certificate: {e}",
                i + 1
            )
        })?;
    }
    Ok(certs)
}

/// 32 hex octets, either contiguous (64 digits) or separated by ':' (OpenSSL's
/// form); any case; optionally with OpenSSL's `sha256 Fingerprint=` label.
fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    // Accept OpenSSL's whole output line, `sha256 Fingerprint=AB:CD:...`.
    let text = match text.split_once('=') {
        Some((label, value)) if label.trim().eq_ignore_ascii_case("sha256 fingerprint") => {
            value.trim()
        }
        _ => text,
    };
    let hex_digits: String = if text.contains(':') {
        let groups: Vec<&str> = text.split(':').collect();
        if groups.len() != 32 || groups.iter().any(|g| g.len() != 2) {
            return Err(format!(
                "it has {} ':'-separated groups; expected 32 groups of two hex digits",
                groups.len()
            ));
        }
        groups.concat()
    } else {
        text.to_owned()
    };
    if let Some(c) = hex_digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit"));
    }
    if hex_digits.len() != 64 {
        return Err(format!(
            "it has {} hex digits; a SHA-256 fingerprint has 64",
            hex_digits.len()
        ));
    }
    let mut digest = [0u8; 32];
    for (i, octet) in digest.iter_mut().enumerate() {
        *octet = u8::from_str_radix(&hex_digits[2 * i..2 * i + 2], 16)
            .map_err(|e| format!("octet {}: {e}", i + 1))?;
    }
    Ok(digest)
}

/// The schema of the `provider "xenapi"` block (descriptions feed the docs).
pub fn schema() -> schema::Schema {
    use schema::{Attribute, Block, Type};
    let block = Block::new()
        .description(
            "The XenAPI provider manages virtual machines on XCP-ng and Citrix/XenServer \
             pools by talking to XAPI on the pool master directly (JSON-RPC).\n\n\
             The provider connects lazily: a configuration that only uses \
             `xenapi_mac_address` and the provider functions needs no pool and no settings. \
             Every connection setting falls back to an `XENAPI_*` environment variable \
             when it is unset (null or an empty string) in the configuration.\n\n\
             TLS is verified against the system's trusted roots unless one of \
             `ca_certificate`, `tls_fingerprint_sha256` or `insecure` says otherwise; \
             they exclude each other.",
        )
        .attribute(Attribute::optional(attr::URL, Type::String).description(
            "URL of the pool master, e.g. `https://xcp-master.example.com` (`http://` is \
             accepted for test pools and warned about unless the host is a loopback \
             address). A pool member answers with the master's address and the provider \
             follows it. Environment variable: `XENAPI_URL`.",
        ))
        .attribute(
            Attribute::optional(attr::USERNAME, Type::String).description(
                "User name for the XAPI session, e.g. `root`. Environment variable: \
             `XENAPI_USERNAME`.",
            ),
        )
        .attribute(
            Attribute::optional(attr::PASSWORD, Type::String)
                .sensitive()
                .description(
                    "Password for the XAPI session. Never logged. Environment variable: \
                     `XENAPI_PASSWORD`.",
                ),
        )
        .attribute(Attribute::optional(attr::INSECURE, Type::Bool).description(
            "Skip TLS certificate verification entirely. Prefer `tls_fingerprint_sha256` \
             for a pool master with a self-signed certificate. Conflicts with \
             `ca_certificate` and `tls_fingerprint_sha256`. Environment variable: \
             `XENAPI_INSECURE` (`true`/`false`/`1`/`0`).",
        ))
        .attribute(
            Attribute::optional(attr::CA_CERTIFICATE, Type::String).description(
                "CA certificate(s) to verify the pool master's certificate against, \
                 instead of the system's trusted roots: either the PEM text itself \
                 (anything containing `-----BEGIN`) or the path of a PEM file, read when \
                 the provider is configured. Environment variable: \
                 `XENAPI_CA_CERTIFICATE`.",
            ),
        )
        .attribute(
            Attribute::optional(attr::TLS_FINGERPRINT_SHA256, Type::String).description(
                "Accept exactly the server certificate with this SHA-256 fingerprint \
                 (32 hex octets, with or without `:` separators, any case; the output of \
                 `openssl x509 -noout -fingerprint -sha256` is accepted as is), whoever \
                 signed it. The usual \
                 choice for a pool master's self-signed certificate. Environment \
                 variable: `XENAPI_TLS_FINGERPRINT_SHA256`.",
            ),
        )
        .attribute(
            Attribute::optional(attr::MAC_PREFIX, Type::String).description(
                "Where the MACs the provider generates for VM network interfaces come from: \
             `\"local\"` (default; locally administered unicast addresses with 46 random \
             bits, like XAPI's own) or `\"xensource\"` (the XenSource OUI `00:16:3e` \
             followed by 24 random bits; collisions become likely with a few thousand \
             interfaces on one network).",
            ),
        );
    schema::Schema::new(0, block)
}

fn input_string(value: Option<&schema::Value>) -> Input<String> {
    match value {
        None | Some(schema::Value::Null) => Input::Unset,
        Some(v) if v.is_unknown() => Input::Unknown,
        Some(v) => match v.as_str() {
            Some(text) => Input::Set(text.to_owned()),
            None => Input::Unset,
        },
    }
}

fn input_bool(value: Option<&schema::Value>) -> Input<bool> {
    match value {
        None | Some(schema::Value::Null) => Input::Unset,
        Some(v) if v.is_unknown() => Input::Unknown,
        Some(v) => match v.as_bool() {
            Some(b) => Input::Set(b),
            None => Input::Unset,
        },
    }
}

impl RawProviderConfig {
    /// Reads the provider block (an object of [`schema`]'s implied type). A null
    /// block (no `provider "xenapi"` block at all) is all unset.
    pub fn from_value(config: &schema::Value) -> Self {
        RawProviderConfig {
            url: input_string(config.get(attr::URL)),
            username: input_string(config.get(attr::USERNAME)),
            password: input_string(config.get(attr::PASSWORD)),
            insecure: input_bool(config.get(attr::INSECURE)),
            ca_certificate: input_string(config.get(attr::CA_CERTIFICATE)),
            tls_fingerprint_sha256: input_string(config.get(attr::TLS_FINGERPRINT_SHA256)),
            mac_prefix: input_string(config.get(attr::MAC_PREFIX)),
        }
    }
}

/// Appends problems as diagnostics, with the attribute path when there is one.
pub fn push_diagnostics(problems: &[ConfigProblem], diags: &mut schema::Diagnostics) {
    for p in problems {
        let mut d = match p.severity {
            ProblemSeverity::Error => schema::Diagnostic::error(&p.summary, &p.detail),
            ProblemSeverity::Warning => schema::Diagnostic::warning(&p.summary, &p.detail),
        };
        if let Some(name) = p.attribute {
            d = d.with_path(schema::AttributePath::new(name));
        }
        diags.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn set(text: &str) -> Input<String> {
        Input::Set(text.to_owned())
    }

    fn errors(problems: &[ConfigProblem]) -> Vec<(Option<&'static str>, String)> {
        problems
            .iter()
            .filter(|p| p.severity == ProblemSeverity::Error)
            .map(|p| (p.attribute, format!("{}: {}", p.summary, p.detail)))
            .collect()
    }

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test pool CA");
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    const FP_COLONS: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    #[test]
    fn everything_unset_is_valid_and_connection_reports_what_is_missing() {
        let (config, problems) = validate(&RawProviderConfig::default(), &no_env);
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(config.mac_prefix, MacPrefix::Local);
        assert_eq!(config.tls, TlsVerification::SystemRoots);
        let err = config.connection().unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing(vec![attr::URL, attr::USERNAME, attr::PASSWORD])
        );
        let text = err.to_string();
        assert!(text.contains("`url` (or XENAPI_URL)"), "{text}");
        assert!(text.contains("`password` (or XENAPI_PASSWORD)"), "{text}");
    }

    #[test]
    fn config_values_win_over_the_environment() {
        let raw = RawProviderConfig {
            url: set("https://master.example.com"),
            username: set("root"),
            ..Default::default()
        };
        let env = env_of(&[
            (env::URL, "https://other.example.com"),
            (env::USERNAME, "admin"),
            (env::PASSWORD, "s3cret"),
        ]);
        let (config, problems) = validate(&raw, &env);
        assert!(problems.is_empty(), "{problems:?}");
        let conn = config.unwrap().connection().unwrap();
        assert_eq!(conn.url.as_str(), "https://master.example.com/");
        assert_eq!(conn.username, "root");
        assert_eq!(conn.password.expose(), "s3cret");
        assert_eq!(conn.tls, TlsVerification::SystemRoots);
        assert!(!format!("{conn:?}").contains("s3cret"));
    }

    #[test]
    fn empty_strings_count_as_unset() {
        let raw = RawProviderConfig {
            url: set(""),
            ..Default::default()
        };
        let env = env_of(&[(env::URL, "http://127.0.0.1:4000"), (env::USERNAME, "")]);
        let (config, problems) = validate(&raw, &env);
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(config.url.unwrap().as_str(), "http://127.0.0.1:4000/");
        assert_eq!(config.username, None);
    }

    #[test]
    fn bad_urls_are_errors_at_the_url_attribute() {
        for (text, reason) in [
            (
                "master.example.com",
                "did you mean \"https://master.example.com\"",
            ),
            ("ftp://master", "the scheme is \"ftp\""),
            ("https://root:pw@master", "carries credentials"),
            ("https://master/?x=1", "query or fragment"),
            ("https://", "empty host"),
            ("http://[::1", "invalid IPv6"),
        ] {
            let raw = RawProviderConfig {
                url: set(text),
                ..Default::default()
            };
            let (config, problems) = validate(&raw, &no_env);
            assert!(config.is_none(), "{text}");
            let errs = errors(&problems);
            assert_eq!(errs.len(), 1, "{text}: {problems:?}");
            assert_eq!(errs[0].0, Some(attr::URL));
            assert!(errs[0].1.contains(reason), "{text}: {}", errs[0].1);
        }
    }

    #[test]
    fn a_bad_url_from_the_environment_names_the_variable_and_has_no_path() {
        let (config, problems) = validate(
            &RawProviderConfig::default(),
            &env_of(&[(env::URL, "nope://x")]),
        );
        assert!(config.is_none());
        let errs = errors(&problems);
        assert_eq!(errs[0].0, None);
        assert!(
            errs[0].1.contains("the environment variable XENAPI_URL"),
            "{}",
            errs[0].1
        );
    }

    #[test]
    fn plain_http_warns_unless_loopback() {
        let raw = RawProviderConfig {
            url: set("http://10.0.0.5"),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(config.is_some());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].severity, ProblemSeverity::Warning);
        assert_eq!(problems[0].attribute, Some(attr::URL));
        assert!(problems[0].detail.contains("clear text"));

        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:80",
        ] {
            let raw = RawProviderConfig {
                url: set(loopback),
                ..Default::default()
            };
            let (_, problems) = validate(&raw, &no_env);
            assert!(problems.is_empty(), "{loopback}: {problems:?}");
        }

        let raw = RawProviderConfig {
            url: set("http://127.0.0.1"),
            insecure: Input::Set(true),
            ..Default::default()
        };
        let (_, problems) = validate(&raw, &no_env);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].summary, "TLS settings ignored");
    }

    #[test]
    fn fingerprints_in_both_forms() {
        let expected = {
            let mut d = [0u8; 32];
            for (i, o) in d.iter_mut().enumerate() {
                *o = [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89][i % 8];
            }
            d
        };
        for text in [
            FP_COLONS.to_owned(),
            FP_COLONS.replace(':', "").to_lowercase(),
        ] {
            let raw = RawProviderConfig {
                tls_fingerprint_sha256: Input::Set(text.clone()),
                ..Default::default()
            };
            let (config, problems) = validate(&raw, &no_env);
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(config.unwrap().tls, TlsVerification::Fingerprint(expected));
        }
        for (text, reason) in [
            ("abcd", "4 hex digits"),
            (&FP_COLONS[3..], "31 ':'-separated groups"),
            (&FP_COLONS.replace("AB", "XY"), "'X' is not a hex digit"),
        ] {
            let raw = RawProviderConfig {
                tls_fingerprint_sha256: set(text),
                ..Default::default()
            };
            let (config, problems) = validate(&raw, &no_env);
            assert!(config.is_none());
            let errs = errors(&problems);
            assert_eq!(errs[0].0, Some(attr::TLS_FINGERPRINT_SHA256));
            assert!(errs[0].1.contains(reason), "{text}: {}", errs[0].1);
        }
    }

    #[test]
    fn insecure_with_a_fingerprint_or_ca_is_contradictory() {
        let raw = RawProviderConfig {
            insecure: Input::Set(true),
            tls_fingerprint_sha256: set(FP_COLONS),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(config.is_none());
        let errs = errors(&problems);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, Some(attr::INSECURE));
        assert!(errs[0].1.contains("Conflicting TLS settings"));

        let raw = RawProviderConfig {
            insecure: Input::Set(true),
            ca_certificate: Input::Set(ca_pem()),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(config.is_none());
        assert_eq!(errors(&problems)[0].0, Some(attr::INSECURE));

        let raw = RawProviderConfig {
            ca_certificate: Input::Set(ca_pem()),
            tls_fingerprint_sha256: set(FP_COLONS),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(config.is_none());
        assert_eq!(errors(&problems)[0].0, Some(attr::TLS_FINGERPRINT_SHA256));

        // insecure = false with a fingerprint is fine.
        let raw = RawProviderConfig {
            insecure: Input::Set(false),
            tls_fingerprint_sha256: set(FP_COLONS),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(problems.is_empty());
        assert!(matches!(
            config.unwrap().tls,
            TlsVerification::Fingerprint(_)
        ));
    }

    #[test]
    fn insecure_from_the_environment() {
        for (text, expected) in [("true", true), ("1", true), ("FALSE", false), ("0", false)] {
            let (config, problems) = validate(
                &RawProviderConfig::default(),
                &env_of(&[(env::INSECURE, text)]),
            );
            assert!(problems.is_empty());
            let tls = config.unwrap().tls;
            assert_eq!(tls == TlsVerification::Insecure, expected, "{text}");
        }
        let (config, problems) = validate(
            &RawProviderConfig::default(),
            &env_of(&[(env::INSECURE, "yes please")]),
        );
        assert!(config.is_none());
        let errs = errors(&problems);
        assert_eq!(errs[0].0, None);
        assert!(errs[0].1.contains("XENAPI_INSECURE"));
    }

    #[test]
    fn ca_certificate_as_pem_text_or_file() {
        let pem = ca_pem();
        let raw = RawProviderConfig {
            ca_certificate: Input::Set(pem.clone()),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(problems.is_empty(), "{problems:?}");
        let TlsVerification::CustomRoots(certs) = config.unwrap().tls else {
            panic!("expected custom roots");
        };
        assert_eq!(certs.len(), 1);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{pem}{}", ca_pem())).unwrap();
        let env = env_of(&[(env::CA_CERTIFICATE, path.to_str().unwrap())]);
        let (config, problems) = validate(&RawProviderConfig::default(), &env);
        assert!(problems.is_empty(), "{problems:?}");
        let TlsVerification::CustomRoots(certs) = config.unwrap().tls else {
            panic!("expected custom roots");
        };
        assert_eq!(certs.len(), 2);
    }

    #[test]
    fn bad_ca_certificates_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let cases = [
            (missing.to_str().unwrap().to_owned(), "cannot read the file"),
            (
                empty.to_str().unwrap().to_owned(),
                "holds no CERTIFICATE block",
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_owned(),
                "not valid PEM",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
                "not a usable X.509 CA certificate",
            ),
        ];
        for (value, reason) in cases {
            let raw = RawProviderConfig {
                ca_certificate: Input::Set(value.clone()),
                ..Default::default()
            };
            let (config, problems) = validate(&raw, &no_env);
            assert!(config.is_none(), "{value}");
            let errs = errors(&problems);
            assert_eq!(errs[0].0, Some(attr::CA_CERTIFICATE));
            assert!(errs[0].1.contains(reason), "{value}: {}", errs[0].1);
        }
    }

    #[test]
    fn mac_prefix_keywords_only() {
        let raw = RawProviderConfig {
            mac_prefix: set("xensource"),
            ..Default::default()
        };
        let (config, _) = validate(&raw, &no_env);
        assert_eq!(config.unwrap().mac_prefix().unwrap(), MacPrefix::XenSource);
        for bad in ["aa:bb:cc", "Local", "random"] {
            let raw = RawProviderConfig {
                mac_prefix: set(bad),
                ..Default::default()
            };
            let (config, problems) = validate(&raw, &no_env);
            assert!(config.is_none());
            let errs = errors(&problems);
            assert_eq!(errs[0].0, Some(attr::MAC_PREFIX));
            assert!(errs[0].1.contains("\"xensource\""));
        }
    }

    #[test]
    fn unknown_values_are_recorded_not_validated() {
        let raw = RawProviderConfig {
            url: Input::Unknown,
            password: Input::Unknown,
            mac_prefix: Input::Unknown,
            username: set("root"),
            ..Default::default()
        };
        let env = env_of(&[(env::URL, "not even a url")]);
        let (config, problems) = validate(&raw, &env);
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(
            config.connection().unwrap_err(),
            ConfigError::Unknown(vec![attr::URL, attr::PASSWORD])
        );
        assert_eq!(
            config.mac_prefix().unwrap_err(),
            ConfigError::Unknown(vec![attr::MAC_PREFIX])
        );
    }

    #[test]
    fn several_errors_are_reported_together() {
        let raw = RawProviderConfig {
            url: set("gopher://x"),
            tls_fingerprint_sha256: set("zz"),
            mac_prefix: set("nope"),
            ..Default::default()
        };
        let (config, problems) = validate(&raw, &no_env);
        assert!(config.is_none());
        let paths: Vec<_> = errors(&problems).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            vec![
                Some(attr::URL),
                Some(attr::TLS_FINGERPRINT_SHA256),
                Some(attr::MAC_PREFIX)
            ]
        );
    }

    #[test]
    fn schema_is_valid_and_documents_every_attribute() {
        let schema = schema();
        schema.validate().unwrap();
        assert!(!schema.block.description.is_empty());
        for a in &schema.block.attributes {
            assert!(!a.description.is_empty(), "{}", a.name);
            assert_eq!(a.sensitive, a.name == attr::PASSWORD, "{}", a.name);
        }
        assert_eq!(schema.block.attributes.len(), 7);
    }

    #[test]
    fn from_value_maps_null_unknown_and_known() {
        use schema::Value;
        let value = Value::object([
            (attr::URL, Value::from("https://x")),
            (attr::USERNAME, Value::unknown()),
            (attr::PASSWORD, Value::Null),
            (attr::INSECURE, Value::from(true)),
            (attr::CA_CERTIFICATE, Value::Null),
            (attr::TLS_FINGERPRINT_SHA256, Value::Null),
            (attr::MAC_PREFIX, Value::from("xensource")),
        ]);
        let raw = RawProviderConfig::from_value(&value);
        assert_eq!(raw.url, set("https://x"));
        assert_eq!(raw.username, Input::Unknown);
        assert_eq!(raw.password, Input::Unset);
        assert_eq!(raw.insecure, Input::Set(true));
        assert_eq!(raw.mac_prefix, set("xensource"));
        assert_eq!(
            RawProviderConfig::from_value(&Value::Null),
            RawProviderConfig::default()
        );
    }

    #[test]
    fn problems_become_diagnostics_with_paths() {
        let raw = RawProviderConfig {
            url: set("http://10.1.1.1"),
            mac_prefix: set("bad"),
            ..Default::default()
        };
        let (_, problems) = validate(&raw, &no_env);
        let mut diags = schema::Diagnostics::new();
        push_diagnostics(&problems, &mut diags);
        assert!(diags.has_errors());
        let rendered: Vec<(schema::Severity, Option<String>)> = diags
            .iter()
            .map(|d| (d.severity, d.attribute.as_ref().map(|p| p.to_string())))
            .collect();
        assert_eq!(
            rendered,
            vec![
                (schema::Severity::Warning, Some("url".to_owned())),
                (schema::Severity::Error, Some("mac_prefix".to_owned())),
            ]
        );
    }
}
