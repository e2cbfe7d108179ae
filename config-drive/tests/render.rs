//! Rendering of network-config and meta-data: exact YAML for v1 and v2 fixtures, MAC
//! lower-casing, DHCP vs static, DNS placement, quoting, recovery for import.

use config_drive::{
    APPENDED_MARKER, Interface, MetaData, NetworkConfigFormat, recover_interfaces,
    render_network_config,
};

fn fixture() -> Vec<Interface> {
    vec![
        Interface {
            mac: "12:34:56:AB:CD:EF".into(),
            device: 0,
            ipv4_address: Some("10.20.30.40/24".into()),
            ipv4_gateway: Some("10.20.30.1".into()),
            dns_servers: vec!["10.20.30.53".into(), "2001:db8::53".into()],
            dns_search: vec!["lab.example.net".into()],
            mtu: Some(9000),
            ..Interface::default()
        },
        Interface {
            mac: "02:00:00:00:00:02".into(),
            device: 1,
            dns_servers: vec!["9.9.9.9".into()],
            dns_search: vec!["corp.example".into()],
            ..Interface::default()
        },
        Interface {
            mac: "06:00:00:00:00:03".into(),
            device: 2,
            name: Some("storage".into()),
            ipv4_address: Some("192.0.2.10/32".into()),
            ipv4_gateway: Some("192.0.2.1".into()),
            ..Interface::default()
        },
    ]
}

const V1: &str = r#"version: 1
config:
  - type: physical
    name: eth0
    mac_address: "12:34:56:ab:cd:ef"
    mtu: 9000
    subnets:
      - type: static
        address: "10.20.30.40/24"
        gateway: "10.20.30.1"
        dns_nameservers:
          - "10.20.30.53"
          - "2001:db8::53"
        dns_search:
          - lab.example.net
  - type: physical
    name: eth1
    mac_address: "02:00:00:00:00:02"
    subnets:
      - type: dhcp
  - type: physical
    name: storage
    mac_address: "06:00:00:00:00:03"
    subnets:
      - type: static
        address: "192.0.2.10/32"
        gateway: "192.0.2.1"
  - type: nameserver
    address:
      - "9.9.9.9"
    search:
      - lab.example.net
      - corp.example
"#;

const V2: &str = r#"version: 2
ethernets:
  eth0:
    match:
      macaddress: "12:34:56:ab:cd:ef"
    set-name: eth0
    mtu: 9000
    dhcp4: false
    addresses:
      - "10.20.30.40/24"
    routes:
      - to: default
        via: "10.20.30.1"
    nameservers:
      addresses:
        - "10.20.30.53"
        - "2001:db8::53"
      search:
        - lab.example.net
  eth1:
    match:
      macaddress: "02:00:00:00:00:02"
    set-name: eth1
    dhcp4: true
    nameservers:
      addresses:
        - "9.9.9.9"
      search:
        - corp.example
  storage:
    match:
      macaddress: "06:00:00:00:00:03"
    set-name: storage
    dhcp4: false
    addresses:
      - "192.0.2.10/32"
    routes:
      - to: default
        via: "192.0.2.1"
        on-link: true
"#;

#[test]
fn v1_fixture_exact() {
    assert_eq!(
        render_network_config(NetworkConfigFormat::V1, &fixture()).unwrap(),
        V1
    );
}

#[test]
fn v2_fixture_exact() {
    assert_eq!(
        render_network_config(NetworkConfigFormat::V2, &fixture()).unwrap(),
        V2
    );
}

#[test]
fn rendered_yaml_means_what_was_intended() {
    // All-decimal MAC: would be a base-60 integer if unquoted under YAML 1.1.
    let v2: serde_norway::Value = serde_norway::from_str(V2).unwrap();
    let eth0 = &v2["ethernets"]["eth0"];
    assert_eq!(
        eth0["match"]["macaddress"].as_str(),
        Some("12:34:56:ab:cd:ef")
    );
    assert_eq!(eth0["addresses"][0].as_str(), Some("10.20.30.40/24"));
    assert_eq!(eth0["dhcp4"].as_bool(), Some(false));
    assert_eq!(eth0["mtu"].as_u64(), Some(9000));
    assert_eq!(v2["ethernets"]["eth1"]["dhcp4"].as_bool(), Some(true));
    let v1: serde_norway::Value = serde_norway::from_str(V1).unwrap();
    assert_eq!(
        v1["config"][0]["mac_address"].as_str(),
        Some("12:34:56:ab:cd:ef")
    );
    assert_eq!(v1["config"][1]["subnets"][0]["type"].as_str(), Some("dhcp"));
    assert_eq!(v1["config"][3]["type"].as_str(), Some("nameserver"));
    // Every quoted-by-necessity value carries quotes in the text.
    for text in [V1, V2] {
        assert!(text.contains("\"12:34:56:ab:cd:ef\""));
        assert!(!text.contains("AB:CD:EF"));
    }
}

#[test]
fn mac_is_lowercased_and_dhcp_when_no_address() {
    let ifaces = vec![Interface {
        mac: "0A:BB:CC:DD:EE:FF".into(),
        device: 3,
        ..Interface::default()
    }];
    let v2 = render_network_config(NetworkConfigFormat::V2, &ifaces).unwrap();
    assert_eq!(
        v2,
        "version: 2\nethernets:\n  eth3:\n    match:\n      macaddress: \"0a:bb:cc:dd:ee:ff\"\n    set-name: eth3\n    dhcp4: true\n"
    );
    let v1 = render_network_config(NetworkConfigFormat::V1, &ifaces).unwrap();
    assert_eq!(
        v1,
        "version: 1\nconfig:\n  - type: physical\n    name: eth3\n    mac_address: \"0a:bb:cc:dd:ee:ff\"\n    subnets:\n      - type: dhcp\n"
    );
}

#[test]
fn static_without_gateway_or_dns_has_neither() {
    let ifaces = vec![Interface {
        mac: "02:00:00:00:00:01".into(),
        ipv4_address: Some("172.16.0.9/16".into()),
        ..Interface::default()
    }];
    let v2 = render_network_config(NetworkConfigFormat::V2, &ifaces).unwrap();
    assert!(!v2.contains("routes"), "{v2}");
    assert!(!v2.contains("nameservers"), "{v2}");
    let v1 = render_network_config(NetworkConfigFormat::V1, &ifaces).unwrap();
    assert!(
        !v1.contains("gateway") && !v1.contains("nameserver"),
        "{v1}"
    );
}

#[test]
fn v1_global_nameserver_only_when_needed() {
    // Static interface with servers but no search: DNS on the subnet, no global entry.
    let ifaces = vec![Interface {
        mac: "02:00:00:00:00:01".into(),
        ipv4_address: Some("10.0.0.2/24".into()),
        dns_servers: vec!["10.0.0.53".into()],
        ..Interface::default()
    }];
    let v1 = render_network_config(NetworkConfigFormat::V1, &ifaces).unwrap();
    assert!(v1.contains("dns_nameservers"), "{v1}");
    assert!(!v1.contains("type: nameserver"), "{v1}");
    // Two DHCP interfaces sharing a server: one global entry, duplicates removed.
    let ifaces = vec![
        Interface {
            mac: "02:00:00:00:00:01".into(),
            dns_servers: vec!["1.1.1.1".into()],
            ..Interface::default()
        },
        Interface {
            mac: "02:00:00:00:00:02".into(),
            device: 1,
            dns_servers: vec!["1.1.1.1".into(), "8.8.8.8".into()],
            ..Interface::default()
        },
    ];
    let v1 = render_network_config(NetworkConfigFormat::V1, &ifaces).unwrap();
    assert!(
        v1.ends_with(
            "  - type: nameserver\n    address:\n      - \"1.1.1.1\"\n      - \"8.8.8.8\"\n"
        ),
        "{v1}"
    );
}

#[test]
fn yaml11_words_are_quoted() {
    let ifaces = vec![Interface {
        mac: "02:00:00:00:00:01".into(),
        name: Some("on".into()),
        dns_search: vec!["yes".into()],
        ..Interface::default()
    }];
    let v2 = render_network_config(NetworkConfigFormat::V2, &ifaces).unwrap();
    assert!(v2.contains("  \"on\":\n"), "{v2}");
    assert!(v2.contains("set-name: \"on\""), "{v2}");
    assert!(v2.contains("- \"yes\""), "{v2}");
}

#[test]
fn recover_interfaces_round_trips() {
    for format in [NetworkConfigFormat::V1, NetworkConfigFormat::V2] {
        let text = render_network_config(format, &fixture()).unwrap();
        let (f, ifaces) = recover_interfaces(&text).unwrap();
        assert_eq!(f, format);
        let mut want = fixture();
        want[0].mac = want[0].mac.to_lowercase();
        // v1 keeps DHCP DNS globally; with one DHCP interface recovery is exact.
        assert_eq!(ifaces, want);
    }
    // User-written text is not mistaken for ours.
    assert!(recover_interfaces("version: 2\nethernets: {}\n# mine\n").is_none());
    assert!(recover_interfaces("network: {version: 2}").is_none());
    assert!(recover_interfaces(": : :").is_none());
}

#[test]
fn meta_data_generated() {
    let m = MetaData {
        instance_id: "6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11".into(),
        local_hostname: Some("web-1".into()),
        user_text: None,
    };
    assert_eq!(
        m.to_text().unwrap(),
        "instance-id: \"6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11\"\nlocal-hostname: web-1\n"
    );
    assert_eq!(MetaData::from_drive_text(&m.to_text().unwrap()), m);
    let no_host = MetaData {
        local_hostname: None,
        ..m.clone()
    };
    assert_eq!(
        no_host.to_text().unwrap(),
        "instance-id: \"6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11\"\n"
    );
}

#[test]
fn meta_data_user_text_with_instance_id_is_verbatim() {
    let text =
        "# mine\ninstance-id: custom-1\nlocal-hostname: h\npublic-keys: [\"ssh-ed25519 AAAA\"]\n";
    let m = MetaData {
        instance_id: "vm-uuid".into(),
        local_hostname: Some("ignored".into()),
        user_text: Some(text.into()),
    };
    assert_eq!(m.to_text().unwrap(), text);
    let back = MetaData::from_drive_text(text);
    assert_eq!(back.instance_id, "custom-1");
    assert_eq!(back.user_text.as_deref(), Some(text));
}

#[test]
fn meta_data_user_text_without_instance_id_gets_it_appended() {
    for user in [
        "local-hostname: h\n",
        "local-hostname: h",
        "",
        "# only a comment\n",
    ] {
        let m = MetaData {
            instance_id: "vm-uuid".into(),
            local_hostname: None,
            user_text: Some(user.into()),
        };
        let text = m.to_text().unwrap();
        assert!(text.starts_with(user), "{text:?}");
        assert!(
            text.ends_with(&format!("{APPENDED_MARKER}\ninstance-id: vm-uuid\n")),
            "{text:?}"
        );
        let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(v["instance-id"].as_str(), Some("vm-uuid"));
        let back = MetaData::from_drive_text(&text);
        assert_eq!(back.instance_id, "vm-uuid");
        assert_eq!(back.to_text().unwrap(), text);
    }
    // Flow mapping: appending would break it, so the mapping is re-serialized.
    let m = MetaData {
        instance_id: "12:30".into(),
        local_hostname: None,
        user_text: Some("{local-hostname: h}".into()),
    };
    let text = m.to_text().unwrap();
    let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(v["local-hostname"].as_str(), Some("h"));
    // Quoted: 12:30 is a base-60 integer to YAML 1.1.
    assert!(text.contains("instance-id: \"12:30\""), "{text}");
}
