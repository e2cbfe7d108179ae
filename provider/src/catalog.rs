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
use crate::resources::vm::VmResource;

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
        vec![Arc::new(MacAddressResource), Arc::new(VmResource)]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        crate::data_sources::all()
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(MacAddressFunction)]
    }
}

#[cfg(test)]
mod tests {
    use schema::{Type, msgpack};

    use super::*;
    use crate::framework::{ClientCapabilities, Engine, RawValue};
    use crate::provider_config::{ProviderConfig, attr};

    fn engine() -> Engine {
        Engine::new(Arc::new(XenapiProvider::new()))
    }

    fn provider_config(pairs: &[(&str, Value)]) -> RawValue {
        let schema = provider_config::schema();
        let value = Value::object(schema.block.attributes.iter().map(|a| {
            let v = pairs
                .iter()
                .find(|(k, _)| *k == a.name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            (a.name.clone(), v)
        }));
        RawValue::msgpack(msgpack::encode(&value, &schema.block.implied_type()).unwrap())
    }

    fn string_arg(text: &str) -> RawValue {
        RawValue::msgpack(msgpack::encode(&Value::from(text), &Type::String).unwrap())
    }

    #[test]
    fn schemas_pass_the_engines_checks() {
        let e = engine();
        let metadata = e.metadata();
        assert!(
            metadata.diagnostics.is_empty(),
            "{:?}",
            metadata.diagnostics
        );
        assert_eq!(metadata.resources, vec!["xenapi_mac_address", "xenapi_vm"]);
        assert_eq!(metadata.functions, vec!["mac_address"]);
    }

    #[tokio::test]
    async fn configure_with_nothing_set_succeeds_without_a_pool() {
        let e = engine();
        // Pulumi's bridge sends a null provider block when nothing is configured.
        for config in [RawValue::default(), provider_config(&[])] {
            let diags = e
                .configure_provider(
                    "1.0.0+pulumi-terraform-bridge",
                    &config,
                    ClientCapabilities::default(),
                )
                .await;
            assert!(!diags.has_errors(), "{diags:?}");
        }
    }

    #[tokio::test]
    async fn configure_stores_a_config_that_records_unknown_values() {
        let ctx =
            crate::framework::Context::new(Default::default(), None, ClientCapabilities::default());
        let config = Value::object([
            (attr::URL, Value::unknown()),
            (attr::USERNAME, Value::from("root")),
            (attr::PASSWORD, Value::unknown()),
            (attr::INSECURE, Value::Null),
            (attr::CA_CERTIFICATE, Value::Null),
            (attr::TLS_FINGERPRINT_SHA256, Value::Null),
            (attr::MAC_PREFIX, Value::from("xensource")),
        ]);
        let req = ConfigureRequest {
            config: &config,
            terraform_version: "1.15.5",
        };
        let mut diags = Diagnostics::new();
        let data = XenapiProvider::new()
            .configure(&ctx, &req, &mut diags)
            .await
            .expect("configured");
        assert!(!diags.has_errors(), "{diags:?}");
        let stored = data.downcast::<ProviderConfig>().expect("a ProviderConfig");
        assert_eq!(stored.username.as_deref(), Some("root"));
        assert_eq!(
            stored.mac_prefix().unwrap(),
            crate::mac::MacPrefix::XenSource
        );
        assert_eq!(
            stored.connection().unwrap_err(),
            provider_config::ConfigError::Unknown(vec![attr::URL, attr::PASSWORD])
        );
    }

    #[tokio::test]
    async fn invalid_provider_settings_are_errors_with_paths() {
        let e = engine();
        let config = provider_config(&[
            (attr::URL, Value::from("ftp://pool")),
            (attr::INSECURE, Value::from(true)),
            (attr::TLS_FINGERPRINT_SHA256, Value::from("ab".repeat(32))),
            (attr::MAC_PREFIX, Value::from("aa:bb:cc")),
        ]);
        let diags = e.validate_provider_config(&config);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(paths, vec!["url", "insecure", "mac_prefix"]);
        let diags = e
            .configure_provider("1.15.5", &config, ClientCapabilities::default())
            .await;
        assert!(diags.has_errors());
    }

    #[test]
    fn mac_address_function_through_the_engine() {
        let e = engine();
        let out = e
            .call_function("mac_address", &[string_arg("web-01/eth0")])
            .unwrap();
        assert_eq!(
            msgpack::decode(&out.msgpack, &Type::String).unwrap(),
            Value::from("16:d3:5f:73:10:51")
        );
        let out = e
            .call_function(
                "mac_address",
                &[string_arg("web-01/eth1"), string_arg("xensource")],
            )
            .unwrap();
        assert_eq!(
            msgpack::decode(&out.msgpack, &Type::String).unwrap(),
            Value::from("00:16:3e:a0:c7:9f")
        );
        let err = e
            .call_function("mac_address", &[string_arg("s"), string_arg("01:00:00")])
            .unwrap_err();
        assert_eq!(err.argument, Some(1));
        let err = e
            .call_function(
                "mac_address",
                &[string_arg("s"), string_arg("local"), string_arg("local")],
            )
            .unwrap_err();
        assert_eq!(err.argument, Some(2));
        // A seed of the wrong type is a function error on argument 0.
        let list = RawValue::msgpack(
            msgpack::encode(
                &Value::List(vec![Value::from("a")]),
                &Type::list(Type::String),
            )
            .unwrap(),
        );
        let err = e.call_function("mac_address", &[list]).unwrap_err();
        assert_eq!(err.argument, Some(0));
    }
}
