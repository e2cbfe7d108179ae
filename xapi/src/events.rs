//! `event.from`, waits on objects, and task completion driven by events (no polling).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{CallOpts, Client};
use crate::error::{ApiError, Error, ErrorCode, Result};
use crate::records::{TaskRecord, TaskStatus, VmGuestMetricsRecord, VmRecord};
use crate::refs::{Class, Ref, Task, TaskRef, VmRef};
use crate::wire::{self, xapi_enum};

xapi_enum!(
    /// The kind of change an event reports.
    EventOperation {
        Add = "add",
        Mod = "mod",
        Del = "del",
    }
);

/// One event from `event.from`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// Event id (a generation number).
    #[serde(default, deserialize_with = "wire::string")]
    pub id: String,
    /// Class of the object, lower case (`vm`, `task`).
    #[serde(default, deserialize_with = "wire::string")]
    pub class: String,
    /// Add, mod or del.
    pub operation: EventOperation,
    /// Reference of the object.
    #[serde(rename = "ref", default, deserialize_with = "wire::string")]
    pub reference: String,
    /// The object's record after the change (absent for `del`).
    #[serde(default)]
    pub snapshot: Option<Value>,
}

impl Event {
    /// True if the event is about the object `r`.
    pub fn is_about<C: Class>(&self, r: &Ref<C>) -> bool {
        self.reference == r.as_str() && self.class.eq_ignore_ascii_case(C::NAME)
    }

    /// The snapshot decoded as the record of class `C`.
    pub fn record<C: Class>(&self) -> Result<Option<C::Record>> {
        match &self.snapshot {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|source| Error::Decode {
                    method: "event.from".into(),
                    source,
                }),
        }
    }
}

/// The result of one `event.from` call.
#[derive(Debug, Clone, Deserialize)]
pub struct EventBatch {
    /// Events since the token (coalesced: one per object).
    #[serde(default, deserialize_with = "wire::set")]
    pub events: Vec<Event>,
    /// Object counts per class.
    #[serde(default)]
    pub valid_ref_counts: BTreeMap<String, Value>,
    /// Token to pass to the next call.
    #[serde(default, deserialize_with = "wire::string")]
    pub token: String,
}

/// The subscription string for one object: `"<class>/<ref>"`.
pub fn object_subscription<C: Class>(r: &Ref<C>) -> String {
    format!("{}/{}", C::NAME.to_ascii_lowercase(), r.as_str())
}

/// Longest single `event.from` wait; longer waits are split into several calls.
const MAX_EVENT_WAIT: Duration = Duration::from_secs(60);

impl Client {
    /// `event.from(classes, token, timeout)`: events since `token` (`""` = every current
    /// object as an `add`), waiting up to `timeout` for one to happen.
    ///
    /// `classes` holds class names (`"vm"`, `"task"`, `"*"`) or single objects
    /// (`"vm/OpaqueRef:…"`, see [`object_subscription`]).
    pub async fn event_from(
        &self,
        classes: &[String],
        token: &str,
        timeout: Duration,
    ) -> Result<EventBatch> {
        let v = self
            .call_with(
                "event.from",
                vec![json!(classes), json!(token), json!(timeout.as_secs_f64())],
                CallOpts {
                    // The server holds the request up to `timeout`; allow for latency.
                    timeout: Some(timeout + Duration::from_secs(30)),
                    limit: false,
                },
            )
            .await?;
        serde_json::from_value(v).map_err(|source| Error::Decode {
            method: "event.from".into(),
            source,
        })
    }

    /// Waits until `handler` returns `Some` for an event of `classes`, or `timeout` passes.
    ///
    /// The first call uses the empty token, so the handler first sees every current object
    /// of the subscribed classes as an `add` event; then each change. Returns
    /// [`Error::Timeout`] at the deadline. The handler may fail to abort the wait.
    pub async fn wait_for_events<T>(
        &self,
        classes: &[String],
        timeout: Duration,
        what: &str,
        mut handler: impl FnMut(&Event) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut token = String::new();
        let mut first = true;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !first && remaining.is_zero() {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    after: timeout,
                });
            }
            let wait = if first {
                Duration::ZERO
            } else {
                remaining.min(MAX_EVENT_WAIT)
            };
            let batch = self.event_from(classes, &token, wait).await?;
            token = batch.token;
            for ev in &batch.events {
                if let Some(t) = handler(ev)? {
                    return Ok(t);
                }
            }
            first = false;
        }
    }

    /// Waits until the record of `r` satisfies `pred`, driven by `event.from` on that one
    /// object. Returns the satisfying record; [`Error::Timeout`] at the deadline;
    /// [`Error::Deleted`] (or `HANDLE_INVALID`) if the object disappears.
    pub async fn wait_for<C: Class>(
        &self,
        r: &Ref<C>,
        timeout: Duration,
        mut pred: impl FnMut(&C::Record) -> bool,
    ) -> Result<C::Record> {
        let deadline = Instant::now() + timeout;
        let classes = vec![object_subscription(r)];
        let what = format!("{} {}", C::NAME, r.as_str());
        let mut token = String::new();
        let mut first = true;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !first && remaining.is_zero() {
                return Err(Error::Timeout {
                    what,
                    after: timeout,
                });
            }
            let wait = if first {
                Duration::ZERO
            } else {
                remaining.min(MAX_EVENT_WAIT)
            };
            let batch = self.event_from(&classes, &token, wait).await?;
            token = batch.token;
            let mut seen = false;
            for ev in batch.events.iter().filter(|e| e.is_about(r)) {
                seen = true;
                if ev.operation == EventOperation::Del {
                    return Err(Error::Deleted {
                        class: C::NAME.to_string(),
                        reference: r.as_str().to_string(),
                    });
                }
                if let Some(rec) = ev.record::<C>()?
                    && pred(&rec)
                {
                    return Ok(rec);
                }
            }
            if first && !seen {
                // No snapshot for the object in the initial batch: read it directly (this
                // also reports HANDLE_INVALID for an object that does not exist).
                let rec = self.get_record::<C>(r).await?;
                if pred(&rec) {
                    return Ok(rec);
                }
            }
            first = false;
        }
    }

    /// Waits until the guest agent of `vm` has reported metrics satisfying `pred` (for
    /// example an IPv4 address on VIF device 0 inside a CIDR), driven by `event.from` on
    /// the VM and on its current `VM_guest_metrics` object only — never by polling and never
    /// by subscribing to the whole class.
    ///
    /// Follows the VM's `guest_metrics` reference as it changes (a start replaces the
    /// metrics object). Returns the VM record and the satisfying metrics;
    /// [`Error::Timeout`] at the deadline; [`Error::Deleted`]/`HANDLE_INVALID` if the VM
    /// goes away.
    pub async fn wait_for_guest_metrics(
        &self,
        vm: &VmRef,
        timeout: Duration,
        mut pred: impl FnMut(&VmGuestMetricsRecord) -> bool,
    ) -> Result<(VmRecord, VmGuestMetricsRecord)> {
        let deadline = Instant::now() + timeout;
        let what = format!("guest metrics of VM {}", vm.as_str());
        let mut token = String::new();
        let mut vm_rec: Option<VmRecord> = None;
        let mut first = true;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !first && remaining.is_zero() {
                return Err(Error::Timeout {
                    what,
                    after: timeout,
                });
            }
            let gm_ref = vm_rec
                .as_ref()
                .map(|r| r.guest_metrics.clone())
                .unwrap_or_default();
            let mut classes = vec![object_subscription(vm)];
            if !gm_ref.is_null() {
                classes.push(object_subscription(&gm_ref));
            }
            let wait = if first {
                Duration::ZERO
            } else {
                remaining.min(MAX_EVENT_WAIT)
            };
            let batch = self.event_from(&classes, &token, wait).await?;
            token = batch.token;
            let mut gm_snapshot: Option<VmGuestMetricsRecord> = None;
            for ev in &batch.events {
                if ev.is_about(vm) {
                    if ev.operation == EventOperation::Del {
                        return Err(Error::Deleted {
                            class: "VM".into(),
                            reference: vm.as_str().to_string(),
                        });
                    }
                    if let Some(rec) = ev.record::<crate::refs::Vm>()? {
                        vm_rec = Some(rec);
                    }
                } else if ev.is_about(&gm_ref) && ev.operation != EventOperation::Del {
                    gm_snapshot = ev.record::<crate::refs::VmGuestMetrics>()?;
                }
            }
            if first && vm_rec.is_none() {
                vm_rec = Some(self.get_record::<crate::refs::Vm>(vm).await?);
            }
            first = false;
            let Some(current) = vm_rec.as_ref() else {
                continue;
            };
            let now_gm = current.guest_metrics.clone();
            if now_gm.is_null() {
                continue;
            }
            // A new metrics object (or the first look at one): read it once; later changes
            // arrive as events on it.
            let gm = if now_gm != gm_ref {
                match self
                    .get_record::<crate::refs::VmGuestMetrics>(&now_gm)
                    .await
                {
                    Ok(r) => Some(r),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                }
            } else {
                gm_snapshot
            };
            if let Some(gm) = gm
                && pred(&gm)
            {
                return Ok((current.clone(), gm));
            }
        }
    }

    /// Waits for `task` to finish and returns its record if it succeeded. A failed task
    /// becomes [`Error::Api`] with the task's error code and parameters (method = the
    /// task's name, e.g. `Async.VM.start`); a cancelled task gives `TASK_CANCELLED`.
    pub async fn await_task(&self, task: &TaskRef, timeout: Duration) -> Result<TaskRecord> {
        let rec = self
            .wait_for::<Task>(task, timeout, |t| t.status.is_finished())
            .await?;
        task_outcome(rec)
    }

    /// Runs `Async.<method>` and waits for its task; returns the unwrapped result value
    /// (for example the new VM reference of `VM.clone`; `""` for void calls). The task is
    /// destroyed afterwards. Holds one mutation permit for the whole operation.
    pub async fn run_async(
        &self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<String> {
        let _permit = self.mutation_permit().await?;
        let task = self.start_async_unlimited(method, params).await?;
        let outcome = self.await_task(&task, timeout).await;
        if outcome.is_ok() || !matches!(outcome, Err(Error::Timeout { .. })) {
            // Best effort: a finished task is deleted immediately; failure is harmless.
            if let Err(e) = self.task_destroy_unlimited(&task).await {
                tracing::debug!(error = %e, "task.destroy failed");
            }
        }
        outcome.map(|rec| rec.result_value())
    }

    /// Starts `Async.<method>` and returns its task without waiting.
    pub async fn start_async(&self, method: &str, params: Vec<Value>) -> Result<TaskRef> {
        let v = self.call(&format!("Async.{method}"), params).await?;
        decode_task_ref(method, v)
    }

    pub(crate) async fn start_async_unlimited(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<TaskRef> {
        let v = self
            .call_unlimited(&format!("Async.{method}"), params)
            .await?;
        decode_task_ref(method, v)
    }

    pub(crate) async fn task_destroy_unlimited(&self, task: &TaskRef) -> Result<()> {
        self.call_unlimited("task.destroy", vec![json!(task)])
            .await
            .map(|_| ())
    }
}

fn decode_task_ref(method: &str, v: Value) -> Result<TaskRef> {
    match v.as_str() {
        Some(s) if s.starts_with("OpaqueRef:") => Ok(Ref::new(s)),
        _ => Err(Error::Protocol {
            method: format!("Async.{method}"),
            detail: format!("expected a task reference, got {v}"),
        }),
    }
}

/// Converts a finished task record into success or the task's error.
pub(crate) fn task_outcome(rec: TaskRecord) -> Result<TaskRecord> {
    match rec.status {
        TaskStatus::Success => Ok(rec),
        TaskStatus::Failure | TaskStatus::Cancelled => {
            let mut info = rec.error_info.clone();
            if info.is_empty() {
                info.push(if rec.status == TaskStatus::Cancelled {
                    ErrorCode::TaskCancelled.as_str().to_string()
                } else {
                    "TASK_FAILED_WITHOUT_ERROR_INFO".to_string()
                });
            }
            Err(Error::Api {
                method: if rec.name_label.is_empty() {
                    "task".to_string()
                } else {
                    rec.name_label.clone()
                },
                error: ApiError::from_description(info),
            })
        }
        _ => Err(Error::Protocol {
            method: "task".into(),
            detail: format!("task is not finished (status {})", rec.status),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::VmRef;

    #[test]
    fn event_batch_decodes() {
        let v = json!({
            "events": [
                {"id": "12", "timestamp": "0.0", "class": "vm", "operation": "mod",
                 "ref": "OpaqueRef:v", "snapshot": {"uuid": "u", "power_state": "Running"}},
                {"id": 13, "timestamp": "0.0", "class": "vm", "operation": "del",
                 "ref": "OpaqueRef:w"}
            ],
            "valid_ref_counts": {"vm": 3},
            "token": "00000000000000000013,00000000000000000000"
        });
        let b: EventBatch = serde_json::from_value(v).unwrap();
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[1].id, "13");
        let r: VmRef = Ref::new("OpaqueRef:v");
        assert!(b.events[0].is_about(&r));
        assert!(!b.events[1].is_about(&r));
        let rec = b.events[0].record::<crate::refs::Vm>().unwrap().unwrap();
        assert_eq!(rec.power_state, crate::records::PowerState::Running);
        assert!(b.events[1].record::<crate::refs::Vm>().unwrap().is_none());
        assert_eq!(b.events[1].operation, EventOperation::Del);
        assert_eq!(object_subscription(&r), "vm/OpaqueRef:v");
    }

    #[test]
    fn task_outcomes() {
        let ok = TaskRecord {
            status: TaskStatus::Success,
            result: "<value>OpaqueRef:x</value>".into(),
            ..Default::default()
        };
        assert_eq!(task_outcome(ok).unwrap().result_value(), "OpaqueRef:x");
        let failed = TaskRecord {
            status: TaskStatus::Failure,
            name_label: "Async.VM.start".into(),
            error_info: vec!["HOST_NOT_ENOUGH_FREE_MEMORY".into(), "1".into(), "0".into()],
            ..Default::default()
        };
        let e = task_outcome(failed).unwrap_err();
        assert!(e.is(&ErrorCode::HostNotEnoughFreeMemory));
        assert!(e.to_string().starts_with("Async.VM.start: "));
        let cancelled = TaskRecord {
            status: TaskStatus::Cancelled,
            ..Default::default()
        };
        assert!(
            task_outcome(cancelled)
                .unwrap_err()
                .is(&ErrorCode::TaskCancelled)
        );
        assert!(task_outcome(TaskRecord::default()).is_err());
    }
}
