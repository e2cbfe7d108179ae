//! The cloudbase-init flavour of the config drive (Windows guests).
//!
//! `cloud_init.flavor = "cloudbase-init"` says the guest reads the drive with
//! cloudbase-init's `NoCloudConfigDriveService` (reference `guest-config.md`
//! §2): the same ISO9660 `cidata` drive on a Disk VBD (cloudbase-init finds a
//! raw ISO on a disk), and the network configuration the provider renders
//! already carries every interface's MAC, `a.b.c.d/prefix` addresses, the
//! gateway and DNS in the shape cloudbase-init applies. What this module adds
//! is plan-time errors for user-written configurations cloudbase-init cannot
//! apply (a physical interface without a MAC, v2 bridges, v1 bridge/route
//! entries, `dhcp4` subnets) and warnings for inputs it ignores.
//!
//! The flavour is explicit rather than guessed from the template: a
//! template's OS is known only after a pool lookup, and plan-time validation
//! has no IO.

use config_drive::{Flavor, ValidationError};
use schema::{Attribute, AttributePath, Diagnostics, Type, Value};

use super::schema::{attr, ci};
use super::values::{Known, at, opt_str, str_at};

/// The attribute inside `cloud_init`.
pub const FLAVOR: &str = "flavor";
/// `flavor` for Linux/BSD guests (the default).
pub const CLOUD_INIT: &str = "cloud-init";
/// `flavor` for Windows guests with cloudbase-init.
pub const CLOUDBASE_INIT: &str = "cloudbase-init";

/// The `cloud_init.flavor` attribute.
pub fn flavor_attribute() -> Attribute {
    Attribute::optional(FLAVOR, Type::String).description(
        "Which agent reads the drive: `\"cloud-init\"` (default; Linux, BSD) or \
         `\"cloudbase-init\"` (Windows with cloudbase-init's NoCloud service). With \
         `\"cloudbase-init\"` the plan fails for a `network_config` cloudbase-init cannot \
         apply (a physical interface without a MAC address, v2 `bridges`, v1 `bridge` or \
         global `route` entries, `dhcp4` subnets) and warns about inputs it ignores \
         (`vendor_data`). The drive itself is the same: cloudbase-init reads the ISO from the \
         raw disk, and the network configuration the provider renders matches every \
         interface by its MAC.",
    )
}

/// The flavour of a `cloud_init` object (default cloud-init; an invalid or
/// unknown value counts as cloud-init, validation reports it).
pub fn flavor(cloud_init: &Value) -> Flavor {
    match opt_str(cloud_init, FLAVOR).as_deref() {
        Some(CLOUDBASE_INIT) => Flavor::Cloudbase,
        _ => Flavor::CloudInit,
    }
}

fn ci_path(name: &str) -> AttributePath {
    AttributePath::new(attr::CLOUD_INIT).attr(name)
}

/// The problems cloudbase-init has with a user network-config beyond those
/// every agent has (which the config drive validation reports already).
pub fn cloudbase_only_problems(text: &str) -> Vec<ValidationError> {
    let cloudbase = config_drive::validate_network_config_text(text, Flavor::Cloudbase)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    let common = config_drive::validate_network_config_text(text, Flavor::CloudInit)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    cloudbase
        .into_iter()
        .filter(|e| !common.contains(e))
        .collect()
}

/// Plan-time checks of `cloud_init.flavor` and of what cloudbase-init cannot
/// apply. No IO; unknown values are not checked.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let c = at(config, attr::CLOUD_INIT);
    if c.is_null() || c.is_unknown() {
        return;
    }
    match str_at(c, FLAVOR) {
        Known::Value(f) if f != CLOUD_INIT && f != CLOUDBASE_INIT => {
            diags.error_at(
                ci_path(FLAVOR),
                "Invalid cloud_init flavor",
                format!(
                    "cloud_init.flavor must be \"cloud-init\" or \"cloudbase-init\", got {f:?}."
                ),
            );
            return;
        }
        Known::Value(_) => {}
        _ => return,
    }
    if flavor(c) != Flavor::Cloudbase {
        return;
    }
    if let Some(text) = opt_str(c, ci::NETWORK_CONFIG) {
        for e in cloudbase_only_problems(&text) {
            diags.error_at(
                ci_path(ci::NETWORK_CONFIG),
                "network_config not applicable by cloudbase-init",
                format!(
                    "{e}. cloudbase-init (flavor = \"cloudbase-init\") would skip or fail on \
                     it; fix the network configuration, or leave network_config unset to let \
                     the provider render one from the network_interface blocks (every \
                     interface matched by its MAC)."
                ),
            );
        }
    }
    if !at(c, ci::VENDOR_DATA).is_null() {
        diags.warning_at(
            ci_path(ci::VENDOR_DATA),
            "vendor_data is ignored by cloudbase-init",
            "cloudbase-init's NoCloud service reads only meta-data, user-data and \
             network-config; the vendor-data file is written to the drive but not applied.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ci_fields: &[(&str, Value)]) -> Value {
        Value::object([(
            attr::CLOUD_INIT,
            crate::resources::vm::schema::cloud_init_value(ci_fields),
        )])
    }

    fn diags(c: &Value) -> Vec<(String, String, String, bool)> {
        let mut d = Diagnostics::new();
        validate(c, &mut d);
        d.iter()
            .map(|x| {
                (
                    x.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    x.summary.clone(),
                    x.detail.clone(),
                    x.severity == schema::Severity::Error,
                )
            })
            .collect()
    }

    const V2_NO_MAC: &str = "version: 2\nethernets:\n  lan:\n    addresses: [10.0.0.5/24]\n";
    const V2_BRIDGE: &str = "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"02:00:00:00:00:01\"}\nbridges:\n  br0:\n    interfaces: [lan]\n";
    const V1_NO_MAC: &str = "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n      - type: static\n        address: 10.0.0.5/24\n";
    const V1_OK: &str = "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    mac_address: \"02:00:00:00:00:01\"\n    subnets:\n      - type: static\n        address: 10.0.0.5/24\n        gateway: 10.0.0.1\n";

    #[test]
    fn flavor_defaults_to_cloud_init() {
        assert_eq!(
            flavor(at(&config(&[]), attr::CLOUD_INIT)),
            Flavor::CloudInit
        );
        let c = config(&[(FLAVOR, Value::from(CLOUDBASE_INIT))]);
        assert_eq!(flavor(at(&c, attr::CLOUD_INIT)), Flavor::Cloudbase);
    }

    #[test]
    fn invalid_flavor_is_an_error() {
        let d = diags(&config(&[(FLAVOR, Value::from("windows"))]));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "cloud_init.flavor");
        assert!(d[0].3);
    }

    #[test]
    fn cloudbase_rejects_what_it_cannot_apply() {
        for text in [V2_NO_MAC, V2_BRIDGE, V1_NO_MAC] {
            let d = diags(&config(&[
                (FLAVOR, Value::from(CLOUDBASE_INIT)),
                (ci::NETWORK_CONFIG, Value::from(text)),
            ]));
            assert!(!d.is_empty(), "{text}");
            assert!(d.iter().all(|x| x.0 == "cloud_init.network_config" && x.3));
            // The same text is fine for cloud-init (nothing reported here).
            let d = diags(&config(&[(ci::NETWORK_CONFIG, Value::from(text))]));
            assert!(d.is_empty(), "{d:?}");
        }
        let d = diags(&config(&[
            (FLAVOR, Value::from(CLOUDBASE_INIT)),
            (ci::NETWORK_CONFIG, Value::from(V2_NO_MAC)),
        ]));
        assert!(d[0].2.contains("MAC"), "{}", d[0].2);
        let d = diags(&config(&[
            (FLAVOR, Value::from(CLOUDBASE_INIT)),
            (ci::NETWORK_CONFIG, Value::from(V1_OK)),
        ]));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn common_problems_are_left_to_the_config_drive_validation() {
        // Invalid YAML is reported by config_drive::validate, not twice.
        assert!(cloudbase_only_problems("version: [").is_empty());
        assert!(!cloudbase_only_problems(V2_NO_MAC).is_empty());
    }

    #[test]
    fn vendor_data_warns() {
        let d = diags(&config(&[
            (FLAVOR, Value::from(CLOUDBASE_INIT)),
            (ci::VENDOR_DATA, Value::from("#cloud-config\n")),
        ]));
        assert_eq!(d.len(), 1);
        assert!(!d[0].3);
        assert_eq!(d[0].0, "cloud_init.vendor_data");
    }

    #[test]
    fn unknowns_are_not_checked() {
        assert!(diags(&config(&[(FLAVOR, Value::unknown())])).is_empty());
        assert!(
            diags(&config(&[
                (FLAVOR, Value::from(CLOUDBASE_INIT)),
                (ci::NETWORK_CONFIG, Value::unknown()),
            ]))
            .is_empty()
        );
        assert!(diags(&Value::object([(attr::CLOUD_INIT, Value::unknown())])).is_empty());
    }

    #[test]
    fn attribute_is_documented() {
        let a = flavor_attribute();
        assert!(!a.description.is_empty());
        assert!(a.is_optional());
    }
}
