//! Typed calls, grouped by class: `client.vm().start(&vm, false, false)`.
//!
//! Each accessor borrows the [`Client`]; create one per use (`client.vif()`), they are free.
//! Synchronous calls block until XAPI returns; the `*_async` forms return the task at
//! once — wait for it with [`Client::await_task`] — and [`Client::run_async`] does both.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::records::*;
use crate::refs::*;
use crate::wire::DateTime;

macro_rules! common_reads {
    ($class:ty) => {
        /// `get_all_records`.
        pub async fn get_all_records(
            &self,
        ) -> Result<BTreeMap<Ref<$class>, <$class as Class>::Record>> {
            self.c.get_all_records::<$class>().await
        }
        /// `get_all`.
        pub async fn get_all(&self) -> Result<Vec<Ref<$class>>> {
            self.c.get_all::<$class>().await
        }
        /// `get_record` (`HANDLE_INVALID` if the object is gone).
        pub async fn get_record(&self, r: &Ref<$class>) -> Result<<$class as Class>::Record> {
            self.c.get_record::<$class>(r).await
        }
        /// `get_by_uuid` (`UUID_INVALID` if there is none).
        pub async fn get_by_uuid(&self, uuid: &str) -> Result<Ref<$class>> {
            self.c.get_by_uuid::<$class>(uuid).await
        }
    };
}

macro_rules! name_reads {
    ($class:ty) => {
        /// `get_by_name_label` (names are not unique).
        pub async fn get_by_name_label(&self, label: &str) -> Result<Vec<Ref<$class>>> {
            self.c.get_by_name_label::<$class>(label).await
        }
    };
}

fn parse_ref<C: Class>(method: &str, s: String) -> Result<Ref<C>> {
    if s.starts_with("OpaqueRef:") {
        Ok(Ref::new(s))
    } else {
        Err(Error::Protocol {
            method: method.to_string(),
            detail: format!("task result {s:?} is not a reference"),
        })
    }
}

impl Client {
    /// VM calls.
    pub fn vm(&self) -> VmApi<'_> {
        VmApi { c: self }
    }
    /// VIF calls.
    pub fn vif(&self) -> VifApi<'_> {
        VifApi { c: self }
    }
    /// VDI calls.
    pub fn vdi(&self) -> VdiApi<'_> {
        VdiApi { c: self }
    }
    /// VBD calls.
    pub fn vbd(&self) -> VbdApi<'_> {
        VbdApi { c: self }
    }
    /// SR reads.
    pub fn sr(&self) -> SrApi<'_> {
        SrApi { c: self }
    }
    /// network reads.
    pub fn network(&self) -> NetworkApi<'_> {
        NetworkApi { c: self }
    }
    /// PIF reads.
    pub fn pif(&self) -> PifApi<'_> {
        PifApi { c: self }
    }
    /// host reads.
    pub fn host(&self) -> HostApi<'_> {
        HostApi { c: self }
    }
    /// pool reads.
    pub fn pool(&self) -> PoolApi<'_> {
        PoolApi { c: self }
    }
    /// task calls.
    pub fn task(&self) -> TaskApi<'_> {
        TaskApi { c: self }
    }
    /// message reads.
    pub fn message(&self) -> MessageApi<'_> {
        MessageApi { c: self }
    }
    /// VM_guest_metrics / VM_metrics / host_metrics reads.
    pub fn metrics(&self) -> MetricsApi<'_> {
        MetricsApi { c: self }
    }
}

/// The four memory limits of a VM, in bytes.
///
/// XAPI requires `static_min <= dynamic_min <= dynamic_max <= static_max`
/// (`MEMORY_CONSTRAINT_VIOLATION_ORDER` otherwise); [`MemoryLimits::is_ordered`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Static minimum.
    pub static_min: i64,
    /// Dynamic minimum.
    pub dynamic_min: i64,
    /// Dynamic maximum.
    pub dynamic_max: i64,
    /// Static maximum.
    pub static_max: i64,
}

impl MemoryLimits {
    /// The limits currently in a VM record.
    pub fn of(vm: &VmRecord) -> Self {
        MemoryLimits {
            static_min: vm.memory_static_min,
            dynamic_min: vm.memory_dynamic_min,
            dynamic_max: vm.memory_dynamic_max,
            static_max: vm.memory_static_max,
        }
    }

    /// True if `static_min <= dynamic_min <= dynamic_max <= static_max`.
    pub fn is_ordered(&self) -> bool {
        self.static_min <= self.dynamic_min
            && self.dynamic_min <= self.dynamic_max
            && self.dynamic_max <= self.static_max
    }
}

/// VM calls. See [`Client::vm`].
pub struct VmApi<'a> {
    c: &'a Client,
}

impl VmApi<'_> {
    common_reads!(Vm);
    name_reads!(Vm);

    async fn set(&self, field: &str, vm: &VmRef, value: Value) -> Result<()> {
        self.c
            .call_void(&format!("VM.set_{field}"), vec![json!(vm), value])
            .await
    }

    /// `VM.clone(vm, new_name)`: fast clone (a clone of a template is a template).
    pub async fn clone(&self, vm: &VmRef, new_name: &str) -> Result<VmRef> {
        self.c
            .call_as("VM.clone", vec![json!(vm), json!(new_name)])
            .await
    }

    /// `Async.VM.clone`, waiting up to `timeout`.
    pub async fn clone_async(
        &self,
        vm: &VmRef,
        new_name: &str,
        timeout: Duration,
    ) -> Result<VmRef> {
        let r = self
            .c
            .run_async("VM.clone", vec![json!(vm), json!(new_name)], timeout)
            .await?;
        parse_ref("Async.VM.clone", r)
    }

    /// `VM.copy(vm, new_name, sr)`: full copy of the disks into `sr` (null = each disk's own SR).
    pub async fn copy(&self, vm: &VmRef, new_name: &str, sr: &SrRef) -> Result<VmRef> {
        self.c
            .call_as("VM.copy", vec![json!(vm), json!(new_name), json!(sr)])
            .await
    }

    /// `Async.VM.copy`, waiting up to `timeout`.
    pub async fn copy_async(
        &self,
        vm: &VmRef,
        new_name: &str,
        sr: &SrRef,
        timeout: Duration,
    ) -> Result<VmRef> {
        let r = self
            .c
            .run_async(
                "VM.copy",
                vec![json!(vm), json!(new_name), json!(sr)],
                timeout,
            )
            .await?;
        parse_ref("Async.VM.copy", r)
    }

    /// `VM.provision(vm)`: turns a template clone into a VM and creates the disks listed in
    /// `other_config.disks` (whose `sr` attributes must be real SR UUIDs).
    pub async fn provision(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.provision", vec![json!(vm)]).await
    }

    /// `Async.VM.provision`, waiting up to `timeout`.
    pub async fn provision_async(&self, vm: &VmRef, timeout: Duration) -> Result<()> {
        self.c
            .run_async("VM.provision", vec![json!(vm)], timeout)
            .await
            .map(|_| ())
    }

    /// `VM.destroy(vm)`: deletes the VM, its VBDs and VIFs — not its VDIs.
    pub async fn destroy(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.destroy", vec![json!(vm)]).await
    }

    /// `VM.set_is_a_template`.
    pub async fn set_is_a_template(&self, vm: &VmRef, value: bool) -> Result<()> {
        self.set("is_a_template", vm, json!(value)).await
    }

    /// `VM.set_name_label`.
    pub async fn set_name_label(&self, vm: &VmRef, value: &str) -> Result<()> {
        self.set("name_label", vm, json!(value)).await
    }

    /// `VM.set_name_description`.
    pub async fn set_name_description(&self, vm: &VmRef, value: &str) -> Result<()> {
        self.set("name_description", vm, json!(value)).await
    }

    // ----- memory -----

    /// `VM.set_memory_limits(vm, static_min, static_max, dynamic_min, dynamic_max)` (halted
    /// only). The struct avoids XAPI's easy-to-confuse parameter order.
    pub async fn set_memory_limits(&self, vm: &VmRef, m: MemoryLimits) -> Result<()> {
        self.c
            .call_void(
                "VM.set_memory_limits",
                vec![
                    json!(vm),
                    json!(m.static_min),
                    json!(m.static_max),
                    json!(m.dynamic_min),
                    json!(m.dynamic_max),
                ],
            )
            .await
    }

    /// `VM.set_memory_dynamic_range(vm, min, max)` (halted or running: applied live).
    pub async fn set_memory_dynamic_range(&self, vm: &VmRef, min: i64, max: i64) -> Result<()> {
        self.c
            .call_void(
                "VM.set_memory_dynamic_range",
                vec![json!(vm), json!(min), json!(max)],
            )
            .await
    }

    /// `VM.set_memory_static_range(vm, min, max)` (halted only).
    pub async fn set_memory_static_range(&self, vm: &VmRef, min: i64, max: i64) -> Result<()> {
        self.c
            .call_void(
                "VM.set_memory_static_range",
                vec![json!(vm), json!(min), json!(max)],
            )
            .await
    }

    /// `VM.set_memory_static_max` (halted only).
    pub async fn set_memory_static_max(&self, vm: &VmRef, value: i64) -> Result<()> {
        self.set("memory_static_max", vm, json!(value)).await
    }

    /// `VM.set_memory_static_min` (halted only).
    pub async fn set_memory_static_min(&self, vm: &VmRef, value: i64) -> Result<()> {
        self.set("memory_static_min", vm, json!(value)).await
    }

    /// `VM.set_memory_dynamic_max`.
    pub async fn set_memory_dynamic_max(&self, vm: &VmRef, value: i64) -> Result<()> {
        self.set("memory_dynamic_max", vm, json!(value)).await
    }

    /// `VM.set_memory_dynamic_min`.
    pub async fn set_memory_dynamic_min(&self, vm: &VmRef, value: i64) -> Result<()> {
        self.set("memory_dynamic_min", vm, json!(value)).await
    }

    /// `VM.set_memory(vm, value)`: static_max = dynamic_min = dynamic_max = value (halted).
    pub async fn set_memory(&self, vm: &VmRef, value: i64) -> Result<()> {
        self.set("memory", vm, json!(value)).await
    }

    // ----- VCPUs -----

    /// `VM.set_VCPUs_max` (halted only; must stay >= VCPUs_at_startup).
    pub async fn set_vcpus_max(&self, vm: &VmRef, n: i64) -> Result<()> {
        self.set("VCPUs_max", vm, json!(n)).await
    }

    /// `VM.set_VCPUs_at_startup` (1..=VCPUs_max).
    pub async fn set_vcpus_at_startup(&self, vm: &VmRef, n: i64) -> Result<()> {
        self.set("VCPUs_at_startup", vm, json!(n)).await
    }

    /// `VM.set_VCPUs_number_live` (running VM, up to VCPUs_max).
    pub async fn set_vcpus_number_live(&self, vm: &VmRef, n: i64) -> Result<()> {
        self.c
            .call_void("VM.set_VCPUs_number_live", vec![json!(vm), json!(n)])
            .await
    }

    // ----- maps, sets and references -----

    /// `VM.set_platform`.
    pub async fn set_platform(&self, vm: &VmRef, map: &StringMap) -> Result<()> {
        self.set("platform", vm, json!(map)).await
    }
    /// `VM.add_to_platform` (`MAP_DUPLICATE_KEY` if the key exists).
    pub async fn add_to_platform(&self, vm: &VmRef, key: &str, value: &str) -> Result<()> {
        self.map_add("platform", vm, key, value).await
    }
    /// `VM.remove_from_platform` (no-op if absent).
    pub async fn remove_from_platform(&self, vm: &VmRef, key: &str) -> Result<()> {
        self.map_remove("platform", vm, key).await
    }

    /// `VM.set_other_config`.
    pub async fn set_other_config(&self, vm: &VmRef, map: &StringMap) -> Result<()> {
        self.set("other_config", vm, json!(map)).await
    }
    /// `VM.add_to_other_config` (`MAP_DUPLICATE_KEY` if the key exists).
    pub async fn add_to_other_config(&self, vm: &VmRef, key: &str, value: &str) -> Result<()> {
        self.map_add("other_config", vm, key, value).await
    }
    /// `VM.remove_from_other_config` (no-op if absent).
    pub async fn remove_from_other_config(&self, vm: &VmRef, key: &str) -> Result<()> {
        self.map_remove("other_config", vm, key).await
    }

    /// `VM.set_xenstore_data` (pushed to a running domain).
    pub async fn set_xenstore_data(&self, vm: &VmRef, map: &StringMap) -> Result<()> {
        self.set("xenstore_data", vm, json!(map)).await
    }
    /// `VM.add_to_xenstore_data` (database only).
    pub async fn add_to_xenstore_data(&self, vm: &VmRef, key: &str, value: &str) -> Result<()> {
        self.map_add("xenstore_data", vm, key, value).await
    }
    /// `VM.remove_from_xenstore_data` (database only).
    pub async fn remove_from_xenstore_data(&self, vm: &VmRef, key: &str) -> Result<()> {
        self.map_remove("xenstore_data", vm, key).await
    }

    /// `VM.set_HVM_boot_params`.
    pub async fn set_hvm_boot_params(&self, vm: &VmRef, map: &StringMap) -> Result<()> {
        self.set("HVM_boot_params", vm, json!(map)).await
    }
    /// `VM.add_to_HVM_boot_params`.
    pub async fn add_to_hvm_boot_params(&self, vm: &VmRef, key: &str, value: &str) -> Result<()> {
        self.map_add("HVM_boot_params", vm, key, value).await
    }
    /// `VM.remove_from_HVM_boot_params`.
    pub async fn remove_from_hvm_boot_params(&self, vm: &VmRef, key: &str) -> Result<()> {
        self.map_remove("HVM_boot_params", vm, key).await
    }

    /// `VM.set_blocked_operations` (operation -> error code to return).
    pub async fn set_blocked_operations(&self, vm: &VmRef, map: &StringMap) -> Result<()> {
        self.set("blocked_operations", vm, json!(map)).await
    }

    /// `VM.set_tags`.
    pub async fn set_tags(&self, vm: &VmRef, tags: &[String]) -> Result<()> {
        self.set("tags", vm, json!(tags)).await
    }
    /// `VM.add_tags` (no-op if present).
    pub async fn add_tags(&self, vm: &VmRef, tag: &str) -> Result<()> {
        self.c
            .call_void("VM.add_tags", vec![json!(vm), json!(tag)])
            .await
    }
    /// `VM.remove_tags`.
    pub async fn remove_tags(&self, vm: &VmRef, tag: &str) -> Result<()> {
        self.c
            .call_void("VM.remove_tags", vec![json!(vm), json!(tag)])
            .await
    }

    /// `VM.set_affinity` (null = no preference).
    pub async fn set_affinity(&self, vm: &VmRef, host: &HostRef) -> Result<()> {
        self.set("affinity", vm, json!(host)).await
    }

    async fn map_add(&self, field: &str, vm: &VmRef, key: &str, value: &str) -> Result<()> {
        self.c
            .call_void(
                &format!("VM.add_to_{field}"),
                vec![json!(vm), json!(key), json!(value)],
            )
            .await
    }

    async fn map_remove(&self, field: &str, vm: &VmRef, key: &str) -> Result<()> {
        self.c
            .call_void(
                &format!("VM.remove_from_{field}"),
                vec![json!(vm), json!(key)],
            )
            .await
    }

    // ----- power -----

    /// `VM.start(vm, start_paused, force)` (halted -> running).
    pub async fn start(&self, vm: &VmRef, start_paused: bool, force: bool) -> Result<()> {
        self.c
            .call_void(
                "VM.start",
                vec![json!(vm), json!(start_paused), json!(force)],
            )
            .await
    }

    /// `Async.VM.start`: returns the task at once.
    pub async fn start_async(
        &self,
        vm: &VmRef,
        start_paused: bool,
        force: bool,
    ) -> Result<TaskRef> {
        self.c
            .start_async(
                "VM.start",
                vec![json!(vm), json!(start_paused), json!(force)],
            )
            .await
    }

    /// `VM.start_on(vm, host, start_paused, force)`.
    pub async fn start_on(
        &self,
        vm: &VmRef,
        host: &HostRef,
        start_paused: bool,
        force: bool,
    ) -> Result<()> {
        self.c
            .call_void(
                "VM.start_on",
                vec![json!(vm), json!(host), json!(start_paused), json!(force)],
            )
            .await
    }

    /// `Async.VM.start_on`: returns the task at once.
    pub async fn start_on_async(
        &self,
        vm: &VmRef,
        host: &HostRef,
        start_paused: bool,
        force: bool,
    ) -> Result<TaskRef> {
        self.c
            .start_async(
                "VM.start_on",
                vec![json!(vm), json!(host), json!(start_paused), json!(force)],
            )
            .await
    }

    /// `VM.shutdown`: clean shutdown, falling back to hard shutdown after XAPI's timeout.
    pub async fn shutdown(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.shutdown", vec![json!(vm)]).await
    }

    /// `VM.get_allowed_VIF_devices`: free VIF device numbers.
    pub async fn get_allowed_vif_devices(&self, vm: &VmRef) -> Result<Vec<String>> {
        self.c
            .call_as("VM.get_allowed_VIF_devices", vec![json!(vm)])
            .await
    }

    /// `VM.get_allowed_VBD_devices`: free VBD userdevice numbers.
    pub async fn get_allowed_vbd_devices(&self, vm: &VmRef) -> Result<Vec<String>> {
        self.c
            .call_as("VM.get_allowed_VBD_devices", vec![json!(vm)])
            .await
    }

    /// `VM.clean_shutdown` (needs guest cooperation).
    pub async fn clean_shutdown(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.clean_shutdown", vec![json!(vm)]).await
    }
    /// `Async.VM.clean_shutdown`.
    pub async fn clean_shutdown_async(&self, vm: &VmRef) -> Result<TaskRef> {
        self.c
            .start_async("VM.clean_shutdown", vec![json!(vm)])
            .await
    }

    /// `VM.hard_shutdown`.
    pub async fn hard_shutdown(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.hard_shutdown", vec![json!(vm)]).await
    }
    /// `Async.VM.hard_shutdown`.
    pub async fn hard_shutdown_async(&self, vm: &VmRef) -> Result<TaskRef> {
        self.c
            .start_async("VM.hard_shutdown", vec![json!(vm)])
            .await
    }

    /// `VM.clean_reboot`.
    pub async fn clean_reboot(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.clean_reboot", vec![json!(vm)]).await
    }
    /// `Async.VM.clean_reboot`.
    pub async fn clean_reboot_async(&self, vm: &VmRef) -> Result<TaskRef> {
        self.c.start_async("VM.clean_reboot", vec![json!(vm)]).await
    }

    /// `VM.hard_reboot`.
    pub async fn hard_reboot(&self, vm: &VmRef) -> Result<()> {
        self.c.call_void("VM.hard_reboot", vec![json!(vm)]).await
    }
    /// `Async.VM.hard_reboot`.
    pub async fn hard_reboot_async(&self, vm: &VmRef) -> Result<TaskRef> {
        self.c.start_async("VM.hard_reboot", vec![json!(vm)]).await
    }
}

/// The form of `VM.sysprep` a pool accepted (see [`VmApi::sysprep`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysprepSignature {
    /// `VM.sysprep(vm, unattend, timeout)` (XAPI 25.26 and later).
    WithTimeout,
    /// `VM.sysprep(vm, unattend)` (XAPI 25.24–25.25, before the timeout parameter).
    WithoutTimeout,
}

impl VmApi<'_> {
    /// `Async.VM.sysprep`: passes `unattend` (the content of `unattend.xml`, at most 32 KiB)
    /// to Windows sysprep and returns the task at once. `timeout` (seconds) is sent only when
    /// given, for pools whose `VM.sysprep` has that parameter. The unattend content is a
    /// secret to this client: it is never logged.
    pub async fn sysprep_async(
        &self,
        vm: &VmRef,
        unattend: &str,
        timeout_secs: Option<f64>,
    ) -> Result<TaskRef> {
        self.c
            .start_async("VM.sysprep", sysprep_params(vm, unattend, timeout_secs))
            .await
    }

    /// Runs `VM.sysprep` as a task and waits up to `wait` for it (XAPI returns when the
    /// guest has finished sysprep and its domain went away, or fails with
    /// `SYSPREP [vm uuid; message]`).
    ///
    /// The signature is detected from the pool's own answer, not guessed: the call is sent
    /// with `timeout_secs`; a pool without that parameter refuses it at dispatch with
    /// `MESSAGE_PARAMETER_COUNT_MISMATCH` (nothing ran), and the call is resent without it.
    /// A pool without `VM.sysprep` gives `MESSAGE_METHOD_UNKNOWN`; one where the API is
    /// disabled gives `SYSPREP [uuid; "API call is disabled"]` — both are returned as errors.
    pub async fn sysprep(
        &self,
        vm: &VmRef,
        unattend: &str,
        timeout_secs: f64,
        wait: Duration,
    ) -> Result<SysprepSignature> {
        let _permit = self.c.mutation_permit().await?;
        let (task, signature) = match self
            .c
            .start_async_unlimited(
                "VM.sysprep",
                sysprep_params(vm, unattend, Some(timeout_secs)),
            )
            .await
        {
            Ok(t) => (t, SysprepSignature::WithTimeout),
            Err(e) if e.is(&crate::ErrorCode::MessageParameterCountMismatch) => {
                tracing::info!(
                    "VM.sysprep has no timeout parameter on this pool; resending without it"
                );
                let t = self
                    .c
                    .start_async_unlimited("VM.sysprep", sysprep_params(vm, unattend, None))
                    .await?;
                (t, SysprepSignature::WithoutTimeout)
            }
            Err(e) => return Err(e),
        };
        let outcome = self.c.await_task(&task, wait).await;
        if !matches!(outcome, Err(Error::Timeout { .. }))
            && let Err(e) = self.c.task_destroy_unlimited(&task).await
        {
            tracing::debug!(error = %e, "task.destroy after sysprep failed");
        }
        outcome.map(|_| signature)
    }
}

fn sysprep_params(vm: &VmRef, unattend: &str, timeout_secs: Option<f64>) -> Vec<Value> {
    let mut p = vec![json!(vm), json!(unattend)];
    if let Some(t) = timeout_secs {
        p.push(json!(t));
    }
    p
}

/// Arguments of `VIF.create` (one struct on the wire).
#[derive(Debug, Clone, Serialize)]
pub struct VifCreate {
    /// Device number as a decimal string (`"0"`).
    pub device: String,
    /// Network.
    pub network: NetworkRef,
    /// VM.
    #[serde(rename = "VM")]
    pub vm: VmRef,
    /// MAC (`""` = derived by XAPI from the VM's `mac_seed`).
    #[serde(rename = "MAC")]
    pub mac: String,
    /// MTU (informational; the backend uses `other_config.mtu` or the network's MTU).
    #[serde(rename = "MTU")]
    pub mtu: i64,
    /// Free-form metadata.
    pub other_config: StringMap,
    /// QoS algorithm (`""`).
    pub qos_algorithm_type: String,
    /// QoS parameters.
    pub qos_algorithm_params: StringMap,
    /// Locking mode.
    pub locking_mode: VifLockingMode,
    /// Allowed IPv4 addresses (locked mode).
    pub ipv4_allowed: Vec<String>,
    /// Allowed IPv6 addresses (locked mode).
    pub ipv6_allowed: Vec<String>,
}

impl VifCreate {
    /// A VIF with defaults: MTU 1500, no QoS, `network_default` locking.
    pub fn new(vm: &VmRef, network: &NetworkRef, device: u32, mac: impl Into<String>) -> Self {
        VifCreate {
            device: device.to_string(),
            network: network.clone(),
            vm: vm.clone(),
            mac: mac.into(),
            mtu: 1500,
            other_config: StringMap::new(),
            qos_algorithm_type: String::new(),
            qos_algorithm_params: StringMap::new(),
            locking_mode: VifLockingMode::NetworkDefault,
            ipv4_allowed: Vec::new(),
            ipv6_allowed: Vec::new(),
        }
    }
}

/// VIF calls. See [`Client::vif`].
pub struct VifApi<'a> {
    c: &'a Client,
}

impl VifApi<'_> {
    common_reads!(Vif);

    /// `VIF.create(args)`. Not plugged on a running VM: call [`VifApi::plug`].
    pub async fn create(&self, args: &VifCreate) -> Result<VifRef> {
        self.c.call_as("VIF.create", vec![json!(args)]).await
    }
    /// `VIF.destroy`.
    pub async fn destroy(&self, vif: &VifRef) -> Result<()> {
        self.c.call_void("VIF.destroy", vec![json!(vif)]).await
    }
    /// `VIF.plug` (running VM).
    pub async fn plug(&self, vif: &VifRef) -> Result<()> {
        self.c.call_void("VIF.plug", vec![json!(vif)]).await
    }
    /// `VIF.unplug` (running VM).
    pub async fn unplug(&self, vif: &VifRef) -> Result<()> {
        self.c.call_void("VIF.unplug", vec![json!(vif)]).await
    }
    /// `VIF.unplug_force` (running VM).
    pub async fn unplug_force(&self, vif: &VifRef) -> Result<()> {
        self.c.call_void("VIF.unplug_force", vec![json!(vif)]).await
    }
    /// `VIF.move(vif, network)`: moves the VIF to another network (also live).
    pub async fn move_to(&self, vif: &VifRef, network: &NetworkRef) -> Result<()> {
        self.c
            .call_void("VIF.move", vec![json!(vif), json!(network)])
            .await
    }
    /// `VIF.add_to_other_config`.
    pub async fn add_to_other_config(&self, vif: &VifRef, key: &str, value: &str) -> Result<()> {
        self.c
            .call_void(
                "VIF.add_to_other_config",
                vec![json!(vif), json!(key), json!(value)],
            )
            .await
    }
}

/// Arguments of `VDI.create`.
#[derive(Debug, Clone, Serialize)]
pub struct VdiCreate {
    /// Name.
    pub name_label: String,
    /// Description.
    pub name_description: String,
    /// SR to create it in.
    #[serde(rename = "SR")]
    pub sr: SrRef,
    /// Size in bytes.
    pub virtual_size: i64,
    /// Type (`user` for data disks and config drives).
    #[serde(rename = "type")]
    pub vdi_type: VdiType,
    /// Sharable.
    pub sharable: bool,
    /// Read-only.
    pub read_only: bool,
    /// Free-form metadata.
    pub other_config: StringMap,
    /// xenstore data.
    pub xenstore_data: StringMap,
    /// SM configuration.
    pub sm_config: StringMap,
    /// Tags.
    pub tags: Vec<String>,
}

impl VdiCreate {
    /// A read-write, unshared `user` VDI.
    pub fn new(sr: &SrRef, name_label: impl Into<String>, virtual_size: i64) -> Self {
        VdiCreate {
            name_label: name_label.into(),
            name_description: String::new(),
            sr: sr.clone(),
            virtual_size,
            vdi_type: VdiType::User,
            sharable: false,
            read_only: false,
            other_config: StringMap::new(),
            xenstore_data: StringMap::new(),
            sm_config: StringMap::new(),
            tags: Vec::new(),
        }
    }
}

/// VDI calls. See [`Client::vdi`].
pub struct VdiApi<'a> {
    c: &'a Client,
}

impl VdiApi<'_> {
    common_reads!(Vdi);
    name_reads!(Vdi);

    /// `VDI.create(args)`.
    pub async fn create(&self, args: &VdiCreate) -> Result<VdiRef> {
        self.c.call_as("VDI.create", vec![json!(args)]).await
    }
    /// `VDI.destroy` (`VDI_IN_USE` while attached).
    pub async fn destroy(&self, vdi: &VdiRef) -> Result<()> {
        self.c.call_void("VDI.destroy", vec![json!(vdi)]).await
    }
    /// `VDI.resize(vdi, size)`.
    pub async fn resize(&self, vdi: &VdiRef, size: i64) -> Result<()> {
        self.c
            .call_void("VDI.resize", vec![json!(vdi), json!(size)])
            .await
    }
    /// `VDI.resize_online(vdi, size)`: grows a VDI attached to a running VM.
    pub async fn resize_online(&self, vdi: &VdiRef, size: i64) -> Result<()> {
        self.c
            .call_void("VDI.resize_online", vec![json!(vdi), json!(size)])
            .await
    }
    /// `VDI.set_name_label`.
    pub async fn set_name_label(&self, vdi: &VdiRef, value: &str) -> Result<()> {
        self.c
            .call_void("VDI.set_name_label", vec![json!(vdi), json!(value)])
            .await
    }
    /// `VDI.set_name_description`.
    pub async fn set_name_description(&self, vdi: &VdiRef, value: &str) -> Result<()> {
        self.c
            .call_void("VDI.set_name_description", vec![json!(vdi), json!(value)])
            .await
    }
    /// `VDI.add_to_other_config`.
    pub async fn add_to_other_config(&self, vdi: &VdiRef, key: &str, value: &str) -> Result<()> {
        self.c
            .call_void(
                "VDI.add_to_other_config",
                vec![json!(vdi), json!(key), json!(value)],
            )
            .await
    }
}

/// Arguments of `VBD.create`.
#[derive(Debug, Clone, Serialize)]
pub struct VbdCreate {
    /// VM.
    #[serde(rename = "VM")]
    pub vm: VmRef,
    /// VDI (null for an empty CD drive).
    #[serde(rename = "VDI")]
    pub vdi: VdiRef,
    /// Device number (`"0"`, `"3"`) or `autodetect`.
    pub userdevice: String,
    /// Bootable.
    pub bootable: bool,
    /// RO or RW (CDs must be RO).
    pub mode: VbdMode,
    /// CD, Disk or Floppy.
    #[serde(rename = "type")]
    pub vbd_type: VbdType,
    /// Hot-unpluggable.
    pub unpluggable: bool,
    /// Empty (CD drives only).
    pub empty: bool,
    /// Free-form metadata.
    pub other_config: StringMap,
    /// QoS algorithm.
    pub qos_algorithm_type: String,
    /// QoS parameters.
    pub qos_algorithm_params: StringMap,
}

impl VbdCreate {
    /// A read-write, non-bootable disk VBD.
    pub fn disk(vm: &VmRef, vdi: &VdiRef, userdevice: impl Into<String>) -> Self {
        VbdCreate {
            vm: vm.clone(),
            vdi: vdi.clone(),
            userdevice: userdevice.into(),
            bootable: false,
            mode: VbdMode::Rw,
            vbd_type: VbdType::Disk,
            unpluggable: true,
            empty: false,
            other_config: StringMap::new(),
            qos_algorithm_type: String::new(),
            qos_algorithm_params: StringMap::new(),
        }
    }

    /// A read-only CD drive, empty when `vdi` is `None`.
    pub fn cd(vm: &VmRef, vdi: Option<&VdiRef>, userdevice: impl Into<String>) -> Self {
        VbdCreate {
            vm: vm.clone(),
            vdi: vdi.cloned().unwrap_or_default(),
            userdevice: userdevice.into(),
            bootable: false,
            mode: VbdMode::Ro,
            vbd_type: VbdType::Cd,
            unpluggable: true,
            empty: vdi.is_none(),
            other_config: StringMap::new(),
            qos_algorithm_type: String::new(),
            qos_algorithm_params: StringMap::new(),
        }
    }
}

/// VBD calls. See [`Client::vbd`].
pub struct VbdApi<'a> {
    c: &'a Client,
}

impl VbdApi<'_> {
    common_reads!(Vbd);

    /// `VBD.create(args)`. Not plugged on a running VM: call [`VbdApi::plug`].
    pub async fn create(&self, args: &VbdCreate) -> Result<VbdRef> {
        self.c.call_as("VBD.create", vec![json!(args)]).await
    }
    /// `VBD.destroy` (the VDI is untouched).
    pub async fn destroy(&self, vbd: &VbdRef) -> Result<()> {
        self.c.call_void("VBD.destroy", vec![json!(vbd)]).await
    }
    /// `VBD.insert(vbd, vdi)` (CD drives).
    pub async fn insert(&self, vbd: &VbdRef, vdi: &VdiRef) -> Result<()> {
        self.c
            .call_void("VBD.insert", vec![json!(vbd), json!(vdi)])
            .await
    }
    /// `VBD.eject(vbd)` (CD drives).
    pub async fn eject(&self, vbd: &VbdRef) -> Result<()> {
        self.c.call_void("VBD.eject", vec![json!(vbd)]).await
    }
    /// `VBD.plug` (running VM).
    pub async fn plug(&self, vbd: &VbdRef) -> Result<()> {
        self.c.call_void("VBD.plug", vec![json!(vbd)]).await
    }
    /// `VBD.unplug` (running VM).
    pub async fn unplug(&self, vbd: &VbdRef) -> Result<()> {
        self.c.call_void("VBD.unplug", vec![json!(vbd)]).await
    }
    /// `VBD.set_bootable`.
    pub async fn set_bootable(&self, vbd: &VbdRef, value: bool) -> Result<()> {
        self.c
            .call_void("VBD.set_bootable", vec![json!(vbd), json!(value)])
            .await
    }
    /// `VBD.set_mode` (VM halted).
    pub async fn set_mode(&self, vbd: &VbdRef, mode: VbdMode) -> Result<()> {
        self.c
            .call_void("VBD.set_mode", vec![json!(vbd), json!(mode)])
            .await
    }
    /// `VBD.unplug_force` (running VM).
    pub async fn unplug_force(&self, vbd: &VbdRef) -> Result<()> {
        self.c.call_void("VBD.unplug_force", vec![json!(vbd)]).await
    }
}

/// SR reads. See [`Client::sr`].
pub struct SrApi<'a> {
    c: &'a Client,
}
impl SrApi<'_> {
    common_reads!(Sr);
    name_reads!(Sr);
}

/// network reads. See [`Client::network`].
pub struct NetworkApi<'a> {
    c: &'a Client,
}
impl NetworkApi<'_> {
    common_reads!(Network);
    name_reads!(Network);
}

/// PIF reads. See [`Client::pif`].
pub struct PifApi<'a> {
    c: &'a Client,
}
impl PifApi<'_> {
    common_reads!(Pif);
}

/// host reads. See [`Client::host`].
pub struct HostApi<'a> {
    c: &'a Client,
}
impl HostApi<'_> {
    common_reads!(Host);
    name_reads!(Host);

    /// `host.compute_free_memory(host)`: bytes available for new VMs.
    pub async fn compute_free_memory(&self, host: &HostRef) -> Result<i64> {
        let v = self
            .c
            .call("host.compute_free_memory", vec![json!(host)])
            .await?;
        crate::wire::int(v).map_err(|source| Error::Decode {
            method: "host.compute_free_memory".into(),
            source,
        })
    }
}

/// pool reads. See [`Client::pool`].
pub struct PoolApi<'a> {
    c: &'a Client,
}
impl PoolApi<'_> {
    common_reads!(Pool);

    /// The pool (there is exactly one) with its reference.
    pub async fn the_pool(&self) -> Result<(PoolRef, PoolRecord)> {
        self.c
            .get_all_records::<Pool>()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol {
                method: "pool.get_all_records".into(),
                detail: "no pool object".into(),
            })
    }
}

/// task calls. See [`Client::task`].
pub struct TaskApi<'a> {
    c: &'a Client,
}
impl TaskApi<'_> {
    common_reads!(Task);
    name_reads!(Task);

    /// `task.create(label, description)`: a task to track an HTTP transfer.
    pub async fn create(&self, label: &str, description: &str) -> Result<TaskRef> {
        self.c
            .call_as("task.create", vec![json!(label), json!(description)])
            .await
    }
    /// `task.cancel` (cooperative).
    pub async fn cancel(&self, task: &TaskRef) -> Result<()> {
        self.c.call_void("task.cancel", vec![json!(task)]).await
    }
    /// `task.destroy`.
    pub async fn destroy(&self, task: &TaskRef) -> Result<()> {
        self.c.call_void("task.destroy", vec![json!(task)]).await
    }
}

/// message reads. See [`Client::message`].
pub struct MessageApi<'a> {
    c: &'a Client,
}
impl MessageApi<'_> {
    /// `message.get_all_records`.
    pub async fn get_all_records(&self) -> Result<BTreeMap<MessageRef, MessageRecord>> {
        self.c.get_all_records::<Message>().await
    }
    /// `message.get_since(since)`: messages newer than a XAPI datetime.
    pub async fn get_since(&self, since: &DateTime) -> Result<BTreeMap<MessageRef, MessageRecord>> {
        let m: BTreeMap<String, MessageRecord> = self
            .c
            .call_as("message.get_since", vec![json!(since)])
            .await?;
        Ok(m.into_iter().map(|(k, v)| (Ref::new(k), v)).collect())
    }
    /// `message.get_record`.
    pub async fn get_record(&self, r: &MessageRef) -> Result<MessageRecord> {
        self.c.get_record::<Message>(r).await
    }
}

/// Metrics reads. See [`Client::metrics`].
pub struct MetricsApi<'a> {
    c: &'a Client,
}
impl MetricsApi<'_> {
    /// `VM_guest_metrics.get_record`.
    pub async fn guest(&self, r: &VmGuestMetricsRef) -> Result<VmGuestMetricsRecord> {
        self.c.get_record::<VmGuestMetrics>(r).await
    }
    /// `VM_guest_metrics.get_all_records`.
    pub async fn all_guest(&self) -> Result<BTreeMap<VmGuestMetricsRef, VmGuestMetricsRecord>> {
        self.c.get_all_records::<VmGuestMetrics>().await
    }
    /// `VM_metrics.get_record`.
    pub async fn vm(&self, r: &VmMetricsRef) -> Result<VmMetricsRecord> {
        self.c.get_record::<VmMetrics>(r).await
    }
    /// `host_metrics.get_record`.
    pub async fn host(&self, r: &HostMetricsRef) -> Result<HostMetricsRecord> {
        self.c.get_record::<HostMetrics>(r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctor_structs_use_wire_names() {
        let vm: VmRef = Ref::new("OpaqueRef:vm");
        let net: NetworkRef = Ref::new("OpaqueRef:net");
        let v = serde_json::to_value(VifCreate::new(&vm, &net, 1, "02:00:00:00:00:01")).unwrap();
        assert_eq!(v["VM"], "OpaqueRef:vm");
        assert_eq!(v["MAC"], "02:00:00:00:00:01");
        assert_eq!(v["MTU"], 1500);
        assert_eq!(v["device"], "1");
        assert_eq!(v["locking_mode"], "network_default");
        assert!(v["qos_algorithm_params"].is_object());

        let sr: SrRef = Ref::new("OpaqueRef:sr");
        let v = serde_json::to_value(VdiCreate::new(&sr, "cfg", 1 << 20)).unwrap();
        assert_eq!(v["SR"], "OpaqueRef:sr");
        assert_eq!(v["type"], "user");
        assert_eq!(v["virtual_size"], 1048576);

        let v = serde_json::to_value(VbdCreate::cd(&vm, None, "3")).unwrap();
        assert_eq!(v["VDI"], "OpaqueRef:NULL");
        assert_eq!(v["type"], "CD");
        assert_eq!(v["mode"], "RO");
        assert_eq!(v["empty"], true);
    }

    #[test]
    fn memory_order() {
        let m = MemoryLimits {
            static_min: 1,
            dynamic_min: 2,
            dynamic_max: 3,
            static_max: 3,
        };
        assert!(m.is_ordered());
        assert!(
            !MemoryLimits {
                dynamic_min: 4,
                ..m
            }
            .is_ordered()
        );
    }
}
