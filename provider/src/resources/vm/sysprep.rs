//! `xenapi_vm.sysprep`: Windows sysprep with an unattend.xml through XAPI's
//! `VM.sysprep` (reference `xapi.md` §8, `guest-config.md` §6).
//!
//! - Schema fragment ([`attribute`]) and plan-time validation ([`validate`]):
//!   well-formed XML with an `unattend` root, at most 32 KiB, exactly one of
//!   `unattend` (sensitive) and `unattend_wo` (write-only).
//! - Planning ([`decide`] / [`plan`]): whether this plan runs sysprep. State
//!   keeps `runs` and, for `unattend`, the SHA-256 of the unattend the last run
//!   received; for `unattend_wo`, nothing derived from the secret is stored and
//!   `unattend_wo_version` (Terraform's convention) marks a change.
//! - Apply ([`run`]): VM running, an empty CD drive (created when the VM has
//!   none; an occupied one is an error), the guest agent's `feature-sysprep`
//!   (waited for with `event.from`), `Async.VM.sysprep` with the XAPI-version
//!   fallbacks, then the shutdown sysprep causes, then the configured power
//!   state.
//!
//! The unattend content is a secret: it lives in [`Unattend`], whose `Debug`
//! redacts it and which has no `Display`; it reaches XAPI as a call parameter
//! and nothing else (no log, no error text, no state for `unattend_wo`).

use std::fmt;
use std::time::Duration;

use schema::{Attribute, AttributePath, Diagnostics, Nesting, Type, Value};
use serde_json::json;
use sha2::{Digest, Sha256};
use xapi::{
    Client, ErrorCode, PowerState, StringMap, VbdCreate, VbdRef, VbdType, VmGuestMetrics, VmRef,
};

use super::values::{Known, at, int_at, str_at};

/// The attribute name in the resource.
pub const SYSPREP: &str = "sysprep";
/// The resource's CD attribute (sysprep needs the CD drive empty).
pub const CDROM: &str = "cdrom";

/// Attribute names inside `sysprep`.
pub mod attr {
    pub const UNATTEND: &str = "unattend";
    pub const UNATTEND_WO: &str = "unattend_wo";
    pub const UNATTEND_WO_VERSION: &str = "unattend_wo_version";
    pub const RUN: &str = "run";
    pub const TIMEOUT: &str = "timeout";
    pub const AGENT_TIMEOUT: &str = "agent_timeout";
    pub const RUNS: &str = "runs";
    pub const UNATTEND_SHA256: &str = "unattend_sha256";
}

/// `run` values.
pub const RUN_ONCE: &str = "once";
/// `run` values.
pub const RUN_ON_CHANGE: &str = "on_change";

/// XAPI refuses larger unattend files (`vm_sysprep.ml`: 32 * 1024 bytes).
pub const MAX_UNATTEND_BYTES: usize = 32 * 1024;
/// Default of `sysprep.timeout` (seconds), XAPI's `timeout` parameter.
pub const DEFAULT_TIMEOUT_SECS: i64 = 900;
/// Default of `sysprep.agent_timeout` (seconds).
pub const DEFAULT_AGENT_TIMEOUT_SECS: i64 = 900;
/// The xenstore feature flag the guest agent publishes (mirrored in
/// `VM_guest_metrics.other`).
pub const FEATURE_SYSPREP: &str = "feature-sysprep";
/// VM `other_config` key counting the sysprep runs made by the provider.
pub const RUNS_KEY: &str = "xenapi-terraform-sysprep-runs";
/// VM `other_config` key holding `unattend_wo_version` of the last run made
/// with `unattend_wo` (a version number, not a secret), for import.
pub const WO_VERSION_KEY: &str = "xenapi-terraform-sysprep-wo-version";
/// The XAPI release that introduced `VM.sysprep` (2-parameter form).
pub const XAPI_WITH_SYSPREP: &str = "25.24.0";
/// The XAPI release that added the `timeout` parameter.
pub const XAPI_WITH_TIMEOUT: &str = "25.26.0";
/// The XAPI release that enabled `VM.sysprep` by default.
pub const XAPI_ENABLED_BY_DEFAULT: &str = "25.33.0";

// ---------------------------------------------------------------------------
// The secret

/// An unattend.xml document. `Debug` shows only its size; there is no
/// `Display`. Use [`Unattend::expose`] only to hand it to XAPI.
#[derive(Clone, PartialEq, Eq)]
pub struct Unattend(String);

impl Unattend {
    /// Wraps the text.
    pub fn new(text: impl Into<String>) -> Self {
        Unattend(text.into())
    }
    /// The text, for the XAPI call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Lower-case hex SHA-256 of the text.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl fmt::Debug for Unattend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unattend(<redacted, {} bytes>)", self.0.len())
    }
}

fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

// ---------------------------------------------------------------------------
// Schema

/// The `sysprep` nested attribute.
pub fn attribute() -> Attribute {
    Attribute::nested_optional(
        SYSPREP,
        Nesting::Single,
        vec![
            Attribute::optional(attr::UNATTEND, Type::String)
                .sensitive()
                .description(
                    "The unattend.xml document (root element `unattend`, at most 32 KiB). \
                     Sensitive: never logged nor shown in plans, but kept in the state like \
                     any sensitive argument; use `unattend_wo` to keep it out of the state. \
                     Exactly one of `unattend` and `unattend_wo` is required. Put the \
                     Administrator password here (or in cloud-init user-data), never in a \
                     plain attribute.",
                ),
            Attribute::optional(attr::UNATTEND_WO, Type::String)
                .sensitive()
                .write_only()
                .description(
                    "Write-only variant of `unattend` (Terraform 1.11 or later): sent to the \
                     provider at plan and apply and never stored, not even as a hash. A \
                     change of its content alone is not detected; change \
                     `unattend_wo_version` to run sysprep again (with `run = \"on_change\"`).",
                ),
            Attribute::optional(attr::UNATTEND_WO_VERSION, Type::Number).description(
                "A version number for `unattend_wo`, stored in the state. With \
                 `run = \"on_change\"`, changing it runs sysprep again with the current \
                 `unattend_wo`. Only valid together with `unattend_wo`.",
            ),
            Attribute::optional(attr::RUN, Type::String).description(
                "`\"once\"` (default): sysprep runs when the VM is created (or when this \
                 block is added to an existing VM) and never again; later changes of the \
                 unattend are recorded but not applied. `\"on_change\"`: a changed \
                 `unattend` (or `unattend_wo_version`) runs sysprep again on the existing VM \
                 (the plan says so in a warning): Windows is generalized once more and the VM \
                 restarts.",
            ),
            Attribute::optional(attr::TIMEOUT, Type::Number).description(
                "Seconds XAPI waits for each sysprep phase (the guest finishing sysprep, then \
                 the domain shutting down): `VM.sysprep`'s `timeout` parameter. Default 900. \
                 XAPI versions before 25.26.0 have no such parameter and use their own limit.",
            ),
            Attribute::optional(attr::AGENT_TIMEOUT, Type::Number).description(
                "Seconds to wait after the VM starts for its guest agent to report \
                 `feature-sysprep` (XenServer VM Tools for Windows with sysprep support). \
                 Default 900. When it is not reported in time the apply fails naming the \
                 missing feature.",
            ),
            Attribute::computed(attr::RUNS, Type::Number)
                .description("How many times the provider ran sysprep on this VM."),
            Attribute::computed(attr::UNATTEND_SHA256, Type::String).description(
                "Hex SHA-256 of the `unattend` the last sysprep run received (what \
                 `run = \"on_change\"` compares with). Null when the last run used \
                 `unattend_wo`: nothing derived from a write-only value is stored.",
            ),
        ],
    )
    .description(
        "Run Windows sysprep with an unattend.xml through XAPI's `VM.sysprep` after the \
         VM's first boot. The guest needs XenServer VM Tools for Windows with sysprep support \
         (the agent reports `feature-sysprep`) and an empty CD drive (the provider creates one \
         when the VM has none; an inserted ISO is an error). XAPI puts the unattend on a \
         generated ISO in that drive; sysprep generalizes Windows and shuts the VM down; the \
         provider then brings the VM to `power_state`. Needs XAPI 25.24.0 or later with the \
         call enabled (the default from 25.33.0).",
    )
}

// ---------------------------------------------------------------------------
// Validation (plan time, no IO)

/// Why an unattend document is refused. The message never quotes the
/// document's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnattendProblem {
    /// Larger than XAPI accepts.
    #[error(
        "the unattend is {size} bytes; XAPI's VM.sysprep accepts at most {MAX_UNATTEND_BYTES} \
         bytes (32 KiB)"
    )]
    TooLarge {
        /// Size in bytes.
        size: usize,
    },
    /// Empty or only whitespace.
    #[error("the unattend is empty")]
    Empty,
    /// Not well-formed XML.
    #[error("the unattend is not well-formed XML: {what} (line {line}, column {column})")]
    Malformed {
        /// What is wrong, without quoting the document.
        what: &'static str,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
    },
    /// The root element is not `unattend`.
    #[error(
        "the root element is `{found}`, but an answer file's root element must be `unattend` \
         (xmlns=\"urn:schemas-microsoft-com:unattend\")"
    )]
    WrongRoot {
        /// The root element's name.
        found: String,
    },
}

fn describe_xml_error(e: &roxmltree::Error) -> &'static str {
    use roxmltree::Error as E;
    match e {
        E::InvalidXmlPrefixUri(_) | E::UnexpectedXmlUri(_) | E::UnexpectedXmlnsUri(_) => {
            "invalid use of the xml/xmlns namespace"
        }
        E::InvalidElementNamePrefix(_) => "invalid element name prefix",
        E::DuplicatedNamespace(..) => "namespace declared twice",
        E::UnknownNamespace(..) => "unknown namespace prefix",
        E::UnexpectedCloseTag(..) | E::UnexpectedEntityCloseTag(_) => {
            "closing tag does not match the open element"
        }
        E::UnknownEntityReference(..) | E::MalformedEntityReference(_) => {
            "unknown or malformed entity reference (escape & as &amp;)"
        }
        E::EntityReferenceLoop(_) => "entity reference loop",
        E::InvalidAttributeValue(_) => "invalid attribute value (escape < as &lt;)",
        E::DuplicatedAttribute(..) => "attribute given twice",
        E::NoRootNode => "no root element",
        E::UnclosedRootNode => "the root element is not closed",
        E::UnexpectedDeclaration(_) => "XML declaration not at the start",
        E::DtdDetected => "DTDs are not allowed",
        E::NodesLimitReached | E::AttributesLimitReached | E::NamespacesLimitReached => {
            "document too complex"
        }
        E::InvalidName(_) => "invalid name",
        E::NonXmlChar(..) => "character not allowed in XML",
        E::InvalidChar(..) | E::InvalidChar2(..) | E::InvalidString(..) => "unexpected character",
        E::InvalidExternalID(_) => "invalid external ID",
        E::InvalidComment(_) => "invalid comment",
        E::InvalidCharacterData(_) => "invalid character data",
        E::UnknownToken(_) => "unexpected content",
        E::UnexpectedEndOfStream => "unexpected end of the document",
    }
}

/// Checks an unattend document: size, well-formed XML, root `unattend`.
pub fn check_unattend(text: &str) -> Result<(), UnattendProblem> {
    if text.len() > MAX_UNATTEND_BYTES {
        return Err(UnattendProblem::TooLarge { size: text.len() });
    }
    if text.trim().is_empty() {
        return Err(UnattendProblem::Empty);
    }
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        UnattendProblem::Malformed {
            what: describe_xml_error(&e),
            line: pos.row,
            column: pos.col,
        }
    })?;
    let root = doc.root_element().tag_name().name();
    if root != "unattend" {
        let mut found: String = root.chars().take(64).collect();
        if root.chars().count() > 64 {
            found.push('…');
        }
        return Err(UnattendProblem::WrongRoot { found });
    }
    Ok(())
}

fn path(name: &str) -> AttributePath {
    AttributePath::new(SYSPREP).attr(name)
}

fn is_set(v: &Value) -> bool {
    !v.is_null()
}

/// Plan-time checks of `sysprep` in a resource configuration (values may be
/// unknown; nothing is checked that is not known).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let s = at(config, SYSPREP);
    if s.is_null() || s.is_unknown() {
        return;
    }
    let unattend = at(s, attr::UNATTEND);
    let wo = at(s, attr::UNATTEND_WO);
    match (is_set(unattend), is_set(wo)) {
        (true, true) => diags.error_at(
            path(attr::UNATTEND_WO),
            "Conflicting unattend arguments",
            "Set exactly one of sysprep.unattend and sysprep.unattend_wo, not both.",
        ),
        (false, false) => diags.error_at(
            AttributePath::new(SYSPREP),
            "Missing unattend",
            "sysprep needs the answer file: set sysprep.unattend (sensitive, kept in the \
             state) or sysprep.unattend_wo (write-only, never stored).",
        ),
        _ => {}
    }
    for (name, v) in [(attr::UNATTEND, unattend), (attr::UNATTEND_WO, wo)] {
        if let Some(text) = v.as_str()
            && let Err(p) = check_unattend(text)
        {
            diags.error_at(path(name), "Invalid unattend", capitalize(&p.to_string()));
        }
    }
    if is_set(at(s, attr::UNATTEND_WO_VERSION)) && !is_set(wo) {
        diags.error_at(
            path(attr::UNATTEND_WO_VERSION),
            "unattend_wo_version without unattend_wo",
            "sysprep.unattend_wo_version versions the write-only sysprep.unattend_wo; set \
             it only together with unattend_wo.",
        );
    }
    if let Known::Value(r) = str_at(s, attr::RUN)
        && r != RUN_ONCE
        && r != RUN_ON_CHANGE
    {
        diags.error_at(
            path(attr::RUN),
            "Invalid sysprep run mode",
            format!("sysprep.run must be \"once\" or \"on_change\", got {r:?}."),
        );
    }
    for name in [attr::TIMEOUT, attr::AGENT_TIMEOUT] {
        let v = at(s, name);
        if v.is_null() || v.is_unknown() {
            continue;
        }
        match v.as_i64() {
            Some(n) if (1..=86_400).contains(&n) => {}
            _ => diags.error_at(
                path(name),
                "Invalid sysprep timeout",
                format!(
                    "sysprep.{name} must be a whole number of seconds between 1 and 86400, \
                     got {}.",
                    v.as_number().map(|n| n.to_string()).unwrap_or_default()
                ),
            ),
        }
    }
    if let Some(cd) = at(config, CDROM).as_str()
        && !cd.is_empty()
    {
        diags.error_at(
            AttributePath::new(CDROM),
            "sysprep needs an empty CD drive",
            format!(
                "XAPI's VM.sysprep inserts the unattend ISO into the VM's empty CD drive, but \
                 cdrom = {cd:?} keeps an ISO in it. Set cdrom = \"\" or leave it unset when \
                 using sysprep."
            ),
        );
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------
// Planning

/// What a plan (or an apply) does with sysprep.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No `sysprep` block: nothing to do.
    Absent,
    /// Sysprep runs in this apply.
    Run {
        /// True when this is the VM's first provider-made run (create, or the
        /// block added to an existing VM).
        first: bool,
        /// The planned `runs` value.
        runs: i64,
        /// The planned `unattend_sha256` (null for `unattend_wo`).
        sha256: Option<String>,
    },
    /// Sysprep does not run; the computed values stay.
    Keep {
        /// `runs` kept from the prior state.
        runs: i64,
        /// `unattend_sha256` kept from the prior state.
        sha256: Option<String>,
    },
    /// Not known before apply (unknown unattend or run mode): the computed
    /// values are unknown and the apply decides.
    Unknown,
}

impl Decision {
    /// True when sysprep runs.
    pub fn runs_sysprep(&self) -> bool {
        matches!(self, Decision::Run { .. })
    }
}

/// Decides from the configuration (values may be unknown at plan time; at
/// apply they are known) and the prior state (null on create).
pub fn decide(config: &Value, prior_state: &Value) -> Decision {
    let s = at(config, SYSPREP);
    if s.is_null() {
        return Decision::Absent;
    }
    if s.is_unknown() {
        return Decision::Unknown;
    }
    let uses_wo = is_set(at(s, attr::UNATTEND_WO));
    let new_sha = match (uses_wo, at(s, attr::UNATTEND)) {
        (true, _) => Known::Null,
        (false, v) if v.is_unknown() => Known::Unknown,
        (false, v) => v
            .as_str()
            .map(|t| Known::Value(sha256_hex(t)))
            .unwrap_or(Known::Null),
    };
    let prior = at(prior_state, SYSPREP);
    if prior_state.is_null() || prior.is_null() {
        return match new_sha {
            Known::Unknown => Decision::Unknown,
            Known::Value(h) => Decision::Run {
                first: true,
                runs: 1,
                sha256: Some(h),
            },
            Known::Null => Decision::Run {
                first: true,
                runs: 1,
                sha256: None,
            },
        };
    }
    let prior_runs = int_at(prior, attr::RUNS).value().unwrap_or(0);
    let prior_sha = str_at(prior, attr::UNATTEND_SHA256);
    // An imported VM (XAPI keeps neither the unattend nor its hash) records
    // only `runs` (and the version of a write-only run): the configured
    // `unattend` is taken as the one applied, so that the original
    // configuration does not run sysprep again.
    if !uses_wo && prior_runs > 0 && is_bookkeeping_only(prior) {
        return match new_sha {
            Known::Unknown => Decision::Unknown,
            sha => Decision::Keep {
                runs: prior_runs,
                sha256: sha.into_value(),
            },
        };
    }
    let keep = Decision::Keep {
        runs: prior_runs,
        sha256: prior_sha.value_ref().cloned(),
    };
    let mode = str_at(s, attr::RUN);
    let on_change = match &mode {
        Known::Unknown => return Decision::Unknown,
        Known::Value(m) => m == RUN_ON_CHANGE,
        Known::Null => false,
    };
    if !on_change {
        return keep;
    }
    let changed = if uses_wo {
        let version = at(s, attr::UNATTEND_WO_VERSION);
        if version.is_unknown() {
            return Decision::Unknown;
        }
        // A switch from `unattend` (hash stored) to `unattend_wo` is a change,
        // as is a new version.
        prior_sha.is_value() || version != at(prior, attr::UNATTEND_WO_VERSION)
    } else {
        match &new_sha {
            Known::Unknown => return Decision::Unknown,
            Known::Value(h) => prior_sha.value_ref() != Some(h),
            Known::Null => false,
        }
    };
    if !changed {
        return keep;
    }
    Decision::Run {
        first: false,
        runs: prior_runs + 1,
        sha256: new_sha.into_value(),
    }
}

/// True when a stored `sysprep` object holds nothing but `runs` (what an
/// import recovers).
fn is_bookkeeping_only(prior: &Value) -> bool {
    [
        attr::UNATTEND,
        attr::UNATTEND_WO_VERSION,
        attr::RUN,
        attr::TIMEOUT,
        attr::AGENT_TIMEOUT,
        attr::UNATTEND_SHA256,
    ]
    .iter()
    .all(|name| at(prior, name).is_null())
}

/// The `sysprep` object an import recovers from the VM's `other_config`:
/// `runs` and the write-only version of the last run; null when the provider
/// never ran sysprep on the VM. The unattend itself is not recoverable.
pub fn imported_state(other_config: &StringMap) -> Value {
    let Some(runs) = other_config
        .get(RUNS_KEY)
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return Value::Null;
    };
    let version = other_config
        .get(WO_VERSION_KEY)
        .and_then(|v| v.parse::<i64>().ok())
        .map(Value::from)
        .unwrap_or(Value::Null);
    Value::object([
        (attr::UNATTEND, Value::Null),
        (attr::UNATTEND_WO, Value::Null),
        (attr::UNATTEND_WO_VERSION, version),
        (attr::RUN, Value::Null),
        (attr::TIMEOUT, Value::Null),
        (attr::AGENT_TIMEOUT, Value::Null),
        (attr::RUNS, Value::from(runs)),
        (attr::UNATTEND_SHA256, Value::Null),
    ])
}

trait KnownExt {
    fn value_ref(&self) -> Option<&String>;
    fn into_value(self) -> Option<String>;
}

impl KnownExt for Known<String> {
    fn value_ref(&self) -> Option<&String> {
        match self {
            Known::Value(v) => Some(v),
            _ => None,
        }
    }
    fn into_value(self) -> Option<String> {
        match self {
            Known::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Writes the computed `sysprep` values a decision implies into a state
/// object (planned state at plan time, new state at apply).
pub fn apply_decision(state: &mut Value, decision: &Decision) {
    let Some(Value::Object(s)) = state.get_mut(SYSPREP) else {
        return;
    };
    let (runs, sha) = match decision {
        Decision::Absent => return,
        Decision::Run { runs, sha256, .. } => (
            Value::from(*runs),
            sha256.as_deref().map(Value::from).unwrap_or(Value::Null),
        ),
        Decision::Keep { runs, sha256 } => (
            Value::from(*runs),
            sha256.as_deref().map(Value::from).unwrap_or(Value::Null),
        ),
        Decision::Unknown => (Value::unknown(), Value::unknown()),
    };
    s.insert(attr::RUNS.to_owned(), runs);
    s.insert(attr::UNATTEND_SHA256.to_owned(), sha);
}

/// Plans `sysprep`: sets its computed values in `planned_state` and warns
/// when an existing VM will be sysprepped. Returns the decision.
pub fn plan(
    config: &Value,
    prior_state: &Value,
    planned_state: &mut Value,
    vm_name: &str,
    diags: &mut Diagnostics,
) -> Decision {
    let d = decide(config, prior_state);
    apply_decision(planned_state, &d);
    let existing = !prior_state.is_null();
    match &d {
        Decision::Run { first, .. } if existing => {
            let why = if *first {
                "the sysprep block was added to this existing VM"
            } else {
                "sysprep.run = \"on_change\" and the unattend changed since the last run"
            };
            diags.warning_at(
                AttributePath::new(SYSPREP),
                format!("Sysprep will run on VM {vm_name:?}"),
                format!(
                    "Because {why}, this apply calls VM.sysprep on the running VM: Windows \
                     is generalized again with the new unattend.xml and the VM shuts down; \
                     the provider then brings it to its power_state. Use run = \"once\" to \
                     leave the VM as it is."
                ),
            );
        }
        Decision::Unknown if existing => diags.warning_at(
            AttributePath::new(SYSPREP),
            format!("Sysprep may run on VM {vm_name:?}"),
            "The unattend or the run mode is known only at apply time; if it differs from \
             the last run and run = \"on_change\", the apply runs sysprep again (the VM is \
             generalized and restarts).",
        ),
        _ => {}
    }
    d
}

// ---------------------------------------------------------------------------
// Apply

/// What `run` needs, read from the (wholly known) configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysprepSpec {
    /// The answer file.
    pub unattend: Unattend,
    /// XAPI's `timeout` parameter.
    pub timeout: Duration,
    /// Limit for the guest agent to report `feature-sysprep`.
    pub agent_timeout: Duration,
}

impl SysprepSpec {
    /// From the resource configuration at apply (`None` without a sysprep
    /// block or without an unattend, which validation rejects).
    pub fn from_config(config: &Value) -> Option<SysprepSpec> {
        let s = at(config, SYSPREP);
        let text = at(s, attr::UNATTEND)
            .as_str()
            .or_else(|| at(s, attr::UNATTEND_WO).as_str())?;
        let secs = |name: &str, default: i64| {
            Duration::from_secs(
                int_at(s, name)
                    .value()
                    .filter(|n| *n > 0)
                    .unwrap_or(default) as u64,
            )
        };
        Some(SysprepSpec {
            unattend: Unattend::new(text),
            timeout: secs(attr::TIMEOUT, DEFAULT_TIMEOUT_SECS),
            agent_timeout: secs(attr::AGENT_TIMEOUT, DEFAULT_AGENT_TIMEOUT_SECS),
        })
    }

    /// How long to wait for the `Async.VM.sysprep` task: XAPI waits up to
    /// `timeout` twice (the guest, then the domain), plus its fixed waits.
    pub fn task_wait(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(120)
    }
}

/// The power state the VM is brought to after sysprep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerTarget {
    /// True for `power_state = "running"`.
    pub running: bool,
    /// Clean shutdown limit before a hard shutdown.
    pub shutdown_timeout: Duration,
    /// Limit for a start.
    pub start_timeout: Duration,
}

/// Classes of sysprep failures (what the diagnostic is about).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The VM is paused or suspended, or XAPI says it is not running.
    NotRunning,
    /// The guest agent never reported.
    NoAgent,
    /// The agent reported but without `feature-sysprep`.
    FeatureMissing,
    /// Every CD drive holds a disc, or XAPI found no empty CD drive.
    CdUnavailable,
    /// This XAPI has no `VM.sysprep`.
    MethodUnknown,
    /// `VM.sysprep` is disabled in xapi.conf.
    Disabled,
    /// The unattend is larger than XAPI accepts.
    TooLarge,
    /// The guest did not answer or finish in time.
    Timeout,
    /// Another `SYSPREP` failure (the guest's or XAPI's message).
    Guest,
    /// Any other XAPI or transport failure.
    Xapi,
}

/// A sysprep failure, ready to become a diagnostic. Never contains the
/// unattend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{summary}: {detail}")]
pub struct SysprepError {
    /// The class.
    pub kind: FailureKind,
    /// Summary line.
    pub summary: String,
    /// Detail.
    pub detail: String,
}

impl SysprepError {
    fn new(kind: FailureKind, summary: impl Into<String>, detail: impl Into<String>) -> Self {
        SysprepError {
            kind,
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    fn xapi(what: &str, e: &xapi::Error) -> Self {
        SysprepError::new(FailureKind::Xapi, "Sysprep failed", format!("{what}: {e}"))
    }

    /// Pushes the error as a diagnostic at `sysprep`.
    pub fn push(&self, diags: &mut Diagnostics) {
        diags.error_at(
            AttributePath::new(SYSPREP),
            self.summary.clone(),
            self.detail.clone(),
        );
    }
}

/// What a successful run did, for warnings and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The CD drive the provider created (none when the VM had an empty one).
    pub created_cd: Option<VbdRef>,
    /// The VM was restarted so that a CD drive created while it ran appears.
    pub rebooted_for_cd: bool,
    /// The older 2-parameter `VM.sysprep(vm, unattend)` was used.
    pub legacy_signature: bool,
    /// The VM started again by itself after sysprep (instead of halting).
    pub guest_restarted: bool,
}

impl RunReport {
    /// Warnings to show the user.
    pub fn warnings(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.legacy_signature {
            out.push((
                "Older XAPI: VM.sysprep without timeout".to_owned(),
                format!(
                    "This pool's XAPI has the original two-parameter VM.sysprep (XAPI \
                     {XAPI_WITH_SYSPREP} to before {XAPI_WITH_TIMEOUT}), so sysprep.timeout \
                     could not be passed and XAPI used its own limits. Sysprep completed."
                ),
            ));
        }
        if self.rebooted_for_cd {
            out.push((
                "VM restarted to add a CD drive".to_owned(),
                "The VM had no CD drive, which VM.sysprep needs. XAPI cannot hot-plug a CD \
                 drive into a running HVM guest, so the provider created one and restarted \
                 the VM before running sysprep."
                    .to_owned(),
            ));
        }
        out
    }
}

fn vm_label(rec: &xapi::VmRecord) -> String {
    format!("{:?} ({})", rec.name_label, rec.uuid)
}

/// Finds the VM's empty CD drive or creates one. An occupied drive (and no
/// empty one) is an error naming the disc. Returns the created VBD, if any,
/// and whether it was created while the VM ran (HVM CD drives are not
/// hot-pluggable: it appears only after a restart).
pub async fn ensure_empty_cd(
    client: &Client,
    vm: &VmRef,
    other_config: &StringMap,
) -> Result<(Option<VbdRef>, bool), SysprepError> {
    let rec = client
        .get_record::<xapi::Vm>(vm)
        .await
        .map_err(|e| SysprepError::xapi("reading the VM", &e))?;
    let running = rec.power_state == PowerState::Running;
    let mut occupied = Vec::new();
    let mut detached_empty = None;
    for vbd in &rec.vbds {
        let v = client
            .get_record::<xapi::Vbd>(vbd)
            .await
            .map_err(|e| SysprepError::xapi("reading the VM's VBDs", &e))?;
        if v.vbd_type != VbdType::Cd {
            continue;
        }
        if v.empty {
            if !running || v.currently_attached {
                return Ok((None, false));
            }
            detached_empty = Some(vbd.clone());
        } else {
            let name = match client.get_record::<xapi::Vdi>(&v.vdi).await {
                Ok(d) => format!("{:?} ({})", d.name_label, d.uuid),
                Err(_) => v.vdi.as_str().to_owned(),
            };
            occupied.push(format!("device {} holds {name}", v.userdevice));
        }
    }
    if let Some(vbd) = detached_empty {
        // An empty drive created while the VM ran: present after a restart.
        return Ok((Some(vbd), true));
    }
    if !occupied.is_empty() {
        return Err(SysprepError::new(
            FailureKind::CdUnavailable,
            "The VM's CD drive is not empty",
            format!(
                "VM.sysprep inserts the unattend ISO into an empty CD drive, but every CD \
                 drive of VM {} holds a disc: {}. Eject it (set cdrom = \"\") and apply again.",
                vm_label(&rec),
                occupied.join("; ")
            ),
        ));
    }
    let allowed = client
        .vm()
        .get_allowed_vbd_devices(vm)
        .await
        .map_err(|e| SysprepError::xapi("listing free VBD devices", &e))?;
    let device = if allowed.iter().any(|d| d == "3") {
        "3".to_owned()
    } else {
        allowed.first().cloned().ok_or_else(|| {
            SysprepError::new(
                FailureKind::CdUnavailable,
                "No device free for a CD drive",
                format!(
                    "VM {} has no CD drive and no free VBD device to add one.",
                    vm_label(&rec)
                ),
            )
        })?
    };
    let mut args = VbdCreate::cd(vm, None, device);
    args.other_config = other_config.clone();
    let vbd = client
        .vbd()
        .create(&args)
        .await
        .map_err(|e| SysprepError::xapi("creating an empty CD drive", &e))?;
    tracing::info!(vm = %rec.uuid, "created an empty CD drive for sysprep");
    Ok((Some(vbd), running))
}

/// Waits until the VM's guest agent reports `feature-sysprep = 1`. Fails
/// naming the missing feature (and what the agent did report) at the limit.
pub async fn wait_for_feature(
    client: &Client,
    vm: &VmRef,
    limit: Duration,
) -> Result<(), SysprepError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let rec = match client
            .wait_for::<xapi::Vm>(vm, remaining, |r| !r.guest_metrics.is_null())
            .await
        {
            Ok(r) => r,
            Err(xapi::Error::Timeout { .. }) => {
                let rec = client
                    .get_record::<xapi::Vm>(vm)
                    .await
                    .map_err(|e| SysprepError::xapi("reading the VM", &e))?;
                return Err(SysprepError::new(
                    FailureKind::NoAgent,
                    "Guest agent did not report",
                    format!(
                        "VM {} is running but its guest agent reported nothing within {}s \
                         (sysprep.agent_timeout), so `{FEATURE_SYSPREP}` is missing. The \
                         guest needs XenServer VM Tools for Windows with sysprep support.",
                        vm_label(&rec),
                        limit.as_secs()
                    ),
                ));
            }
            Err(e) => return Err(SysprepError::xapi("waiting for the guest agent", &e)),
        };
        let gm = rec.guest_metrics.clone();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client
            .wait_for::<VmGuestMetrics>(&gm, remaining, |g| {
                g.other.get(FEATURE_SYSPREP).map(String::as_str) == Some("1")
            })
            .await
        {
            Ok(_) => return Ok(()),
            Err(xapi::Error::Timeout { .. }) => {
                let features = client
                    .get_record::<VmGuestMetrics>(&gm)
                    .await
                    .map(|g| {
                        g.other
                            .keys()
                            .filter(|k| k.starts_with("feature-"))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                return Err(SysprepError::new(
                    FailureKind::FeatureMissing,
                    format!("Guest does not support sysprep: `{FEATURE_SYSPREP}` missing"),
                    format!(
                        "The guest agent of VM {} did not report `{FEATURE_SYSPREP}` within \
                         {}s (sysprep.agent_timeout); it reports: [{features}]. VM.sysprep \
                         needs XenServer VM Tools for Windows with sysprep support in the \
                         guest (XCP-ng's Windows tools are not known to provide it); otherwise use \
                         cloudbase-init (cloud_init with flavor \"cloudbase-init\").",
                        vm_label(&rec),
                        limit.as_secs()
                    ),
                ));
            }
            // The metrics object was replaced (guest restarted): look again.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(SysprepError::xapi("waiting for the guest agent", &e)),
        }
    }
}

/// Maps a failed `VM.sysprep` to a diagnostic.
pub fn classify_failure(e: &xapi::Error, vm: &str) -> SysprepError {
    let Some(api) = e.api() else {
        if let xapi::Error::Timeout { after, .. } = e {
            return SysprepError::new(
                FailureKind::Timeout,
                "Sysprep did not finish in time",
                format!(
                    "The VM.sysprep task on VM {vm} was still running after {}s. Raise \
                     sysprep.timeout if Windows needs longer to generalize.",
                    after.as_secs()
                ),
            );
        }
        return SysprepError::xapi("VM.sysprep", e);
    };
    match &api.code {
        ErrorCode::MessageMethodUnknown => SysprepError::new(
            FailureKind::MethodUnknown,
            "This XAPI has no VM.sysprep",
            format!(
                "The pool answered MESSAGE_METHOD_UNKNOWN for VM.sysprep: its XAPI predates the \
                 call, which needs XAPI {XAPI_WITH_SYSPREP} or later ({XAPI_WITH_TIMEOUT} for \
                 the timeout parameter, enabled by default from {XAPI_ENABLED_BY_DEFAULT}). \
                 Update the pool, or configure Windows with cloudbase-init instead (cloud_init \
                 with flavor \"cloudbase-init\")."
            ),
        ),
        ErrorCode::Sysprep => {
            let msg = api.param(1).unwrap_or("").to_owned();
            let (kind, summary, hint) = match msg.as_str() {
                "API call is disabled" => (
                    FailureKind::Disabled,
                    "VM.sysprep is disabled on this pool",
                    format!(
                        " The pool's XAPI has VM.sysprep but it is switched off: set \
                         `vm-sysprep-enabled = true` in /etc/xapi.conf on every host and \
                         restart the toolstack (it is off by default in XAPI \
                         {XAPI_WITH_SYSPREP} up to before {XAPI_ENABLED_BY_DEFAULT}), or \
                         update to XAPI {XAPI_ENABLED_BY_DEFAULT} or later."
                    ),
                ),
                "VM driver does not support sysprep" => (
                    FailureKind::FeatureMissing,
                    "Guest does not support sysprep",
                    format!(
                        " The guest's xenstore lacks control/{FEATURE_SYSPREP} = 1: install \
                         XenServer VM Tools for Windows with sysprep support."
                    ),
                ),
                "CD-ROM drive not found" => (
                    FailureKind::CdUnavailable,
                    "No empty CD drive for sysprep",
                    " XAPI needs an empty CD drive attached to the running VM.".to_owned(),
                ),
                "VM is not running" => (
                    FailureKind::NotRunning,
                    "VM is not running",
                    " The VM stopped before sysprep could start.".to_owned(),
                ),
                "unattend.xml file too large" => (
                    FailureKind::TooLarge,
                    "Unattend too large",
                    format!(" XAPI accepts at most {MAX_UNATTEND_BYTES} bytes."),
                ),
                "No response from sysprep within allocated time" => (
                    FailureKind::Timeout,
                    "Sysprep did not finish in time",
                    " The guest did not acknowledge or finish sysprep within sysprep.timeout \
                     (the agent must answer within 5 seconds, then sysprep must finish and \
                     the domain shut down within the timeout)."
                        .to_owned(),
                ),
                _ => (
                    FailureKind::Guest,
                    "Sysprep failed",
                    " This is the message of XAPI or of the guest's sysprep.".to_owned(),
                ),
            };
            SysprepError::new(
                kind,
                summary,
                format!("VM.sysprep on VM {vm} failed: SYSPREP {msg:?}.{hint}"),
            )
        }
        ErrorCode::VmBadPowerState => SysprepError::new(
            FailureKind::NotRunning,
            "VM is not running",
            format!("VM.sysprep needs the VM running; XAPI said: {api}"),
        ),
        ErrorCode::InvalidValue => SysprepError::new(
            FailureKind::Xapi,
            "Sysprep refused",
            format!("XAPI refused a VM.sysprep parameter: {api}"),
        ),
        _ => SysprepError::xapi("VM.sysprep", e),
    }
}

/// The master's XAPI version (`host.software_version["xapi"]`), best effort.
pub async fn xapi_version(client: &Client) -> Option<String> {
    let pools = client.get_all_records::<xapi::Pool>().await.ok()?;
    let master = pools.values().next()?.master.clone();
    let host = client.get_record::<xapi::Host>(&master).await.ok()?;
    host.software_version.get("xapi").cloned()
}

async fn with_version(client: &Client, mut e: SysprepError) -> SysprepError {
    if matches!(e.kind, FailureKind::MethodUnknown | FailureKind::Disabled)
        && let Some(v) = xapi_version(client).await
    {
        e.detail
            .push_str(&format!(" The pool master runs XAPI {v}."));
    }
    e
}

/// Calls `Async.VM.sysprep(vm, unattend, timeout)` and waits for the task.
/// On `MESSAGE_PARAMETER_COUNT_MISMATCH` (XAPI before 25.26.0) retries with
/// `VM.sysprep(vm, unattend)` and returns `true` (legacy signature used).
pub async fn call_sysprep(
    client: &Client,
    vm: &VmRef,
    vm_text: &str,
    spec: &SysprepSpec,
) -> Result<bool, SysprepError> {
    let wait = spec.task_wait();
    let first = client
        .run_async(
            "VM.sysprep",
            vec![
                json!(vm),
                json!(spec.unattend.expose()),
                json!(spec.timeout.as_secs_f64()),
            ],
            wait,
        )
        .await;
    let e = match first {
        Ok(_) => return Ok(false),
        Err(e) if e.is(&ErrorCode::MessageParameterCountMismatch) => {
            tracing::warn!(
                vm = vm_text,
                "VM.sysprep takes no timeout parameter on this XAPI (before {XAPI_WITH_TIMEOUT}); \
                 using the two-parameter form"
            );
            match client
                .run_async(
                    "VM.sysprep",
                    vec![json!(vm), json!(spec.unattend.expose())],
                    wait,
                )
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    Err(with_version(client, classify_failure(&e, vm_text)).await)
}

fn from_step(e: super::StepError) -> SysprepError {
    SysprepError::new(FailureKind::Xapi, e.summary, e.detail)
}

/// Starts the VM (the resource's power helper: `Async.VM.start` and its task).
async fn start_vm(client: &Client, vm: &VmRef, limit: Duration) -> Result<(), SysprepError> {
    super::power::start(client, vm, &super::power::Deadline::after(limit))
        .await
        .map_err(from_step)
}

/// Clean shutdown, hard after `clean_limit` (the resource's power helper).
async fn shutdown_vm(
    client: &Client,
    vm: &VmRef,
    clean_limit: Duration,
) -> Result<(), SysprepError> {
    let deadline = super::power::Deadline::after(clean_limit + Duration::from_secs(300));
    super::power::shutdown(client, vm, &PowerState::Running, clean_limit, &deadline)
        .await
        .map_err(from_step)
}

/// Runs sysprep on a VM: the whole apply sequence.
///
/// 1. the VM must be running (a halted VM is started; paused or suspended is
///    an error);
/// 2. an empty CD drive (created when missing; an occupied drive fails);
/// 3. the guest agent reports `feature-sysprep` (within `agent_timeout`);
/// 4. `Async.VM.sysprep` (3 parameters, or 2 on older XAPI);
/// 5. the VM halts (or restarts by itself);
/// 6. the VM is brought to `target`;
/// 7. VM `other_config[RUNS_KEY]` = `runs`.
pub async fn run(
    client: &Client,
    vm: &VmRef,
    spec: &SysprepSpec,
    target: PowerTarget,
    runs: i64,
    cd_other_config: &StringMap,
) -> Result<RunReport, SysprepError> {
    let mut report = RunReport::default();
    let rec = client
        .get_record::<xapi::Vm>(vm)
        .await
        .map_err(|e| SysprepError::xapi("reading the VM", &e))?;
    let label = vm_label(&rec);
    tracing::info!(vm = %rec.uuid, unattend = ?spec.unattend, "sysprep: checking preconditions");
    match rec.power_state {
        PowerState::Running | PowerState::Halted => {}
        ref other => {
            return Err(SysprepError::new(
                FailureKind::NotRunning,
                "VM is not running",
                format!(
                    "VM.sysprep needs the VM running, but VM {label} is {other}. Resume or \
                     start it and apply again."
                ),
            ));
        }
    }
    let (created, needs_restart) = ensure_empty_cd(client, vm, cd_other_config).await?;
    report.created_cd = created;
    if rec.power_state == PowerState::Halted {
        start_vm(client, vm, target.start_timeout).await?;
    } else if needs_restart {
        // Shut down and start (not reboot): VM.start clears the guest
        // metrics, so the wait below sees only what the new boot's agent
        // reports, never the previous boot's feature flags.
        shutdown_vm(client, vm, target.shutdown_timeout).await?;
        start_vm(client, vm, target.start_timeout).await?;
        report.rebooted_for_cd = true;
    }
    wait_for_feature(client, vm, spec.agent_timeout).await?;
    let before = client
        .get_record::<xapi::Vm>(vm)
        .await
        .map_err(|e| SysprepError::xapi("reading the VM", &e))?;
    tracing::info!(vm = %rec.uuid, "sysprep: calling VM.sysprep");
    report.legacy_signature = call_sysprep(client, vm, &label, spec).await?;
    let old_domid = before.domid;
    let after = client
        .wait_for::<xapi::Vm>(vm, spec.timeout, |r| {
            r.power_state == PowerState::Halted
                || (r.power_state == PowerState::Running && r.domid != old_domid)
        })
        .await
        .map_err(|e| match e {
            xapi::Error::Timeout { .. } => SysprepError::new(
                FailureKind::Timeout,
                "VM did not shut down after sysprep",
                format!(
                    "VM.sysprep on VM {label} succeeded, but the VM was still running its old \
                     domain {}s later.",
                    spec.timeout.as_secs()
                ),
            ),
            e => SysprepError::xapi("waiting for the VM to shut down after sysprep", &e),
        })?;
    report.guest_restarted = after.power_state == PowerState::Running;
    tracing::info!(vm = %rec.uuid, restarted = report.guest_restarted, "sysprep: done");
    match (target.running, after.power_state == PowerState::Running) {
        (true, false) => start_vm(client, vm, target.start_timeout).await?,
        (false, true) => shutdown_vm(client, vm, target.shutdown_timeout).await?,
        _ => {}
    }
    let _ = client.vm().remove_from_other_config(vm, RUNS_KEY).await;
    client
        .vm()
        .add_to_other_config(vm, RUNS_KEY, &runs.to_string())
        .await
        .map_err(|e| SysprepError::xapi("recording the sysprep run", &e))?;
    Ok(report)
}

impl From<SysprepError> for super::StepError {
    fn from(e: SysprepError) -> Self {
        super::StepError::at(AttributePath::new(SYSPREP), e.summary, e.detail)
    }
}

/// Sysprep as a step of create or update when `decision` says it runs
/// ([`apply_step`]); a VM left running is then waited for again as configured
/// (`wait_for_guest`, `expected_ip_cidr`: the guest reports its addresses anew).
#[allow(clippy::too_many_arguments)]
pub async fn run_if_decided(
    ctx: &crate::framework::Context,
    client: &Client,
    vm: &VmRef,
    config: &Value,
    decision: &Decision,
    running: bool,
    nic_specs: &[super::network_interfaces::NicSpec],
    deadline: &super::power::Deadline,
    diags: &mut Diagnostics,
) -> super::StepResult<()> {
    let Decision::Run { runs, .. } = decision else {
        return Ok(());
    };
    apply_step(ctx, client, vm, config, *runs, running, deadline, diags).await?;
    if running {
        let wait = super::power::GuestWait::from_config(config, nic_specs, false);
        super::power::cancellable(
            ctx,
            "waiting for the guest after sysprep",
            super::power::wait_for_guest(client, vm, &wait, deadline),
        )
        .await?;
    }
    Ok(())
}

/// Sysprep as a step of create or update: [`run`] with the configuration's
/// spec and power target, bounded by the operation's deadline, stopped by
/// Terraform's cancellation; the run's warnings become diagnostics.
#[allow(clippy::too_many_arguments)]
pub async fn apply_step(
    ctx: &crate::framework::Context,
    client: &Client,
    vm: &VmRef,
    config: &Value,
    runs: i64,
    running: bool,
    deadline: &super::power::Deadline,
    diags: &mut Diagnostics,
) -> super::StepResult<()> {
    let spec = SysprepSpec::from_config(config).ok_or_else(|| {
        super::StepError::at(
            AttributePath::new(SYSPREP),
            "Missing unattend",
            "sysprep needs sysprep.unattend or sysprep.unattend_wo.",
        )
    })?;
    let target = PowerTarget {
        running,
        shutdown_timeout: super::shutdown_timeout(config),
        start_timeout: deadline.remaining(),
    };
    let marker = super::owned_other_config(&[]);
    let limit = deadline.remaining();
    let report = super::power::cancellable(ctx, "running sysprep", async {
        match tokio::time::timeout(limit, run(client, vm, &spec, target, runs, &marker)).await {
            Ok(r) => r.map_err(super::StepError::from),
            Err(_) => Err(super::StepError::at(
                AttributePath::new(SYSPREP),
                "Sysprep did not finish in time",
                format!(
                    "The operation's time limit ({}s, see timeouts) ran out during sysprep.",
                    limit.as_secs()
                ),
            )),
        }
    })
    .await?;
    for (summary, detail) in report.warnings() {
        diags.warning_at(AttributePath::new(SYSPREP), summary, detail);
    }
    // The write-only version of this run, for import (a number, not a secret).
    let s = at(config, SYSPREP);
    let version = if at(s, attr::UNATTEND_WO).is_null() {
        None
    } else {
        int_at(s, attr::UNATTEND_WO_VERSION).value()
    };
    let _ = client
        .vm()
        .remove_from_other_config(vm, WO_VERSION_KEY)
        .await;
    if let Some(v) = version {
        client
            .vm()
            .add_to_other_config(vm, WO_VERSION_KEY, &v.to_string())
            .await
            .map_err(|e| SysprepError::xapi("recording the sysprep run", &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64">
      <UserAccounts>
        <AdministratorPassword><Value>S3cret-Passw0rd!</Value><PlainText>true</PlainText></AdministratorPassword>
      </UserAccounts>
    </component>
  </settings>
</unattend>"#;

    fn cfg(sysprep: Value) -> Value {
        Value::object([(SYSPREP, sysprep), (CDROM, Value::Null)])
    }

    fn sp(fields: &[(&str, Value)]) -> Value {
        let mut m: std::collections::BTreeMap<String, Value> = [
            attr::UNATTEND,
            attr::UNATTEND_WO,
            attr::UNATTEND_WO_VERSION,
            attr::RUN,
            attr::TIMEOUT,
            attr::AGENT_TIMEOUT,
            attr::RUNS,
            attr::UNATTEND_SHA256,
        ]
        .into_iter()
        .map(|k| (k.to_owned(), Value::Null))
        .collect();
        for (k, v) in fields {
            m.insert((*k).to_owned(), v.clone());
        }
        Value::Object(m)
    }

    fn errors(config: &Value) -> Vec<(String, String, String)> {
        let mut d = Diagnostics::new();
        validate(config, &mut d);
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.summary.clone(),
                    x.detail.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn unattend_debug_is_redacted() {
        let u = Unattend::new(GOOD);
        let s = format!("{u:?}");
        assert!(!s.contains("Passw0rd"));
        assert!(s.contains(&GOOD.len().to_string()));
        let spec = SysprepSpec {
            unattend: u,
            timeout: Duration::from_secs(1),
            agent_timeout: Duration::from_secs(1),
        };
        assert!(!format!("{spec:?}").contains("Passw0rd"));
    }

    #[test]
    fn well_formed_unattend_passes() {
        assert_eq!(check_unattend(GOOD), Ok(()));
        assert_eq!(check_unattend("<unattend/>"), Ok(()));
        // Namespace prefixes: the local name counts.
        assert_eq!(
            check_unattend(r#"<u:unattend xmlns:u="urn:schemas-microsoft-com:unattend"/>"#),
            Ok(())
        );
    }

    #[test]
    fn malformed_xml_is_refused_without_quoting_it() {
        let bad = "<unattend><Password>hunter2&secret;</Password></unattend>";
        let e = check_unattend(bad).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, UnattendProblem::Malformed { line: 1, .. }),
            "{e:?}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("secret"),
            "{text}"
        );
        let e = check_unattend("<unattend><a></b></unattend>").unwrap_err();
        assert!(matches!(e, UnattendProblem::Malformed { .. }));
        let e = check_unattend("<unattend>").unwrap_err();
        assert!(matches!(e, UnattendProblem::Malformed { .. }), "{e:?}");
        let e = check_unattend("not xml at all").unwrap_err();
        assert!(matches!(e, UnattendProblem::Malformed { .. }), "{e:?}");
        assert_eq!(check_unattend("  \n"), Err(UnattendProblem::Empty));
        // DTDs (and so entity expansion) are refused.
        let e = check_unattend("<!DOCTYPE unattend [<!ENTITY a \"b\">]><unattend>&a;</unattend>")
            .unwrap_err();
        assert!(matches!(e, UnattendProblem::Malformed { .. }), "{e:?}");
    }

    #[test]
    fn wrong_root_is_refused() {
        assert_eq!(
            check_unattend("<settings/>"),
            Err(UnattendProblem::WrongRoot {
                found: "settings".into()
            })
        );
    }

    #[test]
    fn size_limit_is_32_kib() {
        let pad = |n: usize| {
            let base = "<unattend></unattend>";
            let mut s = String::from("<unattend>");
            s.push_str(&" ".repeat(n - base.len()));
            s.push_str("</unattend>");
            s
        };
        assert_eq!(check_unattend(&pad(MAX_UNATTEND_BYTES)), Ok(()));
        assert_eq!(
            check_unattend(&pad(MAX_UNATTEND_BYTES + 1)),
            Err(UnattendProblem::TooLarge {
                size: MAX_UNATTEND_BYTES + 1
            })
        );
    }

    #[test]
    fn validate_requires_exactly_one_unattend() {
        let e = errors(&cfg(sp(&[])));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "sysprep");
        assert_eq!(e[0].1, "Missing unattend");
        let e = errors(&cfg(sp(&[
            (attr::UNATTEND, Value::from(GOOD)),
            (attr::UNATTEND_WO, Value::from(GOOD)),
        ])));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].1, "Conflicting unattend arguments");
        // Unknown counts as set.
        let e = errors(&cfg(sp(&[
            (attr::UNATTEND, Value::unknown()),
            (attr::UNATTEND_WO, Value::from(GOOD)),
        ])));
        assert_eq!(e.len(), 1);
        assert!(errors(&cfg(sp(&[(attr::UNATTEND, Value::unknown())]))).is_empty());
        assert!(errors(&cfg(sp(&[(attr::UNATTEND_WO, Value::from(GOOD))]))).is_empty());
        assert!(errors(&cfg(Value::Null)).is_empty());
        assert!(errors(&cfg(Value::unknown())).is_empty());
    }

    #[test]
    fn validate_reports_bad_xml_at_its_attribute_without_content() {
        for name in [attr::UNATTEND, attr::UNATTEND_WO] {
            let e = errors(&cfg(sp(&[(
                name,
                Value::from("<unattend><p>Passw0rd</unattend>"),
            )])));
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].0, format!("sysprep.{name}"));
            assert!(e[0].2.contains("not well-formed XML"), "{}", e[0].2);
            assert!(!e[0].2.contains("Passw0rd"));
        }
    }

    #[test]
    fn validate_other_fields() {
        let e = errors(&cfg(sp(&[
            (attr::UNATTEND, Value::from(GOOD)),
            (attr::RUN, Value::from("always")),
            (attr::TIMEOUT, Value::from(0)),
            (attr::AGENT_TIMEOUT, Value::from(100_000)),
            (attr::UNATTEND_WO_VERSION, Value::from(1)),
        ])));
        let paths: Vec<_> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sysprep.unattend_wo_version",
                "sysprep.run",
                "sysprep.timeout",
                "sysprep.agent_timeout"
            ]
        );
        let mut c = cfg(sp(&[(attr::UNATTEND, Value::from(GOOD))]));
        if let Value::Object(m) = &mut c {
            m.insert(CDROM.into(), Value::from("win.iso"));
        }
        let e = errors(&c);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "cdrom");
        if let Value::Object(m) = &mut c {
            m.insert(CDROM.into(), Value::from(""));
        }
        assert!(errors(&c).is_empty());
    }

    fn state(sysprep: Value) -> Value {
        cfg(sysprep)
    }

    #[test]
    fn create_runs_once_and_records_the_hash() {
        let c = cfg(sp(&[(attr::UNATTEND, Value::from(GOOD))]));
        let d = decide(&c, &Value::Null);
        assert_eq!(
            d,
            Decision::Run {
                first: true,
                runs: 1,
                sha256: Some(sha256_hex(GOOD))
            }
        );
        let mut planned = c.clone();
        apply_decision(&mut planned, &d);
        assert_eq!(
            planned.get(SYSPREP).unwrap().get(attr::RUNS),
            Some(&Value::from(1))
        );
        // Write-only: no hash.
        let c = cfg(sp(&[(attr::UNATTEND_WO, Value::from(GOOD))]));
        assert_eq!(
            decide(&c, &Value::Null),
            Decision::Run {
                first: true,
                runs: 1,
                sha256: None
            }
        );
        // Unknown unattend at plan time.
        let c = cfg(sp(&[(attr::UNATTEND, Value::unknown())]));
        assert_eq!(decide(&c, &Value::Null), Decision::Unknown);
        assert_eq!(decide(&cfg(Value::Null), &Value::Null), Decision::Absent);
    }

    fn prior(sha: &str, runs: i64) -> Value {
        state(sp(&[
            (attr::UNATTEND, Value::from("<unattend/>")),
            (attr::RUNS, Value::from(runs)),
            (attr::UNATTEND_SHA256, Value::from(sha)),
        ]))
    }

    #[test]
    fn changes_rerun_only_with_on_change() {
        let old = sha256_hex("<unattend/>");
        let p = prior(&old, 1);
        // Same unattend: nothing.
        for run in [Value::Null, Value::from("once"), Value::from("on_change")] {
            let c = cfg(sp(&[
                (attr::UNATTEND, Value::from("<unattend/>")),
                (attr::RUN, run),
            ]));
            assert!(!decide(&c, &p).runs_sysprep());
        }
        // Changed with once: kept.
        let c = cfg(sp(&[(attr::UNATTEND, Value::from(GOOD))]));
        assert_eq!(
            decide(&c, &p),
            Decision::Keep {
                runs: 1,
                sha256: Some(old.clone())
            }
        );
        // Changed with on_change: second run with the new hash.
        let c = cfg(sp(&[
            (attr::UNATTEND, Value::from(GOOD)),
            (attr::RUN, Value::from("on_change")),
        ]));
        assert_eq!(
            decide(&c, &p),
            Decision::Run {
                first: false,
                runs: 2,
                sha256: Some(sha256_hex(GOOD))
            }
        );
        // Unknown new unattend with on_change: decided at apply.
        let c = cfg(sp(&[
            (attr::UNATTEND, Value::unknown()),
            (attr::RUN, Value::from("on_change")),
        ]));
        assert_eq!(decide(&c, &p), Decision::Unknown);
        // Unknown with once: kept.
        let c = cfg(sp(&[(attr::UNATTEND, Value::unknown())]));
        assert!(matches!(decide(&c, &p), Decision::Keep { .. }));
    }

    #[test]
    fn write_only_reruns_on_version_change() {
        let p = state(sp(&[
            (attr::UNATTEND_WO_VERSION, Value::from(1)),
            (attr::RUNS, Value::from(1)),
        ]));
        let c = |v: i64, run: &str| {
            cfg(sp(&[
                (attr::UNATTEND_WO, Value::from(GOOD)),
                (attr::UNATTEND_WO_VERSION, Value::from(v)),
                (attr::RUN, Value::from(run)),
            ]))
        };
        assert!(!decide(&c(1, "on_change"), &p).runs_sysprep());
        assert!(!decide(&c(2, "once"), &p).runs_sysprep());
        assert_eq!(
            decide(&c(2, "on_change"), &p),
            Decision::Run {
                first: false,
                runs: 2,
                sha256: None
            }
        );
        // Switching from unattend to unattend_wo is a change.
        let p = prior(&sha256_hex("<unattend/>"), 3);
        assert_eq!(
            decide(&c(1, "on_change"), &p),
            Decision::Run {
                first: false,
                runs: 4,
                sha256: None
            }
        );
    }

    #[test]
    fn an_imported_vm_adopts_the_configured_unattend() {
        let oc: StringMap = [(RUNS_KEY.to_owned(), "2".to_owned())].into();
        let imported = state(imported_state(&oc));
        assert_eq!(
            at(&imported, SYSPREP).get(attr::RUNS),
            Some(&Value::from(2i64))
        );
        for run in ["once", "on_change"] {
            let c = cfg(sp(&[
                (attr::UNATTEND, Value::from(GOOD)),
                (attr::RUN, Value::from(run)),
            ]));
            assert_eq!(
                decide(&c, &imported),
                Decision::Keep {
                    runs: 2,
                    sha256: Some(sha256_hex(GOOD))
                },
                "{run}"
            );
        }
        // Write-only: the recorded version makes the original config a no-op,
        // a new version a re-run.
        let oc: StringMap = [
            (RUNS_KEY.to_owned(), "1".to_owned()),
            (WO_VERSION_KEY.to_owned(), "3".to_owned()),
        ]
        .into();
        let imported = state(imported_state(&oc));
        let wo = |v: i64| {
            cfg(sp(&[
                (attr::UNATTEND_WO, Value::from(GOOD)),
                (attr::UNATTEND_WO_VERSION, Value::from(v)),
                (attr::RUN, Value::from("on_change")),
            ]))
        };
        assert!(!decide(&wo(3), &imported).runs_sysprep());
        assert!(decide(&wo(4), &imported).runs_sysprep());
        assert_eq!(imported_state(&StringMap::new()), Value::Null);
    }

    #[test]
    fn plan_warns_for_existing_vms_only() {
        let c = cfg(sp(&[
            (attr::UNATTEND, Value::from(GOOD)),
            (attr::RUN, Value::from("on_change")),
        ]));
        let mut d = Diagnostics::new();
        let mut planned = c.clone();
        plan(&c, &Value::Null, &mut planned, "win-1", &mut d);
        assert!(d.is_empty());
        let p = prior(&sha256_hex("<unattend/>"), 1);
        let mut planned = c.clone();
        let dec = plan(&c, &p, &mut planned, "win-1", &mut d);
        assert!(dec.runs_sysprep());
        let w: Vec<_> = d.iter().collect();
        assert_eq!(w.len(), 1);
        assert!(w[0].summary.contains("win-1"));
        assert!(!w[0].detail.contains("Passw0rd"));
        assert_eq!(
            planned.get(SYSPREP).unwrap().get(attr::RUNS),
            Some(&Value::from(2))
        );
        // Block added to an existing VM without sysprep before.
        let mut d = Diagnostics::new();
        let mut planned = c.clone();
        let dec = plan(&c, &state(Value::Null), &mut planned, "win-1", &mut d);
        assert!(matches!(dec, Decision::Run { first: true, .. }));
        assert_eq!(d.iter().count(), 1);
    }

    #[test]
    fn spec_from_config_defaults() {
        let c = cfg(sp(&[(attr::UNATTEND_WO, Value::from(GOOD))]));
        let s = SysprepSpec::from_config(&c).unwrap();
        assert_eq!(s.unattend.expose(), GOOD);
        assert_eq!(s.timeout, Duration::from_secs(900));
        assert_eq!(s.task_wait(), Duration::from_secs(1920));
        let c = cfg(sp(&[
            (attr::UNATTEND, Value::from(GOOD)),
            (attr::TIMEOUT, Value::from(30)),
            (attr::AGENT_TIMEOUT, Value::from(5)),
        ]));
        let s = SysprepSpec::from_config(&c).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.agent_timeout, Duration::from_secs(5));
        assert!(SysprepSpec::from_config(&cfg(Value::Null)).is_none());
    }

    fn api_err(code: &str, params: &[&str]) -> xapi::Error {
        let mut d = vec![code.to_owned()];
        d.extend(params.iter().map(|p| (*p).to_owned()));
        xapi::Error::Api {
            method: "Async.VM.sysprep".into(),
            error: xapi::ApiError::from_description(d),
        }
    }

    #[test]
    fn failures_are_classified_with_version_hints() {
        let e = classify_failure(&api_err("MESSAGE_METHOD_UNKNOWN", &["VM.sysprep"]), "vm");
        assert_eq!(e.kind, FailureKind::MethodUnknown);
        assert!(e.detail.contains("25.24.0"), "{}", e.detail);
        let e = classify_failure(
            &api_err("SYSPREP", &["uuid-1", "API call is disabled"]),
            "vm",
        );
        assert_eq!(e.kind, FailureKind::Disabled);
        assert!(e.detail.contains("vm-sysprep-enabled"));
        let e = classify_failure(
            &api_err("SYSPREP", &["uuid-1", "VM driver does not support sysprep"]),
            "vm",
        );
        assert_eq!(e.kind, FailureKind::FeatureMissing);
        let e = classify_failure(
            &api_err("SYSPREP", &["uuid-1", "CD-ROM drive not found"]),
            "vm",
        );
        assert_eq!(e.kind, FailureKind::CdUnavailable);
        let e = classify_failure(
            &api_err(
                "SYSPREP",
                &["uuid-1", "Windows said: Setup could not apply"],
            ),
            "vm",
        );
        assert_eq!(e.kind, FailureKind::Guest);
        assert!(e.detail.contains("Windows said: Setup could not apply"));
        let e = classify_failure(
            &xapi::Error::Timeout {
                what: "task".into(),
                after: Duration::from_secs(7),
            },
            "vm",
        );
        assert_eq!(e.kind, FailureKind::Timeout);
    }

    #[test]
    fn schema_fragment_is_valid() {
        let a = attribute();
        let block = schema::Block::new().description("x").attribute(a);
        block.validate().unwrap();
        let s = block.get_attribute(SYSPREP).unwrap();
        let schema::AttributeType::Nested(n) = &s.ty else {
            panic!("nested")
        };
        let get = |name: &str| n.attributes.iter().find(|a| a.name == name).unwrap();
        assert!(get(attr::UNATTEND).sensitive);
        assert!(get(attr::UNATTEND_WO).write_only && get(attr::UNATTEND_WO).sensitive);
        assert!(get(attr::RUNS).is_computed());
        assert!(n.attributes.iter().all(|a| !a.description.is_empty()));
    }

    #[test]
    fn warnings_of_a_run() {
        let r = RunReport {
            legacy_signature: true,
            rebooted_for_cd: true,
            ..Default::default()
        };
        let w = r.warnings();
        assert_eq!(w.len(), 2);
        assert!(w[0].1.contains("25.26.0"));
        assert!(RunReport::default().warnings().is_empty());
    }
}
