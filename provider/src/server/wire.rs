//! The only module that touches the generated protobuf types: the gRPC
//! services (tfplugin6 Provider, go-plugin GRPCController and GRPCStdio, health)
//! and the conversions between protobuf messages and native types.
//!
//! Every handler has the same shape: convert the request, call the
//! [`Engine`], convert the answer. Failures are diagnostics in the response,
//! never gRPC status errors (Pulumi's bridge turns status errors into empty
//! successes). Features this provider does not have (ephemeral resources, list
//! resources, actions, state stores, resource identity, moves, config
//! generation) answer with an error diagnostic or the documented empty answer.

use std::pin::Pin;
use std::sync::Arc;

use proto::plugin as gp;
use proto::tfplugin6 as pb;
use schema::{
    Attribute, AttributePath, AttributeType, Block, BlockNesting, Diagnostic, Diagnostics,
    NestedBlock, Nesting, PathStep, Requiredness, Schema, Severity,
};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::framework::{
    ClientCapabilities, Engine, FunctionDefinition, Parameter, RawState, RawValue,
    ServerCapabilities,
};

/// Largest message accepted or sent, as in Terraform and terraform-plugin-go.
pub const MAX_MESSAGE_SIZE: usize = 256 << 20;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

fn raw(v: Option<pb::DynamicValue>) -> RawValue {
    v.map(|d| RawValue {
        msgpack: d.msgpack,
        json: d.json,
    })
    .unwrap_or_default()
}

fn dynamic(v: RawValue) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: v.msgpack,
        json: v.json,
    })
}

fn caps(c: Option<pb::ClientCapabilities>) -> ClientCapabilities {
    c.map(|c| ClientCapabilities {
        deferral_allowed: c.deferral_allowed,
        write_only_attributes_allowed: c.write_only_attributes_allowed,
    })
    .unwrap_or_default()
}

fn raw_state(s: Option<pb::RawState>) -> RawState {
    s.map(|s| RawState {
        json: s.json,
        flatmap: s.flatmap.into_iter().collect(),
    })
    .unwrap_or_default()
}

fn path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps()
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::ElementKeyString(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::ElementKeyInt(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn diagnostic(d: &Diagnostic) -> pb::Diagnostic {
    let severity = match d.severity {
        Severity::Error => pb::diagnostic::Severity::Error,
        Severity::Warning => pb::diagnostic::Severity::Warning,
    };
    pb::Diagnostic {
        severity: severity as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().filter(|p| !p.is_root()).map(path),
    }
}

fn diagnostics(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter().map(diagnostic).collect()
}

fn server_caps(c: ServerCapabilities) -> Option<pb::ServerCapabilities> {
    Some(pb::ServerCapabilities {
        plan_destroy: c.plan_destroy,
        get_provider_schema_optional: c.get_provider_schema_optional,
        move_resource_state: c.move_resource_state,
        generate_resource_config: c.generate_resource_config,
    })
}

const MARKDOWN: i32 = pb::StringKind::Markdown as i32;

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested) = match &a.ty {
        AttributeType::Primitive(t) => (t.to_json(), None),
        AttributeType::Nested(n) => {
            let nesting = match n.nesting {
                Nesting::Single => pb::schema::object::NestingMode::Single,
                Nesting::List => pb::schema::object::NestingMode::List,
                Nesting::Set => pb::schema::object::NestingMode::Set,
                Nesting::Map => pb::schema::object::NestingMode::Map,
            };
            #[allow(deprecated)]
            let obj = pb::schema::Object {
                attributes: n.attributes.iter().map(attribute).collect(),
                nesting: nesting as i32,
                min_items: 0,
                max_items: 0,
            };
            (Vec::new(), Some(obj))
        }
    };
    let (required, optional, computed) = match a.requiredness {
        Requiredness::Required => (true, false, false),
        Requiredness::Optional => (false, true, false),
        Requiredness::Computed => (false, false, true),
        Requiredness::OptionalComputed => (false, true, true),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type: nested,
        description: a.description.clone(),
        required,
        optional,
        computed,
        sensitive: a.sensitive,
        description_kind: MARKDOWN,
        deprecated: a.deprecated,
        write_only: a.write_only,
        deprecation_message: a.deprecation_message.clone().unwrap_or_default(),
    }
}

fn nested_block(b: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode;
    let nesting = match b.nesting {
        BlockNesting::Single => NestingMode::Single,
        BlockNesting::Group => NestingMode::Group,
        BlockNesting::List => NestingMode::List,
        BlockNesting::Set => NestingMode::Set,
        BlockNesting::Map => NestingMode::Map,
    };
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(block(&b.block, 0)),
        nesting: nesting as i32,
        min_items: i64::try_from(b.min_items).unwrap_or(i64::MAX),
        max_items: i64::try_from(b.max_items).unwrap_or(i64::MAX),
    }
}

fn block(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: MARKDOWN,
        deprecated: b.deprecated,
        deprecation_message: b.deprecation_message.clone().unwrap_or_default(),
    }
}

fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block, s.version)),
    }
}

fn parameter(p: &Parameter) -> pb::function::Parameter {
    pb::function::Parameter {
        name: p.name.clone(),
        r#type: p.ty.to_json(),
        allow_null_value: p.allow_null_value,
        allow_unknown_values: p.allow_unknown_values,
        description: p.description.clone(),
        description_kind: MARKDOWN,
    }
}

fn function(f: &FunctionDefinition) -> pb::Function {
    pb::Function {
        parameters: f.parameters.iter().map(parameter).collect(),
        variadic_parameter: f.variadic_parameter.as_ref().map(parameter),
        r#return: Some(pb::function::Return {
            r#type: f.return_type.to_json(),
        }),
        summary: f.summary.clone(),
        description: f.description.clone(),
        description_kind: MARKDOWN,
        deprecation_message: f.deprecation_message.clone().unwrap_or_default(),
    }
}

/// The error diagnostic for a protocol feature this provider does not have.
fn unsupported(feature: &str, type_name: &str) -> Vec<pb::Diagnostic> {
    let what = if type_name.is_empty() {
        String::new()
    } else {
        format!(" (requested type {type_name:?})")
    };
    vec![diagnostic(&Diagnostic::error(
        format!("{feature} not supported"),
        format!("The xenapi provider does not implement {feature}{what}."),
    ))]
}

fn span(rpc: &'static str, type_name: &str) -> tracing::Span {
    tracing::debug_span!("rpc", rpc, type_name)
}

// ---------------------------------------------------------------------------
// tfplugin6.Provider
// ---------------------------------------------------------------------------

/// The tfplugin6 Provider service.
#[derive(Debug, Clone)]
pub struct ProviderService {
    engine: Arc<Engine>,
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        let _s = span("GetMetadata", "").entered();
        let m = self.engine.metadata();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: server_caps(m.server_capabilities),
            diagnostics: diagnostics(&m.diagnostics),
            data_sources: m
                .data_sources
                .into_iter()
                .map(|type_name| pb::get_metadata::DataSourceMetadata { type_name })
                .collect(),
            resources: m
                .resources
                .into_iter()
                .map(|type_name| pb::get_metadata::ResourceMetadata { type_name })
                .collect(),
            functions: m
                .functions
                .into_iter()
                .map(|name| pb::get_metadata::FunctionMetadata { name })
                .collect(),
            ephemeral_resources: Vec::new(),
            list_resources: Vec::new(),
            state_stores: Vec::new(),
            actions: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let _s = span("GetProviderSchema", "").entered();
        let s = self.engine.provider_schema();
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema(&s.provider)),
            resource_schemas: s
                .resources
                .iter()
                .map(|(k, v)| (k.clone(), schema(v)))
                .collect(),
            data_source_schemas: s
                .data_sources
                .iter()
                .map(|(k, v)| (k.clone(), schema(v)))
                .collect(),
            functions: s
                .functions
                .iter()
                .map(|(k, v)| (k.clone(), function(v)))
                .collect(),
            ephemeral_resource_schemas: Default::default(),
            list_resource_schemas: Default::default(),
            state_store_schemas: Default::default(),
            action_schemas: Default::default(),
            diagnostics: diagnostics(&s.diagnostics),
            provider_meta: None,
            server_capabilities: server_caps(s.server_capabilities),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let _s = span("ValidateProviderConfig", "").entered();
        let r = req.into_inner();
        let d = self.engine.validate_provider_config(&raw(r.config));
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let r = req.into_inner();
        let _s = span("ValidateResourceConfig", &r.type_name).entered();
        let d = self.engine.validate_resource_config(
            &r.type_name,
            &raw(r.config),
            caps(r.client_capabilities),
        );
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let r = req.into_inner();
        let _s = span("ValidateDataResourceConfig", &r.type_name).entered();
        let d = self
            .engine
            .validate_data_resource_config(&r.type_name, &raw(r.config));
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let r = req.into_inner();
        let _s = span("UpgradeResourceState", &r.type_name).entered();
        let (state, d) =
            self.engine
                .upgrade_resource_state(&r.type_name, r.version, &raw_state(r.raw_state));
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: dynamic(state),
            diagnostics: diagnostics(&d),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        // No resource declares an identity: the documented empty answer.
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: Default::default(),
            diagnostics: Vec::new(),
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: None,
            diagnostics: unsupported("resource identity", &r.type_name),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let r = req.into_inner();
        tracing::debug!(client_version = %r.terraform_version, "configuring provider");
        let d = self
            .engine
            .configure_provider(
                &r.terraform_version,
                &raw(r.config),
                caps(r.client_capabilities),
            )
            .instrument(span("ConfigureProvider", ""))
            .await;
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics(&d),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .engine
            .read_resource(
                &r.type_name,
                &raw(r.current_state),
                &r.private,
                caps(r.client_capabilities),
            )
            .instrument(span("ReadResource", &r.type_name))
            .await;
        Ok(Response::new(pb::read_resource::Response {
            new_state: dynamic(out.new_state),
            diagnostics: diagnostics(&out.diagnostics),
            private: out.private,
            deferred: None,
            new_identity: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .engine
            .plan_resource_change(
                &r.type_name,
                &raw(r.prior_state),
                &raw(r.proposed_new_state),
                &raw(r.config),
                &r.prior_private,
                caps(r.client_capabilities),
            )
            .instrument(span("PlanResourceChange", &r.type_name))
            .await;
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: dynamic(out.planned_state),
            requires_replace: out.requires_replace.iter().map(path).collect(),
            planned_private: out.planned_private,
            diagnostics: diagnostics(&out.diagnostics),
            legacy_type_system: false,
            deferred: None,
            planned_identity: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .engine
            .apply_resource_change(
                &r.type_name,
                &raw(r.prior_state),
                &raw(r.planned_state),
                &raw(r.config),
                &r.planned_private,
            )
            .instrument(span("ApplyResourceChange", &r.type_name))
            .await;
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: dynamic(out.new_state),
            private: out.private,
            diagnostics: diagnostics(&out.diagnostics),
            legacy_type_system: false,
            new_identity: None,
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let r = req.into_inner();
        let (imported, d) = if r.id.is_empty() && r.identity.is_some() {
            let mut d = Diagnostics::new();
            d.error(
                "Import by identity not supported",
                "The xenapi provider imports by id only; give an id instead of an identity.",
            );
            (Vec::new(), d)
        } else {
            self.engine
                .import_resource_state(&r.type_name, &r.id, caps(r.client_capabilities))
                .instrument(span("ImportResourceState", &r.type_name))
                .await
        };
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: imported
                .into_iter()
                .map(|i| pb::import_resource_state::ImportedResource {
                    type_name: i.type_name,
                    state: dynamic(i.state),
                    private: i.private,
                    identity: None,
                })
                .collect(),
            diagnostics: diagnostics(&d),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::move_resource_state::Response {
            target_state: None,
            diagnostics: unsupported("moving resource state between types", &r.target_type_name),
            target_private: Vec::new(),
            target_identity: None,
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let r = req.into_inner();
        let (state, d) = self
            .engine
            .read_data_source(&r.type_name, &raw(r.config), caps(r.client_capabilities))
            .instrument(span("ReadDataSource", &r.type_name))
            .await;
        Ok(Response::new(pb::read_data_source::Response {
            state: dynamic(state),
            diagnostics: diagnostics(&d),
            deferred: None,
        }))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::generate_resource_config::Response {
            config: None,
            diagnostics: unsupported("GenerateResourceConfig", &r.type_name),
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: unsupported("ephemeral resources", &r.type_name),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: unsupported("ephemeral resources", &r.type_name),
            renew_at: None,
            result: None,
            private: None,
            deferred: None,
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: unsupported("ephemeral resources", &r.type_name),
            renew_at: None,
            private: None,
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: unsupported("ephemeral resources", &r.type_name),
        }))
    }

    type ListResourceStream = BoxStream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        req: Request<pb::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let r = req.into_inner();
        let event = pb::list_resource::Event {
            identity: None,
            display_name: String::new(),
            resource_object: None,
            diagnostic: unsupported("list resources", &r.type_name),
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(event)))))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::validate_list_resource_config::Response {
            diagnostics: unsupported("list resources", &r.type_name),
        }))
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        let _s = span("GetFunctions", "").entered();
        Ok(Response::new(pb::get_functions::Response {
            functions: self
                .engine
                .functions()
                .iter()
                .map(|(k, v)| (k.clone(), function(v)))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        let r = req.into_inner();
        let _s = span("CallFunction", &r.name).entered();
        let args: Vec<RawValue> = r.arguments.into_iter().map(|a| raw(Some(a))).collect();
        let resp = match self.engine.call_function(&r.name, &args) {
            Ok(v) => pb::call_function::Response {
                result: dynamic(v),
                error: None,
            },
            Err(e) => pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError {
                    text: e.text,
                    function_argument: e.argument,
                }),
            },
        };
        Ok(Response::new(resp))
    }

    async fn validate_state_store_config(
        &self,
        req: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::validate_state_store::Response {
            diagnostics: unsupported("state stores", &r.type_name),
        }))
    }

    async fn configure_state_store(
        &self,
        req: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::configure_state_store::Response {
            diagnostics: unsupported("state stores", &r.type_name),
            capabilities: None,
        }))
    }

    type ReadStateBytesStream = BoxStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        req: Request<pb::read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        let r = req.into_inner();
        let chunk = pb::read_state_bytes::Response {
            bytes: Vec::new(),
            total_length: 0,
            range: None,
            diagnostics: unsupported("state stores", &r.type_name),
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(chunk)))))
    }

    async fn write_state_bytes(
        &self,
        _req: Request<tonic::Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        Ok(Response::new(pb::write_state_bytes::Response {
            diagnostics: unsupported("state stores", ""),
        }))
    }

    async fn lock_state(
        &self,
        req: Request<pb::lock_state::Request>,
    ) -> Result<Response<pb::lock_state::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::lock_state::Response {
            lock_id: String::new(),
            diagnostics: unsupported("state stores", &r.type_name),
        }))
    }

    async fn unlock_state(
        &self,
        req: Request<pb::unlock_state::Request>,
    ) -> Result<Response<pb::unlock_state::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::unlock_state::Response {
            diagnostics: unsupported("state stores", &r.type_name),
        }))
    }

    async fn get_states(
        &self,
        req: Request<pb::get_states::Request>,
    ) -> Result<Response<pb::get_states::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::get_states::Response {
            state_id: Vec::new(),
            diagnostics: unsupported("state stores", &r.type_name),
        }))
    }

    async fn delete_state(
        &self,
        req: Request<pb::delete_state::Request>,
    ) -> Result<Response<pb::delete_state::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::delete_state::Response {
            diagnostics: unsupported("state stores", &r.type_name),
        }))
    }

    async fn plan_action(
        &self,
        req: Request<pb::plan_action::Request>,
    ) -> Result<Response<pb::plan_action::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::plan_action::Response {
            diagnostics: unsupported("actions", &r.action_type),
            deferred: None,
        }))
    }

    type InvokeActionStream = BoxStream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        req: Request<pb::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        let r = req.into_inner();
        let event = pb::invoke_action::Event {
            r#type: Some(pb::invoke_action::event::Type::Completed(
                pb::invoke_action::event::Completed {
                    diagnostics: unsupported("actions", &r.action_type),
                },
            )),
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(event)))))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::validate_action_config::Response {
            diagnostics: unsupported("actions", &r.type_name),
        }))
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider: cancelling in-flight operations");
        self.engine.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

// ---------------------------------------------------------------------------
// go-plugin services
// ---------------------------------------------------------------------------

/// `plugin.GRPCController`: Shutdown stops the server.
#[derive(Debug, Clone)]
pub struct ControllerService {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for ControllerService {
    async fn shutdown(&self, _req: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        tracing::debug!("GRPCController.Shutdown: stopping");
        self.shutdown.cancel();
        Ok(Response::new(gp::Empty {}))
    }
}

/// `plugin.GRPCStdio`: this provider never writes program output to stdout or
/// stderr other than its log (which go-plugin reads from the process's
/// stderr), so the stream ends at once with nothing to forward.
#[derive(Debug, Clone, Default)]
pub struct StdioService;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for StdioService {
    type StreamStdioStream = BoxStream<gp::StdioData>;

    async fn stream_stdio(
        &self,
        _req: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::empty())))
    }
}

/// The gRPC router with every service a go-plugin client expects.
pub async fn router(
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> tonic::transport::server::Router {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let provider = pb::provider_server::ProviderServer::new(ProviderService { engine })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(provider)
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(
            ControllerService { shutdown },
        ))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(StdioService))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::Type;

    #[test]
    fn diagnostics_have_error_or_warning_severity_and_paths() {
        let mut d = Diagnostics::new();
        d.error_at(AttributePath::new("tags").key("env"), "bad", "worse");
        d.warning("careful", "");
        let out = diagnostics(&d);
        assert_eq!(out[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(out[1].severity, pb::diagnostic::Severity::Warning as i32);
        let steps = &out[0].attribute.as_ref().unwrap().steps;
        use pb::attribute_path::step::Selector;
        assert_eq!(
            steps[0].selector,
            Some(Selector::AttributeName("tags".into()))
        );
        assert_eq!(
            steps[1].selector,
            Some(Selector::ElementKeyString("env".into()))
        );
        assert!(out[1].attribute.is_none());
    }

    #[test]
    fn attribute_flags_map_one_to_one() {
        let a = Attribute::optional_computed("name", Type::String).sensitive();
        let p = attribute(&a);
        assert!(p.optional && p.computed && !p.required && p.sensitive);
        assert_eq!(p.r#type, b"\"string\"".to_vec());
        assert!(p.nested_type.is_none());
        assert_eq!(p.description_kind, MARKDOWN);
    }

    #[test]
    fn absent_client_capabilities_mean_none() {
        assert_eq!(caps(None), ClientCapabilities::default());
        let c = caps(Some(pb::ClientCapabilities {
            deferral_allowed: false,
            write_only_attributes_allowed: true,
        }));
        assert!(c.write_only_attributes_allowed);
    }
}
