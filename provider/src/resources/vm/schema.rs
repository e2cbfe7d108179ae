//! The `xenapi_vm` schema: attribute names and descriptions (the docs are
//! generated from them).

use std::collections::BTreeMap;

use schema::{Attribute, Block, NestedBlock, Nesting, Schema, Type, Value};

/// Attribute names (top level).
pub mod attr {
    pub const ID: &str = "id";
    pub const NAME_LABEL: &str = "name_label";
    pub const NAME_DESCRIPTION: &str = "name_description";
    pub const TEMPLATE: &str = "template";
    pub const TEMPLATE_UUID: &str = "template_uuid";
    pub const CLONE_TYPE: &str = "clone_type";
    pub const SR: &str = "sr";
    pub const VCPUS: &str = "vcpus";
    pub const VCPUS_MAX: &str = "vcpus_max";
    pub const CORES_PER_SOCKET: &str = "cores_per_socket";
    pub const MEMORY: &str = "memory";
    pub const NETWORK_INTERFACE: &str = "network_interface";
    pub const CLOUD_INIT: &str = "cloud_init";
    pub const DISK: &str = "disk";
    pub const CDROM: &str = "cdrom";
    pub const POWER_STATE: &str = "power_state";
    pub const SHUTDOWN_TIMEOUT: &str = "shutdown_timeout";
    pub const RESTART_ON_UPDATE: &str = "restart_on_update";
    pub const WAIT_FOR_GUEST: &str = "wait_for_guest";
    pub const AFFINITY_HOST: &str = "affinity_host";
    pub const TAGS: &str = "tags";
    pub const OTHER_CONFIG: &str = "other_config";
    pub const XENSTORE_DATA: &str = "xenstore_data";
    pub const BOOT_FIRMWARE: &str = "boot_firmware";
    pub const SECURE_BOOT: &str = "secure_boot";
    pub const BOOT_ORDER: &str = "boot_order";
    pub const TIMEOUTS: &str = "timeouts";
    pub const SYSPREP: &str = super::super::sysprep::SYSPREP;
}

/// `memory` attribute names.
pub mod mem {
    pub const STATIC_MIN: &str = "static_min";
    pub const STATIC_MAX: &str = "static_max";
    pub const DYNAMIC_MIN: &str = "dynamic_min";
    pub const DYNAMIC_MAX: &str = "dynamic_max";
}

/// `network_interface` attribute names.
pub mod nic {
    pub const NETWORK: &str = "network";
    pub const NETWORK_UUID: &str = "network_uuid";
    pub const DEVICE: &str = "device";
    pub const MAC: &str = "mac";
    pub const MTU: &str = "mtu";
    pub const IPV4_ADDRESS: &str = "ipv4_address";
    pub const IPV4_GATEWAY: &str = "ipv4_gateway";
    pub const DNS_SERVERS: &str = "dns_servers";
    pub const DNS_SEARCH: &str = "dns_search";
    pub const EXPECTED_IP_CIDR: &str = "expected_ip_cidr";
    pub const IPV4_ADDRESSES: &str = "ipv4_addresses";
    pub const IPV6_ADDRESSES: &str = "ipv6_addresses";
    pub const VIF_UUID: &str = "vif_uuid";
}

/// `cloud_init` attribute names.
pub mod ci {
    pub const USER_DATA: &str = "user_data";
    pub const META_DATA: &str = "meta_data";
    pub const VENDOR_DATA: &str = "vendor_data";
    pub const NETWORK_CONFIG: &str = "network_config";
    pub const NETWORK_CONFIG_FORMAT: &str = "network_config_format";
    pub const INSTANCE_ID: &str = "instance_id";
    pub const REMOVE_AFTER_BOOT: &str = "remove_after_boot";
    pub const FLAVOR: &str = super::super::cloudbase::FLAVOR;
}

/// `disk` attribute names.
pub mod disk {
    pub const DEVICE: &str = "device";
    pub const SIZE: &str = "size";
    pub const SR: &str = "sr";
    pub const NAME_LABEL: &str = "name_label";
    pub const VDI_UUID: &str = "vdi_uuid";
    pub const CREATED: &str = "created";
}

/// `timeouts` attribute names.
pub mod to {
    pub const CREATE: &str = "create";
    pub const UPDATE: &str = "update";
    pub const DELETE: &str = "delete";
}

fn memory_attributes() -> Vec<Attribute> {
    vec![
        Attribute::required(mem::STATIC_MAX, Type::Number).description(
            "Static maximum in bytes: the most memory the VM can ever have while it runs. \
             Changing it needs the VM halted (see `restart_on_update`).",
        ),
        Attribute::optional_computed(mem::STATIC_MIN, Type::Number).description(
            "Static minimum in bytes. Defaults to the template's value. Changing it needs the \
             VM halted (see `restart_on_update`).",
        ),
        Attribute::optional_computed(mem::DYNAMIC_MIN, Type::Number).description(
            "Dynamic minimum in bytes: the least memory the balloon driver may leave the \
             guest. Defaults to `static_max` (fixed memory). Changed live on a running VM.",
        ),
        Attribute::optional_computed(mem::DYNAMIC_MAX, Type::Number).description(
            "Dynamic maximum in bytes: the memory target ceiling. Defaults to `static_max` \
             (fixed memory). Changed live on a running VM.",
        ),
    ]
}

fn network_interface_block() -> Block {
    Block::new()
        .description("One virtual network interface (VIF), in device order.")
        .attribute(Attribute::required(nic::NETWORK, Type::String).description(
            "The network: its UUID or its `name_label` (which must be unique in the pool). \
             Changing it replaces this interface (a new VIF), not the VM.",
        ))
        .attribute(
            Attribute::computed(nic::NETWORK_UUID, Type::String)
                .description("The UUID of the network the VIF is attached to."),
        )
        .attribute(
            Attribute::optional_computed(nic::DEVICE, Type::Number).description(
                "The VIF device number (the guest sees `eth<device>` or `enX<device>`). Defaults \
             to the position of the block (0 for the first). Changing it replaces the \
             interface.",
            ),
        )
        .attribute(
            Attribute::optional_computed(nic::MAC, Type::String).description(
                "The MAC address. When unset, the provider generates one before creating the VIF \
             (locally administered unicast, or the XenSource OUI `00:16:3e` with the provider \
             setting `mac_prefix = \"xensource\"`), makes sure no other VIF in the pool uses it, \
             and keeps it in state for the life of the interface. A value known only at apply \
             time (for example from `xenapi_mac_address`) is fine. Changing it replaces this \
             interface, not the VM.",
            ),
        )
        .attribute(Attribute::optional(nic::MTU, Type::Number).description(
            "MTU of the interface (68..65535). Unset: the network's MTU. Written to the VIF \
             (`other_config.mtu`) and to the rendered network configuration. Changing it \
             replaces the interface.",
        ))
        .attribute(
            Attribute::optional(nic::IPV4_ADDRESS, Type::String).description(
                "Static guest address in CIDR form (`10.0.0.5/24`), written to the config drive's \
             network configuration (matched by MAC). Unset: the guest uses DHCP on this \
             interface. Needs a `cloud_init` block; ignored by XAPI itself.",
            ),
        )
        .attribute(
            Attribute::optional(nic::IPV4_GATEWAY, Type::String)
                .description("Default gateway for `ipv4_address` (must be inside its subnet)."),
        )
        .attribute(
            Attribute::optional(nic::DNS_SERVERS, Type::list(Type::String)).description(
                "DNS servers (IPv4 or IPv6 addresses) for the guest's network configuration.",
            ),
        )
        .attribute(
            Attribute::optional(nic::DNS_SEARCH, Type::list(Type::String))
                .description("DNS search domains for the guest's network configuration."),
        )
        .attribute(
            Attribute::optional(nic::EXPECTED_IP_CIDR, Type::String).description(
                "When set, create and update (and power-on) wait until the guest agent reports an \
             IPv4 address inside this CIDR on this interface (for example `10.0.0.0/24`; \
             `0.0.0.0/0` accepts any address except link-local ones). Refresh never waits.",
            ),
        )
        .attribute(
            Attribute::computed(nic::IPV4_ADDRESSES, Type::list(Type::String))
                .description("IPv4 addresses the guest agent reported for this interface."),
        )
        .attribute(
            Attribute::computed(nic::IPV6_ADDRESSES, Type::list(Type::String))
                .description("IPv6 addresses the guest agent reported for this interface."),
        )
        .attribute(
            Attribute::computed(nic::VIF_UUID, Type::String).description("The UUID of the VIF."),
        )
}

fn disk_block() -> Block {
    Block::new()
        .description(
            "A disk entry. With `device` naming a disk the template brought (e.g. `0`), it \
             resizes that disk (grow only). Otherwise it adds a new disk, which is destroyed \
             with the VM. Template disks without an entry are kept as they are and not \
             tracked.",
        )
        .attribute(Attribute::optional_computed(disk::DEVICE, Type::String).description(
            "The VBD user device (`\"0\"`, `\"1\"`, ...). For a template disk, its device; for a \
             new disk, unset picks the first free device. Changing it replaces the disk entry.",
        ))
        .attribute(Attribute::required(disk::SIZE, Type::Number).description(
            "Size in bytes. Growing is done in place (the VM is restarted for it, see \
             `restart_on_update`); shrinking is refused at plan time.",
        ))
        .attribute(Attribute::optional(disk::SR, Type::String).description(
            "SR (UUID or unique name) for a new disk. Default: the VM's `sr`, else the pool's \
             default SR. Ignored for template disks.",
        ))
        .attribute(Attribute::optional(disk::NAME_LABEL, Type::String).description(
            "Name of a new disk's VDI. Default: `<vm name> disk <device>`.",
        ))
        .attribute(
            Attribute::computed(disk::VDI_UUID, Type::String).description("The UUID of the VDI."),
        )
        .attribute(Attribute::computed(disk::CREATED, Type::Bool).description(
            "True when the provider created this disk (it is destroyed with the VM); false for \
             a template disk.",
        ))
}

fn cloud_init_attributes() -> Vec<Attribute> {
    vec![
        Attribute::optional_computed(ci::USER_DATA, Type::String)
            .sensitive()
            .description(
                "The `user-data` file (`#cloud-config`, a script, MIME multipart...). Sensitive: \
                 never logged nor shown in plans. Changing it rebuilds the drive in place; the \
                 guest applies it only as a new instance (see `instance_id`). Leaving it unset \
                 on an existing VM keeps the drive's current user-data (so that the \
                 configuration `terraform plan -generate-config-out` writes after an import, \
                 where Terraform writes sensitive values as null, plans no change); set it to \
                 `\"\"` to write an empty one.",
            ),
        Attribute::optional(ci::META_DATA, Type::String).description(
            "Your own `meta-data` YAML, written verbatim. When it has no `instance-id`, the \
             provider appends one. Unset: the provider writes `instance-id` and \
             `local-hostname` (= `name_label`).",
        ),
        Attribute::optional(ci::VENDOR_DATA, Type::String)
            .description("The `vendor-data` file (no file when unset)."),
        Attribute::optional(ci::NETWORK_CONFIG, Type::String).description(
            "Your own `network-config` (v1 or v2 YAML), written verbatim. Unset: when any \
             `network_interface` has guest addressing, the provider renders one that matches \
             every interface by its MAC (DHCP for interfaces without `ipv4_address`); \
             otherwise no file is written.",
        ),
        Attribute::optional(ci::NETWORK_CONFIG_FORMAT, Type::String).description(
            "Format of the rendered network configuration: `\"v2\"` (default) or `\"v1\"` \
             (what cloudbase-init users usually pick).",
        ),
        Attribute::optional(ci::INSTANCE_ID, Type::String).description(
            "The `instance-id` in meta-data. Default: the VM UUID. cloud-init and \
             cloudbase-init run their per-instance steps (users, SSH host keys, runcmd, \
             network) again when it changes, so changing it re-provisions the guest in place \
             at its next boot; keeping it while changing other contents rebuilds the drive but \
             most changes are then not applied by the guest.",
        ),
        super::cloudbase::flavor_attribute(),
        Attribute::optional(ci::REMOVE_AFTER_BOOT, Type::Bool).description(
            "Detach and destroy the drive once the guest agent reports the VM up after its \
             first boot (waited for with XAPI events, never a fixed sleep). Default false.",
        ),
    ]
}

/// A `cloud_init` object value with every attribute of the schema present:
/// `fields` as given, the rest null.
pub fn cloud_init_value(fields: &[(&str, Value)]) -> Value {
    object_of(
        cloud_init_attributes().iter().map(|a| a.name.as_str()),
        fields,
    )
}

/// A `network_interface` element value with every attribute of the block
/// present: `fields` as given, the rest null.
pub fn network_interface_value(fields: &[(&str, Value)]) -> Value {
    let block = network_interface_block();
    object_of(block.attributes.iter().map(|a| a.name.as_str()), fields)
}

fn object_of<'a>(names: impl Iterator<Item = &'a str>, fields: &[(&str, Value)]) -> Value {
    let mut object: BTreeMap<String, Value> = names.map(|n| (n.to_owned(), Value::Null)).collect();
    for (name, value) in fields {
        object.insert((*name).to_owned(), value.clone());
    }
    Value::Object(object)
}

fn timeouts_attributes() -> Vec<Attribute> {
    vec![
        Attribute::optional(to::CREATE, Type::String).description(
            "Limit for create, including waits (Go duration, e.g. `\"30m\"`; default 30m).",
        ),
        Attribute::optional(to::UPDATE, Type::String)
            .description("Limit for update, including restarts and waits (default 30m)."),
        Attribute::optional(to::DELETE, Type::String)
            .description("Limit for delete, including the shutdown (default 10m)."),
    ]
}

/// The resource schema.
pub fn schema() -> Schema {
    let block = Block::new()
        .description(
            "A virtual machine created from a template: cloned (or fully copied), configured \
             completely while halted — memory limits, vCPUs, disks, VIFs with MACs the \
             provider chooses, a cloud-init/cloudbase-init config drive — and then booted once.\n\n\
             **Updates.** Name, description, tags, `other_config`, `xenstore_data`, affinity, \
             CD, the dynamic memory range, `vcpus` (up to `vcpus_max`), new disks, interface \
             replacements and config drive rebuilds are applied without a restart. Changes \
             XAPI allows only while the VM is halted (`memory.static_min`, \
             `memory.static_max`, `vcpus_max`, `cores_per_socket`, `boot_firmware`, \
             `secure_boot`, disk growth) shut the VM down cleanly (hard after \
             `shutdown_timeout`), apply, and start it again — only when `restart_on_update` \
             is true, and the plan then carries a warning naming the VM and the attributes. \
             With `restart_on_update = false` such a plan fails with an error naming them.\n\n\
             **Config drive.** With a `cloud_init` block the provider builds an ISO9660 \
             image (Joliet + Rock Ridge, label `cidata`) and attaches it as a disk, which both \
             cloud-init and cloudbase-init read. Changing its contents rebuilds the drive in \
             place. The `instance-id` defaults to the VM UUID: see `cloud_init.instance_id` \
             for what a change means to the guest.\n\n\
             **Ownership.** Every object the provider creates (VM, VIFs, disks, config drive) \
             carries `other_config[\"xenapi-terraform-owner\"] = \"terraform-provider-xenapi\"`; \
             the template, the SR and the network names used are recorded in the VM's \
             `other_config` (`xenapi-terraform-*` keys) so that an import recovers them.\n\n\
             **Import** by VM UUID. For a VM this provider created, the template and the \
             config drive contents (including guest addressing) are recovered too.",
        )
        .attribute(Attribute::computed(attr::ID, Type::String).description("The VM UUID."))
        .attribute(
            Attribute::required(attr::NAME_LABEL, Type::String)
                .description("The VM name (also the guest hostname in generated meta-data)."),
        )
        .attribute(
            Attribute::optional(attr::NAME_DESCRIPTION, Type::String)
                .description("The VM description. Unset means empty."),
        )
        .attribute(
            Attribute::required(attr::TEMPLATE, Type::String).description(
                "The template to create the VM from: its UUID or its `name_label`. A name must \
             match exactly one template (the error lists the candidates otherwise). Changing \
             it replaces the VM.",
            ),
        )
        .attribute(
            Attribute::computed(attr::TEMPLATE_UUID, Type::String)
                .description("The UUID of the template the VM was created from."),
        )
        .attribute(
            Attribute::optional(attr::CLONE_TYPE, Type::String).description(
                "`\"fast\"` (default): `VM.clone`, disks are storage-level clones of the \
             template's. `\"full\"`: `VM.copy` into `sr`, independent full copies. Only used at \
             creation.",
            ),
        )
        .attribute(Attribute::optional(attr::SR, Type::String).description(
            "SR (UUID or unique name) for the disks the template provisions, full copies, new \
             disks and the config drive. Default: the pool's default SR. Only used when \
             creating objects.",
        ))
        .attribute(
            Attribute::optional_computed(attr::VCPUS, Type::Number).description(
                "vCPUs at startup. Default: the template's. Raised or lowered live (up to \
             `vcpus_max`) on a running VM.",
            ),
        )
        .attribute(
            Attribute::optional_computed(attr::VCPUS_MAX, Type::Number).description(
                "Maximum vCPUs. Default: `vcpus` when set, else the template's. Changing it needs \
             the VM halted (see `restart_on_update`).",
            ),
        )
        .attribute(
            Attribute::optional_computed(attr::CORES_PER_SOCKET, Type::Number).description(
                "Cores per socket (`platform:cores-per-socket`); must divide `vcpus_max`. Default: \
             the template's (null when it sets none). Changing it needs the VM halted.",
            ),
        )
        .attribute(
            Attribute::nested_required(attr::MEMORY, Nesting::Single, memory_attributes())
                .description(
                    "The four memory limits in bytes, `static_min <= dynamic_min <= dynamic_max \
                     <= static_max` (checked at plan time). Only `static_max` is required; with \
                     only it, the VM has fixed memory. All four are set before the first boot.",
                ),
        )
        .attribute(
            Attribute::nested_optional(attr::CLOUD_INIT, Nesting::Single, cloud_init_attributes())
                .description(
                    "A NoCloud config drive (label `cidata`) for cloud-init or cloudbase-init. \
                     The drive is marked as the provider's (`other_config`) and rebuilt in place \
                     when anything on it changes.",
                ),
        )
        .attribute(Attribute::optional(attr::CDROM, Type::String).description(
            "An ISO VDI (UUID or unique name) to insert in the VM's CD drive, or `\"\"` for an \
             empty drive. A drive is created when the VM has none. Unset: the CD drive is not \
             managed.",
        ))
        .attribute(
            Attribute::optional_computed(attr::POWER_STATE, Type::String).description(
                "`\"running\"` (default) or `\"halted\"`. Refresh reports the actual state \
             (`paused` and `suspended` show as drift).",
            ),
        )
        .attribute(
            Attribute::optional(attr::SHUTDOWN_TIMEOUT, Type::Number).description(
                "Seconds to wait for a clean shutdown before a hard shutdown (default 120). Used \
             for restarts, `power_state = \"halted\"` and delete.",
            ),
        )
        .attribute(
            Attribute::optional(attr::RESTART_ON_UPDATE, Type::Bool).description(
                "Whether an update may restart a running VM to apply changes XAPI allows only \
             while halted (default true). The plan warns when it will; with false the plan \
             fails instead, naming the attributes.",
            ),
        )
        .attribute(
            Attribute::optional(attr::WAIT_FOR_GUEST, Type::Bool).description(
                "After starting the VM, wait until its guest agent reports (default false). \
             Per-interface `expected_ip_cidr` waits for addresses as well.",
            ),
        )
        .attribute(
            Attribute::optional(attr::AFFINITY_HOST, Type::String)
                .description("The host (UUID or name) the VM prefers to start on."),
        )
        .attribute(
            Attribute::optional(attr::TAGS, Type::set(Type::String))
                .description("The VM's tags. Unset: tags are not managed."),
        )
        .attribute(
            Attribute::optional(attr::OTHER_CONFIG, Type::map(Type::String)).description(
                "Keys to set in the VM's `other_config`. Only the keys listed here are \
                 tracked; other keys (XAPI's, other tools') are left alone.",
            ),
        )
        .attribute(
            Attribute::optional(attr::XENSTORE_DATA, Type::map(Type::String)).description(
                "Keys to set in the VM's `xenstore_data`, visible to the guest. Every key must \
                 start with `vm-data/` (XAPI drops others). Only the keys listed are tracked.",
            ),
        )
        .attribute(
            Attribute::optional_computed(attr::BOOT_FIRMWARE, Type::String).description(
                "`\"bios\"` or `\"uefi\"` (`HVM_boot_params:firmware`). Default: the template's. \
             Changing it needs the VM halted.",
            ),
        )
        .attribute(
            Attribute::optional_computed(attr::SECURE_BOOT, Type::Bool).description(
                "UEFI Secure Boot (`platform:secureboot`). Default: the template's. Needs \
             `boot_firmware = \"uefi\"`. Changing it needs the VM halted.",
            ),
        )
        .attribute(
            Attribute::optional_computed(attr::BOOT_ORDER, Type::String).description(
                "Boot order (`HVM_boot_params:order`), letters `c` (disk), `d` (CD), `n` \
             (network), e.g. `\"cdn\"`. Default: the template's. Takes effect at the next boot.",
            ),
        )
        .attribute(super::sysprep::attribute())
        .attribute(
            Attribute::nested_optional(attr::TIMEOUTS, Nesting::Single, timeouts_attributes())
                .description("Time limits of the operations."),
        )
        .block(NestedBlock::list(
            attr::NETWORK_INTERFACE,
            network_interface_block(),
        ))
        .block(NestedBlock::list(attr::DISK, disk_block()));
    Schema::new(0, block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_valid_and_documented() {
        let s = schema();
        s.block.validate().unwrap();
        fn check(block: &Block) {
            assert!(!block.description.is_empty());
            for a in &block.attributes {
                assert!(!a.description.is_empty(), "{} has no description", a.name);
                if let schema::AttributeType::Nested(n) = &a.ty {
                    for inner in &n.attributes {
                        assert!(!inner.description.is_empty(), "{}.{}", a.name, inner.name);
                    }
                }
            }
            for b in &block.blocks {
                check(&b.block);
            }
        }
        check(&s.block);
    }

    #[test]
    fn user_data_is_sensitive() {
        let s = schema();
        let ci = s.block.get_attribute(attr::CLOUD_INIT).unwrap();
        let schema::AttributeType::Nested(n) = &ci.ty else {
            panic!("cloud_init is nested")
        };
        let ud = n
            .attributes
            .iter()
            .find(|a| a.name == ci::USER_DATA)
            .unwrap();
        assert!(ud.sensitive);
    }
}
