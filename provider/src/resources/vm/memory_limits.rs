//! `memory = { static_min, static_max, dynamic_min, dynamic_max }`: defaults,
//! plan-time order checks (with attribute paths and the numbers), and which
//! changes XAPI applies live versus only while the VM is halted.
//!
//! Defaults: `dynamic_max` = `static_max`; `dynamic_min` = (effective)
//! `dynamic_max`; `static_min` = the template's. So a block with only
//! `static_max` gives fixed memory.

use schema::{AttributePath, Diagnostics, Value};
use xapi::MemoryLimits;

use super::schema::{attr, mem};
use super::values::{Known, int_at};

/// The `memory` block as configured (each limit null, unknown or known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySpec {
    pub static_min: Known<i64>,
    pub static_max: Known<i64>,
    pub dynamic_min: Known<i64>,
    pub dynamic_max: Known<i64>,
}

fn path(name: &str) -> AttributePath {
    AttributePath::new(attr::MEMORY).attr(name)
}

/// Human form of a byte count: `2147483648 (2 GiB)`.
pub fn bytes_text(n: i64) -> String {
    const UNITS: [(&str, i64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size && n % size == 0 {
            return format!("{n} ({} {unit})", n / size);
        }
    }
    format!("{n}")
}

impl MemorySpec {
    /// Reads the `memory` object of a configuration or plan (null -> all null).
    pub fn from_value(memory: &Value) -> Self {
        if memory.is_unknown() {
            return MemorySpec {
                static_min: Known::Unknown,
                static_max: Known::Unknown,
                dynamic_min: Known::Unknown,
                dynamic_max: Known::Unknown,
            };
        }
        MemorySpec {
            static_min: int_at(memory, mem::STATIC_MIN),
            static_max: int_at(memory, mem::STATIC_MAX),
            dynamic_min: int_at(memory, mem::DYNAMIC_MIN),
            dynamic_max: int_at(memory, mem::DYNAMIC_MAX),
        }
    }

    /// Effective `dynamic_max` (default `static_max`).
    pub fn effective_dynamic_max(&self) -> Known<i64> {
        self.dynamic_max.or(self.static_max)
    }

    /// Effective `dynamic_min` (default: effective `dynamic_max`).
    pub fn effective_dynamic_min(&self) -> Known<i64> {
        self.dynamic_min.or(self.effective_dynamic_max())
    }

    /// Plan-time checks: positive values and the order
    /// `static_min <= dynamic_min <= dynamic_max <= static_max` among every pair
    /// whose values are known (defaults applied). Each error names the
    /// attribute path and both numbers.
    pub fn validate(&self, diags: &mut Diagnostics) {
        for (name, v) in [
            (mem::STATIC_MIN, self.static_min),
            (mem::STATIC_MAX, self.static_max),
            (mem::DYNAMIC_MIN, self.dynamic_min),
            (mem::DYNAMIC_MAX, self.dynamic_max),
        ] {
            if let Known::Value(n) = v
                && n <= 0
            {
                diags.error_at(
                    path(name),
                    "Invalid memory limit",
                    format!("memory.{name} must be a positive number of bytes, got {n}."),
                );
            }
        }
        if diags.has_errors() {
            return;
        }
        // (name, value, configured?) in the required order.
        let chain = [
            (mem::STATIC_MIN, self.static_min, self.static_min.is_value()),
            (
                mem::DYNAMIC_MIN,
                self.effective_dynamic_min(),
                self.dynamic_min.is_value(),
            ),
            (
                mem::DYNAMIC_MAX,
                self.effective_dynamic_max(),
                self.dynamic_max.is_value(),
            ),
            (mem::STATIC_MAX, self.static_max, self.static_max.is_value()),
        ];
        // First pairs whose lower side the user wrote (blame it), then pairs
        // where only the upper side is written.
        for pass in 0..2 {
            for i in 0..chain.len() {
                for j in (i + 1)..chain.len() {
                    let (lo_name, lo, lo_set) = chain[i];
                    let (hi_name, hi, hi_set) = chain[j];
                    let (Known::Value(a), Known::Value(b)) = (lo, hi) else {
                        continue;
                    };
                    let relevant = if pass == 0 { lo_set } else { !lo_set && hi_set };
                    if a <= b || !relevant {
                        continue;
                    }
                    let text = |name: &str, v: i64, set: bool| {
                        if set {
                            format!("memory.{name} ({})", bytes_text(v))
                        } else {
                            format!("memory.{name} (defaulted to {})", bytes_text(v))
                        }
                    };
                    diags.error_at(
                        path(if lo_set { lo_name } else { hi_name }),
                        "Invalid memory limits order",
                        format!(
                            "{} is greater than {}. XAPI requires static_min <= dynamic_min <= \
                             dynamic_max <= static_max.",
                            text(lo_name, a, lo_set),
                            text(hi_name, b, hi_set)
                        ),
                    );
                    return;
                }
            }
        }
    }

    /// The four limits to set, with `static_min` defaulting to the template's.
    /// Fails (with a message naming the attributes) if the result is not ordered.
    pub fn resolve(&self, template_static_min: i64) -> Result<MemoryLimits, String> {
        let static_max = self
            .static_max
            .value()
            .ok_or("memory.static_max is not known")?;
        let dynamic_max = self.effective_dynamic_max().value().unwrap_or(static_max);
        let dynamic_min = self.effective_dynamic_min().value().unwrap_or(dynamic_max);
        let static_min = self.static_min.value().unwrap_or(template_static_min);
        let limits = MemoryLimits {
            static_min,
            dynamic_min,
            dynamic_max,
            static_max,
        };
        if limits.is_ordered() {
            return Ok(limits);
        }
        if self.static_min.value().is_none() && static_min > dynamic_min {
            return Err(format!(
                "memory.static_min defaults to the template's {}, which is greater than \
                 memory.dynamic_min ({}). Set memory.static_min explicitly.",
                bytes_text(static_min),
                bytes_text(dynamic_min)
            ));
        }
        Err(format!(
            "memory limits are not ordered: static_min {} , dynamic_min {}, dynamic_max {}, \
             static_max {} (XAPI requires static_min <= dynamic_min <= dynamic_max <= \
             static_max)",
            bytes_text(static_min),
            bytes_text(dynamic_min),
            bytes_text(dynamic_max),
            bytes_text(static_max)
        ))
    }
}

/// What a change of the limits needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryChange {
    /// Nothing changes.
    None,
    /// Only the dynamic range: `VM.set_memory_dynamic_range`, live on a running VM.
    DynamicOnly,
    /// A static limit changes: `VM.set_memory_limits`, only while halted.
    Static,
}

/// Classifies the change from `current` to `target`.
pub fn classify(current: &MemoryLimits, target: &MemoryLimits) -> MemoryChange {
    if current == target {
        MemoryChange::None
    } else if current.static_min == target.static_min && current.static_max == target.static_max {
        MemoryChange::DynamicOnly
    } else {
        MemoryChange::Static
    }
}

/// The attribute names (`memory.static_max`, ...) whose change needs a halted VM.
pub fn halted_only_attributes(current: &MemoryLimits, target: &MemoryLimits) -> Vec<String> {
    let mut out = Vec::new();
    if current.static_min != target.static_min {
        out.push(format!("memory.{}", mem::STATIC_MIN));
    }
    if current.static_max != target.static_max {
        out.push(format!("memory.{}", mem::STATIC_MAX));
    }
    out
}

/// Memory limits from a state object's `memory` (all four known), if complete.
pub fn limits_from_state(memory: &Value) -> Option<MemoryLimits> {
    let s = MemorySpec::from_value(memory);
    Some(MemoryLimits {
        static_min: s.static_min.value()?,
        static_max: s.static_max.value()?,
        dynamic_min: s.dynamic_min.value()?,
        dynamic_max: s.dynamic_max.value()?,
    })
}

/// The `memory` object for state.
pub fn limits_to_value(m: &MemoryLimits) -> Value {
    Value::object([
        (mem::STATIC_MIN, Value::from(m.static_min)),
        (mem::STATIC_MAX, Value::from(m.static_max)),
        (mem::DYNAMIC_MIN, Value::from(m.dynamic_min)),
        (mem::DYNAMIC_MAX, Value::from(m.dynamic_max)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: i64 = 1 << 30;

    fn spec(smin: Option<i64>, smax: i64, dmin: Option<i64>, dmax: Option<i64>) -> MemorySpec {
        let k = |v: Option<i64>| v.map(Known::Value).unwrap_or(Known::Null);
        MemorySpec {
            static_min: k(smin),
            static_max: Known::Value(smax),
            dynamic_min: k(dmin),
            dynamic_max: k(dmax),
        }
    }

    fn errors(s: &MemorySpec) -> Vec<(String, String)> {
        let mut d = Diagnostics::new();
        s.validate(&mut d);
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.detail.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn only_static_max_gives_fixed_memory() {
        let s = spec(None, 4 * G, None, None);
        assert!(errors(&s).is_empty());
        let m = s.resolve(G / 2).unwrap();
        assert_eq!(
            m,
            MemoryLimits {
                static_min: G / 2,
                dynamic_min: 4 * G,
                dynamic_max: 4 * G,
                static_max: 4 * G
            }
        );
    }

    #[test]
    fn full_limits_are_kept() {
        let s = spec(Some(G), 8 * G, Some(2 * G), Some(4 * G));
        assert!(errors(&s).is_empty());
        let m = s.resolve(123).unwrap();
        assert_eq!(
            (m.static_min, m.dynamic_min, m.dynamic_max, m.static_max),
            (G, 2 * G, 4 * G, 8 * G)
        );
    }

    #[test]
    fn every_order_violation_names_path_and_numbers() {
        let cases = [
            (spec(Some(2 * G), 4 * G, Some(G), None), "memory.static_min"),
            (
                spec(None, 4 * G, Some(3 * G), Some(2 * G)),
                "memory.dynamic_min",
            ),
            (spec(None, 4 * G, None, Some(5 * G)), "memory.dynamic_max"),
            (spec(Some(8 * G), 4 * G, None, None), "memory.static_min"),
            (spec(None, 2 * G, Some(3 * G), None), "memory.dynamic_min"),
        ];
        for (s, p) in cases {
            let e = errors(&s);
            assert_eq!(e.len(), 1, "{s:?}: {e:?}");
            assert_eq!(e[0].0, p, "{s:?}");
            assert!(e[0].1.contains("GiB"), "{}", e[0].1);
        }
        let e = errors(&spec(None, 4 * G, Some(3 * G), Some(2 * G)));
        assert!(e[0].1.contains("3221225472 (3 GiB)"));
        assert!(e[0].1.contains("2147483648 (2 GiB)"));
    }

    #[test]
    fn unknown_values_are_skipped() {
        let s = MemorySpec {
            static_min: Known::Unknown,
            static_max: Known::Value(G),
            dynamic_min: Known::Unknown,
            dynamic_max: Known::Value(2 * G),
        };
        let e = errors(&s);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "memory.dynamic_max");
        let s = MemorySpec {
            static_max: Known::Unknown,
            ..s
        };
        assert!(errors(&s).is_empty());
    }

    #[test]
    fn non_positive_values_are_rejected() {
        let e = errors(&spec(Some(0), G, None, None));
        assert_eq!(e[0].0, "memory.static_min");
    }

    #[test]
    fn template_static_min_too_big_is_explained() {
        let e = spec(None, G, None, None).resolve(2 * G).unwrap_err();
        assert!(e.contains("Set memory.static_min"), "{e}");
    }

    #[test]
    fn classification() {
        let a = MemoryLimits {
            static_min: G,
            dynamic_min: 2 * G,
            dynamic_max: 4 * G,
            static_max: 4 * G,
        };
        assert_eq!(classify(&a, &a), MemoryChange::None);
        let b = MemoryLimits {
            dynamic_min: 3 * G,
            ..a
        };
        assert_eq!(classify(&a, &b), MemoryChange::DynamicOnly);
        let c = MemoryLimits {
            static_max: 8 * G,
            ..a
        };
        assert_eq!(classify(&a, &c), MemoryChange::Static);
        assert_eq!(halted_only_attributes(&a, &c), vec!["memory.static_max"]);
    }

    #[test]
    fn state_round_trip() {
        let a = MemoryLimits {
            static_min: G,
            dynamic_min: 2 * G,
            dynamic_max: 4 * G,
            static_max: 4 * G,
        };
        assert_eq!(limits_from_state(&limits_to_value(&a)), Some(a));
    }
}
