//! `xenapi_vm`: a VM created from a template, configured completely while
//! halted (memory limits, vCPUs, disks, VIFs with provider-chosen MACs, a
//! config drive) and booted once. See `/work/notes/vm-resource.md` for the
//! behaviour in detail.
//!
//! Module layout, by concern:
//! - [`schema`]: attribute names and descriptions;
//! - [`values`]: typed reads of `schema::Value`s (null / unknown / value);
//! - [`memory_limits`], [`cpu`], [`network_interfaces`], [`disks`],
//!   [`config_drive`], [`power`]: validation, defaults and the XAPI calls of
//!   each concern;
//! - [`plan`]: planning (defaults, kept computed values, VIF replacement,
//!   restart warning or error, template replacement);
//! - [`create`], [`read`], [`update`], [`delete`], [`import`]: the operations.

pub mod cloudbase;
pub mod config_drive;
pub mod cpu;
mod create;
mod delete;
pub mod disks;
mod import;
pub mod memory_limits;
pub mod network_interfaces;
pub mod plan;
pub mod power;
mod read;
pub mod schema;
pub mod sysprep;
mod update;
pub mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ::schema::{AttributePath, Diagnostics, Schema, Value};
use async_trait::async_trait;

use crate::framework::{
    Context, CreateRequest, DeleteRequest, NewState, PlanRequest, PlannedChange, ReadRequest,
    Resource, UpdateRequest,
};
use crate::pool::{Pool, PoolError};

use self::schema::{attr, to};
use self::values::{at, opt_str, parse_duration, str_map};

/// The resource type name.
pub const TYPE_NAME: &str = "xenapi_vm";

/// `other_config` key carried by every object the provider creates.
pub const OWNER_KEY: &str = "xenapi-terraform-owner";
/// Value of [`OWNER_KEY`].
pub const OWNER_VALUE: &str = "terraform-provider-xenapi";
/// Prefix of every key the provider writes into `other_config`.
pub const KEY_PREFIX: &str = "xenapi-terraform-";
/// VM `other_config`: the `template` as configured (UUID or name).
pub const TEMPLATE_KEY: &str = "xenapi-terraform-template";
/// VM `other_config`: the template's UUID.
pub const TEMPLATE_UUID_KEY: &str = "xenapi-terraform-template-uuid";
/// VM `other_config`: `clone_type` when set.
pub const CLONE_TYPE_KEY: &str = "xenapi-terraform-clone-type";
/// VM `other_config`: `sr` when set.
pub const SR_KEY: &str = "xenapi-terraform-sr";
/// VIF `other_config`: the `network` as configured.
pub const NETWORK_KEY: &str = "xenapi-terraform-network";
/// VDI `other_config`: the UUID of the VM whose disk (or drive) this is; the
/// VDI is destroyed with that VM.
pub const VM_KEY: &str = "xenapi-terraform-vm";
/// VDI `other_config`: marks the config drive (value: the VM UUID).
pub const CONFIG_DRIVE_KEY: &str = "xenapi-terraform-config-drive";
/// VDI `other_config`: the disk is a `disk` entry of the configuration —
/// `"new"` (created by the provider) or `"template"` (a template disk the
/// configuration lists). Import recovers the entries from it.
pub const DISK_KEY: &str = "xenapi-terraform-disk";
/// VM `other_config`: whether the config drive was removed after boot.
pub const DRIVE_REMOVED_KEY: &str = "xenapi-terraform-config-drive-removed";

/// VM `other_config`: the behaviour settings XAPI does not hold
/// (`wait_for_guest`, `shutdown_timeout`, `restart_on_update`, `timeouts`,
/// per-interface `expected_ip_cidr`) as JSON, so that an import recovers them.
pub const SETTINGS_KEY: &str = "xenapi-terraform-settings";

/// The behaviour settings of a configuration/plan as the JSON stored under
/// [`SETTINGS_KEY`] (keys in a fixed order; unset settings omitted).
pub fn settings_json(obj: &Value) -> String {
    let mut m = serde_json::Map::new();
    if let Some(b) = values::bool_at(obj, attr::WAIT_FOR_GUEST).value() {
        m.insert(attr::WAIT_FOR_GUEST.into(), b.into());
    }
    if let Some(n) = values::int_at(obj, attr::SHUTDOWN_TIMEOUT).value() {
        m.insert(attr::SHUTDOWN_TIMEOUT.into(), n.into());
    }
    if let Some(b) = values::bool_at(obj, attr::RESTART_ON_UPDATE).value() {
        m.insert(attr::RESTART_ON_UPDATE.into(), b.into());
    }
    let t = at(obj, attr::TIMEOUTS);
    if !t.is_null() {
        let mut tm = serde_json::Map::new();
        for name in [to::CREATE, to::UPDATE, to::DELETE] {
            if let Some(v) = opt_str(t, name) {
                tm.insert(name.into(), v.into());
            }
        }
        m.insert(attr::TIMEOUTS.into(), tm.into());
    }
    let mut cidrs = serde_json::Map::new();
    for n in network_interfaces::specs(obj) {
        if let (Some(c), Some(d)) = (&n.expected_ip_cidr, n.effective_device().value()) {
            cidrs.insert(d.to_string(), c.clone().into());
        }
    }
    if !cidrs.is_empty() {
        m.insert(schema::nic::EXPECTED_IP_CIDR.into(), cidrs.into());
    }
    if let Some(f) = opt_str(at(obj, attr::CLOUD_INIT), cloudbase::FLAVOR) {
        m.insert(CLOUD_INIT_FLAVOR_SETTING.into(), f.into());
    }
    // Written explicitly (even as the default), so that an import gives back
    // what the configuration says rather than null.
    if let Some(b) =
        values::bool_at(at(obj, attr::CLOUD_INIT), schema::ci::REMOVE_AFTER_BOOT).value()
    {
        m.insert(CLOUD_INIT_REMOVE_AFTER_BOOT_SETTING.into(), b.into());
    }
    if let Some(f) = opt_str(at(obj, attr::CLOUD_INIT), schema::ci::NETWORK_CONFIG_FORMAT) {
        m.insert(CLOUD_INIT_NETWORK_CONFIG_FORMAT_SETTING.into(), f.into());
    }
    serde_json::Value::Object(m).to_string()
}

/// Key of `cloud_init.remove_after_boot` in the settings JSON.
pub const CLOUD_INIT_REMOVE_AFTER_BOOT_SETTING: &str = "cloud_init_remove_after_boot";
/// Key of `cloud_init.network_config_format` in the settings JSON.
pub const CLOUD_INIT_NETWORK_CONFIG_FORMAT_SETTING: &str = "cloud_init_network_config_format";

/// Key of `cloud_init.flavor` in the settings JSON.
pub const CLOUD_INIT_FLAVOR_SETTING: &str = "cloud_init_flavor";

/// Puts recorded settings into an imported state (interfaces matched by device).
pub fn apply_settings(state: &mut Value, json: &str) {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    if let Some(f) = m.get(CLOUD_INIT_FLAVOR_SETTING).and_then(|v| v.as_str())
        && let Some(Value::Object(c)) = state.get_mut(attr::CLOUD_INIT)
    {
        c.insert(cloudbase::FLAVOR.into(), Value::from(f));
    }
    if let Some(Value::Object(c)) = state.get_mut(attr::CLOUD_INIT) {
        if let Some(b) = m
            .get(CLOUD_INIT_REMOVE_AFTER_BOOT_SETTING)
            .and_then(|v| v.as_bool())
        {
            c.insert(schema::ci::REMOVE_AFTER_BOOT.into(), Value::from(b));
        }
        if let Some(f) = m
            .get(CLOUD_INIT_NETWORK_CONFIG_FORMAT_SETTING)
            .and_then(|v| v.as_str())
        {
            c.insert(schema::ci::NETWORK_CONFIG_FORMAT.into(), Value::from(f));
        }
    }
    if let Some(b) = m.get(attr::WAIT_FOR_GUEST).and_then(|v| v.as_bool()) {
        values::set(state, attr::WAIT_FOR_GUEST, Value::from(b));
    }
    if let Some(n) = m.get(attr::SHUTDOWN_TIMEOUT).and_then(|v| v.as_i64()) {
        values::set(state, attr::SHUTDOWN_TIMEOUT, Value::from(n));
    }
    if let Some(b) = m.get(attr::RESTART_ON_UPDATE).and_then(|v| v.as_bool()) {
        values::set(state, attr::RESTART_ON_UPDATE, Value::from(b));
    }
    if let Some(serde_json::Value::Object(t)) = m.get(attr::TIMEOUTS) {
        let get = |k: &str| {
            t.get(k)
                .and_then(|v| v.as_str())
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        values::set(
            state,
            attr::TIMEOUTS,
            Value::object([
                (to::CREATE, get(to::CREATE)),
                (to::UPDATE, get(to::UPDATE)),
                (to::DELETE, get(to::DELETE)),
            ]),
        );
    }
    if let Some(serde_json::Value::Object(c)) = m.get(schema::nic::EXPECTED_IP_CIDR)
        && let Some(Value::List(items)) = state.get_mut(attr::NETWORK_INTERFACE)
    {
        for item in items {
            let dev = values::int_at(item, schema::nic::DEVICE)
                .value()
                .map(|d| d.to_string());
            if let Some(cidr) = dev.and_then(|d| c.get(&d)).and_then(|v| v.as_str()) {
                values::set(item, schema::nic::EXPECTED_IP_CIDR, Value::from(cidr));
            }
        }
    }
}

/// Default limits of the operations.
pub const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_UPDATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Default `shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// The ownership marker map (plus extra entries).
pub fn owned_other_config(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([(OWNER_KEY.to_owned(), OWNER_VALUE.to_owned())]);
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    m
}

/// The operation limit configured in `timeouts.<name>`, or `default`.
pub fn timeout(obj: &Value, name: &str, default: Duration) -> Duration {
    opt_str(at(obj, attr::TIMEOUTS), name)
        .and_then(|t| parse_duration(&t).ok())
        .unwrap_or(default)
}

/// `shutdown_timeout` in seconds, or the default.
pub fn shutdown_timeout(obj: &Value) -> Duration {
    values::int_at(obj, attr::SHUTDOWN_TIMEOUT)
        .value()
        .filter(|s| *s >= 0)
        .map(|s| Duration::from_secs(s as u64))
        .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT)
}

/// A failure of an operation step: context plus the cause, ready to become a
/// diagnostic. Never contains user-data.
#[derive(Debug)]
pub struct StepError {
    /// Summary line.
    pub summary: String,
    /// Detail.
    pub detail: String,
    /// Attribute at fault, if any.
    pub path: Option<AttributePath>,
}

impl StepError {
    /// An error about the operation.
    pub fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        StepError {
            summary: summary.into(),
            detail: detail.into(),
            path: None,
        }
    }
    /// An error about an attribute.
    pub fn at(path: AttributePath, summary: impl Into<String>, detail: impl Into<String>) -> Self {
        StepError {
            summary: summary.into(),
            detail: detail.into(),
            path: Some(path),
        }
    }
    /// A XAPI failure while doing `what`.
    pub fn xapi(what: impl std::fmt::Display, e: xapi::Error) -> Self {
        StepError::new("XAPI call failed", format!("{what}: {e}"))
    }
    /// A pool-layer failure.
    pub fn pool(e: PoolError) -> Self {
        StepError::new(e.summary(), e.to_string())
    }
    /// Pushes the error.
    pub fn push(self, diags: &mut Diagnostics) {
        match self.path {
            Some(p) => diags.error_at(p, self.summary, self.detail),
            None => diags.error(self.summary, self.detail),
        }
    }
    /// Adds context in front of the detail.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.detail = format!("{what}: {}", self.detail);
        self
    }
}

impl From<PoolError> for StepError {
    fn from(e: PoolError) -> Self {
        StepError::pool(e)
    }
}

/// Result of an operation step.
pub type StepResult<T> = Result<T, StepError>;

/// Extension to add context to XAPI results.
pub trait XapiContext<T> {
    /// Maps a XAPI error to a [`StepError`] saying what was being done.
    fn ctx(self, what: impl std::fmt::Display) -> StepResult<T>;
}

impl<T> XapiContext<T> for Result<T, xapi::Error> {
    fn ctx(self, what: impl std::fmt::Display) -> StepResult<T> {
        self.map_err(|e| StepError::xapi(what, e))
    }
}

impl<T> XapiContext<T> for Result<T, PoolError> {
    fn ctx(self, what: impl std::fmt::Display) -> StepResult<T> {
        self.map_err(|e| StepError::pool(e).context(what))
    }
}

/// The `xenapi_vm` resource.
#[derive(Debug, Default, Clone, Copy)]
pub struct VmResource;

impl VmResource {
    /// The schema (also used by the docs generator).
    pub fn schema() -> Schema {
        schema::schema()
    }
}

fn pool_of(ctx: &Context, diags: &mut Diagnostics) -> Option<Arc<Pool>> {
    match Pool::from_context(ctx) {
        Ok(p) => Some(p),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// The template's `memory_static_min`, looked up at plan time when the
/// configuration leaves `memory.static_min` unset and names a known template.
/// Any failure (no pool settings yet, unreachable pool, unknown name) gives
/// `None`: the value is then planned as unknown and checked at apply.
async fn template_static_min(ctx: &Context, config: &Value) -> Option<i64> {
    let memory = at(config, attr::MEMORY);
    if !at(memory, schema::mem::STATIC_MIN).is_null() {
        return None;
    }
    let template = opt_str(config, attr::TEMPLATE)?;
    let pool = Pool::from_context(ctx).ok()?;
    match pool.resolve_template(&template).await {
        Ok((_, rec)) => Some(rec.memory_static_min),
        Err(e) => {
            tracing::debug!(error = %e, "template lookup at plan time failed; checked at apply");
            None
        }
    }
}

/// Plan-time checks of the whole configuration (no IO).
pub fn validate_config(config: &Value, diags: &mut Diagnostics) {
    memory_limits::MemorySpec::from_value(at(config, attr::MEMORY)).validate(diags);
    cpu::CpuSpec::from_value(config).validate(diags);
    network_interfaces::validate(config, diags);
    disks::validate(config, diags);
    config_drive::validate(config, diags);
    power::validate(config, diags);
    sysprep::validate(config, diags);
    cloudbase::validate(config, diags);
    validate_misc(config, diags);
}

fn validate_misc(config: &Value, diags: &mut Diagnostics) {
    if let Some(t) = opt_str(config, attr::TEMPLATE)
        && t.trim().is_empty()
    {
        diags.error_at(
            AttributePath::new(attr::TEMPLATE),
            "Invalid template",
            "template must be a template UUID or name, not empty.",
        );
    }
    if let Some(n) = opt_str(config, attr::NAME_LABEL)
        && n.trim().is_empty()
    {
        diags.error_at(
            AttributePath::new(attr::NAME_LABEL),
            "Invalid name",
            "name_label must not be empty.",
        );
    }
    if let Some(c) = opt_str(config, attr::CLONE_TYPE)
        && c != "fast"
        && c != "full"
    {
        diags.error_at(
            AttributePath::new(attr::CLONE_TYPE),
            "Invalid clone type",
            format!("clone_type must be \"fast\" or \"full\", got {c:?}."),
        );
    }
    if let Some(f) = opt_str(config, attr::BOOT_FIRMWARE)
        && f != "bios"
        && f != "uefi"
    {
        diags.error_at(
            AttributePath::new(attr::BOOT_FIRMWARE),
            "Invalid boot firmware",
            format!("boot_firmware must be \"bios\" or \"uefi\", got {f:?}."),
        );
    }
    if values::bool_at(config, attr::SECURE_BOOT).value() == Some(true)
        && opt_str(config, attr::BOOT_FIRMWARE).as_deref() == Some("bios")
    {
        diags.error_at(
            AttributePath::new(attr::SECURE_BOOT),
            "Secure Boot needs UEFI",
            "secure_boot = true needs boot_firmware = \"uefi\".",
        );
    }
    if let Some(o) = opt_str(config, attr::BOOT_ORDER)
        && (o.is_empty() || !o.chars().all(|c| matches!(c, 'c' | 'd' | 'n')))
    {
        diags.error_at(
            AttributePath::new(attr::BOOT_ORDER),
            "Invalid boot order",
            format!(
                "boot_order must be a non-empty sequence of the letters c (disk), d (CD) and \
                 n (network), got {o:?}."
            ),
        );
    }
    if let Some(map) = str_map(config, attr::OTHER_CONFIG) {
        for k in map.keys() {
            if k.starts_with(KEY_PREFIX) {
                diags.error_at(
                    AttributePath::new(attr::OTHER_CONFIG).key(k),
                    "Reserved other_config key",
                    format!("Keys starting with {KEY_PREFIX:?} are managed by the provider."),
                );
            }
        }
    }
    if let Some(map) = str_map(config, attr::XENSTORE_DATA) {
        for k in map.keys() {
            let bad = !k.starts_with("vm-data/")
                || k.len() <= "vm-data/".len()
                || k.contains("..")
                || k.contains("//");
            if bad {
                diags.error_at(
                    AttributePath::new(attr::XENSTORE_DATA).key(k),
                    "Invalid xenstore_data key",
                    format!(
                        "{k:?}: keys must start with \"vm-data/\" followed by a path (XAPI \
                         writes only that subtree to the guest's xenstore) and must not \
                         contain \"..\" or \"//\"."
                    ),
                );
            }
        }
    }
    let timeouts = at(config, attr::TIMEOUTS);
    for name in [to::CREATE, to::UPDATE, to::DELETE] {
        if let Some(t) = opt_str(timeouts, name)
            && let Err(e) = parse_duration(&t)
        {
            diags.error_at(
                AttributePath::new(attr::TIMEOUTS).attr(name),
                "Invalid duration",
                e,
            );
        }
    }
    if let Some(s) = values::int_at(config, attr::SHUTDOWN_TIMEOUT).value()
        && s < 0
    {
        diags.error_at(
            AttributePath::new(attr::SHUTDOWN_TIMEOUT),
            "Invalid shutdown timeout",
            format!("shutdown_timeout must be zero or more seconds, got {s}."),
        );
    }
}

#[async_trait]
impl Resource for VmResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_config(config, diags);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        req: &PlanRequest<'_>,
        plan: &mut PlannedChange,
        diags: &mut Diagnostics,
    ) {
        if req.is_destroy() {
            return;
        }
        let template_static_min = if req.is_create() {
            template_static_min(ctx, req.config).await
        } else {
            None
        };
        plan::modify_plan(req, plan, diags, template_static_min);
        if plan.requires_replace.is_empty() {
            let name = opt_str(req.config, attr::NAME_LABEL).unwrap_or_default();
            sysprep::plan(
                req.config,
                req.prior_state,
                &mut plan.planned_state,
                &name,
                diags,
            );
        }
    }

    async fn create(
        &self,
        ctx: &Context,
        req: &CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState {
        let Some(pool) = pool_of(ctx, diags) else {
            return NewState::gone();
        };
        create::create(ctx, &pool, req, diags).await
    }

    async fn read(
        &self,
        ctx: &Context,
        req: &ReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState {
        let Some(pool) = pool_of(ctx, diags) else {
            return NewState::new(req.current_state.clone());
        };
        match read::read(&pool, req.current_state).await {
            Ok(Some(state)) => NewState::new(state),
            Ok(None) => NewState::gone(),
            Err(e) => {
                e.push(diags);
                NewState::new(req.current_state.clone())
            }
        }
    }

    async fn update(
        &self,
        ctx: &Context,
        req: &UpdateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState {
        let Some(pool) = pool_of(ctx, diags) else {
            return NewState::new(req.prior_state.clone());
        };
        update::update(ctx, &pool, req, diags).await
    }

    async fn delete(&self, ctx: &Context, req: &DeleteRequest<'_>, diags: &mut Diagnostics) {
        let Some(pool) = pool_of(ctx, diags) else {
            return;
        };
        if let Err(e) = delete::delete(ctx, &pool, req.prior_state).await {
            e.push(diags);
        }
    }

    async fn import(&self, ctx: &Context, id: &str, diags: &mut Diagnostics) -> NewState {
        let Some(pool) = pool_of(ctx, diags) else {
            return NewState::gone();
        };
        match import::import(&pool, id).await {
            Ok(state) => NewState::new(state),
            Err(e) => {
                e.push(diags);
                NewState::gone()
            }
        }
    }
}

#[cfg(test)]
mod settings_tests {
    use self::schema::ci;
    use super::*;

    fn cloud_init(remove: Value, format: Value) -> Value {
        Value::object([(
            attr::CLOUD_INIT,
            Value::object([
                (ci::REMOVE_AFTER_BOOT, remove),
                (ci::NETWORK_CONFIG_FORMAT, format),
            ]),
        )])
    }

    #[test]
    fn explicit_cloud_init_defaults_survive_an_import() {
        let config = cloud_init(Value::from(false), Value::from("v2"));
        let json = settings_json(&config);
        let mut state = cloud_init(Value::Null, Value::Null);
        apply_settings(&mut state, &json);
        let c = state.get(attr::CLOUD_INIT).expect("cloud_init");
        assert_eq!(c.get(ci::REMOVE_AFTER_BOOT), Some(&Value::from(false)));
        assert_eq!(c.get(ci::NETWORK_CONFIG_FORMAT), Some(&Value::from("v2")));
    }

    #[test]
    fn unset_cloud_init_settings_stay_unset_and_no_drive_stays_null() {
        let json = settings_json(&cloud_init(Value::Null, Value::Null));
        let mut state = cloud_init(Value::Null, Value::Null);
        apply_settings(&mut state, &json);
        let c = state.get(attr::CLOUD_INIT).expect("cloud_init");
        assert_eq!(c.get(ci::REMOVE_AFTER_BOOT), Some(&Value::Null));
        assert_eq!(c.get(ci::NETWORK_CONFIG_FORMAT), Some(&Value::Null));
        // A VM without a drive keeps cloud_init null whatever was recorded.
        let json = settings_json(&cloud_init(Value::from(true), Value::from("v1")));
        let mut state = Value::object([(attr::CLOUD_INIT, Value::Null)]);
        apply_settings(&mut state, &json);
        assert_eq!(state.get(attr::CLOUD_INIT), Some(&Value::Null));
    }
}
