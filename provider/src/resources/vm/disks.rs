//! Disks: `disk` entries (resize template disks — grow only — or add new
//! disks), the CD drive (`cdrom`), and the VBD/VDI calls.
//!
//! Disks the provider created (new disks, the clone's or provision's disks,
//! the config drive) carry `other_config[xenapi-terraform-vm] = <vm uuid>`
//! and are destroyed with the VM; nothing else is (an ISO in the CD drive,
//! disks attached out of band).

use std::collections::BTreeSet;

use schema::{AttributePath, Diagnostics, Value};
use xapi::{
    Client, SrRef, VbdCreate, VbdRecord, VbdRef, VbdType, VdiCreate, VdiRecord, VdiRef, VmRef,
};

use super::schema::{attr, disk};
use super::values::{Known, elements, int_at, str_at};
use super::{OWNER_KEY, OWNER_VALUE, StepResult, VM_KEY, XapiContext};
use crate::pool::Pool;

/// A VBD with its record and, unless empty, its VDI.
pub type VbdInfo = (VbdRef, VbdRecord, Option<(VdiRef, VdiRecord)>);

fn path(i: usize, name: &str) -> AttributePath {
    AttributePath::new(attr::DISK).index(i as i64).attr(name)
}

/// Plan-time checks of `disk` entries and `cdrom`.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let mut devices = BTreeSet::new();
    for (i, d) in elements(config, attr::DISK).iter().enumerate() {
        if let Known::Value(size) = int_at(d, disk::SIZE)
            && size <= 0
        {
            diags.error_at(
                path(i, disk::SIZE),
                "Invalid disk size",
                format!("size must be a positive number of bytes, got {size}."),
            );
        }
        if let Known::Value(dev) = str_at(d, disk::DEVICE) {
            if dev.is_empty() || !dev.bytes().all(|b| b.is_ascii_digit()) || dev.len() > 3 {
                diags.error_at(
                    path(i, disk::DEVICE),
                    "Invalid disk device",
                    format!("device must be a VBD user device number such as \"0\" or \"1\", got {dev:?}."),
                );
            } else if !devices.insert(dev.clone()) {
                diags.error_at(
                    path(i, disk::DEVICE),
                    "Duplicate disk device",
                    format!("Two disk entries use device {dev:?}."),
                );
            }
        }
        if let Known::Value(sr) = str_at(d, disk::SR)
            && sr.trim().is_empty()
        {
            diags.error_at(path(i, disk::SR), "Invalid SR", "sr must not be empty.");
        }
    }
    if let Known::Value(sr) = str_at(config, attr::SR)
        && sr.trim().is_empty()
    {
        diags.error_at(
            AttributePath::new(attr::SR),
            "Invalid SR",
            "sr must not be empty.",
        );
    }
}

/// The VBDs of a VM with their records (and VDI records for non-empty ones).
pub async fn vbds_of(pool: &Pool, vbds: &[VbdRef]) -> StepResult<Vec<VbdInfo>> {
    let mut out = Vec::new();
    for r in vbds {
        let Some(rec) = pool
            .record::<xapi::Vbd>(r)
            .await
            .ctx("reading the VM's VBDs")?
        else {
            continue;
        };
        let vdi = if rec.vdi.is_null() || rec.empty {
            None
        } else {
            pool.record::<xapi::Vdi>(&rec.vdi)
                .await
                .ctx("reading the VM's disks")?
                .map(|v| (rec.vdi.clone(), v))
        };
        out.push((r.clone(), rec, vdi));
    }
    Ok(out)
}

/// The first user device not in `used` (skipping `avoid`), as XO does: disks
/// avoid "3", which is where CD drives usually live.
pub fn first_free_device(used: &BTreeSet<String>, avoid: &[&str]) -> String {
    (0..255)
        .map(|n| n.to_string())
        .find(|d| !used.contains(d) && !avoid.contains(&d.as_str()))
        .unwrap_or_else(|| "autodetect".to_owned())
}

/// The marks of a VDI the provider creates for a VM.
pub fn owned_vdi_other_config(vm_uuid: &str) -> xapi::StringMap {
    super::owned_other_config(&[(VM_KEY, vm_uuid)])
}

/// Whether the VDI is a disk the provider created for a `disk` entry.
pub fn is_created_disk(vdi: &VdiRecord) -> bool {
    vdi.other_config.get(super::DISK_KEY).map(String::as_str) == Some("new")
}

/// Sets (or with `None` removes) the `disk` entry mark of a template disk.
pub async fn mark_entry(client: &Client, vdi: &VdiRef, value: Option<&str>) -> StepResult<()> {
    client
        .call_void(
            "VDI.remove_from_other_config",
            vec![serde_json::json!(vdi), serde_json::json!(super::DISK_KEY)],
        )
        .await
        .ctx("marking a disk entry")?;
    if let Some(v) = value {
        client
            .vdi()
            .add_to_other_config(vdi, super::DISK_KEY, v)
            .await
            .ctx("marking a disk entry")?;
    }
    Ok(())
}

/// Whether the VDI was made by the provider for this VM (destroyed with it).
pub fn is_owned_by(vdi: &VdiRecord, vm_uuid: &str) -> bool {
    vdi.other_config.get(VM_KEY).map(String::as_str) == Some(vm_uuid)
        && vdi.other_config.get(OWNER_KEY).map(String::as_str) == Some(OWNER_VALUE)
}

/// Creates a new disk: `VDI.create` + `VBD.create` (+ `VBD.plug` when the VM
/// runs). Returns the VDI; on a failure after the VDI exists it is destroyed.
#[allow(clippy::too_many_arguments)]
pub async fn create_disk(
    client: &Client,
    vm: &VmRef,
    vm_uuid: &str,
    sr: &SrRef,
    size: i64,
    name: &str,
    device: &str,
    running: bool,
) -> StepResult<(VdiRef, VbdRef)> {
    let mut args = VdiCreate::new(sr, name, size);
    args.other_config = owned_vdi_other_config(vm_uuid);
    args.other_config
        .insert(super::DISK_KEY.to_owned(), "new".to_owned());
    args.name_description = "Created by terraform-provider-xenapi".into();
    let vdi = client
        .vdi()
        .create(&args)
        .await
        .ctx(format!("creating disk {name:?} ({size} bytes)"))?;
    let mut vbd_args = VbdCreate::disk(vm, &vdi, device);
    vbd_args.other_config = super::owned_other_config(&[]);
    let vbd = match client.vbd().create(&vbd_args).await {
        Ok(v) => v,
        Err(e) => {
            let _ = client.vdi().destroy(&vdi).await;
            return Err(super::StepError::xapi(
                format!("attaching disk {name:?} as device {device}"),
                e,
            ));
        }
    };
    if running && let Err(e) = client.vbd().plug(&vbd).await {
        let _ = client.vbd().destroy(&vbd).await;
        let _ = client.vdi().destroy(&vdi).await;
        return Err(super::StepError::xapi(
            format!("hot-plugging disk {name:?} as device {device}"),
            e,
        ));
    }
    Ok((vdi, vbd))
}

/// Detaches (when attached) and destroys a disk the provider created.
pub async fn destroy_disk(
    client: &Client,
    vbd: Option<(&VbdRef, &VbdRecord)>,
    vdi: &VdiRef,
) -> StepResult<()> {
    if let Some((r, rec)) = vbd
        && rec.currently_attached
    {
        client.vbd().unplug(r).await.ctx("unplugging a disk")?;
    }
    client.vdi().destroy(vdi).await.ctx("destroying a disk")
}

/// The VM's CD drive, if any.
pub fn cd_drive(vbds: &[VbdInfo]) -> Option<&VbdInfo> {
    vbds.iter().find(|(_, r, _)| r.vbd_type == VbdType::Cd)
}

/// Brings the CD drive to `wanted` (`None` = empty). Creates a drive (device
/// "3" when free) when the VM has none.
pub async fn set_cdrom(
    client: &Client,
    vm: &VmRef,
    vbds: &[VbdInfo],
    wanted: Option<&VdiRef>,
) -> StepResult<()> {
    match cd_drive(vbds) {
        None => {
            let used: BTreeSet<String> =
                vbds.iter().map(|(_, r, _)| r.userdevice.clone()).collect();
            let device = if used.contains("3") {
                first_free_device(&used, &[])
            } else {
                "3".to_owned()
            };
            let mut args = VbdCreate::cd(vm, wanted, device);
            args.other_config = super::owned_other_config(&[]);
            client
                .vbd()
                .create(&args)
                .await
                .ctx("creating a CD drive")?;
        }
        Some((vbd, rec, current)) => {
            let current_ref = current.as_ref().map(|(r, _)| r);
            if current_ref == wanted {
                return Ok(());
            }
            if !rec.empty && !rec.vdi.is_null() {
                client.vbd().eject(vbd).await.ctx("ejecting the CD")?;
            }
            if let Some(v) = wanted {
                client.vbd().insert(vbd, v).await.ctx("inserting the CD")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_devices() {
        let used: BTreeSet<String> = ["0", "1", "2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(first_free_device(&used, &["3"]), "4");
        assert_eq!(first_free_device(&used, &[]), "3");
        assert_eq!(first_free_device(&BTreeSet::new(), &["3"]), "0");
    }

    #[test]
    fn validation() {
        let entry = |dev: Value, size: i64| {
            Value::object([
                (disk::DEVICE, dev),
                (disk::SIZE, Value::from(size)),
                (disk::SR, Value::Null),
                (disk::NAME_LABEL, Value::Null),
                (disk::VDI_UUID, Value::Null),
                (disk::CREATED, Value::Null),
            ])
        };
        let cfg = Value::object([
            (
                attr::DISK,
                Value::List(vec![
                    entry("0".into(), 1 << 30),
                    entry("0".into(), 0),
                    entry("xvda".into(), 1),
                ]),
            ),
            (attr::SR, Value::Null),
        ]);
        let mut d = Diagnostics::new();
        validate(&cfg, &mut d);
        let paths: Vec<String> = d
            .iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            paths,
            vec!["disk[1].size", "disk[1].device", "disk[2].device"]
        );
    }
}
