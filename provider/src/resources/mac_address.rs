//! `xenapi_mac_address`: a MAC generated once and kept in state for the
//! resource's lifetime (like the `random` provider's resources, but native).
//! No XAPI: works with an unconfigured pool.
//!
//! Plan rules:
//! - `address` and `id` are computed at create and never change afterwards.
//! - `prefix` defaults to `"local"` at create. Left unset later, it keeps the
//!   recorded value (so an imported `00:16:3e:…` address is not replaced). Set to a
//!   new value, it replaces the address only if the address does not already fit
//!   the new prefix; otherwise the new prefix is recorded in place. A spelling of
//!   the same prefix (`AA:BB:CC` for `aa:bb:cc`) is no change at all.
//! - `keepers` changes replace the address, except when the recorded `keepers` is
//!   null (after an import), where the configuration's keepers are recorded in
//!   place.
//!
//! Import ID: `<address>` or `<address>,<prefix>`.

use async_trait::async_trait;
use schema::{Attribute, AttributePath, Block, Diagnostics, Schema, Type, Value};

use crate::framework::{
    Context, CreateRequest, DeleteRequest, NewState, PlanModifier, PlanRequest, PlannedChange,
    ReadRequest, Resource, UpdateRequest,
};
use crate::mac::{MacAddress, MacPrefix};

/// The resource type name.
pub const TYPE_NAME: &str = "xenapi_mac_address";

const ADDRESS: &str = "address";
const ID: &str = "id";
const PREFIX: &str = "prefix";
const KEEPERS: &str = "keepers";

/// The `xenapi_mac_address` resource.
#[derive(Debug, Default, Clone, Copy)]
pub struct MacAddressResource;

impl MacAddressResource {
    /// The schema (also used by the docs generator).
    pub fn schema() -> Schema {
        let block = Block::new()
            .description(
                "Generates a MAC address once, when the resource is created, and keeps it \
                 in state for the resource's whole lifetime: the same address on every \
                 plan, known before the VIF that uses it exists (for example to write a \
                 network configuration that matches interfaces by MAC). Nothing is created \
                 on the pool; this resource needs no provider connection settings.\n\n\
                 Addresses are unicast and written in lowercase, colon-separated form. The \
                 default prefix `\"local\"` gives locally administered addresses with 46 \
                 random bits (the space XAPI itself uses for VIFs), where collisions are \
                 negligible; `\"xensource\"` (`00:16:3e` plus 24 random bits) and explicit \
                 3-octet prefixes leave only about 16.7 million addresses, so with \
                 thousands of interfaces on one network a collision becomes likely.\n\n\
                 A new address is generated only when `keepers` change or when `prefix` \
                 changes to one the current address does not fit.",
            )
            .attribute(
                Attribute::computed(ID, Type::String)
                    .description("The address itself (same as `address`)."),
            )
            .attribute(Attribute::computed(ADDRESS, Type::String).description(
                "The generated MAC address, lowercase and colon-separated, e.g. \
                 `02:4f:a1:00:3c:9e`. Known after the first apply and unchanged afterwards.",
            ))
            .attribute(
                Attribute::optional_computed(PREFIX, Type::String).description(
                    "Which addresses to generate: `\"local\"` (locally administered unicast, \
                 46 random bits; the default), `\"xensource\"` (the XenSource OUI \
                 `00:16:3e` followed by 24 random bits), or an explicit 3-octet prefix \
                 such as `\"0a:00:27\"` followed by 24 random bits. An explicit prefix must \
                 be unicast: the second hex digit of its first octet must be even. \
                 Changing `prefix` replaces the address only if the current one does not \
                 fit the new prefix. When unset, the value recorded at creation or import \
                 is kept.",
                ),
            )
            .attribute(
                Attribute::optional(KEEPERS, Type::map(Type::String)).description(
                    "Arbitrary values that, when changed, force a new address to be \
                     generated (for example the name of the VM the address belongs to). \
                     After an import, setting keepers records them without a new address.",
                ),
            );
        Schema::new(0, block)
    }
}

fn string_at<'v>(value: &'v Value, name: &str) -> Option<&'v str> {
    value.get(name).and_then(Value::as_str)
}

/// The object stored in state.
fn state_object(address: &MacAddress, prefix: &str, keepers: Value) -> Value {
    let text = address.to_string();
    Value::object([
        (ID, Value::from(text.clone())),
        (ADDRESS, Value::from(text)),
        (PREFIX, Value::from(prefix)),
        (KEEPERS, keepers),
    ])
}

/// Plans `prefix` for an update; returns whether the change forces a new address.
fn plan_prefix(config: &Value, prior: &Value, planned: &mut Value) -> bool {
    let prior_prefix = prior.get(PREFIX).cloned().unwrap_or(Value::Null);
    let config_prefix = config.get(PREFIX).cloned().unwrap_or(Value::Null);
    let (new_value, replace) = if config_prefix.is_null() {
        // Unset: keep what was recorded (the default applies only at create).
        (prior_prefix, false)
    } else if config_prefix.is_unknown() {
        (config_prefix, true)
    } else {
        let wanted = config_prefix
            .as_str()
            .and_then(|t| MacPrefix::parse(t).ok());
        let recorded = prior_prefix.as_str().and_then(|t| MacPrefix::parse(t).ok());
        let address = string_at(prior, ADDRESS).and_then(|t| MacAddress::parse(t).ok());
        match (wanted, recorded, address) {
            // Another spelling of the recorded prefix: keep the prior text.
            (Some(w), Some(r), _) if w == r => (prior_prefix, false),
            // The address already fits: record the new prefix in place.
            (Some(w), _, Some(a)) if w.matches(&a) => (config_prefix, false),
            _ => (config_prefix, true),
        }
    };
    if let Some(slot) = planned.get_mut(PREFIX) {
        *slot = new_value;
    }
    replace
}

/// Whether the planned keepers force a new address.
fn keepers_force_replacement(prior: &Value, planned: &Value) -> bool {
    let prior_keepers = prior.get(KEEPERS).unwrap_or(&Value::Null);
    let planned_keepers = planned.get(KEEPERS).unwrap_or(&Value::Null);
    if prior_keepers.is_null() {
        return false;
    }
    !planned_keepers.is_wholly_known() || planned_keepers != prior_keepers
}

/// Parses an import ID: `<address>` or `<address>,<prefix>`.
fn parse_import_id(id: &str) -> Result<(MacAddress, String), String> {
    let (address_text, prefix_text) = match id.split_once(',') {
        Some((a, p)) => (a.trim(), Some(p.trim())),
        None => (id.trim(), None),
    };
    let address = MacAddress::parse(address_text).map_err(|e| e.to_string())?;
    if !address.is_unicast() {
        return Err(format!(
            "{address} is a multicast (group) address: bit 0 of its first octet is set, so \
             no network interface can use it"
        ));
    }
    let prefix_text = match prefix_text {
        None => MacPrefix::infer(&address)
            .ok_or_else(|| format!("no prefix fits the address {address}"))?
            .to_string(),
        Some(text) => {
            let prefix = MacPrefix::parse(text).map_err(|e| e.to_string())?;
            if !prefix.matches(&address) {
                return Err(format!(
                    "the address {address} does not fit the prefix {text:?}; omit the \
                     prefix to have it inferred"
                ));
            }
            prefix.to_string()
        }
    };
    Ok((address, prefix_text))
}

#[async_trait]
impl Resource for MacAddressResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Self::schema()
    }

    fn plan_modifiers(&self) -> Vec<PlanModifier> {
        vec![
            PlanModifier::UseStateForUnknown(AttributePath::new(ADDRESS)),
            PlanModifier::UseStateForUnknown(AttributePath::new(ID)),
        ]
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(text) = string_at(config, PREFIX)
            && let Err(e) = MacPrefix::parse(text)
        {
            diags.error_at(
                AttributePath::new(PREFIX),
                "Invalid MAC prefix",
                e.to_string(),
            );
        }
    }

    async fn modify_plan(
        &self,
        _ctx: &Context,
        req: &PlanRequest<'_>,
        plan: &mut PlannedChange,
        diags: &mut Diagnostics,
    ) {
        if req.is_destroy() {
            return;
        }
        let planned = &mut plan.planned_state;
        if req.is_create() {
            if req.config.get(PREFIX).is_none_or(Value::is_null)
                && let Some(slot) = planned.get_mut(PREFIX)
            {
                *slot = Value::from(MacPrefix::LOCAL);
            }
            // Validation already reported a bad prefix; make sure apply cannot
            // proceed with one either (validation may have seen it unknown).
            if let Some(text) = string_at(planned, PREFIX)
                && let Err(e) = MacPrefix::parse(text)
            {
                diags.error_at(
                    AttributePath::new(PREFIX),
                    "Invalid MAC prefix",
                    e.to_string(),
                );
            }
            return;
        }
        let prior = req.prior_state;
        if plan_prefix(req.config, prior, planned) {
            push_unique(&mut plan.requires_replace, AttributePath::new(PREFIX));
        }
        if keepers_force_replacement(prior, planned) {
            push_unique(&mut plan.requires_replace, AttributePath::new(KEEPERS));
        }
        // Nothing else may change: when no replacement is needed the address stays.
        if plan.requires_replace.is_empty() {
            for name in [ADDRESS, ID] {
                if let (Some(slot), Some(old)) = (planned.get_mut(name), prior.get(name)) {
                    *slot = old.clone();
                }
            }
        }
    }

    async fn create(
        &self,
        _ctx: &Context,
        req: &CreateRequest<'_>,
        diags: &mut Diagnostics,
    ) -> NewState {
        let prefix_text = string_at(req.planned_state, PREFIX)
            .or_else(|| string_at(req.config, PREFIX))
            .unwrap_or(MacPrefix::LOCAL)
            .to_owned();
        let prefix = match MacPrefix::parse(&prefix_text) {
            Ok(p) => p,
            Err(e) => {
                diags.error_at(
                    AttributePath::new(PREFIX),
                    "Invalid MAC prefix",
                    e.to_string(),
                );
                return NewState::gone();
            }
        };
        let address = prefix.generate(&mut rand::rng());
        let keepers = req.config.get(KEEPERS).cloned().unwrap_or(Value::Null);
        NewState::new(state_object(&address, &prefix_text, keepers))
    }

    async fn read(
        &self,
        _ctx: &Context,
        req: &ReadRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> NewState {
        // Nothing exists outside the state.
        NewState::new(req.current_state.clone())
    }

    async fn update(
        &self,
        _ctx: &Context,
        req: &UpdateRequest<'_>,
        _diags: &mut Diagnostics,
    ) -> NewState {
        // Only `prefix` (to one the address fits) and `keepers` (from null) change
        // in place; the address stays.
        let mut state = req.planned_state.clone();
        for name in [ADDRESS, ID] {
            if let (Some(slot), Some(old)) = (state.get_mut(name), req.prior_state.get(name)) {
                *slot = old.clone();
            }
        }
        if let Some(slot) = state.get_mut(KEEPERS) {
            *slot = req.config.get(KEEPERS).cloned().unwrap_or(Value::Null);
        }
        if let Some(slot) = state.get_mut(PREFIX)
            && slot.is_unknown()
        {
            *slot = req.config.get(PREFIX).cloned().unwrap_or(Value::Null);
        }
        NewState::new(state)
    }

    async fn delete(&self, _ctx: &Context, _req: &DeleteRequest<'_>, _diags: &mut Diagnostics) {
        // Nothing to delete outside the state.
    }

    async fn import(&self, _ctx: &Context, id: &str, diags: &mut Diagnostics) -> NewState {
        match parse_import_id(id) {
            Ok((address, prefix)) => NewState::new(state_object(&address, &prefix, Value::Null)),
            Err(reason) => {
                diags.error(
                    "Invalid import ID",
                    format!(
                        "Cannot import {id:?} as a {TYPE_NAME}: {reason}. The import ID is a \
                         MAC address such as 02:4f:a1:00:3c:9e, optionally followed by a \
                         comma and the prefix to record (e.g. 0a:00:27:5e:10:c4,0a:00:27)."
                    ),
                );
                NewState::gone()
            }
        }
    }
}

fn push_unique(paths: &mut Vec<AttributePath>, path: AttributePath) {
    if !paths.contains(&path) {
        paths.push(path);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use schema::{Type, msgpack};

    use super::*;
    use crate::catalog::XenapiProvider;
    use crate::framework::{ClientCapabilities, Engine, PlanOutcome, RawValue};

    fn engine() -> Engine {
        Engine::new(Arc::new(XenapiProvider))
    }

    fn ty() -> Type {
        MacAddressResource::schema().block.implied_type()
    }

    fn enc(v: &Value) -> RawValue {
        RawValue::msgpack(msgpack::encode(v, &ty()).unwrap())
    }

    fn dec(r: &RawValue) -> Value {
        msgpack::decode(&r.msgpack, &ty()).unwrap()
    }

    fn keepers(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        )
    }

    fn config(prefix: Option<&str>, keepers: Value) -> Value {
        Value::object([
            (ID, Value::Null),
            (ADDRESS, Value::Null),
            (PREFIX, prefix.map(Value::from).unwrap_or(Value::Null)),
            (KEEPERS, keepers),
        ])
    }

    /// What Terraform proposes: configured values, and for computed attributes
    /// that are null in the configuration, the prior value.
    fn proposed(prior: &Value, config: &Value) -> Value {
        let mut out = config.clone();
        for name in [ID, ADDRESS, PREFIX] {
            if config.get(name).is_some_and(Value::is_null) {
                let old = prior.get(name).cloned().unwrap_or(Value::Null);
                *out.get_mut(name).unwrap() = old;
            }
        }
        out
    }

    async fn plan(e: &Engine, prior: &Value, config: &Value) -> (Value, PlanOutcome) {
        let outcome = e
            .plan_resource_change(
                TYPE_NAME,
                &enc(prior),
                &enc(&proposed(prior, config)),
                &enc(config),
                &[],
                ClientCapabilities::default(),
            )
            .await;
        assert!(
            !outcome.diagnostics.has_errors(),
            "{:?}",
            outcome.diagnostics
        );
        (dec(&outcome.planned_state), outcome)
    }

    async fn apply(e: &Engine, prior: &Value, planned: &Value, config: &Value) -> Value {
        let outcome = e
            .apply_resource_change(TYPE_NAME, &enc(prior), &enc(planned), &enc(config), &[])
            .await;
        assert!(
            !outcome.diagnostics.has_errors(),
            "{:?}",
            outcome.diagnostics
        );
        dec(&outcome.new_state)
    }

    async fn create(e: &Engine, config: &Value) -> Value {
        let (planned, _) = plan(e, &Value::Null, config).await;
        apply(e, &Value::Null, &planned, config).await
    }

    async fn import(e: &Engine, id: &str) -> Result<Value, String> {
        let (imported, diags) = e
            .import_resource_state(TYPE_NAME, id, ClientCapabilities::default())
            .await;
        if diags.has_errors() {
            return Err(diags.iter().map(|d| d.detail.clone()).collect());
        }
        let read = e
            .read_resource(
                TYPE_NAME,
                &imported[0].state,
                &imported[0].private,
                ClientCapabilities::default(),
            )
            .await;
        assert!(read.diagnostics.is_empty());
        Ok(dec(&read.new_state))
    }

    fn address_of(state: &Value) -> MacAddress {
        MacAddress::parse(string_at(state, ADDRESS).unwrap()).unwrap()
    }

    fn replace_paths(outcome: &PlanOutcome) -> Vec<String> {
        outcome
            .requires_replace
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[tokio::test]
    async fn create_plans_unknown_address_and_default_prefix() {
        let e = engine();
        let cfg = config(None, Value::Null);
        let (planned, outcome) = plan(&e, &Value::Null, &cfg).await;
        assert!(planned.get(ADDRESS).unwrap().is_unknown());
        assert!(planned.get(ID).unwrap().is_unknown());
        assert_eq!(planned.get(PREFIX).unwrap(), &Value::from("local"));
        assert!(outcome.requires_replace.is_empty());

        let state = apply(&e, &Value::Null, &planned, &cfg).await;
        let mac = address_of(&state);
        assert!(MacPrefix::Local.matches(&mac));
        assert_eq!(state.get(ID), state.get(ADDRESS));
        assert_eq!(state.get(PREFIX).unwrap(), &Value::from("local"));
        assert!(state.is_wholly_known());
    }

    #[tokio::test]
    async fn each_prefix_generates_matching_addresses() {
        let e = engine();
        for (prefix, expected) in [
            ("xensource", MacPrefix::XenSource),
            ("0A:00:27", MacPrefix::Oui([0x0a, 0x00, 0x27])),
        ] {
            let state = create(&e, &config(Some(prefix), Value::Null)).await;
            assert!(expected.matches(&address_of(&state)), "{prefix}");
            // The prefix is stored as written (the plan must equal the config).
            assert_eq!(state.get(PREFIX).unwrap(), &Value::from(prefix));
        }
    }

    #[tokio::test]
    async fn second_plan_is_empty_and_refresh_keeps_the_address() {
        let e = engine();
        let cfg = config(Some("xensource"), keepers(&[("vm", "a")]));
        let state = create(&e, &cfg).await;
        let (planned, outcome) = plan(&e, &state, &cfg).await;
        assert_eq!(planned, state);
        assert!(outcome.requires_replace.is_empty());
        let read = e
            .read_resource(TYPE_NAME, &enc(&state), &[], ClientCapabilities::default())
            .await;
        assert_eq!(dec(&read.new_state), state);

        // Unsetting the prefix keeps the recorded one and the address.
        let (planned, outcome) = plan(&e, &state, &config(None, keepers(&[("vm", "a")]))).await;
        assert_eq!(planned, state);
        assert!(outcome.requires_replace.is_empty());
    }

    #[tokio::test]
    async fn changed_keepers_force_a_new_address() {
        let e = engine();
        let state = create(&e, &config(None, keepers(&[("vm", "a")]))).await;
        for new in [keepers(&[("vm", "b")]), keepers(&[]), Value::Null] {
            let (_, outcome) = plan(&e, &state, &config(None, new.clone())).await;
            assert_eq!(replace_paths(&outcome), vec!["keepers"], "{new:?}");
        }
        // A keeper known only at apply time also replaces.
        let unknown = Value::Map([("vm".to_owned(), Value::unknown())].into());
        let (_, outcome) = plan(&e, &state, &config(None, unknown)).await;
        assert_eq!(replace_paths(&outcome), vec!["keepers"]);
        // Two creates give two different addresses.
        let other = create(&e, &config(None, keepers(&[("vm", "b")]))).await;
        assert_ne!(address_of(&state), address_of(&other));
    }

    #[tokio::test]
    async fn prefix_changes_replace_only_when_the_address_does_not_fit() {
        let e = engine();
        let state = create(&e, &config(Some("0a:00:27"), Value::Null)).await;

        // Another spelling of the same prefix: no change at all.
        let (planned, outcome) = plan(&e, &state, &config(Some("0A-00-27"), Value::Null)).await;
        assert_eq!(planned, state);
        assert!(outcome.requires_replace.is_empty());

        // "local" fits 0a:… (locally administered): recorded in place.
        let cfg = config(Some("local"), Value::Null);
        let (planned, outcome) = plan(&e, &state, &cfg).await;
        assert!(outcome.requires_replace.is_empty());
        assert_eq!(planned.get(PREFIX).unwrap(), &Value::from("local"));
        assert_eq!(planned.get(ADDRESS), state.get(ADDRESS));
        let updated = apply(&e, &state, &planned, &cfg).await;
        assert_eq!(updated, planned);

        // "xensource" does not fit: replacement.
        let (_, outcome) = plan(&e, &state, &config(Some("xensource"), Value::Null)).await;
        assert_eq!(replace_paths(&outcome), vec!["prefix"]);
    }

    #[tokio::test]
    async fn invalid_prefix_is_a_validation_error_at_its_path() {
        let e = engine();
        for bad in ["01:00:5e", "random", "aa:bb"] {
            let diags = e.validate_resource_config(
                TYPE_NAME,
                &enc(&config(Some(bad), Value::Null)),
                ClientCapabilities::default(),
            );
            assert!(diags.has_errors(), "{bad}");
            let d = diags.iter().next().unwrap();
            assert_eq!(d.attribute.as_ref().unwrap().to_string(), "prefix");
            assert_eq!(d.summary, "Invalid MAC prefix");
        }
        let diags = e.validate_resource_config(
            TYPE_NAME,
            &enc(&Value::object([
                (ID, Value::Null),
                (ADDRESS, Value::Null),
                (PREFIX, Value::unknown()),
                (KEEPERS, Value::Null),
            ])),
            ClientCapabilities::default(),
        );
        assert!(diags.is_empty(), "unknown prefix is checked later");
    }

    #[tokio::test]
    async fn import_infers_the_prefix_so_the_next_plan_is_empty() {
        let e = engine();
        let cases = [
            ("00-16-3E-AA-BB-CC", "00:16:3e:aa:bb:cc", "xensource"),
            ("02:4F:A1:00:3C:9E", "02:4f:a1:00:3c:9e", "local"),
            ("00:50:56:01:02:03", "00:50:56:01:02:03", "00:50:56"),
            (
                "0a:00:27:5e:10:c4,0a:00:27",
                "0a:00:27:5e:10:c4",
                "0a:00:27",
            ),
            ("0a:00:27:5e:10:c4, LOCAL", "", ""),
        ];
        for (id, address, prefix) in cases {
            let result = import(&e, id).await;
            if address.is_empty() {
                assert!(result.is_err(), "{id}");
                continue;
            }
            let state = result.unwrap();
            assert_eq!(string_at(&state, ADDRESS), Some(address), "{id}");
            assert_eq!(string_at(&state, ID), Some(address), "{id}");
            assert_eq!(string_at(&state, PREFIX), Some(prefix), "{id}");
            assert!(state.get(KEEPERS).unwrap().is_null());
            // Both "no prefix" and the matching prefix plan empty.
            for cfg in [config(None, Value::Null), config(Some(prefix), Value::Null)] {
                let (planned, outcome) = plan(&e, &state, &cfg).await;
                assert_eq!(planned, state, "{id}");
                assert!(outcome.requires_replace.is_empty(), "{id}");
            }
        }
    }

    #[tokio::test]
    async fn keepers_after_import_are_recorded_without_a_new_address() {
        let e = engine();
        let state = import(&e, "02:4f:a1:00:3c:9e").await.unwrap();
        let cfg = config(None, keepers(&[("vm", "web")]));
        let (planned, outcome) = plan(&e, &state, &cfg).await;
        assert!(outcome.requires_replace.is_empty());
        let updated = apply(&e, &state, &planned, &cfg).await;
        assert_eq!(string_at(&updated, ADDRESS), Some("02:4f:a1:00:3c:9e"));
        assert_eq!(updated.get(KEEPERS).unwrap(), &keepers(&[("vm", "web")]));
        // From now on keepers changes replace.
        let (_, outcome) = plan(&e, &updated, &config(None, keepers(&[("vm", "db")]))).await;
        assert_eq!(replace_paths(&outcome), vec!["keepers"]);
    }

    #[tokio::test]
    async fn bad_import_ids_are_clear_errors() {
        let e = engine();
        for (id, reason) in [
            ("nope", "is not a MAC address"),
            ("01:00:5e:00:00:01", "multicast"),
            ("02:4f:a1:00:3c:9e,xensource", "does not fit the prefix"),
            ("02:4f:a1:00:3c:9e,zz", "is not a MAC prefix"),
        ] {
            let err = import(&e, id).await.unwrap_err();
            assert!(err.contains(reason), "{id}: {err}");
            assert!(err.contains("optionally followed by a comma"), "{err}");
        }
    }

    #[tokio::test]
    async fn destroy_plans_null_and_delete_succeeds() {
        let e = engine();
        let cfg = config(None, Value::Null);
        let state = create(&e, &cfg).await;
        let outcome = e
            .plan_resource_change(
                TYPE_NAME,
                &enc(&state),
                &enc(&Value::Null),
                &enc(&Value::Null),
                &[],
                ClientCapabilities::default(),
            )
            .await;
        assert!(outcome.diagnostics.is_empty());
        assert!(dec(&outcome.planned_state).is_null());
        let gone = apply(&e, &state, &Value::Null, &Value::Null).await;
        assert!(gone.is_null());
    }
}
