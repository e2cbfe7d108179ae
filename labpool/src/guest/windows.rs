//! The Windows guest: boots with cloudbase-init (NoCloud, [`crate::guest::cloudbase`]) and the
//! XenServer VM Tools agent, which publishes Windows guest metrics, advertises
//! `control/feature-sysprep = 1` in its xenstore tree (unless switched off) and answers
//! `VM.sysprep`'s xenstore handshake: on `control/sysprep/action = sysprep` it acknowledges
//! with `running`, reads `D://unattend.xml` from the inserted CD, records what it applied,
//! runs sysprep for its processing time, removes `action` and shuts the domain down
//! (reference `xapi.md` §8, `guest-config.md` §6).
//!
//! `feature-sysprep` is off for a VM whose `other_config` (copied from its template) or
//! system disk's VDI `other_config` has `labpool-feature-sysprep = "0"`, and can be switched
//! at run time with `POST /labpool/guest/<vm-uuid> {"feature_sysprep": false}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value as J, json};

use crate::db::{Db, rb, ri, rmap, rs, rset};
use crate::guest::cloudbase::{self, AdapterConfig};
use crate::guest::{GuestState, iso, netcfg};
use crate::pool::Shared;
use crate::value::{Record, now_datetime};

/// `other_config` key (VM or system-disk VDI) that switches `feature-sysprep` off with `"0"`.
pub const FEATURE_KEY: &str = "labpool-feature-sysprep";
/// How long the agent takes to acknowledge a sysprep request.
pub const ACK_DELAY: Duration = Duration::from_millis(50);
/// The xenstore key XAPI writes to start sysprep.
pub const ACTION: &str = "control/sysprep/action";

/// What the Windows guest keeps (on its disk and in its agent).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WindowsState {
    /// The domain's xenstore tree, relative to `/local/domain/<domid>` (empty when halted).
    #[serde(default)]
    pub xenstore: BTreeMap<String, String>,
    /// The domid the tree belongs to (-1: no domain).
    #[serde(default)]
    pub domid: i64,
    /// cloudbase-init's instance id (plugin state is kept per instance id).
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Plugins of this instance and their state (`done`; a failed plugin runs again).
    #[serde(default)]
    pub plugins: BTreeMap<String, String>,
    /// Adapter configuration by MAC (lower case): names, static addresses.
    #[serde(default)]
    pub adapters: BTreeMap<String, AdapterConfig>,
    /// Where the drive was found (`hdd_iso`, `cdrom_iso`, `partition_vfat`...).
    #[serde(default)]
    pub location: Option<String>,
    /// cloudbase-init failures: `{boot, plugin, error}`.
    #[serde(default)]
    pub failures: Vec<J>,
    /// cloudbase-init warnings and notes of the last boot.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Simulated sysprep processing time in seconds (default: the pool setting).
    #[serde(default)]
    pub sysprep_seconds: Option<f64>,
    /// Whether the agent acknowledges sysprep requests (default true).
    #[serde(default)]
    pub sysprep_ack: Option<bool>,
    /// ComputerName from the last sysprep, applied at the next boot (specialize).
    #[serde(default)]
    pub pending_computer_name: Option<String>,
}

fn feature_disabled(db: &Db, rec: &Record) -> bool {
    if rmap(rec, "other_config")
        .get(FEATURE_KEY)
        .map(String::as_str)
        == Some("0")
    {
        return true;
    }
    rset(rec, "VBDs")
        .iter()
        .filter_map(|b| db.get("VBD", b).ok())
        .filter(|b| rs(b, "type") == "Disk" && !rb(b, "empty"))
        .filter_map(|b| db.get("VDI", rs(b, "VDI")).ok())
        .any(|v| {
            let oc = rmap(v, "other_config");
            oc.contains_key(crate::guest::OS_KEY)
                && oc.get(FEATURE_KEY).map(String::as_str) == Some("0")
        })
}

fn write_features(w: &mut WindowsState, sysprep: bool) {
    for k in [
        "control/feature-shutdown",
        "control/feature-poweroff",
        "control/feature-reboot",
        "control/feature-suspend",
        "control/feature-vcpu-hotplug",
    ] {
        w.xenstore.insert(k.into(), "1".into());
    }
    if sysprep {
        w.xenstore
            .insert("control/feature-sysprep".into(), "1".into());
    } else {
        w.xenstore.remove("control/feature-sysprep");
    }
}

fn failure(st: &mut GuestState, plugin: &str, error: String) {
    st.log.push(format!("{plugin}: {error}"));
    st.windows.failures.push(json!({
        "boot": st.boot_count,
        "plugin": plugin,
        "error": error,
    }));
    if st.windows.failures.len() > 20 {
        st.windows.failures.remove(0);
    }
}

/// Completes the boot of a Windows guest (under the lock): cloudbase-init, agent, metrics.
pub fn complete_boot(db: &mut Db, vm: &str, rec: &Record) {
    let mut st = db.guests.get(vm).cloned().unwrap_or_default();
    st.boot_count += 1;
    st.os = "windows".into();
    if st.boot_count == 1 {
        st.feature_sysprep = !feature_disabled(db, rec);
    }
    st.windows.domid = ri(rec, "domid");
    st.windows.xenstore.clear();
    write_features(&mut st.windows, st.feature_sysprep);
    if let Some(name) = st.windows.pending_computer_name.take() {
        st.hostname = Some(name);
    }
    let vifs = crate::guest::vm_vifs(db, vm);
    let adapters: Vec<(String, String)> = vifs
        .iter()
        .map(|(d, m, _)| (d.clone(), m.clone()))
        .collect();
    let (found, notes) = cloudbase::find_drive(db, vm);
    st.windows.notes = notes;
    st.windows.location = found.as_ref().map(|(_, l)| l.clone());
    st.drive = found.as_ref().map(|(d, _)| d.clone());
    let mut log = Vec::new();
    if let Some((d, _)) = &found {
        let meta = netcfg::parse_yaml(d.files.get("meta-data").map(String::as_str).unwrap_or(""))
            .unwrap_or_else(|e| {
                log.push(format!("Metadata could not be parsed: {e}"));
                J::Null
            });
        let get = |k: &str| match meta.get(k) {
            Some(J::String(s)) => Some(s.clone()),
            Some(J::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let iid = get("instance-id");
        if iid != st.windows.instance_id {
            st.windows.instance_id = iid.clone();
            st.windows.plugins.clear();
            st.instance_id = iid;
            st.new_instance_boots += 1;
        }
        if !st.windows.plugins.contains_key("SetHostNamePlugin") {
            if let Some(h) = get("local-hostname") {
                st.hostname = Some(cloudbase::netbios_hostname(&h));
            }
            st.windows
                .plugins
                .insert("SetHostNamePlugin".into(), "done".into());
        }
        if !st.windows.plugins.contains_key("NetworkConfigPlugin") {
            let outcome = match d.files.get("network-config") {
                None => {
                    if meta.get("network-interfaces").is_some() {
                        log.push(
                            "meta-data network-interfaces (Debian ENI) is not simulated".into(),
                        );
                    }
                    Ok(())
                }
                Some(text) => match cloudbase::parse_network_config(text) {
                    Err(e) => Err(e),
                    Ok(None) => {
                        log.push("V2 network metadata is empty".into());
                        Ok(())
                    }
                    Ok(Some(details)) => {
                        log.extend(details.warnings.iter().cloned());
                        let mut cfg = st.windows.adapters.clone();
                        // Static addresses of a new run replace the previous ones.
                        for c in cfg.values_mut() {
                            c.addresses.clear();
                            c.gateway = None;
                            c.dns.clear();
                        }
                        let r = cloudbase::apply(&details, &adapters, &mut cfg, &mut log);
                        match r {
                            Ok(()) => {
                                st.windows.adapters = cfg;
                                Ok(())
                            }
                            Err(e) => {
                                // Renames done before the failure stay; no address applied.
                                for (mac, c) in cfg {
                                    st.windows.adapters.entry(mac).or_default().name = c.name;
                                }
                                Err(e)
                            }
                        }
                    }
                },
            };
            match outcome {
                Ok(()) => {
                    st.windows
                        .plugins
                        .insert("NetworkConfigPlugin".into(), "done".into());
                }
                Err(e) => failure(&mut st, "NetworkConfigPlugin", e),
            }
        }
    }
    st.windows.notes.extend(log);
    if st.hostname.is_none() {
        st.hostname = Some(format!(
            "WIN-{}",
            rs(rec, "uuid")
                .replace('-', "")
                .chars()
                .take(11)
                .collect::<String>()
                .to_uppercase()
        ));
    }
    st.network = cloudbase::interfaces(&adapters, &st.windows.adapters);
    st.network_source = if found.is_some() {
        "cloudbase-init".into()
    } else {
        "dhcp".into()
    };
    for ifc in st.network.iter_mut().filter(|i| i.mode == "dhcp") {
        ifc.addresses = crate::guest::lease(db, &ifc.device, &ifc.mac, &vifs)
            .into_iter()
            .collect();
    }
    if st.log.len() > 50 {
        let n = st.log.len() - 50;
        st.log.drain(..n);
    }
    crate::guest::publish_metrics(db, vm, rec, &st);
    db.guests.insert(vm.to_string(), st);
}

/// Admin settings (`POST /labpool/guest/<vm-uuid>`): `feature_sysprep` (applied at once: the
/// agent rewrites its xenstore key and XAPI republishes the guest metrics),
/// `sysprep_seconds`, `sysprep_ack`.
pub fn admin_update(db: &mut Db, vm: &str, body: &J) {
    let running = db
        .get("VM", vm)
        .map(|r| rs(r, "power_state") == "Running")
        .unwrap_or(false);
    let st = db.guests.entry(vm.to_string()).or_default();
    if let Some(f) = body.get("feature_sysprep").and_then(J::as_bool) {
        st.feature_sysprep = f;
        if running && st.os == "windows" {
            write_features(&mut st.windows, f);
        }
    }
    if let Some(s) = body.get("sysprep_seconds").and_then(J::as_f64) {
        st.windows.sysprep_seconds = Some(s.max(0.0));
    }
    if let Some(a) = body.get("sysprep_ack").and_then(J::as_bool) {
        st.windows.sysprep_ack = Some(a);
    }
    let st = st.clone();
    if running
        && st.os == "windows"
        && st.boot_count > 0
        && let Ok(rec) = db.record("VM", vm)
        && db.exists("VM_guest_metrics", rs(&rec, "guest_metrics"))
    {
        crate::guest::publish_metrics(db, vm, &rec, &st);
    }
}

/// Reads a key of the VM's xenstore tree (relative to `/local/domain/<domid>`).
pub fn xs_read(db: &Db, vm: &str, key: &str) -> Option<String> {
    let st = db.guests.get(vm)?;
    let domid = ri(db.get("VM", vm).ok()?, "domid");
    if domid <= 0 || st.windows.domid != domid {
        return None;
    }
    st.windows.xenstore.get(key).cloned()
}

/// Writes a key of the VM's xenstore tree.
pub fn xs_write(db: &mut Db, vm: &str, key: &str, value: &str) {
    let domid = db.get("VM", vm).map(|r| ri(r, "domid")).unwrap_or(-1);
    let st = db.guests.entry(vm.to_string()).or_default();
    if st.windows.domid != domid {
        st.windows.xenstore.clear();
        st.windows.domid = domid;
    }
    st.windows.xenstore.insert(key.into(), value.into());
}

/// Replaces the value of every password element (`*Password`, and the `<Value>` inside one)
/// with `***`. `None` when the text is not well-formed XML (nothing of it may be shown).
pub fn redact_unattend(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for n in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name().ends_with("Password"))
    {
        let has_elements = n.children().any(|c| c.is_element());
        let targets: Vec<roxmltree::Node> = if has_elements {
            n.descendants()
                .filter(|c| c.is_element() && c.tag_name().name() == "Value")
                .collect()
        } else {
            vec![n]
        };
        for t in targets {
            for c in t.children().filter(|c| c.is_text()) {
                ranges.push(c.range());
            }
        }
    }
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(xml.len());
    let mut pos = 0;
    for r in ranges {
        if r.start < pos {
            continue;
        }
        out.push_str(&xml[pos..r.start]);
        out.push_str("***");
        pos = r.end;
    }
    out.push_str(&xml[pos..]);
    Some(out)
}

fn first_text(doc: &roxmltree::Document, name: &str) -> Option<String> {
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn child_text(n: roxmltree::Node, name: &str) -> Option<String> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
}

fn password_present(n: roxmltree::Node) -> bool {
    let v = if n.children().any(|c| c.is_element()) {
        child_text(n, "Value")
    } else {
        n.text().map(|t| t.trim().to_string())
    };
    v.is_some_and(|v| !v.is_empty())
}

/// What sysprep applies from an unattend file (never a password).
pub fn applied_settings(xml: &str) -> Result<J, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "unattend" {
        return Err(format!(
            "root element is <{}>, not <unattend>",
            root.tag_name().name()
        ));
    }
    let passes: Vec<String> = root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "settings")
        .filter_map(|n| n.attribute("pass").map(str::to_string))
        .collect();
    let commands: Vec<J> = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "RunSynchronousCommand")
        .map(|n| {
            json!({
                "order": child_text(n, "Order"),
                "path": child_text(n, "Path"),
                "description": child_text(n, "Description"),
            })
        })
        .collect();
    let admin = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "AdministratorPassword");
    let accounts: Vec<J> = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "LocalAccount")
        .map(|n| {
            json!({
                "name": child_text(n, "Name"),
                "group": child_text(n, "Group"),
                "password_present": n
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "Password")
                    .is_some_and(password_present),
            })
        })
        .collect();
    Ok(json!({
        "passes": passes,
        "computer_name": first_text(&doc, "ComputerName"),
        "locale": {
            "input_locale": first_text(&doc, "InputLocale"),
            "system_locale": first_text(&doc, "SystemLocale"),
            "ui_language": first_text(&doc, "UILanguage"),
            "user_locale": first_text(&doc, "UserLocale"),
        },
        "time_zone": first_text(&doc, "TimeZone"),
        "run_synchronous": commands,
        "administrator_password_present": admin.is_some_and(password_present),
        "local_accounts": accounts,
    }))
}

fn update_run(db: &mut Db, vm: &str, idx: usize, f: impl FnOnce(&mut serde_json::Map<String, J>)) {
    if let Some(st) = db.guests.get_mut(vm)
        && let Some(J::Object(run)) = st.sysprep_runs.get_mut(idx)
    {
        f(run);
    }
}

fn same_domain(db: &Db, vm: &str, domid: i64) -> bool {
    db.get("VM", vm)
        .map(|r| ri(r, "domid") == domid && rs(r, "power_state") == "Running")
        .unwrap_or(false)
}

/// The agent's reaction to `control/sysprep/action = sysprep` (spawned by `VM.sysprep`).
pub fn on_sysprep_request(shared: Arc<Shared>, vm: String, default_seconds: f64) {
    tokio::spawn(async move {
        tokio::time::sleep(ACK_DELAY).await;
        let (idx, domid, seconds, ok) = {
            let mut db = shared.lock_db();
            let Ok(rec) = db.record("VM", &vm) else {
                return;
            };
            let domid = ri(&rec, "domid");
            let Some(st) = db.guests.get(&vm) else { return };
            if st.os != "windows"
                || st.windows.domid != domid
                || st.windows.sysprep_ack == Some(false)
                || xs_read(&db, &vm, ACTION).as_deref() != Some("sysprep")
            {
                return;
            }
            let seconds = st.windows.sysprep_seconds.unwrap_or(default_seconds);
            xs_write(&mut db, &vm, ACTION, "running");
            let vdi_uuid = xs_read(&db, &vm, "control/sysprep/vdi-uuid").unwrap_or_default();
            let filename = xs_read(&db, &vm, "control/sysprep/filename").unwrap_or_default();
            // D: is the CD drive: the first CD VBD with media.
            let data = rset(&rec, "VBDs")
                .iter()
                .filter_map(|b| db.get("VBD", b).ok())
                .filter(|b| rs(b, "type") == "CD" && !rb(b, "empty"))
                .find_map(|b| db.vdi_data.get(rs(b, "VDI")).cloned());
            let name = filename
                .rsplit('/')
                .next()
                .unwrap_or("unattend.xml")
                .to_string();
            let text = data
                .as_deref()
                .and_then(|d| iso::read_root_file(d, &name))
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let (unattend, applied, error) = match &text {
                None => (
                    J::Null,
                    J::Null,
                    Some(format!("{filename} not found on the CD drive")),
                ),
                Some(t) => match applied_settings(t) {
                    Ok(a) => (
                        redact_unattend(t).map(J::String).unwrap_or(J::Null),
                        a,
                        None,
                    ),
                    Err(e) => (J::Null, J::Null, Some(e)),
                },
            };
            if let Some(name) = applied.get("computer_name").and_then(J::as_str)
                && !name.is_empty()
                && name != "*"
                && let Some(st) = db.guests.get_mut(&vm)
            {
                st.windows.pending_computer_name = Some(name.to_string());
            }
            let ok = error.is_none();
            let run = json!({
                "started": now_datetime().to_json(),
                "filename": filename,
                "vdi": vdi_uuid,
                "unattend_bytes": text.as_ref().map(String::len),
                "unattend": unattend,
                "applied": applied,
                "error": error,
                "outcome": if ok { "running" } else { "failed" },
                "finished": J::Null,
            });
            let Some(st) = db.guests.get_mut(&vm) else {
                return;
            };
            st.sysprep_runs.push(run);
            (st.sysprep_runs.len() - 1, domid, seconds, ok)
        };
        if !ok {
            // sysprep stops with an error: `action` stays "running", the domain stays up.
            return;
        }
        tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.0, 86_400.0))).await;
        {
            let mut db = shared.lock_db();
            if !same_domain(&db, &vm, domid) {
                update_run(&mut db, &vm, idx, |r| {
                    r.insert("outcome".into(), json!("interrupted"));
                });
                return;
            }
            if let Some(st) = db.guests.get_mut(&vm) {
                st.windows.xenstore.remove(ACTION);
            }
            update_run(&mut db, &vm, idx, |r| {
                r.insert("outcome".into(), json!("generalized"));
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        {
            let mut db = shared.lock_db();
            if same_domain(&db, &vm, domid) {
                let _ = crate::api::vm::halt(&mut db, &vm);
                if let Some(st) = db.guests.get_mut(&vm) {
                    st.windows.xenstore.clear();
                    st.windows.domid = -1;
                }
                update_run(&mut db, &vm, idx, |r| {
                    r.insert("outcome".into(), json!("shut down"));
                    r.insert("finished".into(), now_datetime().to_json());
                });
            }
        }
        shared.notify();
    });
}

/// The Windows part of the admin guest view.
pub fn view(db: &Db, vm: &str, st: &GuestState) -> J {
    let domid = db.get("VM", vm).map(|r| ri(r, "domid")).unwrap_or(-1);
    let xs: BTreeMap<String, String> = if domid > 0 && st.windows.domid == domid {
        st.windows
            .xenstore
            .iter()
            .map(|(k, v)| (format!("/local/domain/{domid}/{k}"), v.clone()))
            .collect()
    } else {
        BTreeMap::new()
    };
    json!({
        "xenstore": xs,
        "cloudbase_init": {
            "drive": st.drive,
            "location": st.windows.location,
            "instance_id": st.windows.instance_id,
            "plugins": st.windows.plugins,
            "network": st.network,
            "hostname": st.hostname,
            "failures": st.windows.failures,
            "notes": st.windows.notes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup"><ComputerName>WEB-01</ComputerName></component>
    <component name="Microsoft-Windows-Deployment"><RunSynchronous>
      <RunSynchronousCommand><Order>1</Order><Path>cmd /c echo hi</Path></RunSynchronousCommand>
    </RunSynchronous></component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-International-Core"><InputLocale>de-DE</InputLocale><SystemLocale>de-DE</SystemLocale><UILanguage>en-US</UILanguage><UserLocale>de-DE</UserLocale></component>
    <component name="Microsoft-Windows-Shell-Setup"><UserAccounts>
      <AdministratorPassword><Value>S3cr&amp;t!</Value><PlainText>true</PlainText></AdministratorPassword>
      <LocalAccounts><LocalAccount><Name>ops</Name><Group>Administrators</Group><Password><Value>0psPw</Value></Password></LocalAccount></LocalAccounts>
    </UserAccounts><AutoLogon><Password>plainPw</Password></AutoLogon></component>
  </settings>
</unattend>"#;

    #[test]
    fn redaction_and_applied() {
        let r = redact_unattend(XML).unwrap();
        for secret in ["S3cr", "0psPw", "plainPw"] {
            assert!(!r.contains(secret), "{secret} leaked: {r}");
        }
        assert!(r.contains("<AdministratorPassword><Value>***</Value>"));
        assert!(r.contains("<Password>***</Password>"));
        assert!(r.contains("<ComputerName>WEB-01</ComputerName>"));
        assert_eq!(redact_unattend("<unattend><a></unattend>"), None);
        let a = applied_settings(XML).unwrap();
        assert_eq!(a["computer_name"], "WEB-01");
        assert_eq!(a["locale"]["ui_language"], "en-US");
        assert_eq!(a["run_synchronous"][0]["path"], "cmd /c echo hi");
        assert_eq!(a["administrator_password_present"], true);
        assert_eq!(a["local_accounts"][0]["password_present"], true);
        assert!(!a.to_string().contains("S3cr"));
        assert!(applied_settings("<other/>").is_err());
    }
}
