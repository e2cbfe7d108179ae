//! Errors: XAPI API errors (code + parameters, as sent on the wire) and the library's own
//! start-up errors.

/// An XAPI error as it travels on the wire: `["CODE", "param1", ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The error code, e.g. `VM_BAD_POWER_STATE`.
    pub code: String,
    /// The parameters, all strings.
    pub params: Vec<String>,
}

impl ApiError {
    /// A new error with parameters.
    pub fn new<I, S>(code: &str, params: I) -> ApiError
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ApiError {
            code: code.to_string(),
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    /// A new error without parameters.
    pub fn bare(code: &str) -> ApiError {
        ApiError {
            code: code.to_string(),
            params: Vec::new(),
        }
    }

    /// `["CODE", params...]`.
    pub fn to_vec(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.params.len() + 1);
        v.push(self.code.clone());
        v.extend(self.params.iter().cloned());
        v
    }

    /// Parses `["CODE", params...]`.
    pub fn from_vec(v: &[String]) -> Option<ApiError> {
        let (code, params) = v.split_first()?;
        Some(ApiError {
            code: code.clone(),
            params: params.to_vec(),
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.params.is_empty() {
            write!(f, " [{}]", self.params.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

/// Errors starting or running the lab pool (library API).
#[derive(Debug, thiserror::Error)]
pub enum LabPoolError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The inventory file could not be read or parsed.
    #[error("inventory {path}: {message}")]
    Inventory {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The state file could not be read or parsed.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// Other IO failure.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Every error code the lab pool returns (see the table in README.md).
pub mod codes {
    #![allow(missing_docs)]
    pub const SESSION_AUTHENTICATION_FAILED: &str = "SESSION_AUTHENTICATION_FAILED";
    pub const SESSION_INVALID: &str = "SESSION_INVALID";
    pub const HOST_IS_SLAVE: &str = "HOST_IS_SLAVE";
    pub const MESSAGE_METHOD_UNKNOWN: &str = "MESSAGE_METHOD_UNKNOWN";
    pub const MESSAGE_PARAMETER_COUNT_MISMATCH: &str = "MESSAGE_PARAMETER_COUNT_MISMATCH";
    pub const HANDLE_INVALID: &str = "HANDLE_INVALID";
    pub const UUID_INVALID: &str = "UUID_INVALID";
    pub const MAP_DUPLICATE_KEY: &str = "MAP_DUPLICATE_KEY";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    pub const INVALID_VALUE: &str = "INVALID_VALUE";
    pub const VALUE_NOT_SUPPORTED: &str = "VALUE_NOT_SUPPORTED";
    pub const OPERATION_BLOCKED: &str = "OPERATION_BLOCKED";
    pub const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";
    pub const OTHER_OPERATION_IN_PROGRESS: &str = "OTHER_OPERATION_IN_PROGRESS";
    pub const VM_BAD_POWER_STATE: &str = "VM_BAD_POWER_STATE";
    pub const VM_IS_TEMPLATE: &str = "VM_IS_TEMPLATE";
    pub const ONLY_PROVISION_TEMPLATE: &str = "ONLY_PROVISION_TEMPLATE";
    pub const VM_LACKS_FEATURE: &str = "VM_LACKS_FEATURE";
    pub const MEMORY_CONSTRAINT_VIOLATION: &str = "MEMORY_CONSTRAINT_VIOLATION";
    pub const MEMORY_CONSTRAINT_VIOLATION_ORDER: &str = "MEMORY_CONSTRAINT_VIOLATION_ORDER";
    pub const MEMORY_CONSTRAINT_VIOLATION_MAXPIN: &str = "MEMORY_CONSTRAINT_VIOLATION_MAXPIN";
    pub const HOST_NOT_ENOUGH_FREE_MEMORY: &str = "HOST_NOT_ENOUGH_FREE_MEMORY";
    pub const VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE: &str =
        "VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE";
    pub const MAC_INVALID: &str = "MAC_INVALID";
    pub const INVALID_DEVICE: &str = "INVALID_DEVICE";
    pub const DEVICE_ALREADY_EXISTS: &str = "DEVICE_ALREADY_EXISTS";
    pub const DEVICE_ALREADY_ATTACHED: &str = "DEVICE_ALREADY_ATTACHED";
    pub const DEVICE_ALREADY_DETACHED: &str = "DEVICE_ALREADY_DETACHED";
    pub const VDI_IN_USE: &str = "VDI_IN_USE";
    pub const VDI_READONLY: &str = "VDI_READONLY";
    pub const VDI_MISSING: &str = "VDI_MISSING";
    pub const VDI_INCOMPATIBLE_TYPE: &str = "VDI_INCOMPATIBLE_TYPE";
    pub const VBD_CDS_MUST_BE_READONLY: &str = "VBD_CDS_MUST_BE_READONLY";
    pub const VBD_NOT_REMOVABLE_MEDIA: &str = "VBD_NOT_REMOVABLE_MEDIA";
    pub const VBD_NOT_EMPTY: &str = "VBD_NOT_EMPTY";
    pub const VBD_IS_EMPTY: &str = "VBD_IS_EMPTY";
    pub const VBD_NOT_UNPLUGGABLE: &str = "VBD_NOT_UNPLUGGABLE";
    pub const SR_FULL: &str = "SR_FULL";
    pub const EVENT_FROM_TOKEN_PARSE_FAILURE: &str = "EVENT_FROM_TOKEN_PARSE_FAILURE";
    pub const TASK_CANCELLED: &str = "TASK_CANCELLED";
    pub const SYSPREP: &str = "SYSPREP";
}
