//! Helpers shared by the `xenapi_vm` and data source acceptance tests: HCL
//! for a VM, the lab pool's view of a VM (its XAPI record, the simulated
//! guest, the objects it owns) and direct XAPI calls made behind Terraform's
//! back.

#![allow(dead_code)]

use acceptance_tests::labpool::{LAB_PASSWORD, LAB_USERNAME, http_client};
use acceptance_tests::{Ctx, Diagnostic, LabPool, PoolNames, State};
use serde_json::{Value as Json, json};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

/// The names of the pool objects the configurations use.
pub fn names() -> PoolNames {
    PoolNames::from_env()
}

/// The DHCP subnet of the default network of the lab inventory.
pub const SUBNET: &str = "192.168.100.0/24";

/// `memory = { ... }` with all four limits.
pub fn memory4(static_min: u64, dynamic_min: u64, dynamic_max: u64, static_max: u64) -> String {
    format!(
        "memory = {{\n    static_min  = {static_min}\n    dynamic_min = {dynamic_min}\n    dynamic_max = {dynamic_max}\n    static_max  = {static_max}\n  }}"
    )
}

/// The lab pool of a check's context; `None` against a real pool.
pub fn lab<'a>(ctx: &'a Ctx<'_>) -> Option<&'a LabPool> {
    ctx.labpool.filter(|p| p.is_lab())
}

/// The id (VM UUID) of a resource in a state.
pub fn id_of(state: &State<'_>, address: &str) -> Result<String, String> {
    state
        .attr_str(address, "id")
        .ok_or_else(|| format!("{address}.id missing from the state"))
}

/// The XAPI record of the object of `class` with `uuid`, from the lab pool's
/// dump; `Ok(None)` when it does not exist.
pub fn record(pool: &LabPool, class: &str, uuid: &str) -> Result<Option<Json>, String> {
    let dump = pool
        .admin_get(&format!("/labpool/objects/{class}"))
        .map_err(|e| e.to_string())?
        .unwrap_or(Json::Null);
    Ok(dump
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .find(|r| r.get("uuid").and_then(Json::as_str) == Some(uuid))
        .cloned())
}

/// Every record of a class (reference -> record).
pub fn records(pool: &LabPool, class: &str) -> Result<serde_json::Map<String, Json>, String> {
    Ok(pool
        .admin_get(&format!("/labpool/objects/{class}"))
        .map_err(|e| e.to_string())?
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default())
}

/// The VM record, which must exist.
pub fn vm_record(pool: &LabPool, uuid: &str) -> Result<Json, String> {
    record(pool, "VM", uuid)?.ok_or_else(|| format!("VM {uuid} is not in the lab pool"))
}

/// The simulated guest's view of a VM.
pub fn guest(pool: &LabPool, uuid: &str) -> Result<Json, String> {
    pool.guest(uuid)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no guest view (not a lab pool)".to_string())
}

/// `boot_count` of the guest of a VM.
pub fn boot_count(pool: &LabPool, uuid: &str) -> Result<u64, String> {
    let g = guest(pool, uuid)?;
    g.get("boot_count")
        .and_then(Json::as_u64)
        .ok_or_else(|| format!("guest view without boot_count: {g}"))
}

/// An integer field of a record.
pub fn int_field(rec: &Json, field: &str) -> Result<u64, String> {
    rec.get(field)
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| format!("record has no integer {field}"))
}

/// The four memory fields of a VM record, in order static_min, dynamic_min,
/// dynamic_max, static_max.
pub fn memory_of(rec: &Json) -> Result<[u64; 4], String> {
    Ok([
        int_field(rec, "memory_static_min")?,
        int_field(rec, "memory_dynamic_min")?,
        int_field(rec, "memory_dynamic_max")?,
        int_field(rec, "memory_static_max")?,
    ])
}

/// A call count from the lab pool's counters (0 when never called).
pub fn count(pool: &LabPool, method: &str) -> Result<u64, String> {
    let counts = pool
        .call_counts()
        .map_err(|e| e.to_string())?
        .unwrap_or(Json::Null);
    Ok(counts.get(method).and_then(Json::as_u64).unwrap_or(0))
}

/// Objects (`class/uuid`) of the classes a VM is made of whose
/// `other_config` names `vm_uuid` (VDIs marked for the VM, config drives)
/// or that belong to the VM (its VBDs and VIFs).
pub fn objects_of_vm(pool: &LabPool, vm_uuid: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let vm_ref = records(pool, "VM")?
        .into_iter()
        .find(|(_, r)| r.get("uuid").and_then(Json::as_str) == Some(vm_uuid))
        .map(|(k, _)| k);
    if vm_ref.is_some() {
        out.push(format!("VM/{vm_uuid}"));
    }
    for class in ["VBD", "VIF"] {
        for (_, r) in records(pool, class)? {
            if vm_ref.is_some() && r.get("VM").and_then(Json::as_str) == vm_ref.as_deref() {
                out.push(format!(
                    "{class}/{}",
                    r.get("uuid").and_then(Json::as_str).unwrap_or("?")
                ));
            }
        }
    }
    for (_, r) in records(pool, "VDI")? {
        let oc = r.get("other_config").cloned().unwrap_or(Json::Null);
        let marked = ["xenapi-terraform-vm", "xenapi-terraform-config-drive"]
            .iter()
            .any(|k| oc.get(k).and_then(Json::as_str) == Some(vm_uuid));
        if marked {
            out.push(format!(
                "VDI/{}",
                r.get("uuid").and_then(Json::as_str).unwrap_or("?")
            ));
        }
    }
    Ok(out)
}

/// The config drive VDIs of a VM (marked `xenapi-terraform-config-drive`).
pub fn config_drives(pool: &LabPool, vm_uuid: &str) -> Result<Vec<Json>, String> {
    Ok(records(pool, "VDI")?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| {
            r.get("other_config")
                .and_then(|oc| oc.get("xenapi-terraform-config-drive"))
                .and_then(Json::as_str)
                == Some(vm_uuid)
        })
        .collect())
}

/// A logged-in JSON-RPC session on the lab pool, for changes made behind
/// Terraform's back.
pub struct Xapi {
    url: String,
    session: String,
}

impl Xapi {
    pub fn login(pool: &LabPool) -> Result<Xapi, String> {
        let url = pool.url().to_string();
        let mut x = Xapi {
            url,
            session: String::new(),
        };
        let session = x.raw(
            "session.login_with_password",
            json!([LAB_USERNAME, LAB_PASSWORD, "1.0", "acceptance-tests"]),
        )?;
        x.session = session
            .as_str()
            .ok_or_else(|| format!("login returned {session}"))?
            .to_string();
        Ok(x)
    }

    fn raw(&self, method: &str, params: Json) -> Result<Json, String> {
        let client = http_client().map_err(|e| e.to_string())?;
        let response: Json = client
            .post(format!("{}/jsonrpc", self.url))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .send()
            .and_then(|r| r.json())
            .map_err(|e| format!("{method}: {e}"))?;
        match response.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(format!("{method} failed: {response}")),
        }
    }

    /// Calls `method` with the session prepended to `params`.
    pub fn call(&self, method: &str, params: &[Json]) -> Result<Json, String> {
        let mut all = vec![Json::String(self.session.clone())];
        all.extend_from_slice(params);
        self.raw(method, Json::Array(all))
    }

    /// The reference of the VM with `uuid`.
    pub fn vm_ref(&self, uuid: &str) -> Result<String, String> {
        self.call("VM.get_by_uuid", &[json!(uuid)])?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("VM.get_by_uuid {uuid}: not a reference"))
    }
}

/// Error diagnostics whose source range covers (or starts at) `needle`: the
/// diagnostic carries an attribute path that Terraform resolved to the
/// configuration.
pub fn points_at(needle: &'static str) -> impl Fn(&[Diagnostic], &str) -> Result<(), String> {
    move |diagnostics, source| {
        let hit = diagnostics.iter().filter(|d| d.is_error()).any(|d| {
            let Some(range) = d.range.as_ref().filter(|r| r.filename.ends_with("main.tf")) else {
                return false;
            };
            let starts = usize::try_from(range.start.byte)
                .ok()
                .and_then(|start| source.get(start..))
                .is_some_and(|rest| rest.starts_with(needle));
            starts || d.covered_text(source).is_some_and(|t| t.contains(needle))
        });
        if hit {
            Ok(())
        } else {
            Err(format!(
                "no error diagnostic points at {needle:?}; got:\n  {}",
                diagnostics
                    .iter()
                    .map(|d| format!(
                        "{d} covering {:?}",
                        d.covered_text(source).unwrap_or("<no range>")
                    ))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ))
        }
    }
}

/// Fails unless the plan's only action for `address` is `want`.
pub fn expect_actions(ctx: &Ctx<'_>, address: &str, want: &[&str]) -> Result<(), String> {
    let got = ctx
        .plan()
        .actions_for(address)
        .ok_or_else(|| format!("the plan has no change for {address}"))?;
    if got != want {
        return Err(format!(
            "{address}: expected {want:?}, planned {got:?}: {}",
            ctx.plan()
                .change(address)
                .map(|c| c.to_string())
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// Fails unless no XAPI call creating a VM reached the pool.
pub fn no_vm_created(pool: &LabPool) -> Result<(), String> {
    for m in [
        "VM.clone",
        "Async.VM.clone",
        "VM.copy",
        "Async.VM.copy",
        "VM.create",
        "VIF.create",
        "VDI.create",
    ] {
        let n = count(pool, m)?;
        if n != 0 {
            return Err(format!("{m} was called {n} times"));
        }
    }
    Ok(())
}

/// Some error diagnostic points at the memory limit written as `value`.
/// Terraform 1.15 resolves the attribute path `memory.<limit>` to the number
/// itself; Terraform 1.11 does not follow paths into nested attributes and
/// points at the opening brace of the resource block (`resource "xenapi_vm"
/// "<resource>" {`). A limit that is not written (a defaulted `static_min`)
/// is blamed on the `memory` object holding the written value. Any of these
/// is accepted; a diagnostic without a range is not.
pub fn points_at_memory(
    resource: &'static str,
    value: u64,
) -> impl Fn(&[Diagnostic], &str) -> Result<(), String> {
    move |diagnostics, source| {
        let value_text = value.to_string();
        let header = format!("resource \"xenapi_vm\" \"{resource}\" ");
        let block_start = source
            .find(&header)
            .map(|i| i + header.len())
            .ok_or_else(|| format!("the configuration has no {header}{{"))?;
        let hit = diagnostics.iter().filter(|d| d.is_error()).any(|d| {
            let Some(range) = d.range.as_ref().filter(|r| r.filename.ends_with("main.tf")) else {
                return false;
            };
            let covered = d.covered_text(source).unwrap_or_default();
            covered == value_text
                || (covered.starts_with('{') && covered.contains(&format!("= {value_text}\n")))
                || usize::try_from(range.start.byte).ok() == Some(block_start)
        });
        if hit {
            Ok(())
        } else {
            Err(format!(
                "no error diagnostic points at memory value {value}; got:\n  {}",
                diagnostics
                    .iter()
                    .map(|d| format!(
                        "{d} covering {:?}",
                        d.covered_text(source).unwrap_or("<no range>")
                    ))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ))
        }
    }
}
