//! vCPUs: `vcpus` (at startup), `vcpus_max` (default `vcpus`) and
//! `cores_per_socket` (must divide `vcpus_max`): plan-time checks and the
//! order of XAPI calls.
//!
//! XAPI rules (reference xapi.md §4.3): `VM.set_VCPUs_max` needs a halted VM
//! and `n >= VCPUs_at_startup`; `VM.set_VCPUs_at_startup` has no power gate
//! but needs `n <= VCPUs_max`. So growing sets the maximum first and shrinking
//! sets the startup count first. On a running VM, `VM.set_VCPUs_number_live`
//! changes the count live (up to `VCPUs_max`).

use schema::{AttributePath, Diagnostics, Value};

use super::schema::attr;
use super::values::{Known, int_at};

/// The configured CPU attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSpec {
    pub vcpus: Known<i64>,
    pub vcpus_max: Known<i64>,
    pub cores_per_socket: Known<i64>,
}

/// The values XAPI holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuState {
    pub at_startup: i64,
    pub max: i64,
    pub cores_per_socket: Option<i64>,
}

/// One XAPI call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuStep {
    /// `VM.set_VCPUs_max` (halted only).
    SetMax(i64),
    /// `VM.set_VCPUs_at_startup`.
    SetAtStartup(i64),
    /// `VM.set_VCPUs_number_live` (running VM).
    SetLive(i64),
    /// `platform:cores-per-socket` (None removes it).
    SetCoresPerSocket(Option<i64>),
}

impl CpuSpec {
    /// Reads a configuration or plan.
    pub fn from_value(obj: &Value) -> Self {
        CpuSpec {
            vcpus: int_at(obj, attr::VCPUS),
            vcpus_max: int_at(obj, attr::VCPUS_MAX),
            cores_per_socket: int_at(obj, attr::CORES_PER_SOCKET),
        }
    }

    /// Effective maximum: `vcpus_max`, else `vcpus`.
    pub fn effective_max(&self) -> Known<i64> {
        self.vcpus_max.or(self.vcpus)
    }

    /// Plan-time checks with attribute paths.
    pub fn validate(&self, diags: &mut Diagnostics) {
        for (name, v) in [
            (attr::VCPUS, self.vcpus),
            (attr::VCPUS_MAX, self.vcpus_max),
            (attr::CORES_PER_SOCKET, self.cores_per_socket),
        ] {
            if let Known::Value(n) = v
                && !(1..=4096).contains(&n)
            {
                diags.error_at(
                    AttributePath::new(name),
                    "Invalid vCPU count",
                    format!("{name} must be between 1 and 4096, got {n}."),
                );
                return;
            }
        }
        if let (Known::Value(v), Known::Value(m)) = (self.vcpus, self.vcpus_max)
            && v > m
        {
            diags.error_at(
                AttributePath::new(attr::VCPUS),
                "Invalid vCPU count",
                format!("vcpus ({v}) must not be greater than vcpus_max ({m})."),
            );
        }
        if let (Known::Value(max), Known::Value(cps)) =
            (self.effective_max(), self.cores_per_socket)
            && max % cps != 0
        {
            diags.error_at(
                AttributePath::new(attr::CORES_PER_SOCKET),
                "Invalid cores per socket",
                format!(
                    "cores_per_socket ({cps}) must divide vcpus_max ({max}{}); XAPI refuses to \
                     start the VM otherwise (VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE).",
                    if self.vcpus_max.is_value() {
                        ""
                    } else {
                        ", which defaults to vcpus"
                    }
                ),
            );
        }
    }

    /// The target values: unset ones keep `current` (the template's at create).
    pub fn resolve(&self, current: &CpuState) -> CpuState {
        let at_startup = self.vcpus.value().unwrap_or(current.at_startup);
        let max = self
            .vcpus_max
            .value()
            .or(self.vcpus.value())
            .unwrap_or(current.max)
            .max(at_startup);
        CpuState {
            at_startup,
            max,
            cores_per_socket: match self.cores_per_socket {
                Known::Value(c) => Some(c),
                _ => current.cores_per_socket,
            },
        }
    }
}

/// Whether going from `current` to `target` needs a halted VM.
pub fn needs_halt(current: &CpuState, target: &CpuState) -> Vec<&'static str> {
    let mut out = Vec::new();
    if current.max != target.max {
        out.push(attr::VCPUS_MAX);
    }
    if current.cores_per_socket != target.cores_per_socket {
        out.push(attr::CORES_PER_SOCKET);
    }
    out
}

/// The calls taking `current` to `target`. `running` = the VM runs now (then
/// only live-capable steps may be used: callers halt first when
/// [`needs_halt`] says so).
pub fn steps(current: &CpuState, target: &CpuState, running: bool) -> Vec<CpuStep> {
    let mut out = Vec::new();
    if current.cores_per_socket != target.cores_per_socket {
        out.push(CpuStep::SetCoresPerSocket(target.cores_per_socket));
    }
    if running {
        if current.at_startup != target.at_startup {
            out.push(CpuStep::SetLive(target.at_startup));
            out.push(CpuStep::SetAtStartup(target.at_startup));
        }
        return out;
    }
    if target.max >= current.max {
        if target.max != current.max {
            out.push(CpuStep::SetMax(target.max));
        }
        if target.at_startup != current.at_startup {
            out.push(CpuStep::SetAtStartup(target.at_startup));
        }
    } else {
        if target.at_startup != current.at_startup {
            out.push(CpuStep::SetAtStartup(target.at_startup));
        }
        out.push(CpuStep::SetMax(target.max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Option<i64>, m: Option<i64>, c: Option<i64>) -> CpuSpec {
        let k = |x: Option<i64>| x.map(Known::Value).unwrap_or(Known::Null);
        CpuSpec {
            vcpus: k(v),
            vcpus_max: k(m),
            cores_per_socket: k(c),
        }
    }

    fn errs(s: CpuSpec) -> Vec<String> {
        let mut d = Diagnostics::new();
        s.validate(&mut d);
        d.iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect()
    }

    #[test]
    fn validation() {
        assert!(errs(spec(Some(2), None, Some(2))).is_empty());
        assert!(errs(spec(Some(2), Some(8), Some(4))).is_empty());
        assert_eq!(errs(spec(Some(4), Some(2), None)), vec!["vcpus"]);
        assert_eq!(
            errs(spec(Some(4), Some(6), Some(4))),
            vec!["cores_per_socket"]
        );
        assert_eq!(errs(spec(Some(3), None, Some(2))), vec!["cores_per_socket"]);
        assert_eq!(errs(spec(Some(0), None, None)), vec!["vcpus"]);
    }

    #[test]
    fn defaults() {
        let cur = CpuState {
            at_startup: 1,
            max: 1,
            cores_per_socket: None,
        };
        let t = spec(Some(4), None, None).resolve(&cur);
        assert_eq!((t.at_startup, t.max), (4, 4));
        let t = spec(None, None, None).resolve(&cur);
        assert_eq!(t, cur);
    }

    #[test]
    fn grow_sets_max_first_and_shrink_startup_first() {
        let a = CpuState {
            at_startup: 2,
            max: 2,
            cores_per_socket: None,
        };
        let b = CpuState {
            at_startup: 4,
            max: 8,
            cores_per_socket: None,
        };
        assert_eq!(
            steps(&a, &b, false),
            vec![CpuStep::SetMax(8), CpuStep::SetAtStartup(4)]
        );
        assert_eq!(
            steps(&b, &a, false),
            vec![CpuStep::SetAtStartup(2), CpuStep::SetMax(2)]
        );
        assert_eq!(needs_halt(&a, &b), vec!["vcpus_max"]);
        let c = CpuState { at_startup: 6, ..b };
        assert!(needs_halt(&b, &c).is_empty());
        assert_eq!(
            steps(&b, &c, true),
            vec![CpuStep::SetLive(6), CpuStep::SetAtStartup(6)]
        );
    }
}
