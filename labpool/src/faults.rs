//! Fault injection, configured through `/labpool/faults`: added latency, errors per method at
//! a chosen rate with a chosen code, dropped connections (before or after the call ran),
//! and a delay that keeps `Async.` tasks pending (so `task.cancel` can be exercised).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// When a dropped connection happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropWhen {
    /// The call is not executed.
    Before,
    /// The call is executed, then the connection is closed without a response.
    After,
}

/// One fault rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    /// Exact method name as called (e.g. `VIF.create`, `Async.VM.start`) or `*`.
    pub method: String,
    /// Probability in [0, 1] that the rule fires on a matching call (default 1).
    #[serde(default = "one")]
    pub rate: f64,
    /// How many more times it may fire (absent: unlimited).
    #[serde(default)]
    pub count: Option<u64>,
    /// Error code to return (e.g. `INTERNAL_ERROR`); ignored when `drop` is set.
    #[serde(default)]
    pub error: Option<String>,
    /// Error parameters.
    #[serde(default)]
    pub params: Vec<String>,
    /// Drop the connection instead of answering.
    #[serde(default)]
    pub drop: Option<DropWhen>,
}

fn one() -> f64 {
    1.0
}

/// The fault configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Extra latency per call in milliseconds (added to `--latency-ms`).
    #[serde(default)]
    pub latency_ms: u64,
    /// Delay before an `Async.` task runs, in milliseconds.
    #[serde(default)]
    pub async_delay_ms: u64,
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// What a fault does to a call.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this error.
    Error(ApiError),
    /// Close the connection without running the call.
    DropBefore,
    /// Run the call, then close the connection without answering.
    DropAfter,
}

impl Faults {
    /// Decides the fault (if any) for one call of `method`.
    pub fn decide(&mut self, method: &str) -> Option<FaultAction> {
        let mut rng = rand::rng();
        for rule in &mut self.rules {
            if rule.method != "*" && rule.method != method {
                continue;
            }
            if rule.count == Some(0) {
                continue;
            }
            if rule.rate < 1.0 && rng.random::<f64>() >= rule.rate {
                continue;
            }
            if let Some(c) = rule.count.as_mut() {
                *c -= 1;
            }
            return Some(match rule.drop {
                Some(DropWhen::Before) => FaultAction::DropBefore,
                Some(DropWhen::After) => FaultAction::DropAfter,
                None => FaultAction::Error(ApiError {
                    code: rule
                        .error
                        .clone()
                        .unwrap_or_else(|| "INTERNAL_ERROR".to_string()),
                    params: rule.params.clone(),
                }),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_limits_and_method_match() {
        let mut f = Faults {
            rules: vec![Rule {
                method: "VIF.create".into(),
                rate: 1.0,
                count: Some(1),
                error: Some("SR_FULL".into()),
                params: vec!["a".into()],
                drop: None,
            }],
            ..Faults::default()
        };
        assert_eq!(f.decide("VM.start"), None);
        assert_eq!(
            f.decide("VIF.create"),
            Some(FaultAction::Error(ApiError::new("SR_FULL", ["a"])))
        );
        assert_eq!(f.decide("VIF.create"), None);
    }
}
