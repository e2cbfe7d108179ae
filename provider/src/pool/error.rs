//! Errors of the pool layer and their diagnostics.

use schema::Diagnostic;

use crate::provider_config::ConfigError;

/// One object offered as a candidate in an ambiguity or "not found" message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// The object's UUID.
    pub uuid: String,
    /// Its `name_label`.
    pub name_label: String,
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} ({})", self.name_label, self.uuid)
    }
}

/// Everything the pool layer can fail with. `Display` never contains the
/// password or a session id.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The provider configuration does not say how to reach the pool.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The XAPI client could not be built (bad TLS material, bad URL).
    #[error("cannot set up the connection to {url}: {reason}")]
    Setup {
        /// Pool URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Logging in failed.
    #[error("cannot log in to the pool at {url} as {username:?}: {reason}")]
    Login {
        /// Pool URL.
        url: String,
        /// User name.
        username: String,
        /// Why, with a hint (password redacted).
        reason: String,
    },
    /// A XAPI call failed.
    #[error("{context}: {source}")]
    Xapi {
        /// What the provider was doing.
        context: String,
        /// The client's error.
        #[source]
        source: xapi::Error,
    },
    /// No object matched a lookup.
    #[error("{}", not_found_text(kind, query, candidates))]
    NotFound {
        /// What was looked up (`template`, `network`, ...).
        kind: &'static str,
        /// The query as given.
        query: String,
        /// Objects of this kind that exist (a few, for orientation).
        candidates: Vec<Candidate>,
    },
    /// Several objects matched a lookup that must be unique.
    #[error("{}", ambiguous_text(kind, query, candidates))]
    Ambiguous {
        /// What was looked up.
        kind: &'static str,
        /// The query as given.
        query: String,
        /// Every matching object.
        candidates: Vec<Candidate>,
    },
}

/// How many candidates a "not found" message lists at most.
pub(crate) const MAX_LISTED: usize = 20;

fn list(candidates: &[Candidate]) -> String {
    let mut parts: Vec<String> = candidates
        .iter()
        .take(MAX_LISTED)
        .map(|c| c.to_string())
        .collect();
    if candidates.len() > MAX_LISTED {
        parts.push(format!("and {} more", candidates.len() - MAX_LISTED));
    }
    parts.join(", ")
}

fn not_found_text(kind: &str, query: &str, candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        format!("no {kind} matches {query:?} (there is no {kind} in the pool)")
    } else {
        format!(
            "no {kind} matches {query:?}; the pool has: {}",
            list(candidates)
        )
    }
}

fn ambiguous_text(kind: &str, query: &str, candidates: &[Candidate]) -> String {
    format!(
        "{} {kind}s match {query:?}: {}. Use the UUID (or a unique name) to choose one",
        candidates.len(),
        list(candidates)
    )
}

impl PoolError {
    /// Wraps a XAPI error with what the provider was doing.
    pub fn xapi(context: impl Into<String>, source: xapi::Error) -> Self {
        PoolError::Xapi {
            context: context.into(),
            source,
        }
    }

    /// True for "the object does not exist" (a deleted object on refresh).
    pub fn is_not_found(&self) -> bool {
        match self {
            PoolError::NotFound { .. } => true,
            PoolError::Xapi { source, .. } => source.is_not_found(),
            _ => false,
        }
    }

    /// A short summary line for the diagnostic.
    pub fn summary(&self) -> &'static str {
        match self {
            PoolError::Config(_) => "Provider not configured for a pool",
            PoolError::Setup { .. } => "Invalid pool connection settings",
            PoolError::Login { .. } => "Cannot log in to the pool",
            PoolError::Xapi { .. } => "XAPI call failed",
            PoolError::NotFound { .. } => "No matching object",
            PoolError::Ambiguous { .. } => "Ambiguous name",
        }
    }

    /// The error as an error diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::error(self.summary(), self.to_string())
    }
}
