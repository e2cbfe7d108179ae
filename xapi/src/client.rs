//! The connection: configuration, session handling, the JSON-RPC call path with retries,
//! master redirects, the mutation limiter, and call counters.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock as StdRwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use url::Url;

use crate::error::{ApiError, Error, ErrorCode, Result};
use crate::jsonrpc;
use crate::refs::{Class, Ref};
use crate::tls::{self, TlsOptions};

/// A secret string (password). Its `Debug` and `Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}
impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Retry policy for idempotent reads and for connection failures.
///
/// Reads (`*.get_*`, `event.from`, ...) are retried on any transport failure and on HTTP
/// 502/503/504. Every other call is retried only when the connection could not be
/// established (the request surely did not reach the server); a create is never resent
/// after its request may have been delivered.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts per call, including the first (1 = no retries).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = base.min(self.max_backoff);
        // Up to 25% jitter so that parallel clients do not retry in lockstep.
        let jitter_ms = (capped.as_millis() as u64 / 4).max(1);
        capped + Duration::from_millis(rand::rng().random_range(0..jitter_ms))
    }
}

/// Client configuration. Build it with [`Config::new`] and the `with_*` setters.
#[derive(Clone)]
pub struct Config {
    url: Url,
    /// User name (`root` on most pools).
    pub username: String,
    /// Password.
    pub password: Secret,
    /// `originator` sent at login (XAPI counts sessions per originator).
    pub originator: String,
    /// TLS trust for `https://` URLs.
    pub tls: TlsOptions,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one synchronous call (long operations should use the `*_async` forms).
    pub request_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Maximum number of mutating calls in flight at once on this client (DESIGN
    /// decision 8). Reads and `event.from` are not limited.
    pub max_concurrent_mutations: usize,
    /// How many `HOST_IS_SLAVE` redirects to follow before giving up.
    pub max_master_redirects: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("originator", &self.originator)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("max_concurrent_mutations", &self.max_concurrent_mutations)
            .finish()
    }
}

impl Config {
    /// A configuration for the pool at `url` (`https://host`, `http://127.0.0.1:40123`, or a
    /// bare `host[:port]`, which means HTTPS; a trailing `/jsonrpc` is accepted and removed).
    pub fn new(
        url: &str,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Result<Self> {
        let url = normalize_base_url(url)?;
        Ok(Config {
            url,
            username: username.into(),
            password: password.into(),
            originator: "terraform-provider-xenapi".to_string(),
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            max_concurrent_mutations: 8,
            max_master_redirects: 3,
        })
    }

    /// The base URL of the pool as configured.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sets the TLS options.
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the login originator.
    pub fn with_originator(mut self, originator: impl Into<String>) -> Self {
        self.originator = originator.into();
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the bound on concurrent mutating calls (at least 1).
    pub fn with_max_concurrent_mutations(mut self, n: usize) -> Self {
        self.max_concurrent_mutations = n.max(1);
        self
    }

    /// Sets the timeout of one synchronous call.
    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Sets the TCP connect timeout.
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
}

fn normalize_base_url(s: &str) -> Result<Url> {
    let t = s.trim();
    // A bare host name or address means HTTPS, as XAPI serves it.
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("https://{t}")
    };
    let mut url =
        Url::parse(&with_scheme).map_err(|e| Error::Config(format!("invalid URL {s:?}: {e}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Error::Config(format!(
                "URL scheme must be http or https, not {other:?}"
            )));
        }
    }
    if url.host_str().is_none() {
        return Err(Error::Config(format!("URL {s:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "credentials must not be embedded in the URL".into(),
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = path.strip_suffix("/jsonrpc").unwrap_or(&path).to_string();
    url.set_path(&format!("{path}/"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Computes the master's base URL from a `HOST_IS_SLAVE` address: keeps the scheme (and
/// the port unless the address carries one), replaces the host.
pub(crate) fn master_url(current: &Url, address: &str) -> Result<Url> {
    let address = address.trim();
    if address.is_empty() {
        return Err(Error::Protocol {
            method: "session.login_with_password".into(),
            detail: "HOST_IS_SLAVE without a master address".into(),
        });
    }
    if address.contains("://") {
        return normalize_base_url(address);
    }
    let mut url = current.clone();
    let bad = |e: String| Error::Protocol {
        method: "session.login_with_password".into(),
        detail: format!("unusable master address {address:?}: {e}"),
    };
    if let Ok(ip) = address.trim_matches(['[', ']']).parse::<IpAddr>() {
        url.set_ip_host(ip)
            .map_err(|_| bad("cannot set host".into()))?;
        return Ok(url);
    }
    // host:port or [v6]:port
    if let Some((host, port)) = address.rsplit_once(':')
        && let Ok(port) = port.parse::<u16>()
    {
        let host = host.trim_matches(['[', ']']);
        match host.parse::<IpAddr>() {
            Ok(ip) => url
                .set_ip_host(ip)
                .map_err(|_| bad("cannot set host".into()))?,
            Err(_) => url.set_host(Some(host)).map_err(|e| bad(e.to_string()))?,
        }
        url.set_port(Some(port))
            .map_err(|_| bad("cannot set port".into()))?;
        return Ok(url);
    }
    url.set_host(Some(address))
        .map_err(|e| bad(e.to_string()))?;
    Ok(url)
}

/// A session reference. Its `Debug` output is redacted.
#[derive(Clone)]
pub(crate) struct SessionId(pub(crate) String);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    /// Incremented at every login; lets concurrent callers avoid logging in twice.
    pub(crate) generation: u64,
}

/// Classification of a method for retries and the mutation limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Idempotent read: retried on any transport failure.
    Read,
    /// Session management: not limited, retried on connect failures only.
    Session,
    /// Anything else: limited, retried on connect failures only.
    Mutation,
}

pub(crate) fn classify(method: &str) -> CallKind {
    if method.starts_with("Async.") {
        return CallKind::Mutation;
    }
    if method.starts_with("session.") {
        return CallKind::Session;
    }
    let call = method.rsplit('.').next().unwrap_or(method);
    if call.starts_with("get_")
        || matches!(
            method,
            "event.from"
                | "host.compute_free_memory"
                | "system.listMethods"
                | "VM.get_allowed_VIF_devices"
                | "VM.get_allowed_VBD_devices"
        )
    {
        CallKind::Read
    } else {
        CallKind::Mutation
    }
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    endpoint: StdRwLock<Url>,
    session: StdRwLock<Option<Session>>,
    login_lock: Mutex<()>,
    generation: AtomicU64,
    next_id: AtomicU64,
    counters: StdMutex<BTreeMap<String, u64>>,
    mutations: Arc<Semaphore>,
}

/// A connection to one XAPI pool.
///
/// Cheap to clone (shared state); one `Client` per pool per process is the intended use.
/// It logs in lazily on the first call, follows `HOST_IS_SLAVE` to the master, logs in
/// again transparently when the session expires (`SESSION_INVALID`), and logs out on
/// [`Client::logout`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint().as_str())
            .field("username", &self.inner.config.username)
            .field("logged_in", &self.is_logged_in())
            .finish()
    }
}

/// Per-call options used internally.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallOpts {
    pub(crate) timeout: Option<Duration>,
    /// Take a mutation permit for mutating calls (false when the caller holds one).
    pub(crate) limit: bool,
}

impl Default for CallOpts {
    fn default() -> Self {
        CallOpts {
            timeout: None,
            limit: true,
        }
    }
}

impl Client {
    /// Creates a client. Does not connect: the first call logs in.
    pub fn new(config: Config) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("xapi-rs/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        // Always hand reqwest a complete rustls configuration (with the aws-lc-rs
        // provider), also for http:// URLs: a redirect may lead to https.
        let tls_config = tls::client_config(&config.tls)?;
        builder = builder.tls_backend_preconfigured(tls_config);
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let endpoint = StdRwLock::new(config.url.clone());
        let mutations = Arc::new(Semaphore::new(config.max_concurrent_mutations.max(1)));
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                endpoint,
                session: StdRwLock::new(None),
                login_lock: Mutex::new(()),
                generation: AtomicU64::new(0),
                next_id: AtomicU64::new(1),
                counters: StdMutex::new(BTreeMap::new()),
                mutations,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The base URL currently used (the master after any `HOST_IS_SLAVE` redirect).
    pub fn endpoint(&self) -> Url {
        match self.inner.endpoint.read() {
            Ok(u) => u.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_endpoint(&self, url: Url) {
        match self.inner.endpoint.write() {
            Ok(mut u) => *u = url,
            Err(p) => *p.into_inner() = url,
        }
    }

    fn current_session(&self) -> Option<Session> {
        match self.inner.session.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_session(&self, s: Option<Session>) {
        match self.inner.session.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// True when a session is held.
    pub fn is_logged_in(&self) -> bool {
        self.current_session().is_some()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Number of wire requests per method since creation (or the last reset), including
    /// retries and logins. Meant for benchmarks and call-count assertions.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        match self.inner.counters.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Total number of wire requests (see [`Client::call_counts`]).
    pub fn total_calls(&self) -> u64 {
        self.call_counts().values().sum()
    }

    /// Resets the call counters.
    pub fn reset_call_counts(&self) {
        match self.inner.counters.lock() {
            Ok(mut c) => c.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }

    pub(crate) fn count(&self, method: &str) {
        let mut c = match self.inner.counters.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        *c.entry(method.to_string()).or_insert(0) += 1;
    }

    /// Takes a permit of the mutation limiter and holds it until dropped. Every mutating
    /// call takes its own permit, so a held permit only reserves capacity (it lowers the
    /// number of mutations that can run at once; with a limit of 1 it pauses them all):
    /// do not make mutating calls while holding the last permit.
    pub async fn mutation_permit(&self) -> Result<OwnedSemaphorePermit> {
        // The semaphore is never closed, so this only fails if that invariant breaks.
        self.inner
            .mutations
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Config("mutation limiter closed".into()))
    }

    /// Number of mutation permits currently free.
    pub fn available_mutation_permits(&self) -> usize {
        self.inner.mutations.available_permits()
    }

    /// Logs in now (otherwise the first call does). Follows `HOST_IS_SLAVE`.
    pub async fn login(&self) -> Result<()> {
        self.ensure_session().await.map(|_| ())
    }

    /// Logs out and forgets the session. A later call logs in again.
    pub async fn logout(&self) -> Result<()> {
        let _guard = self.inner.login_lock.lock().await;
        let Some(session) = self.current_session() else {
            return Ok(());
        };
        self.set_session(None);
        match self
            .post(
                "session.logout",
                vec![json!(session.id.0)],
                CallKind::Session,
                None,
            )
            .await?
        {
            Ok(_) => Ok(()),
            // Already gone: that is what we wanted.
            Err(e) if e.code == ErrorCode::SessionInvalid => Ok(()),
            Err(error) => Err(Error::Api {
                method: "session.logout".into(),
                error,
            }),
        }
    }

    pub(crate) async fn ensure_session(&self) -> Result<Session> {
        if let Some(s) = self.current_session() {
            return Ok(s);
        }
        self.relogin(None).await
    }

    /// Logs in unless another caller already replaced the session `stale`.
    async fn relogin(&self, stale: Option<u64>) -> Result<Session> {
        let _guard = self.inner.login_lock.lock().await;
        if let Some(s) = self.current_session()
            && Some(s.generation) != stale
        {
            return Ok(s);
        }
        self.set_session(None);
        let cfg = &self.inner.config;
        let mut redirects = 0;
        loop {
            let params = vec![
                json!(cfg.username),
                json!(cfg.password.expose()),
                json!("1.1"),
                json!(cfg.originator),
            ];
            match self
                .post(
                    "session.login_with_password",
                    params,
                    CallKind::Session,
                    None,
                )
                .await?
            {
                Ok(v) => {
                    let id = v.as_str().ok_or_else(|| Error::Protocol {
                        method: "session.login_with_password".into(),
                        detail: "session reference is not a string".into(),
                    })?;
                    let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    let s = Session {
                        id: SessionId(id.to_string()),
                        generation,
                    };
                    self.set_session(Some(s.clone()));
                    tracing::debug!(endpoint = %self.endpoint(), "logged in");
                    return Ok(s);
                }
                Err(e) if e.code == ErrorCode::HostIsSlave => {
                    let address = e.param(0).unwrap_or_default().to_string();
                    if redirects >= cfg.max_master_redirects {
                        return Err(Error::TooManyRedirects { last: address });
                    }
                    redirects += 1;
                    let url = master_url(&self.endpoint(), &address)?;
                    tracing::info!(master = %url, "host is a pool member; following HOST_IS_SLAVE to the master");
                    self.set_endpoint(url);
                }
                Err(error) => {
                    return Err(Error::Api {
                        method: "session.login_with_password".into(),
                        error,
                    });
                }
            }
        }
    }

    /// Calls a session-bound method: `params` are the arguments after the session.
    ///
    /// Handles login, `SESSION_INVALID` (one transparent re-login), `HOST_IS_SLAVE`
    /// (re-point to the master), retries per [`RetryPolicy`], and the mutation limiter.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.call_with(method, params, CallOpts::default()).await
    }

    /// Like [`Client::call`] but without taking a mutation permit (the caller holds one).
    pub(crate) async fn call_unlimited(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.call_with(
            method,
            params,
            CallOpts {
                timeout: None,
                limit: false,
            },
        )
        .await
    }

    pub(crate) async fn call_with(
        &self,
        method: &str,
        params: Vec<Value>,
        opts: CallOpts,
    ) -> Result<Value> {
        let kind = classify(method);
        let _permit = if kind == CallKind::Mutation && opts.limit {
            Some(self.mutation_permit().await?)
        } else {
            None
        };
        let mut relogged = false;
        let mut redirects = 0;
        loop {
            let session = self.ensure_session().await?;
            let mut full = Vec::with_capacity(params.len() + 1);
            full.push(json!(session.id.0));
            full.extend(params.iter().cloned());
            match self.post(method, full, kind, opts.timeout).await? {
                Ok(v) => return Ok(v),
                Err(e) if e.code == ErrorCode::SessionInvalid && !relogged => {
                    // SESSION_INVALID is raised before the call runs: resending is safe.
                    tracing::info!(method, "session no longer valid; logging in again");
                    relogged = true;
                    self.relogin(Some(session.generation)).await?;
                }
                Err(e)
                    if e.code == ErrorCode::HostIsSlave
                        && redirects < self.inner.config.max_master_redirects =>
                {
                    // Raised at the session check, before the call runs.
                    redirects += 1;
                    let address = e.param(0).unwrap_or_default().to_string();
                    let url = master_url(&self.endpoint(), &address)?;
                    tracing::info!(method, master = %url, "pool master moved; following HOST_IS_SLAVE");
                    self.set_endpoint(url);
                    self.relogin(Some(session.generation)).await?;
                }
                Err(error) => {
                    return Err(Error::Api {
                        method: method.to_string(),
                        error,
                    });
                }
            }
        }
    }

    /// Calls a method and decodes its result.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<T> {
        let v = self.call(method, params).await?;
        serde_json::from_value(v).map_err(|source| Error::Decode {
            method: method.to_string(),
            source,
        })
    }

    /// Calls a method whose result is void.
    pub async fn call_void(&self, method: &str, params: Vec<Value>) -> Result<()> {
        self.call(method, params).await.map(|_| ())
    }

    /// Sends one JSON-RPC request (with transport retries). Returns the XAPI-level outcome.
    pub(crate) async fn post(
        &self,
        method: &str,
        params: Vec<Value>,
        kind: CallKind,
        timeout: Option<Duration>,
    ) -> Result<std::result::Result<Value, ApiError>> {
        let span = tracing::debug_span!("xapi_call", method);
        self.post_inner(method, params, kind, timeout)
            .instrument(span)
            .await
    }

    async fn post_inner(
        &self,
        method: &str,
        params: Vec<Value>,
        kind: CallKind,
        timeout: Option<Duration>,
    ) -> Result<std::result::Result<Value, ApiError>> {
        let retry = &self.inner.config.retry;
        let timeout = timeout.unwrap_or(self.inner.config.request_timeout);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let body = jsonrpc::encode_request(id, method, &params);
            let endpoint = self.endpoint();
            let url = endpoint
                .join("jsonrpc")
                .map_err(|e| Error::Config(e.to_string()))?;
            self.count(method);
            let started = Instant::now();
            let may_retry = attempt < retry.max_attempts.max(1);
            let sent = self
                .inner
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(timeout)
                .body(body)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    let e = e.without_url();
                    let connect = e.is_connect();
                    // A refused certificate will be refused again: fail at once.
                    let tls_refused = is_tls_error(&e);
                    if may_retry && !tls_refused && (connect || kind == CallKind::Read) {
                        let d = retry.delay(attempt);
                        tracing::debug!(
                            attempt,
                            delay_ms = d.as_millis() as u64,
                            connect,
                            "transport failure; retrying"
                        );
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(if connect {
                        Error::Connect {
                            method: method.to_string(),
                            host: host_port(&endpoint),
                            source: e,
                        }
                    } else {
                        Error::OutcomeUnknown {
                            method: method.to_string(),
                            source: e,
                        }
                    });
                }
            };
            let status = response.status();
            let bytes = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    let e = e.without_url();
                    if may_retry && kind == CallKind::Read {
                        tokio::time::sleep(retry.delay(attempt)).await;
                        continue;
                    }
                    return Err(Error::OutcomeUnknown {
                        method: method.to_string(),
                        source: e,
                    });
                }
            };
            tracing::debug!(
                attempt,
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "response"
            );
            if !status.is_success() {
                if may_retry && kind == CallKind::Read && matches!(status.as_u16(), 502..=504) {
                    tokio::time::sleep(retry.delay(attempt)).await;
                    continue;
                }
                return Err(Error::Http {
                    method: method.to_string(),
                    status: status.as_u16(),
                    detail: excerpt(&bytes),
                });
            }
            return jsonrpc::decode_response(id, &bytes).map_err(|detail| Error::Protocol {
                method: method.to_string(),
                detail,
            });
        }
    }

    /// The session reference for an HTTP action (`import_raw_vdi`). Crate-internal.
    pub(crate) async fn session_for_http(&self) -> Result<Session> {
        self.ensure_session().await
    }

    /// Invalidates the session `stale` and logs in again. Crate-internal.
    pub(crate) async fn relogin_after(&self, stale: u64) -> Result<Session> {
        self.relogin(Some(stale)).await
    }

    // ----- generic reads -----

    /// `<class>.get_all_records`: every object of the class with its record.
    pub async fn get_all_records<C: Class>(&self) -> Result<BTreeMap<Ref<C>, C::Record>> {
        let method = format!("{}.get_all_records", C::NAME);
        let m: BTreeMap<String, C::Record> = self.call_as(&method, vec![]).await?;
        Ok(m.into_iter().map(|(k, v)| (Ref::new(k), v)).collect())
    }

    /// `<class>.get_all`: every reference of the class.
    pub async fn get_all<C: Class>(&self) -> Result<Vec<Ref<C>>> {
        self.call_as(&format!("{}.get_all", C::NAME), vec![]).await
    }

    /// `<class>.get_record`. A missing object gives `HANDLE_INVALID`
    /// (see [`Error::is_not_found`]).
    pub async fn get_record<C: Class>(&self, r: &Ref<C>) -> Result<C::Record> {
        self.call_as(&format!("{}.get_record", C::NAME), vec![json!(r)])
            .await
    }

    /// `<class>.get_by_uuid`. A missing object gives `UUID_INVALID`.
    pub async fn get_by_uuid<C: Class>(&self, uuid: &str) -> Result<Ref<C>> {
        self.call_as(&format!("{}.get_by_uuid", C::NAME), vec![json!(uuid)])
            .await
    }

    /// `<class>.get_by_name_label`: every object with this name (names are not unique).
    pub async fn get_by_name_label<C: Class>(&self, label: &str) -> Result<Vec<Ref<C>>> {
        self.call_as(
            &format!("{}.get_by_name_label", C::NAME),
            vec![json!(label)],
        )
        .await
    }

    /// `<class>.get_uuid`.
    pub async fn get_uuid<C: Class>(&self, r: &Ref<C>) -> Result<String> {
        self.call_as(&format!("{}.get_uuid", C::NAME), vec![json!(r)])
            .await
    }

    /// `<class>.set_<field>(self, value)`: the generated setter of any RW field.
    pub async fn set_field<C: Class>(&self, r: &Ref<C>, field: &str, value: Value) -> Result<()> {
        self.call_void(&format!("{}.set_{field}", C::NAME), vec![json!(r), value])
            .await
    }

    /// `<class>.add_to_<field>(self, key, value)` (`MAP_DUPLICATE_KEY` if the key exists).
    pub async fn add_to_map<C: Class>(
        &self,
        r: &Ref<C>,
        field: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.call_void(
            &format!("{}.add_to_{field}", C::NAME),
            vec![json!(r), json!(key), json!(value)],
        )
        .await
    }

    /// `<class>.remove_from_<field>(self, key)` (no-op if absent).
    pub async fn remove_from_map<C: Class>(
        &self,
        r: &Ref<C>,
        field: &str,
        key: &str,
    ) -> Result<()> {
        self.call_void(
            &format!("{}.remove_from_{field}", C::NAME),
            vec![json!(r), json!(key)],
        )
        .await
    }

    /// `system.listMethods` (no session): every method the server offers.
    pub async fn list_methods(&self) -> Result<Vec<String>> {
        match self
            .post("system.listMethods", vec![], CallKind::Read, None)
            .await?
        {
            Ok(v) => serde_json::from_value(v).map_err(|source| Error::Decode {
                method: "system.listMethods".into(),
                source,
            }),
            Err(error) => Err(Error::Api {
                method: "system.listMethods".into(),
                error,
            }),
        }
    }
}

/// True if the error chain contains a TLS (rustls) failure, e.g. a refused certificate.
pub(crate) fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // io::Error hides its payload from `source()`: descend into it instead.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify("VM.get_all_records"), CallKind::Read);
        assert_eq!(classify("VM.get_record"), CallKind::Read);
        assert_eq!(classify("event.from"), CallKind::Read);
        assert_eq!(classify("VIF.create"), CallKind::Mutation);
        assert_eq!(classify("VM.clone"), CallKind::Mutation);
        assert_eq!(classify("Async.VM.get_record"), CallKind::Mutation);
        assert_eq!(classify("session.login_with_password"), CallKind::Session);
        assert_eq!(classify("task.destroy"), CallKind::Mutation);
    }

    #[test]
    fn base_url_normalization() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:4000")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:4000/"
        );
        assert_eq!(
            normalize_base_url("https://pool.example/jsonrpc")
                .unwrap()
                .as_str(),
            "https://pool.example/"
        );
        assert_eq!(
            normalize_base_url("10.0.0.1").unwrap().as_str(),
            "https://10.0.0.1/"
        );
        assert_eq!(
            normalize_base_url(" pool.example:8443 ").unwrap().as_str(),
            "https://pool.example:8443/"
        );
        assert!(normalize_base_url("ftp://x").is_err());
        assert!(normalize_base_url("not a url").is_err());
        assert!(normalize_base_url("").is_err());
        assert!(normalize_base_url("https://root:pw@host").is_err());
    }

    #[test]
    fn master_urls() {
        let cur = Url::parse("https://10.0.0.2/").unwrap();
        assert_eq!(
            master_url(&cur, "10.0.0.1").unwrap().as_str(),
            "https://10.0.0.1/"
        );
        let cur = Url::parse("http://127.0.0.1:4001/").unwrap();
        assert_eq!(
            master_url(&cur, "127.0.0.1:4000").unwrap().as_str(),
            "http://127.0.0.1:4000/"
        );
        assert_eq!(
            master_url(&cur, "master.lab").unwrap().as_str(),
            "http://master.lab:4001/"
        );
        assert_eq!(
            master_url(&cur, "fd00::1").unwrap().as_str(),
            "http://[fd00::1]:4001/"
        );
        assert_eq!(
            master_url(&cur, "[fd00::1]:99").unwrap().as_str(),
            "http://[fd00::1]:99/"
        );
        assert_eq!(
            master_url(&cur, "https://m:8443").unwrap().as_str(),
            "https://m:8443/"
        );
        assert!(master_url(&cur, "").is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let cfg = Config::new("http://127.0.0.1:1", "root", "hunter2").unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert_eq!(format!("{}", cfg.password), "***");
        let s = SessionId("OpaqueRef:very-secret".into());
        assert!(!format!("{s:?}").contains("very-secret"));
        let c = Client::new(cfg).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        assert!(
            p.delay(1) >= Duration::from_millis(100) && p.delay(1) < Duration::from_millis(126)
        );
        assert!(p.delay(2) >= Duration::from_millis(200));
        assert!(p.delay(5) <= Duration::from_millis(375));
    }
}
