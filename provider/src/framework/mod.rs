//! A small resource framework on top of the plugin protocol.
//!
//! A provider is a value implementing [`Provider`], which lists its
//! [`Resource`]s, [`DataSource`]s and [`Function`]s. The [`Engine`] turns
//! protocol calls (already decoded from protobuf by `server::wire`) into calls
//! of these traits with typed [`schema::Value`]s, and takes care of what every
//! resource needs the same way:
//!
//! - decoding and encoding values against the schema (bad input becomes a
//!   diagnostic with an attribute path, never a panic);
//! - planning: computed attributes that are null in the configuration become
//!   unknown on create and on update when something changed, except where a
//!   [`PlanModifier::UseStateForUnknown`] keeps the prior value;
//!   [`PlanModifier::RequiresReplace`] paths that change are reported as
//!   replacements; then [`Resource::modify_plan`] may adjust the plan and add
//!   warnings;
//! - write-only attributes: rejected in validation when the client does not
//!   allow them, and always null in planned and stored state;
//! - dispatching apply to create, update or delete; keeping private state;
//! - state upgrades (same version: decoded with the current schema; older
//!   versions: [`Resource::upgrade_state`]);
//! - cancellation: [`Context::cancelled`] fires when Terraform calls
//!   StopProvider (Ctrl-C).
//!
//! See `/work/notes/framework-usage.md` for a walkthrough.

mod engine;
pub mod plan;

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
pub use engine::{
    ApplyOutcome, Engine, ImportedResource, Metadata, PlanOutcome, ProviderSchema, RawState,
    RawValue, ReadOutcome, ServerCapabilities,
};
pub use schema::{AttributePath, Diagnostic, Diagnostics, Schema, Type, Value};
use tokio_util::sync::CancellationToken;

/// What the client (Terraform, OpenTofu, Pulumi's bridge) says it supports.
/// Absent capabilities (OpenTofu 1.10 sends none) are all `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    /// The client can handle deferred changes.
    pub deferral_allowed: bool,
    /// The client handles write-only attributes (never persists them).
    pub write_only_attributes_allowed: bool,
}

/// Whatever the provider's `configure` produced (e.g. connection settings and a
/// lazily connected API client), shared with every resource call.
pub type ProviderData = Arc<dyn Any + Send + Sync>;

/// Per-call context handed to providers, resources and data sources.
#[derive(Clone)]
pub struct Context {
    cancel: CancellationToken,
    provider_data: Option<ProviderData>,
    client_capabilities: ClientCapabilities,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("configured", &self.provider_data.is_some())
            .field("client_capabilities", &self.client_capabilities)
            .finish()
    }
}

impl Context {
    /// A context (the engine builds these; tests of resources may too).
    pub fn new(
        cancel: CancellationToken,
        provider_data: Option<ProviderData>,
        client_capabilities: ClientCapabilities,
    ) -> Self {
        Context {
            cancel,
            provider_data,
            client_capabilities,
        }
    }

    /// The token that is cancelled when Terraform asks the provider to stop
    /// (StopProvider). Long operations should `select!` on
    /// [`CancellationToken::cancelled`] and return an error diagnostic.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Resolves when the provider is asked to stop.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// True once the provider was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// What the client supports.
    pub fn client_capabilities(&self) -> ClientCapabilities {
        self.client_capabilities
    }

    /// The provider data set by [`Provider::configure`], if the provider was
    /// configured in this process and it has type `T`.
    pub fn provider_data<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.provider_data.clone()?.downcast::<T>().ok()
    }

    /// Like [`Context::provider_data`], but an error diagnostic when absent,
    /// ready to be pushed.
    pub fn require_provider_data<T: Any + Send + Sync>(&self) -> Result<Arc<T>, Diagnostic> {
        self.provider_data::<T>().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "This operation needs the provider configuration, but the provider has not \
                 been configured in this process. This is a bug in the provider or in the \
                 client driving it.",
            )
        })
    }
}

/// The request of [`Provider::configure`].
#[derive(Debug)]
pub struct ConfigureRequest<'a> {
    /// The provider block (may contain unknowns when it depends on resources).
    pub config: &'a Value,
    /// Not a reliable version: OpenTofu sends its own, Pulumi's bridge sends
    /// `1.0.0+pulumi-terraform-bridge`. Log it; never branch on it.
    pub terraform_version: &'a str,
}

/// The provider itself: its configuration block and what it offers.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's type name, the prefix of its resource types (`xenapi`).
    fn type_name(&self) -> &'static str;

    /// The schema of the `provider` block.
    fn schema(&self) -> Schema;

    /// Static checks of the provider block (values may be unknown or null).
    fn validate_config(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Configures the provider once per process. What it returns reaches every
    /// later resource call through [`Context::provider_data`]. Must not need a
    /// reachable server: connect lazily on first use.
    async fn configure(
        &self,
        ctx: &Context,
        req: &ConfigureRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<ProviderData>;

    /// The managed resource types.
    fn resources(&self) -> Vec<Arc<dyn Resource>>;

    /// The data source types.
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }

    /// The provider-defined functions.
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }
}

/// A declarative plan rule for one attribute of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanModifier {
    /// A computed attribute keeps its prior value instead of becoming unknown on
    /// update (its value never changes after create).
    UseStateForUnknown(AttributePath),
    /// A change of this attribute (on update) replaces the resource.
    RequiresReplace(AttributePath),
}

/// The request of [`Resource::modify_plan`].
#[derive(Debug)]
pub struct PlanRequest<'a> {
    /// The configuration (null when destroying).
    pub config: &'a Value,
    /// The prior state (null when creating).
    pub prior_state: &'a Value,
    /// Terraform's proposed new state (null when destroying).
    pub proposed_new_state: &'a Value,
    /// Private state from the prior apply (may be empty).
    pub prior_private: &'a [u8],
}

impl PlanRequest<'_> {
    /// True when planning a new object (no prior state).
    pub fn is_create(&self) -> bool {
        self.prior_state.is_null()
    }
    /// True when planning the destruction of the object.
    pub fn is_destroy(&self) -> bool {
        self.proposed_new_state.is_null()
    }
}

/// The plan as the framework computed it, for [`Resource::modify_plan`] to adjust.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    /// The planned new state (null when destroying). Only computed attributes
    /// may be changed from the configuration, and only computed attributes may
    /// be unknown.
    pub planned_state: Value,
    /// Attribute paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Private bytes passed to apply (defaults to the prior private state).
    pub planned_private: Vec<u8>,
}

/// The request of [`Resource::create`].
#[derive(Debug)]
pub struct CreateRequest<'a> {
    /// The configuration (wholly known at apply).
    pub config: &'a Value,
    /// The planned state; unknown values are the computed ones to fill in.
    pub planned_state: &'a Value,
    /// Private bytes from the plan.
    pub planned_private: &'a [u8],
}

/// The request of [`Resource::update`].
#[derive(Debug)]
pub struct UpdateRequest<'a> {
    /// The configuration.
    pub config: &'a Value,
    /// The state before the update.
    pub prior_state: &'a Value,
    /// The planned state.
    pub planned_state: &'a Value,
    /// Private bytes from the plan.
    pub planned_private: &'a [u8],
}

/// The request of [`Resource::delete`].
#[derive(Debug)]
pub struct DeleteRequest<'a> {
    /// The state of the object to delete.
    pub prior_state: &'a Value,
    /// Private bytes from the plan (the stored private state).
    pub planned_private: &'a [u8],
}

/// The request of [`Resource::read`].
#[derive(Debug)]
pub struct ReadRequest<'a> {
    /// The stored (upgraded) state.
    pub current_state: &'a Value,
    /// The stored private state (may be empty).
    pub private: &'a [u8],
}

/// A state produced by create, update, read or import.
#[derive(Debug, Clone, PartialEq)]
pub struct NewState {
    /// The object; [`Value::Null`] means "does not exist" (read: gone; create:
    /// nothing was created).
    pub state: Value,
    /// New private bytes; `None` keeps the incoming ones.
    pub private: Option<Vec<u8>>,
}

impl NewState {
    /// A state, keeping private bytes as they were.
    pub fn new(state: Value) -> Self {
        NewState {
            state,
            private: None,
        }
    }
    /// "No object".
    pub fn gone() -> Self {
        NewState::new(Value::Null)
    }
    /// Sets the private bytes.
    pub fn with_private(mut self, private: Vec<u8>) -> Self {
        self.private = Some(private);
        self
    }
}

/// Raw stored state to upgrade from an older schema version.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeRequest<'a> {
    /// The schema version the state was written with.
    pub from_version: i64,
    /// The stored JSON (decode it with the old version's type through
    /// `schema::json::decode`; big numbers are kept).
    pub json: &'a [u8],
}

/// A managed resource type.
///
/// All values are objects of the schema's implied type (every attribute
/// present, null where unset). Report problems as diagnostics; never panic.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, e.g. `xenapi_mac_address`.
    fn type_name(&self) -> &'static str;

    /// The schema (with `version` for state upgrades and descriptions for docs).
    fn schema(&self) -> Schema;

    /// Declarative plan rules, applied before [`Resource::modify_plan`].
    fn plan_modifiers(&self) -> Vec<PlanModifier> {
        Vec::new()
    }

    /// Static checks of a configuration (values may be unknown). No IO.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Adjusts the framework's plan: set computed values known in advance, add
    /// replacement paths or plan-time warnings. Called for create, update and
    /// destroy (see [`PlanRequest::is_destroy`]).
    async fn modify_plan(
        &self,
        _ctx: &Context,
        _req: &PlanRequest<'_>,
        _plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
    }

    /// Creates the object. On a failure after something was created, return the
    /// partial state with an error diagnostic (Terraform taints it); return
    /// [`NewState::gone`] if nothing exists.
    async fn create(
        &self,
        ctx: &Context,
        req: &CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState;

    /// Refreshes the object from the real world; [`NewState::gone`] when it no
    /// longer exists (not an error).
    async fn read(&self, ctx: &Context, req: &ReadRequest<'_>, diags: &mut Diagnostics)
    -> NewState;

    /// Updates the object in place to the planned state.
    async fn update(
        &self,
        ctx: &Context,
        req: &UpdateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState;

    /// Deletes the object. On error the object stays in state.
    async fn delete(&self, ctx: &Context, req: &DeleteRequest<'_>, diags: &mut Diagnostics);

    /// Imports an existing object by id. The state may be partial; Terraform
    /// reads it right after. The default refuses import.
    async fn import(&self, _ctx: &Context, _id: &str, diags: &mut Diagnostics) -> NewState {
        diags.error(
            "Import not supported",
            format!("The resource type {} cannot be imported.", self.type_name()),
        );
        NewState::gone()
    }

    /// Upgrades state stored with an older schema version to the current schema.
    /// The default refuses (only needed once a schema version was bumped).
    fn upgrade_state(&self, req: &UpgradeRequest<'_>, diags: &mut Diagnostics) -> Value {
        diags.error(
            "Unable to upgrade resource state",
            format!(
                "The state of this {} was written with schema version {}, and this provider \
                 version cannot upgrade it.",
                self.type_name(),
                req.from_version
            ),
        );
        Value::Null
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// The full type name, e.g. `xenapi_pool`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Static checks of a configuration (values may be unknown). No IO.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Reads the data; the result must be wholly known.
    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value;
}

/// One parameter of a [`Function`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Display name.
    pub name: String,
    /// Type constraint.
    pub ty: Type,
    /// Whether null may be passed (otherwise Terraform rejects it).
    pub allow_null_value: bool,
    /// Whether unknown values may be passed (otherwise Terraform skips the call
    /// and assumes an unknown result).
    pub allow_unknown_values: bool,
    /// Markdown description.
    pub description: String,
}

impl Parameter {
    /// A parameter that accepts neither null nor unknown values.
    pub fn new(name: impl Into<String>, ty: Type, description: impl Into<String>) -> Self {
        Parameter {
            name: name.into(),
            ty,
            allow_null_value: false,
            allow_unknown_values: false,
            description: description.into(),
        }
    }
}

/// The signature and documentation of a [`Function`].
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDefinition {
    /// Positional parameters.
    pub parameters: Vec<Parameter>,
    /// Optional trailing variadic parameter (zero or more arguments of its type).
    pub variadic_parameter: Option<Parameter>,
    /// Result type.
    pub return_type: Type,
    /// One-line summary.
    pub summary: String,
    /// Markdown description.
    pub description: String,
    /// Set when deprecated.
    pub deprecation_message: Option<String>,
}

/// The error of a function call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// Message for the practitioner.
    pub text: String,
    /// 0-based index of the offending argument, if any.
    pub argument: Option<i64>,
}

impl FunctionError {
    /// An error about the call as a whole.
    pub fn new(text: impl Into<String>) -> Self {
        FunctionError {
            text: text.into(),
            argument: None,
        }
    }
    /// An error about one argument.
    pub fn argument(index: usize, text: impl Into<String>) -> Self {
        FunctionError {
            text: text.into(),
            argument: Some(i64::try_from(index).unwrap_or(i64::MAX)),
        }
    }
}

/// A provider-defined function (`provider::<provider>::<name>(...)`). Functions
/// run on an unconfigured provider and must be pure and deterministic.
pub trait Function: Send + Sync + 'static {
    /// The function's name without the `provider::xenapi::` prefix.
    fn name(&self) -> &'static str;

    /// Signature and documentation.
    fn definition(&self) -> FunctionDefinition;

    /// Calls the function; `args` are decoded against the parameter types
    /// (variadic arguments follow the positional ones).
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError>;
}
