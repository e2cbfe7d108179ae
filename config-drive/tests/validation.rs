//! Plan-time validation: typed errors naming the offending field.

use config_drive::{
    ConfigDrive, Error, Field, Flavor, Interface, MetaData, NetworkConfig, NetworkConfigFormat,
    Problem, ValidationError, build_iso, normalize_mac, parse_ipv4_cidr, validate_interfaces,
    validate_meta_data_text, validate_network_config_text,
};

fn iface(mac: &str) -> Interface {
    Interface {
        mac: mac.into(),
        ..Interface::default()
    }
}

fn fields(errors: &[ValidationError]) -> Vec<String> {
    errors.iter().map(|e| e.field.to_string()).collect()
}

#[test]
fn malformed_macs() {
    for bad in [
        "",
        "02:00:00:00:00",
        "02-00-00-00-00-01",
        "02:00:00:00:00:0g",
        "020:00:00:00:00:01",
        "01:00:5e:00:00:01", // multicast
        "00:00:00:00:00:00",
        "02:00:00:00:00:01:02",
    ] {
        assert!(
            matches!(normalize_mac(bad), Err(Problem::InvalidMac { .. })),
            "{bad:?} accepted"
        );
    }
    assert_eq!(
        normalize_mac("0A:1b:2C:3d:4E:5f").unwrap(),
        "0a:1b:2c:3d:4e:5f"
    );
    assert_eq!(
        normalize_mac("00:16:3e:00:00:01").unwrap(),
        "00:16:3e:00:00:01"
    );
}

#[test]
fn cidrs() {
    for good in [
        "10.0.0.5/24",
        "192.0.2.1/32",
        "192.0.2.0/31",
        "100.64.0.1/10",
    ] {
        assert!(parse_ipv4_cidr(good).is_ok(), "{good}");
    }
    for bad in [
        "10.0.0.5",
        "10.0.0.5/",
        "10.0.0.5/33",
        "10.0.0.5/0",
        "10.0.0.5/255.255.255.0",
        "10.0.0.5/+8",
        "10.0.0/24",
        "10.0.0.256/24",
        "10.0.0.0/24",   // network address
        "10.0.0.255/24", // broadcast address
        "0.0.0.0/8",
        "127.0.0.1/8",
        "224.0.0.1/4",
        "2001:db8::1/64",
        " 10.0.0.5/24",
    ] {
        assert!(
            matches!(parse_ipv4_cidr(bad), Err(Problem::InvalidCidr { .. })),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn interface_errors_name_the_field() {
    let ifaces = vec![
        Interface {
            mac: "02:00:00:00:00:01".into(),
            ipv4_address: Some("10.0.0.5/24".into()),
            ipv4_gateway: Some("10.0.1.1".into()), // outside the subnet
            dns_servers: vec!["1.1.1.1".into(), "dns.example".into()],
            dns_search: vec!["ok.example".into(), "bad..example".into()],
            mtu: Some(20),
            ..Interface::default()
        },
        Interface {
            mac: "02:00:00:00:00:01".into(), // duplicate
            device: 1,
            ipv4_gateway: Some("10.0.0.1".into()), // gateway without address
            ..Interface::default()
        },
        Interface {
            mac: "zz".into(),
            device: 2,
            name: Some("a-very-long-interface-name".into()),
            ipv4_address: Some("10.0.0.0/24".into()),
            ..Interface::default()
        },
        Interface {
            mac: "02:00:00:00:00:04".into(),
            device: 0, // eth0 again
            ..Interface::default()
        },
    ];
    let errors = validate_interfaces(&ifaces).unwrap_err().0;
    assert_eq!(
        fields(&errors),
        [
            "network_interface[0].ipv4_gateway",
            "network_interface[0].dns_servers[1]",
            "network_interface[0].dns_search[1]",
            "network_interface[0].mtu",
            "network_interface[1].mac",
            "network_interface[1].ipv4_gateway",
            "network_interface[2].mac",
            "network_interface[2].name",
            "network_interface[2].ipv4_address",
            "network_interface[3].device",
        ]
    );
    assert!(matches!(errors[0].problem, Problem::InvalidGateway { .. }));
    assert_eq!(
        errors[4].problem,
        Problem::DuplicateMac {
            value: "02:00:00:00:00:01".into(),
            other: 0
        }
    );
    assert!(matches!(
        errors[5].problem,
        Problem::GatewayWithoutAddress { .. }
    ));
    assert!(matches!(
        errors[9].problem,
        Problem::DuplicateName { other: 0, .. }
    ));
    let msg = errors[0].to_string();
    assert!(
        msg.starts_with("network_interface[0].ipv4_gateway: invalid IPv4 gateway \"10.0.1.1\""),
        "{msg}"
    );
    assert!(msg.contains("10.0.0.0/24"), "{msg}");
}

#[test]
fn gateway_rules() {
    let with = |addr: &str, gw: &str| {
        validate_interfaces(&[Interface {
            ipv4_address: Some(addr.into()),
            ipv4_gateway: Some(gw.into()),
            ..iface("02:00:00:00:00:01")
        }])
    };
    assert!(with("10.0.0.5/24", "10.0.0.1").is_ok());
    assert!(with("192.0.2.10/32", "192.0.2.1").is_ok()); // on-link
    assert!(with("10.0.0.5/24", "10.0.0.5").is_err()); // own address
    assert!(with("10.0.0.5/24", "10.0.0").is_err());
    assert!(with("10.0.0.5/24", "255.255.255.255").is_err());
    // An invalid address still gets its gateway checked on its own.
    let errs = with("10.0.0.5", "nope").unwrap_err().0;
    assert_eq!(
        fields(&errs),
        [
            "network_interface[0].ipv4_address",
            "network_interface[0].ipv4_gateway"
        ]
    );
}

#[test]
fn build_refuses_invalid_input_with_all_errors() {
    let drive = ConfigDrive {
        meta_data: MetaData {
            instance_id: " ".into(),
            ..MetaData::default()
        },
        network_config: NetworkConfig::Rendered {
            format: NetworkConfigFormat::V2,
            interfaces: vec![iface("nope")],
        },
        ..ConfigDrive::default()
    };
    let err = build_iso(&drive).unwrap_err();
    let errors = err.validation_errors().unwrap();
    assert_eq!(
        fields(errors),
        ["cloud_init.instance_id", "network_interface[0].mac"]
    );
    assert!(matches!(err, Error::Invalid(_)));
    assert_eq!(drive.validate(Flavor::CloudInit).unwrap_err().0, errors);
}

#[test]
fn meta_data_text_must_be_a_mapping() {
    assert!(validate_meta_data_text("instance-id: a\n").is_ok());
    assert!(validate_meta_data_text("").is_ok());
    let e = validate_meta_data_text("- a\n- b\n").unwrap_err();
    assert_eq!(e.field, Field::MetaData);
    assert!(matches!(e.problem, Problem::WrongType { .. }));
    let e = validate_meta_data_text("a: [").unwrap_err();
    assert!(matches!(e.problem, Problem::InvalidYaml { .. }));
}

const V2_NO_MAC: &str = "network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
    lan:
      match:
        macaddress: \"02:00:00:00:00:01\"
      addresses: [10.0.0.5/24]
";

const V2_BRIDGE: &str = "version: 2
ethernets:
  nic:
    match: {macaddress: \"02:00:00:00:00:01\"}
bridges:
  br0:
    interfaces: [nic]
    addresses: [10.0.0.5/24]
";

const V1_NO_MAC: &str = "version: 1
config:
  - type: physical
    name: eth0
    subnets: [{type: dhcp}]
  - type: physical
    name: eth1
    mac_address: \"02:00:00:00:00:02\"
    subnets: [{type: static, address: 10.0.0.5/24, gateway: 10.0.0.1}]
  - type: nameserver
    address: [1.1.1.1]
";

#[test]
fn cloudbase_rejects_physical_links_without_mac() {
    assert!(validate_network_config_text(V2_NO_MAC, Flavor::CloudInit).is_ok());
    let errs = validate_network_config_text(V2_NO_MAC, Flavor::Cloudbase)
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].field,
        Field::network_config("network.ethernets.eth0")
    );
    assert!(matches!(&errs[0].problem, Problem::MissingMac { name, .. } if name == "eth0"));
    assert!(errs[0].to_string().contains("cloudbase-init"));

    assert!(validate_network_config_text(V1_NO_MAC, Flavor::CloudInit).is_ok());
    let errs = validate_network_config_text(V1_NO_MAC, Flavor::Cloudbase)
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, Field::network_config("config[0]"));
    assert!(matches!(errs[0].problem, Problem::MissingMac { .. }));
}

#[test]
fn cloudbase_rejects_v2_bridges() {
    assert!(validate_network_config_text(V2_BRIDGE, Flavor::CloudInit).is_ok());
    let errs = validate_network_config_text(V2_BRIDGE, Flavor::Cloudbase)
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, Field::network_config("bridges"));
    assert!(matches!(
        errs[0].problem,
        Problem::UnsupportedByCloudbase { .. }
    ));
}

#[test]
fn cloudbase_rejects_other_unappliable_v1() {
    let text = "version: 1
config:
  - type: bridge
    name: br0
    bridge_interfaces: [eth0]
  - type: route
    destination: 10.0.0.0/8
    gateway: 10.0.0.1
  - type: physical
    name: eth0
    mac_address: \"02:00:00:00:00:01\"
    subnets: [{type: dhcp4}]
";
    let errs = validate_network_config_text(text, Flavor::Cloudbase)
        .unwrap_err()
        .0;
    assert_eq!(
        fields(&errs),
        [
            "cloud_init.network_config (at `config[0]`)",
            "cloud_init.network_config (at `config[1]`)",
            "cloud_init.network_config (at `config[2].subnets[0]`)",
        ]
    );
}

#[test]
fn network_config_text_general_errors() {
    let cases: &[(&str, &str)] = &[
        ("version: 3\n", "version"),
        ("ethernets: {}\n", "version"),
        ("- a\n", ""),
        ("version: [", ""),
        // Netmask suffix: cloudbase-init reads it as a prefix length.
        (
            "version: 2\nethernets:\n  e:\n    match: {macaddress: \"02:00:00:00:00:01\"}\n    addresses: [10.0.0.5/255.255.255.0]\n",
            "ethernets.e.addresses[0]",
        ),
        // A malformed MAC in a match.
        (
            "version: 2\nethernets:\n  e:\n    match: {macaddress: 02:00:00:00:00:0x}\n",
            "ethernets.e.match.macaddress",
        ),
        (
            "version: 1\nconfig:\n  - type: wormhole\n",
            "config[0].type",
        ),
    ];
    for (text, location) in cases {
        for flavor in [Flavor::CloudInit, Flavor::Cloudbase] {
            let errs = validate_network_config_text(text, flavor).unwrap_err().0;
            assert_eq!(
                errs[0].field,
                Field::network_config(*location),
                "{text}: {errs:?}"
            );
        }
    }
}

#[test]
fn rendered_config_passes_the_cloudbase_checks() {
    let ifaces = vec![
        Interface {
            ipv4_address: Some("10.0.0.5/24".into()),
            ipv4_gateway: Some("10.0.0.1".into()),
            dns_servers: vec!["10.0.0.53".into()],
            ..iface("02:00:00:00:00:01")
        },
        Interface {
            device: 1,
            dns_servers: vec!["1.1.1.1".into()],
            ..iface("02:00:00:00:00:02")
        },
    ];
    for format in [NetworkConfigFormat::V1, NetworkConfigFormat::V2] {
        let text = config_drive::render_network_config(format, &ifaces).unwrap();
        validate_network_config_text(&text, Flavor::Cloudbase).unwrap();
        validate_network_config_text(&text, Flavor::CloudInit).unwrap();
    }
}
