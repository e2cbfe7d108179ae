//! The engine: protocol operations in native types, dispatched to the
//! provider's resources, data sources and functions.
//!
//! `server::wire` converts protobuf messages to and from the types here; the
//! engine decodes and encodes values with the `schema` crate and applies the
//! framework's rules (see the module docs of [`super`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use schema::{Block, Diagnostic, Diagnostics, Schema, Type, Value};
use tokio_util::sync::CancellationToken;

use super::plan;
use super::{
    ClientCapabilities, ConfigureRequest, Context, CreateRequest, DataSource, DeleteRequest,
    Function, FunctionDefinition, FunctionError, PlanModifier, PlanRequest, PlannedChange,
    Provider, ProviderData, ReadRequest, Resource, UpdateRequest, UpgradeRequest,
};

/// A value as it travels in the protocol (`DynamicValue`). Both fields empty
/// means null.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawValue {
    /// MessagePack encoding (what Terraform sends and what we answer).
    pub msgpack: Vec<u8>,
    /// JSON encoding (accepted on input).
    pub json: Vec<u8>,
}

impl RawValue {
    /// A msgpack-encoded value.
    pub fn msgpack(bytes: Vec<u8>) -> Self {
        RawValue {
            msgpack: bytes,
            json: Vec::new(),
        }
    }
}

/// Stored state to upgrade (`RawState`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawState {
    /// JSON state (current format).
    pub json: Vec<u8>,
    /// Legacy flatmap state (never written by this provider).
    pub flatmap: BTreeMap<String, String>,
}

/// Protocol features this provider supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCapabilities {
    /// Terraform calls PlanResourceChange for destroys.
    pub plan_destroy: bool,
    /// Terraform may skip GetProviderSchema and use a cached schema.
    pub get_provider_schema_optional: bool,
    /// MoveResourceState is supported.
    pub move_resource_state: bool,
    /// GenerateResourceConfig is supported.
    pub generate_resource_config: bool,
}

/// What GetMetadata answers.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Capabilities.
    pub server_capabilities: ServerCapabilities,
    /// Managed resource type names.
    pub resources: Vec<String>,
    /// Data source type names.
    pub data_sources: Vec<String>,
    /// Function names.
    pub functions: Vec<String>,
    /// Problems with the provider's own schemas.
    pub diagnostics: Diagnostics,
}

/// What GetProviderSchema answers.
#[derive(Debug, Clone)]
pub struct ProviderSchema {
    /// The provider block.
    pub provider: Schema,
    /// Managed resources by type name.
    pub resources: BTreeMap<String, Schema>,
    /// Data sources by type name.
    pub data_sources: BTreeMap<String, Schema>,
    /// Functions by name.
    pub functions: BTreeMap<String, FunctionDefinition>,
    /// Capabilities.
    pub server_capabilities: ServerCapabilities,
    /// Problems with the provider's own schemas.
    pub diagnostics: Diagnostics,
}

/// PlanResourceChange's answer.
#[derive(Debug, Clone, Default)]
pub struct PlanOutcome {
    /// The planned state.
    pub planned_state: RawValue,
    /// Paths forcing replacement.
    pub requires_replace: Vec<schema::AttributePath>,
    /// Private bytes for apply.
    pub planned_private: Vec<u8>,
    /// Warnings and errors.
    pub diagnostics: Diagnostics,
}

/// ApplyResourceChange's answer.
#[derive(Debug, Clone, Default)]
pub struct ApplyOutcome {
    /// The new state (null after delete).
    pub new_state: RawValue,
    /// Private bytes to store.
    pub private: Vec<u8>,
    /// Warnings and errors.
    pub diagnostics: Diagnostics,
}

/// ReadResource's answer.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// The refreshed state (null when gone).
    pub new_state: RawValue,
    /// Private bytes to store.
    pub private: Vec<u8>,
    /// Warnings and errors.
    pub diagnostics: Diagnostics,
}

/// One object returned by ImportResourceState.
#[derive(Debug, Clone, Default)]
pub struct ImportedResource {
    /// Its resource type.
    pub type_name: String,
    /// Its state.
    pub state: RawValue,
    /// Its private bytes.
    pub private: Vec<u8>,
}

struct ResourceEntry {
    imp: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
    modifiers: Vec<PlanModifier>,
}

struct DataSourceEntry {
    imp: Arc<dyn DataSource>,
    schema: Schema,
    ty: Type,
}

struct FunctionEntry {
    imp: Arc<dyn Function>,
    definition: FunctionDefinition,
}

/// Dispatches protocol operations to a [`Provider`]. Cheap to share
/// (`Arc<Engine>`); safe for concurrent calls.
pub struct Engine {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    provider_type: Type,
    resources: BTreeMap<String, ResourceEntry>,
    data_sources: BTreeMap<String, DataSourceEntry>,
    functions: BTreeMap<String, FunctionEntry>,
    schema_diagnostics: Diagnostics,
    data: RwLock<Option<ProviderData>>,
    stop: Mutex<CancellationToken>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("provider", &self.provider.type_name())
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .field(
                "data_sources",
                &self.data_sources.keys().collect::<Vec<_>>(),
            )
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The capabilities we announce: destroy plans (so resources can warn), and no
/// reliance on GetProviderSchema being called first.
pub const CAPABILITIES: ServerCapabilities = ServerCapabilities {
    plan_destroy: true,
    get_provider_schema_optional: true,
    move_resource_state: false,
    generate_resource_config: false,
};

fn check_schema(kind: &str, name: &str, schema: &Schema, diags: &mut Diagnostics) {
    if let Err(e) = schema.block.validate() {
        diags.error(
            "Invalid provider schema",
            format!("The schema of {kind} {name} is invalid: {e}. This is a bug in the provider."),
        );
    }
    if schema.version < 0 {
        diags.error(
            "Invalid provider schema",
            format!(
                "The schema version of {kind} {name} is negative. This is a bug in the provider."
            ),
        );
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Engine {
    /// Collects the provider's schemas and types once.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let mut diags = Diagnostics::new();
        let provider_schema = provider.schema();
        check_schema(
            "the provider",
            provider.type_name(),
            &provider_schema,
            &mut diags,
        );
        let provider_type = provider_schema.block.implied_type();
        let mut resources = BTreeMap::new();
        for imp in provider.resources() {
            let name = imp.type_name().to_owned();
            let schema = imp.schema();
            check_schema("resource", &name, &schema, &mut diags);
            if !valid_name(&name) {
                diags.error(
                    "Invalid provider schema",
                    format!("Bad resource type name {name:?}."),
                );
            }
            let ty = schema.block.implied_type();
            let modifiers = imp.plan_modifiers();
            for m in &modifiers {
                let (PlanModifier::RequiresReplace(p) | PlanModifier::UseStateForUnknown(p)) = m;
                if schema.block.attribute_at(p).is_none() {
                    diags.error(
                        "Invalid provider schema",
                        format!("Resource {name} has a plan modifier for {p}, which is not an attribute."),
                    );
                }
            }
            if resources
                .insert(
                    name.clone(),
                    ResourceEntry {
                        imp,
                        schema,
                        ty,
                        modifiers,
                    },
                )
                .is_some()
            {
                diags.error(
                    "Invalid provider schema",
                    format!("Resource {name} is registered twice."),
                );
            }
        }
        let mut data_sources = BTreeMap::new();
        for imp in provider.data_sources() {
            let name = imp.type_name().to_owned();
            let schema = imp.schema();
            check_schema("data source", &name, &schema, &mut diags);
            let ty = schema.block.implied_type();
            if data_sources
                .insert(name.clone(), DataSourceEntry { imp, schema, ty })
                .is_some()
            {
                diags.error(
                    "Invalid provider schema",
                    format!("Data source {name} is registered twice."),
                );
            }
        }
        let mut functions = BTreeMap::new();
        for imp in provider.functions() {
            let name = imp.name().to_owned();
            if !valid_name(&name) {
                diags.error(
                    "Invalid provider schema",
                    format!("Bad function name {name:?}."),
                );
            }
            let definition = imp.definition();
            if functions
                .insert(name.clone(), FunctionEntry { imp, definition })
                .is_some()
            {
                diags.error(
                    "Invalid provider schema",
                    format!("Function {name} is registered twice."),
                );
            }
        }
        Engine {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            functions,
            schema_diagnostics: diags,
            data: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    fn context(&self, caps: ClientCapabilities) -> Context {
        let cancel = self
            .stop
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let data = self
            .data
            .read()
            .map(|d| d.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        Context::new(cancel, data, caps)
    }

    /// Cancels in-flight work (StopProvider). Later calls get a fresh token.
    pub fn stop(&self) {
        let mut guard = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        guard.cancel();
        *guard = CancellationToken::new();
    }

    /// GetMetadata.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            server_capabilities: CAPABILITIES,
            resources: self.resources.keys().cloned().collect(),
            data_sources: self.data_sources.keys().cloned().collect(),
            functions: self.functions.keys().cloned().collect(),
            diagnostics: self.schema_diagnostics.clone(),
        }
    }

    /// GetProviderSchema.
    pub fn provider_schema(&self) -> ProviderSchema {
        ProviderSchema {
            provider: self.provider_schema.clone(),
            resources: self
                .resources
                .iter()
                .map(|(k, v)| (k.clone(), v.schema.clone()))
                .collect(),
            data_sources: self
                .data_sources
                .iter()
                .map(|(k, v)| (k.clone(), v.schema.clone()))
                .collect(),
            functions: self.functions(),
            server_capabilities: CAPABILITIES,
            diagnostics: self.schema_diagnostics.clone(),
        }
    }

    /// GetFunctions.
    pub fn functions(&self) -> BTreeMap<String, FunctionDefinition> {
        self.functions
            .iter()
            .map(|(k, v)| (k.clone(), v.definition.clone()))
            .collect()
    }

    fn resource(&self, type_name: &str, diags: &mut Diagnostics) -> Option<&ResourceEntry> {
        let r = self.resources.get(type_name);
        if r.is_none() {
            diags.error(
                "Unknown resource type",
                format!(
                    "The provider {} has no resource type named {type_name:?}.",
                    self.provider.type_name()
                ),
            );
        }
        r
    }

    fn data_source(&self, type_name: &str, diags: &mut Diagnostics) -> Option<&DataSourceEntry> {
        let r = self.data_sources.get(type_name);
        if r.is_none() {
            diags.error(
                "Unknown data source type",
                format!(
                    "The provider {} has no data source named {type_name:?}.",
                    self.provider.type_name()
                ),
            );
        }
        r
    }

    /// ValidateProviderConfig.
    pub fn validate_provider_config(&self, config: &RawValue) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if let Some(cfg) = decode(
            config,
            &self.provider_type,
            "provider configuration",
            &mut diags,
        ) {
            self.provider.validate_config(&cfg, &mut diags);
        }
        diags
    }

    /// ConfigureProvider.
    pub async fn configure_provider(
        &self,
        terraform_version: &str,
        config: &RawValue,
        caps: ClientCapabilities,
    ) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let Some(cfg) = decode(
            config,
            &self.provider_type,
            "provider configuration",
            &mut diags,
        ) else {
            return diags;
        };
        let ctx = self.context(caps);
        let req = ConfigureRequest {
            config: &cfg,
            terraform_version,
        };
        let data = self.provider.configure(&ctx, &req, &mut diags).await;
        if !diags.has_errors() {
            *self.data.write().unwrap_or_else(|p| p.into_inner()) = data;
        }
        diags
    }

    /// ValidateResourceConfig.
    pub fn validate_resource_config(
        &self,
        type_name: &str,
        config: &RawValue,
        caps: ClientCapabilities,
    ) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let Some(r) = self.resource(type_name, &mut diags) else {
            return diags;
        };
        let Some(cfg) = decode(config, &r.ty, "resource configuration", &mut diags) else {
            return diags;
        };
        if !caps.write_only_attributes_allowed {
            for path in plan::write_only_values(&r.schema.block, &cfg) {
                diags.error_at(
                    path,
                    "Write-only attribute not allowed",
                    "This attribute is write-only, and the client running this provider does \
                     not support write-only attributes (for example Terraform before 1.11 or \
                     OpenTofu before 1.11), so its value would be stored in the state. Remove \
                     the value or upgrade the client.",
                );
            }
        }
        r.imp.validate(&cfg, &mut diags);
        diags
    }

    /// ValidateDataResourceConfig.
    pub fn validate_data_resource_config(&self, type_name: &str, config: &RawValue) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let Some(d) = self.data_source(type_name, &mut diags) else {
            return diags;
        };
        if let Some(cfg) = decode(config, &d.ty, "data source configuration", &mut diags) {
            d.imp.validate(&cfg, &mut diags);
        }
        diags
    }

    /// UpgradeResourceState.
    pub fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        raw: &RawState,
    ) -> (RawValue, Diagnostics) {
        let mut diags = Diagnostics::new();
        let Some(r) = self.resource(type_name, &mut diags) else {
            return (RawValue::default(), diags);
        };
        if raw.json.is_empty() {
            if !raw.flatmap.is_empty() {
                diags.error(
                    "Unsupported legacy state",
                    "The stored state is in the legacy flatmap format, which this provider never \
                     wrote. Remove the resource from the state and import it again.",
                );
            }
            return (RawValue::default(), diags);
        }
        let current = r.schema.version;
        let mut value = if version > current {
            diags.error(
                "Resource state from a newer provider",
                format!(
                    "The state of this {type_name} has schema version {version}, newer than \
                     this provider's {current}. Use the provider version that wrote it."
                ),
            );
            return (RawValue::default(), diags);
        } else if version == current {
            match schema::json::decode(&raw.json, &r.ty) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(decode_diag("stored state", &e));
                    return (RawValue::default(), diags);
                }
            }
        } else {
            let req = UpgradeRequest {
                from_version: version,
                json: &raw.json,
            };
            r.imp.upgrade_state(&req, &mut diags)
        };
        if diags.has_errors() {
            return (RawValue::default(), diags);
        }
        plan::null_write_only(&r.schema.block, &mut value);
        let out = encode(&value, &r.ty, "upgraded state", &mut diags);
        (out, diags)
    }

    /// ReadResource.
    pub async fn read_resource(
        &self,
        type_name: &str,
        current_state: &RawValue,
        private: &[u8],
        caps: ClientCapabilities,
    ) -> ReadOutcome {
        let mut out = ReadOutcome {
            private: private.to_vec(),
            ..Default::default()
        };
        let diags = &mut out.diagnostics;
        let Some(r) = self.resource(type_name, diags) else {
            return out;
        };
        let Some(current) = decode(current_state, &r.ty, "current state", diags) else {
            return out;
        };
        if current.is_null() {
            out.new_state = encode(&Value::Null, &r.ty, "state", diags);
            return out;
        }
        let ctx = self.context(caps);
        let req = ReadRequest {
            current_state: &current,
            private,
        };
        let mut new = r.imp.read(&ctx, &req, diags).await;
        plan::null_write_only(&r.schema.block, &mut new.state);
        if !new.state.is_wholly_known() {
            diags.error(
                "Provider returned an unknown value on refresh",
                format!(
                    "The refreshed state of this {type_name} contains unknown values. This is a \
                     bug in the provider."
                ),
            );
            out.new_state = current_state.clone();
            return out;
        }
        if let Some(p) = new.private {
            out.private = p;
        }
        out.new_state = encode(&new.state, &r.ty, "refreshed state", diags);
        out
    }

    /// PlanResourceChange.
    pub async fn plan_resource_change(
        &self,
        type_name: &str,
        prior_state: &RawValue,
        proposed_new_state: &RawValue,
        config: &RawValue,
        prior_private: &[u8],
        caps: ClientCapabilities,
    ) -> PlanOutcome {
        let mut out = PlanOutcome::default();
        let diags = &mut out.diagnostics;
        let Some(r) = self.resource(type_name, diags) else {
            return out;
        };
        let prior = decode(prior_state, &r.ty, "prior state", diags);
        let proposed = decode(proposed_new_state, &r.ty, "proposed new state", diags);
        let cfg = decode(config, &r.ty, "configuration", diags);
        let (Some(prior), Some(proposed), Some(cfg)) = (prior, proposed, cfg) else {
            return out;
        };
        let mut change = if proposed.is_null() {
            PlannedChange {
                planned_state: Value::Null,
                requires_replace: Vec::new(),
                planned_private: prior_private.to_vec(),
            }
        } else {
            plan::default_plan(
                &r.schema.block,
                &prior,
                &proposed,
                &cfg,
                &r.modifiers,
                prior_private,
            )
        };
        let ctx = self.context(caps);
        let req = PlanRequest {
            config: &cfg,
            prior_state: &prior,
            proposed_new_state: &proposed,
            prior_private,
        };
        r.imp.modify_plan(&ctx, &req, &mut change, diags).await;
        if proposed.is_null() && !change.planned_state.is_null() {
            diags.error(
                "Invalid destroy plan",
                "The provider planned a non-null state for a destroy. This is a bug in the provider.",
            );
            change.planned_state = Value::Null;
        }
        plan::null_write_only(&r.schema.block, &mut change.planned_state);
        if prior.is_null() {
            // A new object has nothing to replace.
            change.requires_replace.clear();
        }
        out.planned_state = encode(&change.planned_state, &r.ty, "planned state", diags);
        out.requires_replace = change.requires_replace;
        out.planned_private = change.planned_private;
        out
    }

    /// ApplyResourceChange.
    pub async fn apply_resource_change(
        &self,
        type_name: &str,
        prior_state: &RawValue,
        planned_state: &RawValue,
        config: &RawValue,
        planned_private: &[u8],
    ) -> ApplyOutcome {
        let mut out = ApplyOutcome {
            private: planned_private.to_vec(),
            ..Default::default()
        };
        let diags = &mut out.diagnostics;
        let Some(r) = self.resource(type_name, diags) else {
            return out;
        };
        let prior = decode(prior_state, &r.ty, "prior state", diags);
        let planned = decode(planned_state, &r.ty, "planned state", diags);
        let cfg = decode(config, &r.ty, "configuration", diags);
        let (Some(prior), Some(planned), Some(cfg)) = (prior, planned, cfg) else {
            // Keep whatever existed.
            out.new_state = prior_state.clone();
            return out;
        };
        // ApplyResourceChange carries no client capabilities; nothing at apply
        // time depends on them (no deferral; write-only values are never stored).
        let ctx = self.context(ClientCapabilities::default());
        let new = if planned.is_null() {
            if prior.is_null() {
                return out;
            }
            let req = DeleteRequest {
                prior_state: &prior,
                planned_private,
            };
            r.imp.delete(&ctx, &req, diags).await;
            if diags.has_errors() {
                out.new_state = prior_state.clone();
                return out;
            }
            super::NewState::gone()
        } else if prior.is_null() {
            let req = CreateRequest {
                config: &cfg,
                planned_state: &planned,
                planned_private,
            };
            r.imp.create(&ctx, &req, diags).await
        } else {
            let req = UpdateRequest {
                config: &cfg,
                prior_state: &prior,
                planned_state: &planned,
                planned_private,
            };
            r.imp.update(&ctx, &req, diags).await
        };
        let mut state = new.state;
        plan::null_write_only(&r.schema.block, &mut state);
        if !state.is_wholly_known() {
            // State cannot hold unknowns. With errors (a partial create), store
            // what is known, as Terraform does; without, it is a provider bug.
            if !diags.has_errors() {
                diags.error(
                    "Provider returned invalid result object after apply",
                    format!(
                        "After applying this {type_name}, some computed values are still \
                         unknown. This is a bug in the provider."
                    ),
                );
            }
            plan::unknown_as_null(&mut state);
        }
        if let Some(p) = new.private {
            out.private = p;
        }
        out.new_state = encode(&state, &r.ty, "new state", diags);
        out
    }

    /// ImportResourceState.
    pub async fn import_resource_state(
        &self,
        type_name: &str,
        id: &str,
        caps: ClientCapabilities,
    ) -> (Vec<ImportedResource>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let Some(r) = self.resource(type_name, &mut diags) else {
            return (Vec::new(), diags);
        };
        let ctx = self.context(caps);
        let mut new = r.imp.import(&ctx, id, &mut diags).await;
        if diags.has_errors() {
            return (Vec::new(), diags);
        }
        if new.state.is_null() {
            diags.error(
                "Cannot import non-existent remote object",
                format!("No {type_name} with the id {id:?} exists."),
            );
            return (Vec::new(), diags);
        }
        plan::null_write_only(&r.schema.block, &mut new.state);
        let state = encode(&new.state, &r.ty, "imported state", &mut diags);
        if diags.has_errors() {
            return (Vec::new(), diags);
        }
        let imported = ImportedResource {
            type_name: type_name.to_owned(),
            state,
            private: new.private.unwrap_or_default(),
        };
        (vec![imported], diags)
    }

    /// ReadDataSource.
    pub async fn read_data_source(
        &self,
        type_name: &str,
        config: &RawValue,
        caps: ClientCapabilities,
    ) -> (RawValue, Diagnostics) {
        let mut diags = Diagnostics::new();
        let Some(d) = self.data_source(type_name, &mut diags) else {
            return (RawValue::default(), diags);
        };
        let Some(cfg) = decode(config, &d.ty, "data source configuration", &mut diags) else {
            return (RawValue::default(), diags);
        };
        let ctx = self.context(caps);
        let state = d.imp.read(&ctx, &cfg, &mut diags).await;
        if diags.has_errors() {
            return (RawValue::default(), diags);
        }
        if !state.is_wholly_known() {
            diags.error(
                "Provider returned an unknown value",
                format!("The data source {type_name} returned unknown values. This is a bug in the provider."),
            );
            return (RawValue::default(), diags);
        }
        let out = encode(&state, &d.ty, "data source state", &mut diags);
        (out, diags)
    }

    /// CallFunction.
    pub fn call_function(&self, name: &str, args: &[RawValue]) -> Result<RawValue, FunctionError> {
        let f = self.functions.get(name).ok_or_else(|| {
            FunctionError::new(format!("The provider has no function named {name:?}."))
        })?;
        let def = &f.definition;
        let fixed = def.parameters.len();
        if args.len() < fixed || (def.variadic_parameter.is_none() && args.len() > fixed) {
            let expected = if def.variadic_parameter.is_some() {
                format!("at least {fixed}")
            } else {
                fixed.to_string()
            };
            return Err(FunctionError::new(format!(
                "Function {name} takes {expected} argument(s), got {}.",
                args.len()
            )));
        }
        let mut values = Vec::with_capacity(args.len());
        for (i, raw) in args.iter().enumerate() {
            let Some(param) = def.parameters.get(i).or(def.variadic_parameter.as_ref()) else {
                return Err(FunctionError::argument(i, "Too many arguments."));
            };
            let v = decode_raw(raw, &param.ty).map_err(|e| {
                FunctionError::argument(
                    i,
                    format!("Invalid value for parameter {:?}: {e}", param.name),
                )
            })?;
            if v.is_null() && !param.allow_null_value {
                return Err(FunctionError::argument(
                    i,
                    format!("Parameter {:?} must not be null.", param.name),
                ));
            }
            if !v.is_wholly_known() && !param.allow_unknown_values {
                return Err(FunctionError::argument(
                    i,
                    format!("Parameter {:?} must be known.", param.name),
                ));
            }
            values.push(v);
        }
        let result = f.imp.call(&values)?;
        schema::msgpack::encode(&result, &def.return_type)
            .map(RawValue::msgpack)
            .map_err(|e| {
                FunctionError::new(format!(
                    "The function returned an invalid value: {e}. This is a bug in the provider."
                ))
            })
    }

    /// The provider schema's block (for tests and docs).
    pub fn provider_block(&self) -> &Block {
        &self.provider_schema.block
    }
}

fn decode_raw(raw: &RawValue, ty: &Type) -> Result<Value, schema::DecodeError> {
    if !raw.msgpack.is_empty() {
        schema::msgpack::decode(&raw.msgpack, ty)
    } else if !raw.json.is_empty() {
        schema::json::decode(&raw.json, ty)
    } else {
        Ok(Value::Null)
    }
}

fn decode_diag(what: &str, e: &schema::DecodeError) -> Diagnostic {
    let d = Diagnostic::error(
        format!("Invalid {what}"),
        format!("The {what} sent by the client does not match the schema: {e}"),
    );
    if e.path.is_root() {
        d
    } else {
        d.with_path(e.path.clone())
    }
}

fn decode(raw: &RawValue, ty: &Type, what: &str, diags: &mut Diagnostics) -> Option<Value> {
    match decode_raw(raw, ty) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(decode_diag(what, &e));
            None
        }
    }
}

fn encode(value: &Value, ty: &Type, what: &str, diags: &mut Diagnostics) -> RawValue {
    match schema::msgpack::encode(value, ty) {
        Ok(b) => RawValue::msgpack(b),
        Err(e) => {
            let d = Diagnostic::error(
                "Provider produced an invalid value",
                format!(
                    "The {what} does not match the schema: {e}. This is a bug in the provider."
                ),
            );
            diags.push(if e.path.is_root() {
                d
            } else {
                d.with_path(e.path.clone())
            });
            RawValue::default()
        }
    }
}
