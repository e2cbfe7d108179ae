//! Simulated guests reading NoCloud drives (ISO9660 built with genisoimage, FAT built with
//! the fatfs crate), MAC-matched network config, DHCP, instance-id semantics.
mod common;

use std::io::{Cursor, Write};

use common::Pool;
use serde_json::{Value as J, json};

fn genisoimage_available() -> bool {
    std::process::Command::new("genisoimage")
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn iso(files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut names = vec![];
    for (n, c) in files {
        std::fs::write(dir.path().join(n), c).unwrap();
        names.push(n.to_string());
    }
    let out = dir.path().join("seed.iso");
    let st = std::process::Command::new("genisoimage")
        .arg("-quiet")
        .arg("-output")
        .arg(&out)
        .args(["-volid", "cidata", "-joliet", "-rock"])
        .args(&names)
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

fn fat(label: &[u8; 11], files: &[(&str, &str)]) -> Vec<u8> {
    let mut img = Cursor::new(vec![0u8; 2 << 20]);
    fatfs::format_volume(
        &mut img,
        fatfs::FormatVolumeOptions::new().volume_label(*label),
    )
    .unwrap();
    {
        let fs = fatfs::FileSystem::new(&mut img, fatfs::FsOptions::new()).unwrap();
        let root = fs.root_dir();
        for (n, c) in files {
            let mut f = root.create_file(n).unwrap();
            f.write_all(c.as_bytes()).unwrap();
        }
    }
    img.into_inner()
}

async fn guest(p: &Pool, vm: &str) -> J {
    let uuid = p.s("VM.get_uuid", json!([vm])).await;
    p.admin_get(&format!("guest/{uuid}")).await
}

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";

fn netcfg_v2(static_ip: &str) -> String {
    format!(
        "version: 2\nethernets:\n  lan:\n    match:\n      macaddress: \"{MAC_A}\"\n    set-name: eth0\n    dhcp4: true\n  storage:\n    match:\n      macaddress: \"{MAC_B}\"\n    set-name: eth1\n    addresses: [{static_ip}/24]\n    routes: [{{to: default, via: 10.9.8.1}}]\n  ghost:\n    match:\n      macaddress: \"02:ff:ff:ff:ff:ff\"\n    dhcp4: true\n"
    )
}

#[tokio::test]
async fn linux_guest_reads_iso_seed_and_instance_id_semantics() {
    if !genisoimage_available() {
        eprintln!("SKIPPED: genisoimage is not installed (apt-get install genisoimage)");
        return;
    }
    let p = Pool::start().await;
    let vm = p.linux_vm("web1").await;
    let lan = p.network0().await;
    let storage = p.by_name("network", "Lab storage network").await;
    p.vif(&vm, "0", MAC_A, &lan).await.unwrap();
    p.vif(&vm, "1", MAC_B, &storage).await.unwrap();
    let seed = |iid: &str, ip: &str| {
        iso(&[
            (
                "meta-data",
                &format!("instance-id: {iid}\nlocal-hostname: web1\n"),
            ),
            ("user-data", "#cloud-config\npackages: [nginx]\n"),
            ("network-config", &netcfg_v2(ip)),
        ])
    };
    let vdi = p.attach_disk_image(&vm, &seed("i-1", "10.9.8.7")).await;
    p.ok("VM.start", json!([vm, false, false])).await;
    let gm = p
        .wait_guest(&vm, |g| g["networks"].get("1/ip").is_some())
        .await;
    assert_eq!(gm["networks"]["1/ip"], "10.9.8.7");
    assert_eq!(gm["networks"]["1/ipv4/0"], "10.9.8.7");
    let ip0 = gm["networks"]["0/ip"].as_str().unwrap();
    assert!(ip0.starts_with("192.168.100."), "{ip0}");
    assert_eq!(gm["other"]["feature-shutdown"], "1");
    assert!(gm["PV_drivers_version"].get("major").is_some());
    let g = guest(&p, &vm).await;
    assert_eq!(g["boot_count"], 1);
    assert_eq!(g["hostname"], "web1");
    assert_eq!(g["drive"]["filesystem"], "iso9660");
    assert_eq!(g["drive"]["label"], "cidata");
    assert_eq!(
        g["drive"]["files"]["user-data"],
        "#cloud-config\npackages: [nginx]\n"
    );
    assert!(
        g["drive"]["files"]["network-config"]
            .as_str()
            .unwrap()
            .contains(MAC_B)
    );
    let net = g["network"].as_array().unwrap();
    assert_eq!(net.len(), 2, "the unmatched entry is ignored: {g}");
    assert!(
        g["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("02:ff:ff:ff:ff:ff"))
    );

    // New network-config, same instance-id: not applied on reboot.
    p.ok("VM.clean_shutdown", json!([vm])).await;
    p.upload(&vdi, &seed("i-1", "10.9.8.8")).await;
    p.ok("VM.start", json!([vm, false, false])).await;
    let gm = p
        .wait_guest(&vm, |g| g["networks"].get("1/ip").is_some())
        .await;
    assert_eq!(gm["networks"]["1/ip"], "10.9.8.7");
    assert_eq!(gm["networks"]["0/ip"], ip0, "DHCP lease is stable per MAC");
    assert_eq!(guest(&p, &vm).await["boot_count"], 2);

    // New instance-id: applied.
    p.upload(&vdi, &seed("i-2", "10.9.8.8")).await;
    p.ok("VM.clean_reboot", json!([vm])).await;
    let gm = p
        .wait_guest(&vm, |g| {
            g["networks"].get("1/ip") == Some(&json!("10.9.8.8"))
        })
        .await;
    assert_eq!(gm["networks"]["1/ip"], "10.9.8.8");
    let g = guest(&p, &vm).await;
    assert_eq!(g["boot_count"], 3);
    assert_eq!(g["instance_id"], "i-2");
    assert_eq!(g["new_instance_boots"], 2);
}

#[tokio::test]
async fn linux_guest_reads_fat_seed_v1_and_ignores_wrong_labels() {
    let p = Pool::start().await;
    let vm = p.linux_vm("fat").await;
    let lan = p.network0().await;
    p.vif(&vm, "0", MAC_A, &lan).await.unwrap();
    // A drive with the wrong label is not a NoCloud seed.
    p.attach_disk_image(
        &vm,
        &fat(
            b"OTHER      ",
            &[
                ("meta-data", "instance-id: x\nlocal-hostname: wrong\n"),
                ("user-data", ""),
            ],
        ),
    )
    .await;
    let v1 = format!(
        "network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n    mac_address: \"{MAC_A}\"\n    subnets:\n    - type: static\n      address: 172.16.5.9\n      netmask: 255.255.0.0\n      gateway: 172.16.0.1\n"
    );
    p.attach_disk_image(
        &vm,
        &fat(
            b"cidata     ",
            &[
                ("meta-data", "instance-id: fat-1\nlocal-hostname: fatty\n"),
                ("user-data", "#cloud-config\n"),
                ("network-config", &v1),
            ],
        ),
    )
    .await;
    p.ok("VM.start", json!([vm, false, false])).await;
    let gm = p
        .wait_guest(&vm, |g| g["networks"].get("0/ip").is_some())
        .await;
    assert_eq!(gm["networks"]["0/ip"], "172.16.5.9");
    let g = guest(&p, &vm).await;
    assert_eq!(g["hostname"], "fatty");
    assert_eq!(g["drive"]["filesystem"], "vfat");
    assert_eq!(g["network"][0]["addresses"], json!(["172.16.5.9/16"]));
    assert_eq!(g["network"][0]["gateway"], "172.16.0.1");
}

#[tokio::test]
async fn no_drive_falls_back_to_dhcp_and_windows_reports_sysprep_feature() {
    let p = Pool::start().await;
    let vm = p.linux_vm("plain").await;
    let lan = p.network0().await;
    p.vif(&vm, "0", "", &lan).await.unwrap();
    p.ok("VM.start", json!([vm, false, false])).await;
    let gm = p
        .wait_guest(&vm, |g| g["networks"].get("0/ip").is_some())
        .await;
    assert!(
        gm["networks"]["0/ip"]
            .as_str()
            .unwrap()
            .starts_with("192.168.100.")
    );
    let g = guest(&p, &vm).await;
    assert_eq!(g["network_source"], "fallback");
    assert_eq!(g["sysprep_runs"], json!([]));

    let w = p
        .clone_of("labpool Windows Server 2022 cloudbase-init", "win")
        .await;
    p.ok("VM.provision", json!([w])).await;
    p.ok("VM.start", json!([w, false, false])).await;
    let gm = p.wait_guest(&w, |g| g["live"] == true).await;
    assert_eq!(gm["other"]["feature-sysprep"], "1");
    assert_eq!(gm["os_version"]["distro"], "windows");

    // A VM provisioned from a default template has an empty disk: no agent.
    let d = p.clone_of("Other install media", "empty").await;
    let sr = p.default_sr().await;
    let sr_uuid = p.s("SR.get_uuid", json!([sr])).await;
    let disks = p.ok("VM.get_other_config", json!([d])).await["disks"]
        .as_str()
        .unwrap()
        .replace("sr=\"\"", &format!("sr=\"{sr_uuid}\""));
    p.ok("VM.remove_from_other_config", json!([d, "disks"]))
        .await;
    p.ok("VM.add_to_other_config", json!([d, "disks", disks]))
        .await;
    p.ok("VM.provision", json!([d])).await;
    p.ok("VM.start", json!([d, false, false])).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        p.s("VM.get_guest_metrics", json!([d])).await,
        "OpaqueRef:NULL"
    );
    assert_eq!(guest(&p, &d).await["boot_count"], 1);
}
