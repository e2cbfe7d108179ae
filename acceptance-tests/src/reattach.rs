//! Serving a provider **in this test process** and attaching Terraform to it
//! through `TF_REATTACH_PROVIDERS` (terraform-plugin-testing's
//! `ProtoV6ProviderFactories`): no handshake, no TLS, no process per command;
//! one server lives for the whole CLI run and Terraform never stops it
//! (`"Test": true`).

use std::any::Any;
use std::sync::Arc;

use terraform_provider_xenapi::framework::Provider;
use terraform_provider_xenapi::server::{RunningServer, ServeOptions, start};

use crate::HarnessError;
use crate::case::ProviderSetup;
use crate::provider::{PROVIDER_ADDRESS, PROVIDER_ADDRESS_OPENTOFU};
use crate::workdir::ProviderMode;

/// A provider served in-process; stops the server when dropped.
pub struct InProcessProvider {
    server: Option<RunningServer>,
    runtime: tokio::runtime::Runtime,
}

impl InProcessProvider {
    /// Starts `provider` on a fresh unix socket (plaintext, as reattach requires).
    pub fn start(provider: Arc<dyn Provider>) -> Result<InProcessProvider, HarnessError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| HarnessError::Provider(format!("tokio runtime: {e}")))?;
        let server = runtime
            .block_on(start(provider, ServeOptions::default()))
            .map_err(|e| HarnessError::Provider(format!("in-process server: {e}")))?;
        Ok(InProcessProvider {
            server: Some(server),
            runtime,
        })
    }

    /// The `TF_REATTACH_PROVIDERS` value for this server, under both the
    /// Terraform and the OpenTofu address of `xenapi/xenapi`.
    pub fn reattach_json(&self) -> String {
        let Some(server) = self.server.as_ref() else {
            return String::new();
        };
        let mut merged = serde_json::Map::new();
        for address in [PROVIDER_ADDRESS, PROVIDER_ADDRESS_OPENTOFU] {
            if let Ok(serde_json::Value::Object(entry)) =
                serde_json::from_str::<serde_json::Value>(&server.reattach_json(address))
            {
                merged.extend(entry);
            }
        }
        serde_json::Value::Object(merged).to_string()
    }

    /// True while the server task has not stopped (Terraform must never stop
    /// a `Test: true` provider).
    pub fn socket_exists(&self) -> bool {
        self.server
            .as_ref()
            .is_some_and(|s| s.socket_path().exists())
    }
}

impl Drop for InProcessProvider {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Nothing useful to do with a failed stop at drop time.
            let _ = self.runtime.block_on(server.shutdown());
        }
    }
}

/// A [`ProviderSetup`] for [`crate::TestCase::reattach`]: each CLI run gets its
/// own in-process server built by `factory`.
pub fn in_process(
    factory: impl Fn() -> Arc<dyn Provider> + Send + Sync + 'static,
) -> ProviderSetup {
    Arc::new(move |_cli| {
        let served = InProcessProvider::start(factory())?;
        let mode = ProviderMode::Reattach(served.reattach_json());
        let guard: Box<dyn Any> = Box::new(served);
        Ok((mode, guard))
    })
}
