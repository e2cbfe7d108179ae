//! The provider as Terraform sees it: its configuration block and the list of
//! resources, data sources and functions it serves. Adding a resource means
//! adding it here (and an example under `examples/`; the docs follow).

use std::sync::Arc;

use async_trait::async_trait;
use schema::{Diagnostics, Schema, Value};

use crate::framework::{
    ConfigureRequest, Context, DataSource, Function, Provider, ProviderData, Resource,
};
use crate::functions::mac_address::MacAddressFunction;
use crate::provider_config::{self, RawProviderConfig};
use crate::resources::mac_address::MacAddressResource;

/// The provider's type name: resource types start with `xenapi_`, functions are
/// called as `provider::xenapi::<name>`.
pub const PROVIDER_TYPE_NAME: &str = "xenapi";

/// The XenAPI provider. [`Provider::configure`] stores a validated
/// [`provider_config::ProviderConfig`] as provider data; it never connects.
#[derive(Debug, Default, Clone, Copy)]
pub struct XenapiProvider;

impl XenapiProvider {
    /// The provider, ready to be served.
    pub fn new() -> Self {
        XenapiProvider
    }
}

#[async_trait]
impl Provider for XenapiProvider {
    fn type_name(&self) -> &'static str {
        PROVIDER_TYPE_NAME
    }

    fn schema(&self) -> Schema {
        provider_config::schema()
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        // Only what the configuration itself says, and only errors: the
        // environment and warnings are looked at once, in `configure`.
        let raw = RawProviderConfig::from_value(config);
        let (_, problems) = provider_config::validate(&raw, &|_| None);
        let errors: Vec<_> = problems
            .into_iter()
            .filter(|p| p.severity == provider_config::ProblemSeverity::Error)
            .collect();
        provider_config::push_diagnostics(&errors, diags);
    }

    async fn configure(
        &self,
        _ctx: &Context,
        req: &ConfigureRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<ProviderData> {
        let raw = RawProviderConfig::from_value(req.config);
        let (config, problems) = provider_config::validate(&raw, &provider_config::process_env);
        provider_config::push_diagnostics(&problems, diags);
        let config = config?;
        tracing::debug!(
            url = config.url.as_ref().map(|u| u.as_str()),
            username = config.username.as_deref(),
            password_set = config.password.is_some(),
            mac_prefix = %config.mac_prefix,
            unknown = ?config.unknown,
            "provider configured (no connection made)"
        );
        Some(Arc::new(config))
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(MacAddressResource)]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(MacAddressFunction)]
    }
}
