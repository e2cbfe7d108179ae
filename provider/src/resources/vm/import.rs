//! Import by VM UUID. Besides what XAPI holds, a VM this provider created
//! gives back what only the provider knew: the template (recorded in
//! `other_config`), the network names, the disk entries, and the `cloud_init`
//! contents with the guest addressing (read back from the VM's own config
//! drive with `export_raw_vdi`), so that the original configuration plans
//! empty after `terraform import`.

use std::collections::BTreeMap;
use std::time::Duration;

use config_drive::{NetworkConfig, NetworkConfigFormat};
use schema::Value;

use super::config_drive as drive;
use super::network_interfaces::mac_key;
use super::read::{self, Observed};
use super::schema::{attr, ci, disk, nic, schema};
use super::values::{set, string_list};
use super::{
    CLONE_TYPE_KEY, DISK_KEY, DRIVE_REMOVED_KEY, SR_KEY, StepError, StepResult, TEMPLATE_KEY,
};
use crate::pool::Pool;

/// An object of the schema's type with every attribute null (blocks empty).
pub fn null_state() -> Value {
    let s = schema();
    let mut m = BTreeMap::new();
    for a in &s.block.attributes {
        m.insert(a.name.clone(), Value::Null);
    }
    for b in &s.block.blocks {
        m.insert(b.type_name.clone(), Value::List(Vec::new()));
    }
    Value::Object(m)
}

fn cloud_init_object(fields: &[(&str, Value)]) -> Value {
    super::schema::cloud_init_value(fields)
}

fn opt(v: Option<&String>) -> Value {
    v.map(|s| Value::from(s.as_str())).unwrap_or(Value::Null)
}

/// The operation.
pub async fn import(pool: &Pool, id: &str) -> StepResult<Value> {
    let id = id.trim();
    let Some((vm_ref, _)) = read::find_vm(pool, id).await? else {
        return Err(StepError::new(
            "Cannot import non-existent VM",
            format!(
                "No VM (not a template or snapshot) has the UUID {id:?}. The import ID of xenapi_vm is the VM UUID."
            ),
        ));
    };
    let obs = read::observe(pool, &vm_ref)
        .await?
        .ok_or_else(|| StepError::new("VM disappeared", format!("VM {id} no longer exists.")))?;
    let vm = &obs.vm;
    let mut base = null_state();
    let template = vm
        .other_config
        .get(TEMPLATE_KEY)
        .or_else(|| vm.other_config.get("base_template_name"));
    set(&mut base, attr::TEMPLATE, opt(template));
    set(
        &mut base,
        attr::CLONE_TYPE,
        opt(vm.other_config.get(CLONE_TYPE_KEY)),
    );
    set(&mut base, attr::SR, opt(vm.other_config.get(SR_KEY)));
    if !vm.tags.is_empty() {
        set(&mut base, attr::TAGS, Value::Set(vec![]));
    }
    if let Some(h) = &obs.affinity {
        set(&mut base, attr::AFFINITY_HOST, Value::from(h.uuid.as_str()));
    }
    if let Some((_, _, Some((_, vdi)))) = super::disks::cd_drive(&obs.vbds) {
        set(&mut base, attr::CDROM, Value::from(vdi.uuid.as_str()));
    }
    // Interfaces, in device order, with the network as it was configured.
    let mut nics: Vec<Value> = obs
        .vifs
        .iter()
        .map(|(_, vif, net)| read::nic_entry(None, vif, net.as_ref(), obs.guest.as_ref()))
        .collect();
    // Disk entries the configuration had (marked at creation).
    let disks: Vec<Value> = obs
        .vbds
        .iter()
        .filter_map(|(_, b, v)| {
            let (_, vdi) = v.as_ref()?;
            vdi.other_config.get(DISK_KEY)?;
            Some(Value::object([
                (disk::DEVICE, Value::from(b.userdevice.as_str())),
                (disk::SIZE, Value::from(vdi.virtual_size)),
                (disk::SR, Value::Null),
                (disk::NAME_LABEL, Value::Null),
                (disk::VDI_UUID, Value::from(vdi.uuid.as_str())),
                (disk::CREATED, Value::Null),
            ]))
        })
        .collect();
    set(&mut base, attr::DISK, Value::List(disks));
    let cloud_init = recover_cloud_init(pool, &obs, &mut nics).await?;
    set(&mut base, attr::CLOUD_INIT, cloud_init);
    set(&mut base, attr::NETWORK_INTERFACE, Value::List(nics));
    set(
        &mut base,
        attr::SYSPREP,
        super::sysprep::imported_state(&vm.other_config),
    );
    let mut state = read::build_state(&base, &obs);
    if let Some(json) = vm.other_config.get(super::SETTINGS_KEY) {
        super::apply_settings(&mut state, json);
    }
    Ok(state)
}

/// `cloud_init` from the VM's config drive (and guest addressing into `nics`).
async fn recover_cloud_init(pool: &Pool, obs: &Observed, nics: &mut [Value]) -> StepResult<Value> {
    let vm = &obs.vm;
    let Some((_, _, vdi_ref, _)) = drive::find_drive(&obs.vbds, &vm.uuid) else {
        if vm.other_config.get(DRIVE_REMOVED_KEY).map(String::as_str) == Some("true") {
            return Ok(cloud_init_object(&[(
                ci::REMOVE_AFTER_BOOT,
                Value::from(true),
            )]));
        }
        return Ok(Value::Null);
    };
    let client = pool.client().await?;
    let files = drive::read_back(client, vdi_ref, Duration::from_secs(300)).await?;
    let d = files.to_config_drive();
    let mut fields: Vec<(&str, Value)> = vec![
        (ci::USER_DATA, opt(d.user_data.as_ref())),
        (ci::VENDOR_DATA, opt(d.vendor_data.as_ref())),
    ];
    if d.meta_data.instance_id != vm.uuid && !d.meta_data.instance_id.is_empty() {
        fields.push((
            ci::INSTANCE_ID,
            Value::from(d.meta_data.instance_id.as_str()),
        ));
    }
    if let Some(text) = &d.meta_data.user_text {
        fields.push((ci::META_DATA, Value::from(text.as_str())));
    }
    match &d.network_config {
        NetworkConfig::None => {}
        NetworkConfig::User(text) => fields.push((ci::NETWORK_CONFIG, Value::from(text.as_str()))),
        NetworkConfig::Rendered { format, interfaces } => {
            if *format == NetworkConfigFormat::V1 {
                fields.push((ci::NETWORK_CONFIG_FORMAT, Value::from("v1")));
            }
            for i in interfaces {
                let Some(entry) = nics.iter_mut().find(|n| {
                    n.get(nic::MAC)
                        .and_then(Value::as_str)
                        .is_some_and(|m| mac_key(m) == mac_key(&i.mac))
                }) else {
                    continue;
                };
                set(entry, nic::IPV4_ADDRESS, opt(i.ipv4_address.as_ref()));
                set(entry, nic::IPV4_GATEWAY, opt(i.ipv4_gateway.as_ref()));
                if !i.dns_servers.is_empty() {
                    set(entry, nic::DNS_SERVERS, string_list(&i.dns_servers));
                }
                if !i.dns_search.is_empty() {
                    set(entry, nic::DNS_SEARCH, string_list(&i.dns_search));
                }
            }
        }
    }
    Ok(cloud_init_object(&fields))
}
