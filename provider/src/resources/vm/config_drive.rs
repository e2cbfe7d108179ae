//! Glue to the `config-drive` crate: plan-time validation of `cloud_init`,
//! building the drive from a (planned or stored) state, uploading it with
//! `import_raw_vdi` into a VDI the provider marks as its config drive,
//! attaching it as a Disk VBD, rebuilding it in place, removing it after the
//! first boot, and reading it back for import.

use std::time::Duration;

use config_drive::{
    ConfigDrive, Field, Flavor, Interface, InterfaceAttr, MetaData, NetworkConfig,
    NetworkConfigFormat,
};
use schema::{AttributePath, Diagnostics, Value};
use xapi::{Client, SrRef, VbdCreate, VbdRecord, VbdRef, VdiCreate, VdiRecord, VdiRef, VmRef};

use super::network_interfaces::specs;
use super::schema::{attr, ci, nic};
use super::values::{Known, at, bool_at, opt_str, str_at};
use super::{CONFIG_DRIVE_KEY, StepError, StepResult, XapiContext};

/// Name of the config drive VDI.
pub const DRIVE_NAME: &str = "xenapi-terraform config drive";

fn ci_path(name: &str) -> AttributePath {
    AttributePath::new(attr::CLOUD_INIT).attr(name)
}

/// Maps a config-drive crate field to the attribute path.
pub fn field_path(field: &Field) -> AttributePath {
    match field {
        Field::Interface { index, attr: a } => {
            let base = AttributePath::new(attr::NETWORK_INTERFACE).index(*index as i64);
            match a {
                InterfaceAttr::Mac => base.attr(nic::MAC),
                InterfaceAttr::Name | InterfaceAttr::Device => base.attr(nic::DEVICE),
                InterfaceAttr::Ipv4Address => base.attr(nic::IPV4_ADDRESS),
                InterfaceAttr::Ipv4Gateway => base.attr(nic::IPV4_GATEWAY),
                InterfaceAttr::DnsServer(i) => base.attr(nic::DNS_SERVERS).index(*i as i64),
                InterfaceAttr::DnsSearch(i) => base.attr(nic::DNS_SEARCH).index(*i as i64),
                InterfaceAttr::Mtu => base.attr(nic::MTU),
            }
        }
        Field::InstanceId => ci_path(ci::INSTANCE_ID),
        Field::MetaData => ci_path(ci::META_DATA),
        Field::NetworkConfig { .. } => ci_path(ci::NETWORK_CONFIG),
    }
}

/// The rendered-network-config format (default v2).
pub fn format_of(cloud_init: &Value) -> NetworkConfigFormat {
    match opt_str(cloud_init, ci::NETWORK_CONFIG_FORMAT).as_deref() {
        Some("v1") => NetworkConfigFormat::V1,
        _ => NetworkConfigFormat::V2,
    }
}

/// Plan-time checks of `cloud_init` (interfaces are checked in
/// `network_interfaces`).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let c = at(config, attr::CLOUD_INIT);
    if c.is_null() || c.is_unknown() {
        return;
    }
    if let Some(f) = opt_str(c, ci::NETWORK_CONFIG_FORMAT)
        && f != "v1"
        && f != "v2"
    {
        diags.error_at(
            ci_path(ci::NETWORK_CONFIG_FORMAT),
            "Invalid network config format",
            format!("network_config_format must be \"v2\" or \"v1\", got {f:?}."),
        );
    }
    if let Some(text) = opt_str(c, ci::NETWORK_CONFIG)
        && let Err(errors) = config_drive::validate_network_config_text(&text, Flavor::CloudInit)
    {
        for e in errors.0 {
            diags.error_at(
                field_path(&e.field),
                "Invalid network_config",
                e.to_string(),
            );
        }
    }
    if let Some(text) = opt_str(c, ci::META_DATA)
        && let Err(e) = config_drive::validate_meta_data_text(&text)
    {
        diags.error_at(ci_path(ci::META_DATA), "Invalid meta_data", e.to_string());
    }
    if let Some(id) = opt_str(c, ci::INSTANCE_ID)
        && (id.trim().is_empty() || id.chars().any(char::is_control))
    {
        diags.error_at(
            ci_path(ci::INSTANCE_ID),
            "Invalid instance_id",
            "instance_id must be a non-empty single line.",
        );
    }
}

/// Whether the state/plan has a `cloud_init` block.
pub fn wanted(obj: &Value) -> bool {
    let c = at(obj, attr::CLOUD_INIT);
    !c.is_null()
}

/// `remove_after_boot`.
pub fn remove_after_boot(obj: &Value) -> bool {
    bool_at(at(obj, attr::CLOUD_INIT), ci::REMOVE_AFTER_BOOT).value() == Some(true)
}

/// The drive described by a state or plan whose MACs are known (`macs[i]` is
/// the MAC of `network_interface[i]`). `vm_uuid` is the default instance id.
pub fn drive_from(obj: &Value, vm_uuid: &str, macs: &[String]) -> StepResult<Option<ConfigDrive>> {
    let c = at(obj, attr::CLOUD_INIT);
    if c.is_null() {
        return Ok(None);
    }
    let nics = specs(obj);
    let network_config = if let Some(text) = opt_str(c, ci::NETWORK_CONFIG) {
        NetworkConfig::User(text)
    } else if nics.iter().any(|n| n.has_addressing()) {
        let mut interfaces = Vec::new();
        for (i, n) in nics.iter().enumerate() {
            let mac = macs.get(i).cloned().ok_or_else(|| {
                StepError::new(
                    "MAC address not known",
                    format!("network_interface[{i}] has no MAC address yet (provider bug)."),
                )
            })?;
            interfaces.push(Interface {
                mac,
                device: n.effective_device().value().unwrap_or(i as i64) as u32,
                name: None,
                ipv4_address: n.ipv4_address.clone(),
                ipv4_gateway: n.ipv4_gateway.clone(),
                dns_servers: n.dns_servers.clone(),
                dns_search: n.dns_search.clone(),
                mtu: n.mtu.value().and_then(|m| u32::try_from(m).ok()),
            });
        }
        NetworkConfig::Rendered {
            format: format_of(c),
            interfaces,
        }
    } else {
        NetworkConfig::None
    };
    let user_meta = opt_str(c, ci::META_DATA);
    let drive = ConfigDrive {
        user_data: opt_str(c, ci::USER_DATA),
        meta_data: MetaData {
            instance_id: opt_str(c, ci::INSTANCE_ID).unwrap_or_else(|| vm_uuid.to_owned()),
            local_hostname: match (&user_meta, str_at(obj, attr::NAME_LABEL)) {
                (None, Known::Value(n)) => Some(n),
                _ => None,
            },
            user_text: user_meta,
        },
        vendor_data: opt_str(c, ci::VENDOR_DATA),
        network_config,
    };
    Ok(Some(drive))
}

/// The MACs of the interfaces of a state (known ones; empty strings for
/// unknown).
pub fn macs_of(obj: &Value) -> Vec<String> {
    specs(obj)
        .into_iter()
        .map(|n| match n.mac {
            Known::Value(m) => m,
            _ => String::new(),
        })
        .collect()
}

/// The provider's config drive among a VM's VBDs.
pub fn find_drive<'a>(
    vbds: &'a [super::disks::VbdInfo],
    vm_uuid: &str,
) -> Option<(&'a VbdRef, &'a VbdRecord, &'a VdiRef, &'a VdiRecord)> {
    vbds.iter().find_map(|(r, rec, vdi)| {
        let (vr, v) = vdi.as_ref()?;
        (v.other_config.get(CONFIG_DRIVE_KEY).map(String::as_str) == Some(vm_uuid))
            .then_some((r, rec, vr, v))
    })
}

/// Builds the image (errors never contain the user-data). An input error
/// (a value that was unknown at plan time) points at the first attribute at
/// fault; the detail lists every problem.
pub fn image(drive: &ConfigDrive) -> StepResult<Vec<u8>> {
    config_drive::build_iso(drive).map_err(|e| match e.validation_errors() {
        Some(errs) => {
            let detail = errs
                .iter()
                .map(|v| format!("{}: {}", field_path(&v.field), v.problem))
                .collect::<Vec<_>>()
                .join("; ");
            match errs.first() {
                Some(first) => StepError::at(
                    field_path(&first.field),
                    "Cannot build the config drive",
                    detail,
                ),
                None => StepError::new("Cannot build the config drive", detail),
            }
        }
        None => StepError::new("Cannot build the config drive", e.to_string()),
    })
}

/// Creates the drive VDI on `sr`, uploads the image and attaches it as a Disk
/// VBD (plugged when the VM runs). On failure, what was made is removed.
#[allow(clippy::too_many_arguments)]
pub async fn attach(
    client: &Client,
    vm: &VmRef,
    vm_uuid: &str,
    sr: &SrRef,
    device: &str,
    image: Vec<u8>,
    running: bool,
    upload_timeout: Duration,
) -> StepResult<(VdiRef, VbdRef)> {
    let size = image.len() as i64;
    let mut args = VdiCreate::new(sr, DRIVE_NAME, size);
    args.name_description = "cloud-init / cloudbase-init NoCloud drive (label cidata)".into();
    args.other_config = super::disks::owned_vdi_other_config(vm_uuid);
    args.other_config
        .insert(CONFIG_DRIVE_KEY.to_owned(), vm_uuid.to_owned());
    let vdi = client
        .vdi()
        .create(&args)
        .await
        .ctx("creating the config drive VDI")?;
    let result: StepResult<VbdRef> = async {
        client
            .import_raw_vdi(&vdi, bytes::Bytes::from(image), upload_timeout)
            .await
            .ctx("uploading the config drive (import_raw_vdi)")?;
        let mut vbd_args = VbdCreate::disk(vm, &vdi, device);
        vbd_args.other_config = super::owned_other_config(&[]);
        let vbd = client
            .vbd()
            .create(&vbd_args)
            .await
            .ctx("attaching the config drive")?;
        if running && let Err(e) = client.vbd().plug(&vbd).await {
            let _ = client.vbd().destroy(&vbd).await;
            return Err(StepError::xapi("hot-plugging the config drive", e));
        }
        Ok(vbd)
    }
    .await;
    match result {
        Ok(vbd) => Ok((vdi, vbd)),
        Err(e) => {
            let _ = client.vdi().destroy(&vdi).await;
            Err(e)
        }
    }
}

/// Detaches and destroys the drive.
pub async fn remove(client: &Client, vbd: &VbdRef, attached: bool, vdi: &VdiRef) -> StepResult<()> {
    if attached {
        client
            .vbd()
            .unplug(vbd)
            .await
            .ctx("unplugging the config drive")?;
    }
    client
        .vdi()
        .destroy(vdi)
        .await
        .ctx("destroying the config drive")
}

/// Reads a drive back (import).
pub async fn read_back(
    client: &Client,
    vdi: &VdiRef,
    timeout: Duration,
) -> StepResult<config_drive::ConfigDriveFiles> {
    let bytes = client
        .export_raw_vdi(vdi, timeout)
        .await
        .ctx("downloading the config drive (export_raw_vdi)")?;
    config_drive::read_iso(&bytes)
        .map_err(|e| StepError::new("Cannot read the config drive", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(cloud_init: Value, nics: Vec<Value>) -> Value {
        Value::object([
            (attr::NAME_LABEL, Value::from("web-1")),
            (attr::CLOUD_INIT, cloud_init),
            (attr::NETWORK_INTERFACE, Value::List(nics)),
        ])
    }

    fn ci_obj(fields: &[(&str, Value)]) -> Value {
        crate::resources::vm::schema::cloud_init_value(fields)
    }

    fn nic_obj(addr: Option<&str>) -> Value {
        Value::object([
            (nic::NETWORK, Value::from("lan")),
            (nic::DEVICE, Value::from(0i64)),
            (nic::MAC, Value::from("02:AA:00:00:00:01")),
            (nic::MTU, Value::Null),
            (
                nic::IPV4_ADDRESS,
                addr.map(Value::from).unwrap_or(Value::Null),
            ),
            (nic::IPV4_GATEWAY, Value::Null),
            (nic::DNS_SERVERS, Value::Null),
            (nic::DNS_SEARCH, Value::Null),
            (nic::EXPECTED_IP_CIDR, Value::Null),
        ])
    }

    #[test]
    fn defaults_and_rendering() {
        let s = state(
            ci_obj(&[(ci::USER_DATA, "#cloud-config\n".into())]),
            vec![nic_obj(Some("10.0.0.5/24"))],
        );
        let d = drive_from(&s, "vm-uuid", &macs_of(&s)).unwrap().unwrap();
        assert_eq!(d.meta_data.instance_id, "vm-uuid");
        assert_eq!(d.meta_data.local_hostname.as_deref(), Some("web-1"));
        let NetworkConfig::Rendered { format, interfaces } = &d.network_config else {
            panic!("rendered expected")
        };
        assert_eq!(*format, NetworkConfigFormat::V2);
        assert_eq!(interfaces[0].ipv4_address.as_deref(), Some("10.0.0.5/24"));
        let img = image(&d).unwrap();
        let files = config_drive::read_iso(&img).unwrap();
        assert!(files.network_config.unwrap().contains("02:aa:00:00:00:01"));
        assert_eq!(files.user_data.as_deref(), Some("#cloud-config\n"));
    }

    #[test]
    fn dhcp_only_has_no_network_config_and_instance_id_override() {
        let s = state(
            ci_obj(&[(ci::INSTANCE_ID, "iid-2".into())]),
            vec![nic_obj(None)],
        );
        let d = drive_from(&s, "vm-uuid", &macs_of(&s)).unwrap().unwrap();
        assert_eq!(d.network_config, NetworkConfig::None);
        assert_eq!(d.meta_data.instance_id, "iid-2");
        assert!(
            drive_from(&state(Value::Null, vec![]), "x", &[])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn invalid_cloud_init_is_reported_with_paths() {
        let cfg = state(
            ci_obj(&[
                (ci::NETWORK_CONFIG_FORMAT, "v3".into()),
                (ci::META_DATA, "- a list\n".into()),
                (ci::NETWORK_CONFIG, "version: 7\n".into()),
                (ci::INSTANCE_ID, "a\nb".into()),
            ]),
            vec![],
        );
        let mut d = Diagnostics::new();
        validate(&cfg, &mut d);
        let paths: Vec<String> = d
            .iter()
            .map(|x| x.attribute.as_ref().unwrap().to_string())
            .collect();
        for p in [
            "cloud_init.network_config_format",
            "cloud_init.network_config",
            "cloud_init.meta_data",
            "cloud_init.instance_id",
        ] {
            assert!(paths.contains(&p.to_string()), "{p}: {paths:?}");
        }
    }

    #[test]
    fn build_errors_do_not_contain_user_data() {
        let s = state(
            ci_obj(&[(ci::USER_DATA, "password: hunter2-secret".into())]),
            vec![nic_obj(Some("10.0.0.5/33"))],
        );
        let d = drive_from(&s, "vm", &macs_of(&s)).unwrap().unwrap();
        let e = image(&d).unwrap_err();
        assert!(!e.detail.contains("hunter2"));
        assert!(
            e.detail.contains("network_interface[0].ipv4_address"),
            "{}",
            e.detail
        );
        assert_eq!(
            e.path.as_ref().map(ToString::to_string).as_deref(),
            Some("network_interface[0].ipv4_address")
        );
    }
}
