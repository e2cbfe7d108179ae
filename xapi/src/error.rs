//! Errors: XAPI's own errors (a code and string parameters) and transport failures.

use std::fmt;
use std::time::Duration;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// A XAPI error code. Codes this client knows are variants; any other code is kept
        /// verbatim in [`ErrorCode::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* #[doc = concat!("`", $wire, "`")] $variant, )*
            /// A code this client does not know.
            Other(String),
        }

        impl ErrorCode {
            /// The wire spelling of the code.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorCode::$variant => $wire, )*
                    ErrorCode::Other(s) => s,
                }
            }

            /// Parses a code (exact match, as XAPI's codes are upper case).
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $wire => ErrorCode::$variant, )*
                    other => ErrorCode::Other(other.to_string()),
                }
            }
        }
    };
}

error_codes! {
    /// The session reference is unknown, expired or logged out.
    SessionInvalid = "SESSION_INVALID",
    /// Wrong user name or password.
    SessionAuthenticationFailed = "SESSION_AUTHENTICATION_FAILED",
    /// The contacted host is a pool member; the parameter is the master's address.
    HostIsSlave = "HOST_IS_SLAVE",
    /// A reference does not point to an existing object: `[class; ref]`.
    HandleInvalid = "HANDLE_INVALID",
    /// No object has this UUID: `[class; uuid]`.
    UuidInvalid = "UUID_INVALID",
    /// `[ref; expected states; actual state]`.
    VmBadPowerState = "VM_BAD_POWER_STATE",
    /// Memory constraints cannot be satisfied at start.
    MemoryConstraintViolation = "MEMORY_CONSTRAINT_VIOLATION",
    /// `static_min <= dynamic_min <= dynamic_max <= static_max` violated.
    MemoryConstraintViolationOrder = "MEMORY_CONSTRAINT_VIOLATION_ORDER",
    /// Memory must be pinned at static_max: `[reason]`.
    MemoryConstraintViolationMaxpin = "MEMORY_CONSTRAINT_VIOLATION_MAXPIN",
    /// Malformed MAC address: `[mac]`.
    MacInvalid = "MAC_INVALID",
    /// A device with this number exists: `[device]`.
    DeviceAlreadyExists = "DEVICE_ALREADY_EXISTS",
    /// `[device ref]`.
    DeviceAlreadyAttached = "DEVICE_ALREADY_ATTACHED",
    /// `[device ref]`.
    DeviceAlreadyDetached = "DEVICE_ALREADY_DETACHED",
    /// `[vdi; operation]`.
    VdiInUse = "VDI_IN_USE",
    /// `[ref; stored reason]`.
    OperationBlocked = "OPERATION_BLOCKED",
    /// `[reason]`.
    OperationNotAllowed = "OPERATION_NOT_ALLOWED",
    /// `[class; ref; op; task]`.
    OtherOperationInProgress = "OTHER_OPERATION_IN_PROGRESS",
    /// `[vm uuid; message]`.
    Sysprep = "SYSPREP",
    /// The method does not exist on this XAPI: `[method]`.
    MessageMethodUnknown = "MESSAGE_METHOD_UNKNOWN",
    /// `[method; expected; received]`.
    MessageParameterCountMismatch = "MESSAGE_PARAMETER_COUNT_MISMATCH",
    /// `[needed; available]`.
    HostNotEnoughFreeMemory = "HOST_NOT_ENOUGH_FREE_MEMORY",
    /// `[field or message; value]`.
    InvalidValue = "INVALID_VALUE",
    /// `[device]`.
    InvalidDevice = "INVALID_DEVICE",
    /// `[table; field; ref; key]`.
    MapDuplicateKey = "MAP_DUPLICATE_KEY",
    /// `[ref; op]`.
    VmIsTemplate = "VM_IS_TEMPLATE",
    /// `[ref; op]`.
    VmIsSnapshot = "VM_IS_SNAPSHOT",
    /// `[vm]`.
    VmLacksFeature = "VM_LACKS_FEATURE",
    /// `[vm]`.
    VmMissingPvDrivers = "VM_MISSING_PV_DRIVERS",
    /// Provision called on a non-template.
    OnlyProvisionTemplate = "ONLY_PROVISION_TEMPLATE",
    /// `[vbd]` (or `["in constructor"]`).
    VbdNotRemovableMedia = "VBD_NOT_REMOVABLE_MEDIA",
    /// `[vbd]`.
    VbdIsEmpty = "VBD_IS_EMPTY",
    /// `[vbd]`.
    VbdNotEmpty = "VBD_NOT_EMPTY",
    /// CD VBDs must be created read-only.
    VbdCdsMustBeReadonly = "VBD_CDS_MUST_BE_READONLY",
    /// `[vbd]`.
    VbdNotUnpluggable = "VBD_NOT_UNPLUGGABLE",
    /// `[vdi]`.
    VdiReadonly = "VDI_READONLY",
    /// `[vdi; type]`.
    VdiIncompatibleType = "VDI_INCOMPATIBLE_TYPE",
    /// No VDI given to an upload.
    VdiMissing = "VDI_MISSING",
    /// `[vm; sr]`.
    VmRequiresSr = "VM_REQUIRES_SR",
    /// `[vm; network]`.
    VmRequiresNet = "VM_REQUIRES_NET",
    /// `[sr]`.
    SrFull = "SR_FULL",
    /// `[sr]`.
    SrNoPbds = "SR_NO_PBDS",
    /// No host can run the VM.
    NoHostsAvailable = "NO_HOSTS_AVAILABLE",
    /// `[vcpus; cores per socket]`.
    VcpuMaxNotCoresPerSocketMultiple = "VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE",
    /// `[field; value; reason]`.
    ValueNotSupported = "VALUE_NOT_SUPPORTED",
    /// `[vm; timeout]`.
    VmShutdownTimeout = "VM_SHUTDOWN_TIMEOUT",
    /// `[vm]`.
    VmFailedShutdownAck = "VM_FAILED_SHUTDOWN_ACK",
    /// `[host]`.
    HostEvacuateInProgress = "HOST_EVACUATE_IN_PROGRESS",
    /// `[vm]`.
    VmHvmRequired = "VM_HVM_REQUIRED",
    /// `[task]`.
    TaskCancelled = "TASK_CANCELLED",
    /// `[token]`.
    EventFromTokenParseFailure = "EVENT_FROM_TOKEN_PARSE_FAILURE",
    /// The feature is not licensed.
    LicenseRestriction = "LICENSE_RESTRICTION",
    /// RBAC refused the call.
    RbacPermissionDenied = "RBAC_PERMISSION_DENIED",
    /// The call is not implemented.
    NotImplemented = "NOT_IMPLEMENTED",
    /// An internal server error: `[exception text]`.
    InternalError = "INTERNAL_ERROR",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned by XAPI: a code and its parameters (`["VM_BAD_POWER_STATE",
/// "OpaqueRef:…", "halted", "running"]` is code `VM_BAD_POWER_STATE` with three params).
///
/// The parameters of `SESSION_INVALID` (a session reference, i.e. a secret) are replaced by
/// a placeholder when decoded, so the error can be printed safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code.
    pub code: ErrorCode,
    /// The parameters, in XAPI's order.
    pub params: Vec<String>,
}

impl ApiError {
    /// Builds an error from XAPI's list form: code first, then parameters.
    pub fn from_description(mut desc: Vec<String>) -> Self {
        if desc.is_empty() {
            return ApiError {
                code: ErrorCode::Other(String::new()),
                params: Vec::new(),
            };
        }
        let code = ErrorCode::parse(&desc.remove(0));
        ApiError::new(code, desc)
    }

    /// Builds an error from a code and parameters (redacting session references).
    pub fn new(code: ErrorCode, params: Vec<String>) -> Self {
        let params = if code == ErrorCode::SessionInvalid {
            params.iter().map(|_| "<redacted>".to_string()).collect()
        } else {
            params
        };
        ApiError { code, params }
    }

    /// The parameter at `i`, if present.
    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.params.is_empty() {
            write!(f, " [")?;
            for (i, p) in self.params.iter().enumerate() {
                if i > 0 {
                    write!(f, "; ")?;
                }
                write!(f, "{p:?}")?;
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// XAPI executed (or refused) the call and returned an error.
    #[error("{method}: {error}")]
    Api {
        /// The method that failed (or the async method whose task failed).
        method: String,
        /// The XAPI error.
        error: ApiError,
    },
    /// The connection could not be established; the request did not reach the server.
    #[error("{method}: cannot connect to {host}: {source}")]
    Connect {
        /// Method being called.
        method: String,
        /// Host (and port) contacted.
        host: String,
        /// Underlying error (never carries a URL with a session id).
        #[source]
        source: reqwest::Error,
    },
    /// The connection failed or timed out after the request may have been sent: the call
    /// may or may not have been executed by the server. Mutating calls are never retried
    /// after this.
    #[error(
        "{method}: connection lost after the request was sent; it may or may not have been executed: {source}"
    )]
    OutcomeUnknown {
        /// Method being called.
        method: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("{method}: HTTP status {status}: {detail}")]
    Http {
        /// Method or HTTP action.
        method: String,
        /// HTTP status code.
        status: u16,
        /// Short excerpt of the response body.
        detail: String,
    },
    /// The server answered, but not with a JSON-RPC response this client understands.
    #[error("{method}: malformed response: {detail}")]
    Protocol {
        /// Method being called.
        method: String,
        /// What was wrong.
        detail: String,
    },
    /// A result did not decode into the expected type.
    #[error("{method}: cannot decode result: {source}")]
    Decode {
        /// Method being called.
        method: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A wait did not finish before its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// `HOST_IS_SLAVE` redirects did not reach a master.
    #[error("too many HOST_IS_SLAVE redirects (last address {last})")]
    TooManyRedirects {
        /// The last master address received.
        last: String,
    },
    /// The watched object disappeared while waiting for it.
    #[error("{class} {reference} was deleted while waiting for it")]
    Deleted {
        /// Class name.
        class: String,
        /// Reference.
        reference: String,
    },
    /// TLS configuration problem (bad PEM, bad fingerprint, ...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// Invalid client configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// The XAPI error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The XAPI error code, if this is a XAPI error.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().map(|e| &e.code)
    }

    /// True if this is a XAPI error with the given code.
    pub fn is(&self, code: &ErrorCode) -> bool {
        self.code() == Some(code)
    }

    /// True if the error says the object does not exist (`HANDLE_INVALID` or `UUID_INVALID`):
    /// the usual "deleted outside Terraform" signal.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code(),
            Some(ErrorCode::HandleInvalid) | Some(ErrorCode::UuidInvalid)
        ) || matches!(self, Error::Deleted { .. })
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknowns_are_kept() {
        for c in [
            "SESSION_INVALID",
            "HOST_IS_SLAVE",
            "VM_BAD_POWER_STATE",
            "MEMORY_CONSTRAINT_VIOLATION_ORDER",
            "MEMORY_CONSTRAINT_VIOLATION_MAXPIN",
            "MAC_INVALID",
            "SYSPREP",
            "HOST_NOT_ENOUGH_FREE_MEMORY",
        ] {
            let code = ErrorCode::parse(c);
            assert!(!matches!(code, ErrorCode::Other(_)), "{c}");
            assert_eq!(code.as_str(), c);
        }
        assert_eq!(
            ErrorCode::parse("SOMETHING_NEW"),
            ErrorCode::Other("SOMETHING_NEW".into())
        );
        assert_eq!(ErrorCode::parse("SOMETHING_NEW").as_str(), "SOMETHING_NEW");
    }

    #[test]
    fn display_and_redaction() {
        let e = ApiError::from_description(vec![
            "VM_BAD_POWER_STATE".into(),
            "OpaqueRef:1".into(),
            "halted".into(),
            "running".into(),
        ]);
        assert_eq!(e.code, ErrorCode::VmBadPowerState);
        assert_eq!(e.param(2), Some("running"));
        assert_eq!(
            e.to_string(),
            "VM_BAD_POWER_STATE [\"OpaqueRef:1\"; \"halted\"; \"running\"]"
        );
        let s = ApiError::from_description(vec![
            "SESSION_INVALID".into(),
            "OpaqueRef:secret-session".into(),
        ]);
        assert!(!format!("{s} {s:?}").contains("secret"));
        let err = Error::Api {
            method: "VM.get_all".into(),
            error: ApiError::new(ErrorCode::HandleInvalid, vec!["VM".into(), "x".into()]),
        };
        assert!(err.is_not_found());
        assert!(err.is(&ErrorCode::HandleInvalid));
        assert_eq!(
            err.to_string(),
            "VM.get_all: HANDLE_INVALID [\"VM\"; \"x\"]"
        );
    }
}
