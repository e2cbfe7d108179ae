//! `VM.sysprep` (X `ocaml/xapi/vm_sysprep.ml`, `xapi_vm.ml` `sysprep`,
//! `ocaml/idl/datamodel_vm.ml` `sysprep`, `message_forwarding.ml` `VM.sysprep`; reference
//! `xapi.md` §8) and the XAPI versions the lab pool can pretend to be
//! ([`SysprepMode`]).
//!
//! Order of checks, as in XAPI: argument unmarshalling; the operation gate
//! (`with_vm_operation ~op:sysprep`: `VM_BAD_POWER_STATE` unless running,
//! `OTHER_OPERATION_IN_PROGRESS` for a concurrent sysprep); `timeout < 0` ->
//! `INVALID_VALUE ["timeout"; "<float>"]`; then `SYSPREP [vm_uuid; message]`: API disabled,
//! `domid <= 0`, unattend longer than 32 KiB, xenstore `control/feature-sysprep` not `"1"`;
//! the ISO (`unattend.xml`) is written and the local ISO SR `SYSPREP-<hostname>-<md5 4 hex>`
//! found or created and scanned (the VDI appears, named `sysprep-<vm_uuid>-<rfc3339>.iso`);
//! no empty CD drive -> "CD-ROM drive not found" (like XAPI, the ISO is left in the SR: XAPI
//! destroys unused ones when it starts); `VBD.insert` fails -> ISO removed, "VM failed to
//! insert CD"; wait `vm-sysprep-wait`; xenstore `control/sysprep/{filename,vdi-uuid,action}`;
//! wait <= 5 s for `action = running`, <= `timeout` for `action` to disappear, then eject and
//! delete the ISO (eject failure: "VM failed to eject CD"), then <= `timeout` for the domain
//! to disappear; a watch timing out gives "No response from sysprep within allocated time".
//!
//! Internal `VBD.insert` / `VBD.eject` calls can be made to fail with fault rules on the
//! method names `internal:VBD.insert` / `internal:VBD.eject` (`/labpool/faults`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::api::storage;
use crate::api::vm::{check_operation, refresh_allowed_operations};
use crate::db::{Db, new_ref, rb, ri, rs, rset};
use crate::dispatch::{Kind, LongHandler, Method, Registry, args};
use crate::error::{ApiError, ApiResult, codes};
use crate::faults::FaultAction;
use crate::guest::{iso, windows};
use crate::pool::Shared;
use crate::value::{NULL_REF, Record, Value};

/// Longest unattend.xml XAPI accepts (bytes).
pub const MAX_UNATTEND: usize = 32 * 1024;
/// Where XAPI keeps the sysprep ISOs (the SR's `device_config:location`).
pub const ISO_DIR: &str = "/var/opt/iso";

/// Which XAPI the pool simulates for `VM.sysprep`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SysprepMode {
    /// v25.33.0 and later (HEAD): `VM.sysprep(self, unattend, timeout)`, enabled by default.
    #[default]
    Full,
    /// v25.24.0–v25.25.x with `vm-sysprep-enabled=true` in xapi.conf:
    /// `VM.sysprep(self, unattend)` (no timeout); returns once the guest acknowledged
    /// (`action = running`, polled 5 times a second apart) and the CD was ejected.
    NoTimeout,
    /// v25.26.0–v25.32.x as installed (`vm-sysprep-enabled` defaults to false): the 4-parameter
    /// call exists and fails with `SYSPREP [uuid; "API call is disabled"]`.
    Disabled,
    /// v25.24.0–v25.25.x as installed: 3 parameters, disabled.
    NoTimeoutDisabled,
    /// Before v25.24.0: no `VM.sysprep` (`MESSAGE_METHOD_UNKNOWN`).
    Absent,
}

impl SysprepMode {
    /// Every mode, with its flag spelling.
    pub const ALL: [(&'static str, SysprepMode); 5] = [
        ("full", SysprepMode::Full),
        ("no-timeout", SysprepMode::NoTimeout),
        ("disabled", SysprepMode::Disabled),
        ("no-timeout-disabled", SysprepMode::NoTimeoutDisabled),
        ("absent", SysprepMode::Absent),
    ];

    /// The xapi version reported in `host.software_version` for this mode.
    pub fn xapi_version(self) -> &'static str {
        match self {
            SysprepMode::Full => "25.33.0",
            SysprepMode::NoTimeout | SysprepMode::NoTimeoutDisabled => "25.24.0",
            SysprepMode::Disabled => "25.30.0",
            SysprepMode::Absent => "25.23.0",
        }
    }

    fn has_timeout(self) -> bool {
        matches!(self, SysprepMode::Full | SysprepMode::Disabled)
    }

    fn enabled(self) -> bool {
        matches!(self, SysprepMode::Full | SysprepMode::NoTimeout)
    }
}

impl std::str::FromStr for SysprepMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SysprepMode::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                format!(
                    "unknown sysprep mode {s:?} (expected one of: {})",
                    SysprepMode::ALL.map(|(n, _)| n).join(", ")
                )
            })
    }
}

impl std::fmt::Display for SysprepMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = SysprepMode::ALL
            .iter()
            .find(|(_, m)| m == self)
            .map(|(n, _)| *n)
            .unwrap_or("full");
        f.write_str(name)
    }
}

/// `VM.sysprep` settings (CLI flags `--sysprep-*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SysprepConfig {
    /// The simulated XAPI version.
    pub mode: SysprepMode,
    /// xapi.conf `vm-sysprep-wait`: pause after inserting the CD (XAPI default 5.0 s; lab
    /// pool default 0.1 s).
    pub wait_seconds: f64,
    /// How long XAPI waits for the guest's `running` acknowledgement (fixed 5.0 s in XAPI).
    pub ack_timeout_seconds: f64,
    /// Simulated sysprep run time inside the guest (per VM: `POST /labpool/guest/<uuid>
    /// {"sysprep_seconds": s}`).
    pub guest_seconds: f64,
}

impl Default for SysprepConfig {
    fn default() -> Self {
        SysprepConfig {
            mode: SysprepMode::Full,
            wait_seconds: 0.1,
            ack_timeout_seconds: 5.0,
            guest_seconds: 0.3,
        }
    }
}

/// Registers `VM.sysprep` (and its `Async.` form) as the configured XAPI version has it.
pub fn register(r: &mut Registry, cfg: &SysprepConfig) {
    let params: Vec<&'static str> = match cfg.mode {
        SysprepMode::Absent => return,
        m if m.has_timeout() => vec!["self", "unattend", "timeout"],
        _ => vec!["self", "unattend"],
    };
    let c = cfg.clone();
    let h: LongHandler = Arc::new(move |shared, _session, task, a| {
        let c = c.clone();
        async move { sysprep(shared, task, a, c).await }.boxed()
    });
    r.insert(
        "VM.sysprep",
        Method {
            params,
            defaults: 0,
            session: true,
            async_ok: true,
            kind: Kind::Long(h),
        },
    );
}

/// Runs a long handler as an `Async.` task (the task ref is returned at once).
pub fn spawn_long(
    shared: &Arc<Shared>,
    method: &str,
    session: String,
    h: LongHandler,
    a: Vec<Value>,
) -> ApiResult<Value> {
    let task = {
        let mut db = shared.lock_db();
        crate::api::tasks::create_task(&mut db, method, "", &session, false)
    };
    shared.notify();
    let sh = shared.clone();
    let t = task.clone();
    let delay = shared.async_delay_ms();
    tokio::spawn(async move {
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let out = h(sh.clone(), session, Some(t.clone()), a)
            .await
            .map(|v| crate::rpc::xmlrpc::value_to_string(&v));
        {
            let mut db = sh.lock_db();
            crate::api::tasks::complete_task(&mut db, &t, out);
        }
        sh.notify();
    });
    Ok(Value::Str(task))
}

/// OCaml's `string_of_float` (`"%.12g"`, with a trailing `.` for integral values).
pub fn ocaml_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e12 {
        return format!("{}.", v as i64);
    }
    let s = format!("{v:.12e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..12).contains(&exp) {
        let digits = (11 - exp).max(0) as usize;
        let f = format!("{v:.digits$}");
        let f = f.trim_end_matches('0').trim_end_matches('.');
        f.to_string()
    } else {
        let m = mant.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

fn sysprep_err(uuid: &str, msg: &str) -> ApiError {
    ApiError::new(codes::SYSPREP, [uuid, msg])
}

/// `SYSPREP-<hostname>-<first 4 hex digits of MD5(hostname)>`.
pub fn sr_name(hostname: &str) -> String {
    let digest = Md5::digest(hostname.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("SYSPREP-{hostname}-{}", &hex[..4])
}

fn internal_fault(shared: &Shared, call: &str) -> Option<ApiError> {
    let mut f = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
    match f.decide(&format!("internal:{call}")) {
        Some(FaultAction::Error(e)) => Some(e),
        Some(_) => Some(ApiError::new(
            codes::INTERNAL_ERROR,
            ["Xenops_interface.Xenopsd_error(Timeout)"],
        )),
        None => None,
    }
}

/// Finds or creates the host's sysprep ISO SR, then scans it (ISOs whose file is gone and
/// that no VBD uses disappear).
fn update_sr(db: &mut Db, host: &str) -> ApiResult<String> {
    let hostname = rs(db.get("host", host)?, "hostname").to_string();
    let label = sr_name(&hostname);
    let existing = db
        .all("SR")
        .find(|(_, s)| rs(s, "name_label") == label && rs(s, "type") == "iso")
        .map(|(r, _)| r.clone());
    let sr = match existing {
        Some(sr) => sr,
        None => {
            let mut rec = Record::new();
            rec.insert("name_label".into(), Value::Str(label));
            rec.insert("name_description".into(), Value::s("Sysprep ISOs"));
            rec.insert("type".into(), Value::s("iso"));
            rec.insert("content_type".into(), Value::s("iso"));
            rec.insert("shared".into(), Value::Bool(false));
            rec.insert("physical_size".into(), Value::Int(512 << 20));
            rec.insert(
                "allowed_operations".into(),
                Value::str_set(["scan", "plug", "unplug", "forget", "destroy", "update"]),
            );
            let sr = db.create("SR", &new_ref(), rec);
            let mut pbd = Record::new();
            pbd.insert("host".into(), Value::s(host));
            pbd.insert("SR".into(), Value::s(&sr));
            pbd.insert("currently_attached".into(), Value::Bool(true));
            pbd.insert(
                "device_config".into(),
                Value::str_map([("location", ISO_DIR), ("legacy_mode", "true")]),
            );
            db.create("PBD", &new_ref(), pbd);
            sr
        }
    };
    let gone: Vec<String> = db
        .all("VDI")
        .filter(|(r, v)| {
            rs(v, "SR") == sr && !db.vdi_data.contains_key(*r) && rset(v, "VBDs").is_empty()
        })
        .map(|(r, _)| r.clone())
        .collect();
    for v in gone {
        db.destroy("VDI", &v)?;
    }
    storage::refresh_sr(db, &sr);
    Ok(sr)
}

/// Cleanup at xapi start-up (X `vm_sysprep.ml` `on_startup`): unused ISOs in the sysprep
/// SRs are destroyed; also stamps `host.software_version` with the simulated xapi version.
pub fn on_startup(db: &mut Db, cfg: &SysprepConfig) {
    let hosts: Vec<String> = db.all("host").map(|(r, _)| r.clone()).collect();
    for h in &hosts {
        let _ = db.update("host", h, |rec| {
            if let Some(Value::Map(m)) = rec.get_mut("software_version") {
                let v = cfg.mode.xapi_version();
                let short = v.rsplit_once('.').map(|(a, _)| a).unwrap_or(v);
                m.insert("xapi".into(), Value::s(short));
                m.insert("xapi_build".into(), Value::s(v));
            }
        });
    }
    if !cfg.mode.enabled() {
        return;
    }
    let names: Vec<String> = hosts
        .iter()
        .filter_map(|h| db.get("host", h).ok().map(|r| sr_name(rs(r, "hostname"))))
        .collect();
    let unused: Vec<String> = db
        .all("VDI")
        .filter(|(_, v)| {
            rset(v, "VBDs").is_empty()
                && db.get("SR", rs(v, "SR")).is_ok_and(|s| {
                    rs(s, "type") == "iso" && names.iter().any(|n| n == rs(s, "name_label"))
                })
        })
        .map(|(r, _)| r.clone())
        .collect();
    for v in unused {
        let _ = storage::vdi_destroy(db, &v);
    }
}

fn set_media(db: &mut Db, vbd: &str, vdi: Option<&str>) -> ApiResult<()> {
    let old = rs(db.get("VBD", vbd)?, "VDI").to_string();
    db.set("VBD", vbd, "VDI", Value::s(vdi.unwrap_or(NULL_REF)))?;
    db.set("VBD", vbd, "empty", Value::Bool(vdi.is_none()))?;
    storage::refresh_vbd_ops(db, vbd);
    storage::refresh_vdi_ops(db, vdi.unwrap_or(&old));
    Ok(())
}

async fn wait_for(shared: &Shared, seconds: f64, cond: impl Fn(&Db) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 1e7));
    loop {
        if cond(&shared.lock_db()) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn sysprep(
    shared: Arc<Shared>,
    task: Option<String>,
    a: Vec<Value>,
    cfg: SysprepConfig,
) -> ApiResult<Value> {
    let unattend = args::string(&a, 1)?;
    let timeout = if cfg.mode.has_timeout() {
        args::at(&a, 2).to_float()?
    } else {
        f64::INFINITY
    };
    let op_key = task.unwrap_or_else(new_ref);
    let vm = {
        let mut db = shared.lock_db();
        let vm = args::obj(&db, "VM", &a, 0)?;
        check_operation(&db, &vm, "sysprep")?;
        let ops = db.get("VM", &vm)?.get("current_operations").cloned();
        if let Some(Value::Map(m)) = ops
            && let Some((other, op)) = m.iter().next()
        {
            return Err(ApiError::new(
                codes::OTHER_OPERATION_IN_PROGRESS,
                ["VM", vm.as_str(), op.as_str().unwrap_or(""), other.as_str()],
            ));
        }
        db.update("VM", &vm, |r| {
            if let Some(Value::Map(m)) = r.get_mut("current_operations") {
                m.insert(op_key.clone(), Value::s("sysprep"));
            } else {
                r.insert(
                    "current_operations".into(),
                    Value::Map(BTreeMap::from([(op_key.clone(), Value::s("sysprep"))])),
                );
            }
        })?;
        vm
    };
    shared.notify();
    let res = run(&shared, &vm, &unattend, timeout, &cfg).await;
    {
        let mut db = shared.lock_db();
        let _ = db.update("VM", &vm, |r| {
            if let Some(Value::Map(m)) = r.get_mut("current_operations") {
                m.remove(&op_key);
            }
        });
        refresh_allowed_operations(&mut db, &vm);
    }
    shared.notify();
    res.map(|()| Value::s(""))
}

async fn run(
    shared: &Arc<Shared>,
    vm: &str,
    unattend: &str,
    timeout: f64,
    cfg: &SysprepConfig,
) -> ApiResult<()> {
    let with_timeout = cfg.mode.has_timeout();
    if with_timeout && timeout < 0.0 {
        return Err(ApiError::new(
            codes::INVALID_VALUE,
            ["timeout".to_string(), ocaml_float(timeout)],
        ));
    }
    // Everything up to the insert happens at once, under the lock.
    let (uuid, domid, vbd, iso_vdi, vdi_uuid) = {
        let mut db = shared.lock_db();
        let rec = db.record("VM", vm)?;
        let uuid = rs(&rec, "uuid").to_string();
        if !cfg.mode.enabled() {
            return Err(sysprep_err(&uuid, "API call is disabled"));
        }
        let domid = ri(&rec, "domid");
        if domid <= 0 {
            return Err(sysprep_err(&uuid, "VM is not running"));
        }
        if unattend.len() > MAX_UNATTEND {
            return Err(sysprep_err(&uuid, "unattend.xml file too large"));
        }
        if windows::xs_read(&db, vm, "control/feature-sysprep").as_deref() != Some("1") {
            return Err(sysprep_err(&uuid, "VM driver does not support sysprep"));
        }
        let image = iso::single_file_iso("CDROM", "UNATTEND.XML", unattend.as_bytes());
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let label = format!("sysprep-{uuid}-{now}");
        let label = format!("{label}.iso");
        let host = rs(&rec, "resident_on").to_string();
        let sr = update_sr(&mut db, &host)?;
        let mut ctor = BTreeMap::new();
        ctor.insert("name_label".to_string(), Value::s(&label));
        ctor.insert("name_description".to_string(), Value::s(""));
        ctor.insert("SR".to_string(), Value::s(&sr));
        ctor.insert("virtual_size".to_string(), Value::Int(image.len() as i64));
        ctor.insert("type".to_string(), Value::s("user"));
        ctor.insert("sharable".to_string(), Value::Bool(false));
        ctor.insert("read_only".to_string(), Value::Bool(true));
        ctor.insert("other_config".to_string(), Value::empty_map());
        let vdi = storage::vdi_create(&mut db, &ctor)?.to_string_value()?;
        let _ = db.update("VDI", &vdi, |r| {
            r.insert("location".into(), Value::s(&label));
        });
        db.vdi_data.insert(vdi.clone(), image);
        let vdi_uuid = args::uuid_of(&db, "VDI", &vdi);
        let cd = rset(&rec, "VBDs").into_iter().find(|b| {
            db.get("VBD", b)
                .is_ok_and(|r| rs(r, "type") == "CD" && rb(r, "empty"))
        });
        let Some(vbd) = cd else {
            return Err(sysprep_err(&uuid, "CD-ROM drive not found"));
        };
        if internal_fault(shared, "VBD.insert").is_some() {
            db.vdi_data.remove(&vdi);
            return Err(sysprep_err(&uuid, "VM failed to insert CD"));
        }
        set_media(&mut db, &vbd, Some(&vdi))?;
        (uuid, domid, vbd, vdi, vdi_uuid)
    };
    shared.notify();
    tokio::time::sleep(Duration::from_secs_f64(cfg.wait_seconds.clamp(0.0, 1e6))).await;
    {
        let mut db = shared.lock_db();
        windows::xs_write(&mut db, vm, "control/sysprep/filename", "D://unattend.xml");
        windows::xs_write(&mut db, vm, "control/sysprep/vdi-uuid", &vdi_uuid);
        windows::xs_write(&mut db, vm, windows::ACTION, "sysprep");
    }
    windows::on_sysprep_request(shared.clone(), vm.to_string(), cfg.guest_seconds);
    let action_is = |v: &'static str| {
        move |db: &Db| windows::xs_read(db, vm, windows::ACTION).as_deref() == Some(v)
    };
    let eject = |shared: &Arc<Shared>| -> Result<(), ApiError> {
        let mut db = shared.lock_db();
        let fault = internal_fault(shared, "VBD.eject");
        // The ISO file is removed in any case.
        db.vdi_data.remove(&iso_vdi);
        if let Some(e) = fault {
            return Err(e);
        }
        set_media(&mut db, &vbd, None)
    };
    if !with_timeout {
        // v25.24: poll `action` up to 5 times, a second apart, then eject either way.
        let running = wait_for(shared, cfg.ack_timeout_seconds, action_is("running")).await;
        let ej = eject(shared);
        shared.notify();
        ej?;
        return if running {
            Ok(())
        } else {
            Err(sysprep_err(
                &uuid,
                "No response from sysprep within allocated time",
            ))
        };
    }
    let mut ok = wait_for(shared, cfg.ack_timeout_seconds, action_is("running")).await;
    if ok {
        ok = wait_for(shared, timeout, |db| {
            windows::xs_read(db, vm, windows::ACTION).is_none()
        })
        .await;
    }
    let ej = eject(shared);
    shared.notify();
    if ej.is_err() {
        return Err(sysprep_err(&uuid, "VM failed to eject CD"));
    }
    if ok {
        ok = wait_for(shared, timeout, |db| {
            db.get("VM", vm)
                .map(|r| ri(r, "domid") != domid || rs(r, "power_state") != "Running")
                .unwrap_or(true)
        })
        .await;
    }
    if ok {
        Ok(())
    } else {
        Err(sysprep_err(
            &uuid,
            "No response from sysprep within allocated time",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_formatting() {
        // md5("lab-host-1") starts with these 4 hex digits.
        let d = Md5::digest(b"lab-host-1");
        assert_eq!(
            sr_name("lab-host-1"),
            format!("SYSPREP-lab-host-1-{:02x}{:02x}", d[0], d[1])
        );
        assert_eq!(ocaml_float(-1.0), "-1.");
        assert_eq!(ocaml_float(-2.5), "-2.5");
        assert_eq!(ocaml_float(-0.001), "-0.001");
        assert_eq!(ocaml_float(-1e20), "-1e+20");
        assert_eq!(
            "no-timeout".parse::<SysprepMode>(),
            Ok(SysprepMode::NoTimeout)
        );
        assert!("bogus".parse::<SysprepMode>().is_err());
        for (n, m) in SysprepMode::ALL {
            assert_eq!(m.to_string(), n);
        }
    }
}
