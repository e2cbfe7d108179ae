//! The Windows guest reads its `cidata` drive the cloudbase-init way: raw ISO on a disk,
//! v1 and v2 network-config matched by MAC, `/prefix` addresses, and the failures
//! cloudbase-init records for a missing or unknown MAC. Drives are built with the
//! workspace's `config-drive` crate (dev-dependency) and with genisoimage.
mod common;
mod windows_support;

use std::path::PathBuf;

use common::Pool;
use config_drive::{
    ConfigDrive, Interface, MetaData, NetworkConfig, NetworkConfigFormat, build_iso,
};
use serde_json::{Value as J, json};
use windows_support::*;

const MAC0: &str = "02:1e:aa:00:00:01";
const MAC1: &str = "02:1e:aa:00:00:02";

fn drive(hostname: &str, network: NetworkConfig) -> Vec<u8> {
    build_iso(&ConfigDrive {
        user_data: Some("#ps1\nWrite-Host hi\n".into()),
        meta_data: MetaData {
            instance_id: "iid-win-1".into(),
            local_hostname: Some(hostname.into()),
            user_text: None,
        },
        vendor_data: None,
        network_config: network,
    })
    .expect("drive builds")
}

fn iface(mac: &str, device: u32, addr: &str, gw: Option<&str>) -> Interface {
    Interface {
        mac: mac.into(),
        device,
        ipv4_address: Some(addr.into()),
        ipv4_gateway: gw.map(str::to_string),
        dns_servers: vec!["10.10.0.53".into()],
        ..Interface::default()
    }
}

#[tokio::test]
async fn two_nics_static_v1_and_v2_are_reported_on_their_macs() {
    let p = Pool::start().await;
    for format in [NetworkConfigFormat::V1, NetworkConfigFormat::V2] {
        let name = format!("win-{format:?}");
        let vm = windows_vm(&p, &name, &[MAC0, MAC1]).await;
        let img = drive(
            "app-server-01.example.com",
            NetworkConfig::Rendered {
                format,
                interfaces: vec![
                    iface(MAC0, 0, "10.10.0.21/24", Some("10.10.0.1")),
                    iface(MAC1, 1, "10.20.0.21/16", None),
                ],
            },
        );
        p.attach_disk_image(&vm, &img).await;
        let gm = start_and_wait(&p, &vm).await;
        assert_eq!(gm["networks"]["0/ipv4/0"], "10.10.0.21", "{format:?}: {gm}");
        assert_eq!(gm["networks"]["1/ipv4/0"], "10.20.0.21");
        assert_eq!(gm["netbios_name"]["host_name"], "APP-SERVER-01");
        let g = guest(&p, &vm).await;
        let cb = &g["cloudbase_init"];
        assert_eq!(cb["location"], "hdd_iso");
        assert_eq!(cb["drive"]["filesystem"], "iso9660");
        assert_eq!(cb["drive"]["vbd_type"], "Disk");
        assert_eq!(cb["hostname"], "app-server-01");
        assert_eq!(cb["instance_id"], "iid-win-1");
        assert_eq!(cb["failures"], json!([]));
        assert_eq!(cb["plugins"]["NetworkConfigPlugin"], "done");
        let net = cb["network"].as_array().unwrap();
        assert_eq!(net[0]["mac"], MAC0);
        assert_eq!(net[0]["mode"], "static");
        assert_eq!(net[0]["addresses"], json!(["10.10.0.21/24"]));
        assert_eq!(net[0]["gateway"], "10.10.0.1");
        assert_eq!(net[0]["dns"], json!(["10.10.0.53"]));
        assert_eq!(net[1]["mac"], MAC1);
        assert_eq!(net[1]["addresses"], json!(["10.20.0.21/16"]));
    }
}

#[tokio::test]
async fn missing_mac_fails_the_network_plugin_like_cloudbase_init() {
    let p = Pool::start().await;
    let vm = windows_vm(&p, "win-nomac", &[MAC0]).await;
    // A user-written v2 config whose ethernet has no `match: macaddress`.
    let text = "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.10.0.30/24]\n      gateway4: 10.10.0.1\n";
    p.attach_disk_image(&vm, &drive("nomac", NetworkConfig::User(text.into())))
        .await;
    start_and_wait(&p, &vm).await;
    let g = guest(&p, &vm).await;
    let f = &g["cloudbase_init"]["failures"];
    assert_eq!(f.as_array().unwrap().len(), 1, "{g}");
    assert_eq!(f[0]["plugin"], "NetworkConfigPlugin");
    assert_eq!(
        f[0]["error"],
        "AttributeError: 'NoneType' object has no attribute 'lower'"
    );
    assert!(
        g["cloudbase_init"]["plugins"]
            .get("NetworkConfigPlugin")
            .is_none()
    );
    // Nothing static applied: the NIC keeps Windows' DHCP and gets a lease.
    let net = &g["cloudbase_init"]["network"][0];
    assert_eq!(net["mode"], "dhcp");
    assert!(
        net["addresses"][0]
            .as_str()
            .unwrap()
            .starts_with("192.168.100.")
    );
    // The hostname plugin did run; the failed plugin runs again at the next boot.
    assert_eq!(g["cloudbase_init"]["hostname"], "nomac");
    p.ok("VM.hard_reboot", json!([vm])).await;
    eventually("the second boot", || async {
        guest(&p, &vm).await["boot_count"] == 2
    })
    .await;
    let g = guest(&p, &vm).await;
    assert_eq!(g["cloudbase_init"]["failures"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_mac_and_netmask_addresses_fail_as_in_cloudbase_init() {
    let p = Pool::start().await;
    let cases: [(&str, &str); 3] = [
        (
            "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"02:1e:aa:00:00:99\"}\n    addresses: [10.10.0.31/24]\n",
            "ItemNotFoundException: Network interface with MAC address \"02:1e:aa:00:00:99\" not found",
        ),
        (
            "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"02:1e:aa:00:00:01\"}\n    addresses: [10.10.0.31/255.255.255.0]\n",
            "set_static_network_config failed on adapter \"lan\": invalid prefix length \"255.255.255.0\"",
        ),
        (
            "version: 1\nconfig:\n- type: physical\n  name: lan\n  mac_address: \"02:1e:aa:00:00:01\"\n  subnets:\n  - {type: static, address: 10.10.0.31}\n",
            "ValueError: not enough values to unpack (expected 2, got 1)",
        ),
    ];
    for (i, (text, err)) in cases.iter().enumerate() {
        let vm = windows_vm(&p, &format!("w{i}"), &[MAC0]).await;
        p.attach_disk_image(&vm, &drive("bad", NetworkConfig::User((*text).into())))
            .await;
        start_and_wait(&p, &vm).await;
        let g = guest(&p, &vm).await;
        assert_eq!(g["cloudbase_init"]["failures"][0]["error"], *err, "{g}");
        assert_eq!(g["cloudbase_init"]["network"][0]["mode"], "dhcp");
        p.ok("VM.hard_shutdown", json!([vm])).await;
    }
    // The adapter rename before a later failure sticks (cloudbase-init renames first).
    let vm = windows_vm(&p, "wr", &[MAC0]).await;
    let text = "version: 2\nethernets:\n  lan:\n    match: {macaddress: \"02:1e:aa:00:00:01\"}\n    addresses: [10.10.0.31]\n";
    p.attach_disk_image(&vm, &drive("r", NetworkConfig::User(text.into())))
        .await;
    start_and_wait(&p, &vm).await;
    assert_eq!(
        guest(&p, &vm).await["cloudbase_init"]["network"][0]["name"],
        "lan"
    );
}

fn genisoimage() -> Option<PathBuf> {
    let found = ["/usr/bin/genisoimage", "/usr/bin/mkisofs"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("genisoimage not found (CI is set): apt-get install -y genisoimage");
        }
        eprintln!("NOTICE: skipping: genisoimage not found (apt-get install -y genisoimage)");
    }
    found
}

#[tokio::test]
async fn raw_iso_on_a_disk_needs_no_label_but_a_cd_needs_cidata() {
    let Some(tool) = genisoimage() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("meta-data"),
        "instance-id: gen-1\nlocal-hostname: genhost\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("user-data"), "").unwrap();
    std::fs::write(
        dir.path().join("network-config"),
        format!("version: 1\nconfig:\n- type: physical\n  name: lan\n  mac_address: \"{MAC0}\"\n  subnets:\n  - type: static\n    address: 10.30.0.5\n    netmask: 255.255.255.0\n"),
    )
    .unwrap();
    let iso = dir.path().join("seed.iso");
    let st = std::process::Command::new(&tool)
        .args(["-quiet", "-volid", "OTHERLABEL", "-J", "-r", "-o"])
        .arg(&iso)
        .arg(dir.path().join("meta-data"))
        .arg(dir.path().join("user-data"))
        .arg(dir.path().join("network-config"))
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&iso).unwrap();
    let p = Pool::start().await;
    // On a disk: found by the ISO magic (hdd_iso), whatever the label.
    let vm = windows_vm(&p, "gen", &[MAC0]).await;
    p.attach_disk_image(&vm, &bytes).await;
    let gm = start_and_wait(&p, &vm).await;
    assert_eq!(gm["networks"]["0/ip"], "10.30.0.5");
    let g = guest(&p, &vm).await;
    assert_eq!(g["cloudbase_init"]["location"], "hdd_iso");
    assert_eq!(g["cloudbase_init"]["drive"]["label"], "OTHERLABEL");
    assert_eq!(g["hostname"], "genhost");
    // In the CD drive with the wrong label: not a config drive (cdrom_iso checks the label).
    let vm2 = windows_vm(&p, "gen-cd", &[MAC0, MAC1]).await;
    let sr = p.default_sr().await;
    let vdi = p
        .s(
            "VDI.create",
            json!([{
                "name_label": "seed", "name_description": "", "SR": sr,
                "virtual_size": bytes.len() as i64, "type": "user", "sharable": false,
                "read_only": false, "other_config": {}
            }]),
        )
        .await;
    let r = p
        .http
        .put(format!(
            "{}/import_raw_vdi?session_id={}&vdi={vdi}&format=raw",
            p.url(),
            p.session
        ))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cd = cd_vbd(&p, &vm2).await.unwrap();
    p.ok("VBD.insert", json!([cd, vdi])).await;
    start_and_wait(&p, &vm2).await;
    let g = guest(&p, &vm2).await;
    assert_eq!(g["cloudbase_init"]["location"], J::Null, "{g}");
    assert!(
        g["cloudbase_init"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n
                .as_str()
                .unwrap()
                .contains("mismatching label 'OTHERLABEL'"))
    );
    // Without a drive every NIC stays on DHCP (Windows' default), not just the first.
    let net = g["cloudbase_init"]["network"].as_array().unwrap();
    assert_eq!(net.len(), 2);
    assert!(net.iter().all(|n| n["mode"] == "dhcp"));
}

#[tokio::test]
async fn sysprep_iso_is_readable_by_third_party_tools() {
    let img = labpool::guest::iso::single_file_iso("CDROM", "UNATTEND.XML", UNATTEND.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sysprep.iso");
    std::fs::write(&path, &img).unwrap();
    for (tool, args) in [
        (
            "/usr/bin/isoinfo",
            vec!["-i", path.to_str().unwrap(), "-x", "/UNATTEND.XML;1"],
        ),
        (
            "/usr/bin/bsdtar",
            vec!["-xOf", path.to_str().unwrap(), "UNATTEND.XML"],
        ),
    ] {
        if !std::path::Path::new(tool).is_file() {
            assert!(std::env::var_os("CI").is_none(), "{tool} missing in CI");
            eprintln!("NOTICE: skipping {tool}: not installed");
            continue;
        }
        let out = std::process::Command::new(tool)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), UNATTEND, "{tool}");
    }
}
