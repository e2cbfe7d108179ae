//! The shared, lazily connected XAPI pool of a provider process.
//!
//! One [`Pool`] per connection setting per process (normally exactly one),
//! created on first use from the [`ProviderConfig`] that `ConfigureProvider`
//! stored (DESIGN decision 2: configure never connects; a configuration that
//! only uses XAPI-free features never logs in). Every resource and data source
//! gets the same `Arc<Pool>` with [`Pool::from_context`]; it holds
//!
//! - the XAPI client ([`Pool::client`]), logged in on first use; login
//!   problems become clear errors that never contain the password;
//! - the per-process record [`Snapshot`] (DESIGN decision 8): batched
//!   `event.from` loads for classes that many callers need in the same walk,
//!   targeted `get_record` for single objects, invalidation after mutations
//!   ([`Pool::all`], [`Pool::record`], [`Pool::invalidate`]);
//! - a bounded limiter for mutating work ([`Pool::mutation`]), on top of the
//!   client's own per-call limiter;
//! - resolvers for "UUID or unique name_label" ([`Pool::resolve_template`],
//!   [`Pool::resolve_network`], [`Pool::resolve_sr`], [`Pool::resolve_host`],
//!   [`Pool::resolve_vdi`]) whose ambiguity errors list the candidates.
//!
//! Logout: the framework has no provider-shutdown hook, so the plugin's
//! `main` calls [`logout_all`] after the server stops (a session that is not
//! logged out expires on the pool by itself).
//!
//! See `/work/notes/pool-layer.md` for a walkthrough.

mod error;
mod resolve;
mod snapshot;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use schema::Diagnostic;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use xapi::{Client, Ref};

pub use error::{Candidate, PoolError};
pub use resolve::{candidates, is_template, looks_like_uuid};
pub use snapshot::{Cached, ClassKey, Records, Snapshot};

use crate::framework::Context;
use crate::provider_config::{ConnectionSettings, ProviderConfig, TlsVerification};

/// Tuning of a [`Pool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// A batched class is re-synchronised when its last sync started longer
    /// ago than this (and always after [`Pool::invalidate`]).
    pub freshness: Duration,
    /// Targeted reads of one class before the class is batched.
    pub batch_threshold: u64,
    /// Concurrent [`Pool::mutation`] slots.
    pub max_concurrent_mutations: usize,
    /// Concurrent mutating XAPI calls of the client (its own limiter).
    pub max_concurrent_calls: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            freshness: Duration::from_secs(1),
            batch_threshold: 3,
            max_concurrent_mutations: 4,
            max_concurrent_calls: 8,
        }
    }
}

/// The XAPI pool of this process (see the module documentation).
pub struct Pool {
    settings: ConnectionSettings,
    options: PoolOptions,
    client: OnceCell<Client>,
    snapshot: Snapshot,
    mutations: Arc<Semaphore>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.settings.url.as_str())
            .field("username", &self.settings.username)
            .field("connected", &self.client.initialized())
            .field("options", &self.options)
            .finish()
    }
}

/// A slot of the mutation limiter; while held, at most
/// [`PoolOptions::max_concurrent_mutations`] - 1 other slots exist. Dropping
/// it invalidates the snapshot.
#[derive(Debug)]
pub struct MutationGuard {
    pool: Arc<Pool>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for MutationGuard {
    fn drop(&mut self) {
        self.pool.invalidate();
    }
}

type Registry = Mutex<Vec<(ConnectionSettings, Arc<Pool>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

impl Pool {
    /// A pool for these settings. Does not connect.
    pub fn new(settings: ConnectionSettings, options: PoolOptions) -> Arc<Pool> {
        let mutations = Arc::new(Semaphore::new(options.max_concurrent_mutations.max(1)));
        Arc::new(Pool {
            snapshot: Snapshot::new(options.freshness, options.batch_threshold),
            settings,
            options,
            client: OnceCell::new(),
            mutations,
        })
    }

    /// The process-wide pool for these settings (created on first use; the
    /// same `Arc` for every later caller with equal settings).
    pub fn shared(settings: ConnectionSettings) -> Arc<Pool> {
        let mut pools = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, pool)) = pools.iter().find(|(s, _)| *s == settings) {
            return pool.clone();
        }
        let pool = Pool::new(settings.clone(), PoolOptions::default());
        pools.push((settings, pool.clone()));
        pool
    }

    /// The pool for the provider configuration stored by ConfigureProvider.
    /// An error when the provider is not configured or the configuration
    /// lacks the connection settings.
    pub fn from_config(config: &ProviderConfig) -> Result<Arc<Pool>, PoolError> {
        Ok(Pool::shared(config.connection()?))
    }

    /// Like [`Pool::from_config`], for a resource or data source call, with
    /// the error as a diagnostic ready to push.
    pub fn from_context(ctx: &Context) -> Result<Arc<Pool>, Diagnostic> {
        let config = ctx.require_provider_data::<ProviderConfig>()?;
        Pool::from_config(&config).map_err(|e| e.to_diagnostic())
    }

    /// The connection settings.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// The options.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// The record snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The logged-in client (logs in on first use; a failed login is retried
    /// by the next call).
    pub async fn client(&self) -> Result<&Client, PoolError> {
        self.client.get_or_try_init(|| self.connect()).await
    }

    /// The client if a session was opened already (never connects).
    pub fn connected_client(&self) -> Option<&Client> {
        self.client.get()
    }

    async fn connect(&self) -> Result<Client, PoolError> {
        let config = client_config(&self.settings, &self.options)?;
        let client = Client::new(config).map_err(|e| PoolError::Setup {
            url: self.settings.url.to_string(),
            reason: redact(&e.to_string(), self.settings.password.expose()),
        })?;
        if let Err(e) = client.login().await {
            return Err(login_error(&self.settings, &e));
        }
        tracing::debug!(url = %client.endpoint(), username = %self.settings.username, "logged in to the pool");
        Ok(client)
    }

    /// Logs out if a session is open.
    pub async fn logout(&self) {
        if let Some(client) = self.client.get()
            && client.is_logged_in()
        {
            match client.logout().await {
                Ok(()) => tracing::debug!(url = %client.endpoint(), "logged out of the pool"),
                Err(e) => tracing::warn!(error = %e, "logout from the pool failed"),
            }
        }
    }

    /// Marks the snapshot as possibly stale (call after mutating calls; a
    /// [`MutationGuard`] does it when dropped).
    pub fn invalidate(&self) {
        self.snapshot.invalidate();
    }

    /// Waits for a slot of the mutation limiter. Hold the guard around a short
    /// sequence of mutating calls (not around long waits such as a boot).
    pub async fn mutation(self: &Arc<Self>) -> MutationGuard {
        // The semaphore is never closed, so acquiring cannot fail; if that
        // invariant ever broke, the caller proceeds unlimited.
        let permit = self.mutations.clone().acquire_owned().await.ok();
        self.invalidate();
        MutationGuard {
            pool: self.clone(),
            _permit: permit,
        }
    }

    /// Free slots of the mutation limiter.
    pub fn available_mutation_slots(&self) -> usize {
        self.mutations.available_permits()
    }

    /// Every record of class `C` (batched; see [`Snapshot`]).
    pub async fn all<C: Cached>(&self) -> Result<Arc<Records<C>>, PoolError> {
        let client = self.client().await?;
        self.snapshot.all::<C>(client).await
    }

    /// Loads (or brings up to date) several classes with one `event.from`
    /// call, e.g. everything a VM refresh needs:
    /// `pool.prefetch(&[ClassKey::of::<xapi::Vm>(), ClassKey::of::<xapi::Vif>()])`.
    pub async fn prefetch(&self, classes: &[ClassKey]) -> Result<(), PoolError> {
        let client = self.client().await?;
        self.snapshot.prefetch(client, classes).await
    }

    /// The record of one object, `None` when it no longer exists.
    pub async fn record<C: Cached>(&self, r: &Ref<C>) -> Result<Option<C::Record>, PoolError> {
        let client = self.client().await?;
        self.snapshot.get::<C>(client, r).await
    }

    /// The object with this UUID, `None` when there is none.
    pub async fn by_uuid<C: Cached>(
        &self,
        uuid: &str,
    ) -> Result<Option<(Ref<C>, C::Record)>, PoolError> {
        let client = self.client().await?;
        self.snapshot.by_uuid::<C>(client, uuid).await
    }

    /// Every object named exactly `name`.
    pub async fn by_name<C: Cached>(
        &self,
        name: &str,
    ) -> Result<Vec<(Ref<C>, C::Record)>, PoolError> {
        let client = self.client().await?;
        self.snapshot.by_name::<C>(client, name).await
    }
}

/// Logs out every pool of this process (call when the plugin server stops).
pub async fn logout_all() {
    let pools: Vec<Arc<Pool>> = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    for pool in pools {
        pool.logout().await;
    }
}

/// The XAPI client configuration for these settings.
pub fn client_config(
    settings: &ConnectionSettings,
    options: &PoolOptions,
) -> Result<xapi::Config, PoolError> {
    let setup = |e: xapi::Error| PoolError::Setup {
        url: settings.url.to_string(),
        reason: redact(&e.to_string(), settings.password.expose()),
    };
    let tls = match &settings.tls {
        TlsVerification::SystemRoots => xapi::TlsOptions::SystemRoots,
        TlsVerification::CustomRoots(certs) => xapi::TlsOptions::CaBundle {
            pem: certs
                .iter()
                .map(|c| pem_certificate(c.as_ref()))
                .collect::<String>()
                .into_bytes(),
        },
        TlsVerification::Fingerprint(digest) => xapi::TlsOptions::Pinned {
            fingerprints: vec![xapi::Fingerprint(*digest)],
        },
        TlsVerification::Insecure => xapi::TlsOptions::Insecure,
    };
    Ok(xapi::Config::new(
        settings.url.as_str(),
        settings.username.clone(),
        settings.password.expose(),
    )
    .map_err(setup)?
    .with_tls(tls)
    .with_max_concurrent_mutations(options.max_concurrent_calls))
}

fn pem_certificate(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Removes every occurrence of the secret from a message (defence in depth:
/// no XAPI error is known to echo the password).
fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 4 {
        text.to_string()
    } else {
        text.replace(secret, "<redacted>")
    }
}

fn login_error(settings: &ConnectionSettings, e: &xapi::Error) -> PoolError {
    let hint = match e {
        xapi::Error::Api { error, .. }
            if error.code == xapi::ErrorCode::SessionAuthenticationFailed =>
        {
            "the pool rejected the user name or password (check `username` / `password` or \
             XENAPI_USERNAME / XENAPI_PASSWORD)"
                .to_string()
        }
        xapi::Error::Api { error, .. } if error.code == xapi::ErrorCode::RbacPermissionDenied => {
            "the user is not allowed to log in through the API".to_string()
        }
        xapi::Error::Connect { .. } => {
            "the pool is not reachable (check `url`, the network and the port)".to_string()
        }
        xapi::Error::TooManyRedirects { .. } => {
            "the host keeps redirecting to another master (HOST_IS_SLAVE)".to_string()
        }
        other => {
            let text = other.to_string();
            let lower = text.to_ascii_lowercase();
            if lower.contains("certificate") || lower.contains("tls") {
                "the TLS certificate of the pool was not accepted (set `ca_certificate` or \
                 `tls_fingerprint_sha256`, or `insecure = true` for a throw-away lab)"
                    .to_string()
            } else {
                "the pool did not accept the login".to_string()
            }
        }
    };
    let reason = format!("{hint}: {e}");
    PoolError::Login {
        url: settings.url.to_string(),
        username: settings.username.clone(),
        reason: redact(&reason, settings.password.expose()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider_config::Password;

    fn settings(url: &str) -> ConnectionSettings {
        ConnectionSettings {
            url: url::Url::parse(url).unwrap(),
            username: "root".into(),
            password: Password::new("hunter2-secret"),
            tls: TlsVerification::SystemRoots,
        }
    }

    #[test]
    fn shared_pools_are_per_settings() {
        let a = Pool::shared(settings("http://127.0.0.1:1"));
        let b = Pool::shared(settings("http://127.0.0.1:1"));
        let c = Pool::shared(settings("http://127.0.0.1:2"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(a.connected_client().is_none());
    }

    #[test]
    fn debug_output_has_no_password() {
        let p = Pool::new(settings("http://127.0.0.1:3"), PoolOptions::default());
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn unreachable_pool_is_a_login_error_without_the_password() {
        // Port 9 on loopback: nothing listens, connect is refused at once.
        let pool = Pool::new(settings("http://127.0.0.1:9"), PoolOptions::default());
        let err = pool.client().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PoolError::Login { .. }), "{err:?}");
        assert!(text.contains("not reachable"), "{text}");
        assert!(text.contains("http://127.0.0.1:9"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(pool.connected_client().is_none());
    }

    #[tokio::test]
    async fn mutation_slots_are_bounded_and_invalidate() {
        let options = PoolOptions {
            max_concurrent_mutations: 2,
            ..PoolOptions::default()
        };
        let pool = Pool::new(settings("http://127.0.0.1:4"), options);
        let a = pool.mutation().await;
        let _b = pool.mutation().await;
        assert_eq!(pool.available_mutation_slots(), 0);
        let waiting = tokio::time::timeout(Duration::from_millis(50), pool.mutation()).await;
        assert!(waiting.is_err(), "a third slot must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(500), pool.mutation()).await;
        assert!(third.is_ok());
    }

    #[test]
    fn pem_round_trips_through_the_xapi_tls_loader() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = cert.cert.der().to_vec();
        let pem = pem_certificate(&der);
        let fp = xapi::Fingerprint::of_pem(pem.as_bytes()).unwrap();
        assert_eq!(fp, xapi::Fingerprint::of_der(&der));
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("a hunter2x b", "hunter2x"), "a <redacted> b");
        assert_eq!(redact("abc", "ab"), "abc");
    }
}
