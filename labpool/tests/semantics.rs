//! VM lifecycle, memory, VIF and storage semantics with XAPI's exact error codes.
mod common;

use common::Pool;
use serde_json::{Value as J, json};

const GIB: i64 = 1 << 30;

#[tokio::test]
async fn clone_of_template_is_template_with_new_seed_and_shared_cd() {
    let p = Pool::start().await;
    let t = p.by_name("VM", "labpool Ubuntu 24.04 cloud-init").await;
    let iso_sr = p.by_name("SR", "ISO library").await;
    let iso = p.ok("SR.get_VDIs", json!([iso_sr])).await[0]
        .as_str()
        .unwrap()
        .to_string();
    // put an ISO in the template's CD so the clone must share it
    let trec = p.record("VM", &t).await;
    let cd = {
        let mut found = None;
        for b in trec["VBDs"].as_array().unwrap() {
            let r = p.record("VBD", b.as_str().unwrap()).await;
            if r["type"] == "CD" {
                found = Some(b.as_str().unwrap().to_string());
            }
        }
        found.unwrap()
    };
    p.ok("VBD.insert", json!([cd, iso])).await;
    let c = p.s("VM.clone", json!([t, "c1"])).await;
    let crec = p.record("VM", &c).await;
    assert_eq!(crec["is_a_template"], true);
    assert_eq!(crec["is_default_template"], false);
    assert_ne!(
        crec["other_config"]["mac_seed"],
        trec["other_config"]["mac_seed"]
    );
    assert_eq!(
        crec["other_config"]["base_template_name"],
        "labpool Ubuntu 24.04 cloud-init"
    );
    for k in [
        "memory_static_min",
        "memory_static_max",
        "memory_dynamic_min",
        "memory_dynamic_max",
        "VCPUs_max",
    ] {
        assert_eq!(crec[k], trec[k], "{k}");
    }
    let mut shared_cd = false;
    let mut cloned_disk = false;
    for b in crec["VBDs"].as_array().unwrap() {
        let r = p.record("VBD", b.as_str().unwrap()).await;
        if r["type"] == "CD" {
            shared_cd = r["VDI"] == iso;
        } else {
            let orig_disks: Vec<String> = {
                let mut v = vec![];
                for ob in trec["VBDs"].as_array().unwrap() {
                    v.push(
                        p.record("VBD", ob.as_str().unwrap()).await["VDI"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    );
                }
                v
            };
            cloned_disk = !orig_disks.contains(&r["VDI"].as_str().unwrap().to_string());
            assert_eq!(r["other_config"]["owner"], "");
        }
    }
    assert!(shared_cd && cloned_disk);
    // a template cannot start
    assert_eq!(
        p.err("VM.start", json!([c, false, false])).await,
        vec!["VM_IS_TEMPLATE", c.as_str(), "start"]
    );
}

#[tokio::test]
async fn provision_needs_real_sr_uuids() {
    let p = Pool::start().await;
    let vm = p.clone_of("Debian Bookworm 12", "deb").await;
    assert_eq!(
        p.err("VM.provision", json!([vm])).await,
        vec!["UUID_INVALID", "sr", ""]
    );
    // XAPI flips is_a_template before provisioning the disks
    assert_eq!(p.ok("VM.get_is_a_template", json!([vm])).await, false);
    assert_eq!(
        p.err("VM.provision", json!([vm])).await,
        vec!["ONLY_PROVISION_TEMPLATE"]
    );
    let vm = p.clone_of("Debian Bookworm 12", "deb2").await;
    let sr = p.default_sr().await;
    let sr_uuid = p.s("SR.get_uuid", json!([sr])).await;
    let disks = p.ok("VM.get_other_config", json!([vm])).await["disks"]
        .as_str()
        .unwrap()
        .replace("sr=\"\"", &format!("sr=\"{sr_uuid}\""));
    p.ok("VM.remove_from_other_config", json!([vm, "disks"]))
        .await;
    p.ok("VM.add_to_other_config", json!([vm, "disks", disks]))
        .await;
    p.ok("VM.provision", json!([vm])).await;
    let rec = p.record("VM", &vm).await;
    assert_eq!(rec["is_a_template"], false);
    assert!(rec["other_config"].get("disks").is_none());
    let vbd = rec["VBDs"][0].as_str().unwrap();
    let vbd = p.record("VBD", vbd).await;
    assert_eq!(vbd["userdevice"], "0");
    assert_eq!(vbd["bootable"], true);
    assert_eq!(vbd["unpluggable"], false);
    let vdi = p.record("VDI", vbd["VDI"].as_str().unwrap()).await;
    assert_eq!(vdi["name_label"], "0");
    assert_eq!(vdi["name_description"], "Created by template provisioner");
    assert_eq!(vdi["virtual_size"], json!(10 * GIB));
    assert_eq!(vdi["SR"], sr);
}

#[tokio::test]
async fn power_state_gates_and_destroy() {
    let p = Pool::start().await;
    let vm = p.linux_vm("gates").await;
    assert_eq!(
        p.err("VM.clean_shutdown", json!([vm])).await,
        vec!["VM_BAD_POWER_STATE", vm.as_str(), "running", "halted"]
    );
    assert_eq!(
        p.err("VM.hard_shutdown", json!([vm])).await,
        vec![
            "VM_BAD_POWER_STATE",
            vm.as_str(),
            "paused, suspended, running",
            "halted"
        ]
    );
    assert_eq!(
        p.err("VM.hard_reboot", json!([vm])).await,
        vec![
            "VM_BAD_POWER_STATE",
            vm.as_str(),
            "paused, running",
            "halted"
        ]
    );
    p.ok(
        "VM.add_to_blocked_operations",
        json!([vm, "start", "blocked-by-test"]),
    )
    .await;
    assert_eq!(
        p.err("VM.start", json!([vm, false, false])).await,
        vec!["OPERATION_BLOCKED", vm.as_str(), "blocked-by-test"]
    );
    p.ok("VM.remove_from_blocked_operations", json!([vm, "start"]))
        .await;
    p.ok("VM.start", json!([vm, false, false])).await;
    let rec = p.record("VM", &vm).await;
    assert_eq!(rec["power_state"], "Running");
    assert!(rec["domid"].as_i64().unwrap() > 0);
    assert_ne!(rec["resident_on"], "OpaqueRef:NULL");
    assert_eq!(
        p.err("VM.start", json!([vm, false, false])).await,
        vec!["VM_BAD_POWER_STATE", vm.as_str(), "halted", "running"]
    );
    assert_eq!(
        p.err("VM.destroy", json!([vm])).await,
        vec![
            "VM_BAD_POWER_STATE",
            vm.as_str(),
            "halted, suspended",
            "running"
        ]
    );
    assert_eq!(
        p.err(
            "VM.set_memory_limits",
            json!([vm, GIB, 2 * GIB, 2 * GIB, 2 * GIB])
        )
        .await,
        vec!["VM_BAD_POWER_STATE", vm.as_str(), "halted", "running"]
    );
    p.wait_guest(&vm, |g| g["PV_drivers_detected"] == true)
        .await;
    p.ok("VM.clean_shutdown", json!([vm])).await;
    let rec = p.record("VM", &vm).await;
    assert_eq!(rec["power_state"], "Halted");
    assert_eq!(rec["resident_on"], "OpaqueRef:NULL");
    assert_eq!(rec["domid"], -1);
    let vdis: Vec<String> = {
        let mut v = vec![];
        for b in rec["VBDs"].as_array().unwrap() {
            let r = p.record("VBD", b.as_str().unwrap()).await;
            if r["type"] == "Disk" {
                v.push(r["VDI"].as_str().unwrap().to_string());
            }
        }
        v
    };
    p.ok("VM.destroy", json!([vm])).await;
    assert_eq!(
        p.err("VM.get_record", json!([vm])).await,
        vec!["HANDLE_INVALID", "VM", vm.as_str()]
    );
    for vdi in vdis {
        p.record("VDI", &vdi).await; // VDIs are left behind
    }
    // a default template cannot be destroyed
    let dt = p.by_name("VM", "Debian Bookworm 12").await;
    assert_eq!(
        p.err("VM.destroy", json!([dt])).await,
        vec!["VM_IS_TEMPLATE", dt.as_str(), "destroy"]
    );
}

#[tokio::test]
async fn clean_shutdown_before_the_agent_lacks_feature() {
    let p = Pool::start_with(labpool::Config {
        boot_seconds: 30.0,
        ..labpool::Config::default()
    })
    .await;
    let vm = p.linux_vm("slow").await;
    p.ok("VM.start", json!([vm, false, false])).await;
    assert_eq!(
        p.err("VM.clean_shutdown", json!([vm])).await,
        vec!["VM_LACKS_FEATURE", vm.as_str()]
    );
    p.ok("VM.hard_shutdown", json!([vm])).await;
}

#[tokio::test]
async fn memory_order_and_gates() {
    let p = Pool::start().await;
    let vm = p.linux_vm("mem").await;
    // param order: static_min, static_max, dynamic_min, dynamic_max
    p.ok(
        "VM.set_memory_limits",
        json!([vm, GIB, 4 * GIB, 2 * GIB, 3 * GIB]),
    )
    .await;
    let r = p.record("VM", &vm).await;
    assert_eq!(
        [
            &r["memory_static_min"],
            &r["memory_static_max"],
            &r["memory_dynamic_min"],
            &r["memory_dynamic_max"]
        ],
        [
            &json!(GIB),
            &json!(4 * GIB),
            &json!(2 * GIB),
            &json!(3 * GIB)
        ]
    );
    assert_eq!(r["memory_target"], json!(2 * GIB));
    for bad in [
        json!([vm, 2 * GIB, 4 * GIB, GIB, 3 * GIB]), // static_min > dynamic_min
        json!([vm, GIB, 4 * GIB, 3 * GIB, 2 * GIB]), // dynamic_min > dynamic_max
        json!([vm, GIB, 2 * GIB, GIB, 3 * GIB]),     // dynamic_max > static_max
    ] {
        assert_eq!(
            p.err("VM.set_memory_limits", bad).await,
            vec!["MEMORY_CONSTRAINT_VIOLATION_ORDER"]
        );
    }
    assert_eq!(
        p.err("VM.set_memory_static_max", json!([vm, 2 * GIB]))
            .await,
        vec!["MEMORY_CONSTRAINT_VIOLATION_ORDER"]
    );
    assert_eq!(
        p.err("VM.set_memory_dynamic_range", json!([vm, 3 * GIB, 2 * GIB]))
            .await,
        vec!["MEMORY_CONSTRAINT_VIOLATION_ORDER"]
    );
    // ints as decimal strings are accepted
    p.ok(
        "VM.set_memory_static_min",
        json!([vm, (GIB / 2).to_string()]),
    )
    .await;
    p.ok("VM.start", json!([vm, false, false])).await;
    // dynamic range live; static changes halted only
    p.ok("VM.set_memory_dynamic_range", json!([vm, 3 * GIB, 4 * GIB]))
        .await;
    assert_eq!(
        p.err("VM.set_memory_static_range", json!([vm, GIB, 8 * GIB]))
            .await,
        vec!["VM_BAD_POWER_STATE", vm.as_str(), "halted", "running"]
    );
    assert_eq!(
        p.err("VM.set_memory", json!([vm, 8 * GIB])).await,
        vec!["VM_BAD_POWER_STATE", vm.as_str(), "halted", "running"]
    );
    // nested virt requires pinned memory
    p.ok("VM.hard_shutdown", json!([vm])).await;
    p.ok("VM.add_to_platform", json!([vm, "nested-virt", "true"]))
        .await;
    assert_eq!(
        p.err("VM.set_memory_dynamic_range", json!([vm, GIB, 2 * GIB]))
            .await,
        vec!["MEMORY_CONSTRAINT_VIOLATION_MAXPIN", "nested virt"]
    );
}

#[tokio::test]
async fn host_memory_and_vcpu_checks_at_start() {
    let p = Pool::start().await;
    let vm = p.linux_vm("big").await;
    p.ok(
        "VM.set_memory_limits",
        json!([vm, GIB, 200 * GIB, 100 * GIB, 200 * GIB]),
    )
    .await;
    let e = p.err("VM.start", json!([vm, false, false])).await;
    assert_eq!(e[0], "HOST_NOT_ENOUGH_FREE_MEMORY");
    assert!(e[1].parse::<i64>().unwrap() > e[2].parse::<i64>().unwrap());
    p.ok(
        "VM.set_memory_limits",
        json!([vm, GIB, 2 * GIB, 2 * GIB, 2 * GIB]),
    )
    .await;
    assert_eq!(
        p.err("VM.set_VCPUs_at_startup", json!([vm, 8])).await,
        vec![
            "INVALID_VALUE",
            "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max",
            "8"
        ]
    );
    assert_eq!(
        p.err("VM.set_VCPUs_max", json!([vm, 0])).await,
        vec![
            "INVALID_VALUE",
            "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max",
            "0"
        ]
    );
    p.ok("VM.set_VCPUs_max", json!([vm, 6])).await;
    p.ok("VM.set_VCPUs_at_startup", json!([vm, 4])).await;
    p.ok("VM.add_to_platform", json!([vm, "cores-per-socket", "4"]))
        .await;
    assert_eq!(
        p.err("VM.start", json!([vm, false, false])).await,
        vec!["VCPU_MAX_NOT_CORES_PER_SOCKET_MULTIPLE", "6", "4"]
    );
    p.ok("VM.remove_from_platform", json!([vm, "cores-per-socket"]))
        .await;
    let hosts = p.ok("host.get_all", json!([])).await;
    let h = hosts[1].as_str().unwrap();
    let free_before = p
        .ok("host.compute_free_memory", json!([h]))
        .await
        .as_i64()
        .unwrap();
    p.ok("VM.start_on", json!([vm, h, false, false])).await;
    assert_eq!(p.s("VM.get_resident_on", json!([vm])).await, h);
    let free_after = p
        .ok("host.compute_free_memory", json!([h]))
        .await
        .as_i64()
        .unwrap();
    assert!(free_after <= free_before - 2 * GIB);
    p.ok("VM.hard_shutdown", json!([vm])).await;
    p.ok("VM.set_VCPUs_at_startup", json!([vm, 2])).await;
    p.ok("VM.set_VCPUs_max", json!([vm, 2])).await;
}

#[tokio::test]
async fn vif_mac_rules() {
    let p = Pool::start().await;
    let vm = p.linux_vm("vifs").await;
    let net = p.network0().await;
    let seed = p.ok("VM.get_other_config", json!([vm])).await["mac_seed"]
        .as_str()
        .unwrap()
        .to_string();
    let v0 = p.vif(&vm, "0", "", &net).await.unwrap();
    let rec = p.record("VIF", v0.as_str().unwrap()).await;
    assert_eq!(rec["MAC"], labpool::api::vif::gen_mac(0, &seed));
    assert_eq!(rec["MAC_autogenerated"], true);
    assert_eq!(rec["currently_attached"], false);
    let v1 = p.vif(&vm, "1", "AA:BB:CC:DD:EE:01", &net).await.unwrap();
    let rec = p.record("VIF", v1.as_str().unwrap()).await;
    assert_eq!(rec["MAC"], "AA:BB:CC:DD:EE:01");
    assert_eq!(rec["MAC_autogenerated"], false);
    assert_eq!(
        p.vif(&vm, "2", "aa-bb-cc-dd-ee-ff", &net)
            .await
            .unwrap_err(),
        vec!["MAC_INVALID", "aa-bb-cc-dd-ee-ff"]
    );
    assert_eq!(
        p.vif(&vm, "1", "", &net).await.unwrap_err(),
        vec!["DEVICE_ALREADY_EXISTS", "1"]
    );
    assert_eq!(
        p.vif(&vm, "eth2", "", &net).await.unwrap_err(),
        vec!["INVALID_DEVICE", "eth2"]
    );
    assert_eq!(
        p.vif(&vm, "2", "", "OpaqueRef:nope").await.unwrap_err(),
        vec!["HANDLE_INVALID", "network", "OpaqueRef:nope"]
    );
    // missing ctor field
    let e = p
        .err(
            "VIF.create",
            json!([{"device": "3", "network": net, "VM": vm, "MAC": ""}]),
        )
        .await;
    assert_eq!(e[0], "INTERNAL_ERROR");
    assert!(e[1].contains("Dispatcher_FieldNotFound"));
    // destroy while running and attached
    p.ok("VM.start", json!([vm, false, false])).await;
    assert_eq!(
        p.err("VIF.destroy", json!([v0])).await,
        vec![
            "OPERATION_NOT_ALLOWED",
            "VIF currently attached to a running VM"
        ]
    );
    p.ok("VM.hard_shutdown", json!([vm])).await;
    p.ok("VIF.destroy", json!([v0])).await;
    // clones get new MACs from their new seed
    let v2 = p.vif(&vm, "0", "", &net).await.unwrap();
    let mac0 = p.s("VIF.get_MAC", json!([v2])).await;
    p.ok("VM.set_is_a_template", json!([vm, true])).await;
    let c = p.s("VM.clone", json!([vm, "vifs-clone"])).await;
    let cseed = p.ok("VM.get_other_config", json!([c])).await["mac_seed"]
        .as_str()
        .unwrap()
        .to_string();
    let cvifs = p.ok("VM.get_VIFs", json!([c])).await;
    let mut macs = vec![];
    for v in cvifs.as_array().unwrap() {
        let r = p.record("VIF", v.as_str().unwrap()).await;
        macs.push((
            r["device"].as_str().unwrap().to_string(),
            r["MAC"].as_str().unwrap().to_string(),
        ));
    }
    macs.sort();
    assert_eq!(macs[0].1, labpool::api::vif::gen_mac(0, &cseed));
    assert_ne!(macs[0].1, mac0);
    assert_eq!(macs.len(), 2);
}

#[tokio::test]
async fn vdi_and_vbd_rules() {
    let p = Pool::start().await;
    let vm = p.linux_vm("disks").await;
    let sr = p.default_sr().await;
    let vdi = p
        .s(
            "VDI.create",
            json!([{
                "name_label": "data", "name_description": "", "SR": sr, "virtual_size": GIB,
                "type": "user", "sharable": false, "read_only": false, "other_config": {}
            }]),
        )
        .await;
    let vbd_args = |vdi: &str, dev: &str, ty: &str, mode: &str, empty: bool| {
        json!([{
            "VM": vm, "VDI": vdi, "userdevice": dev, "bootable": false, "mode": mode,
            "type": ty, "empty": empty, "other_config": {}, "qos_algorithm_type": "",
            "qos_algorithm_params": {}
        }])
    };
    assert_eq!(
        p.err("VBD.create", vbd_args(&vdi, "0", "Disk", "RW", false))
            .await,
        vec!["DEVICE_ALREADY_EXISTS", "0"]
    );
    assert_eq!(
        p.err("VBD.create", vbd_args(&vdi, "xvda", "Disk", "RW", false))
            .await,
        vec!["DEVICE_ALREADY_EXISTS", "xvda"]
    );
    assert_eq!(
        p.err("VBD.create", vbd_args(&vdi, "foo", "Disk", "RW", false))
            .await,
        vec!["INVALID_DEVICE", "foo"]
    );
    assert_eq!(
        p.err("VBD.create", vbd_args(&vdi, "5", "CD", "RW", false))
            .await,
        vec!["VBD_CDS_MUST_BE_READONLY"]
    );
    assert_eq!(
        p.err(
            "VBD.create",
            vbd_args("OpaqueRef:NULL", "5", "Disk", "RW", true)
        )
        .await,
        vec!["VBD_NOT_REMOVABLE_MEDIA", "in constructor"]
    );
    let vbd = p
        .s(
            "VBD.create",
            vbd_args(&vdi, "autodetect", "Disk", "RW", false),
        )
        .await;
    assert_eq!(p.s("VBD.get_userdevice", json!([vbd])).await, "1");
    // CD media errors
    let cd = {
        let mut found = String::new();
        for b in p.ok("VM.get_VBDs", json!([vm])).await.as_array().unwrap() {
            if p.s("VBD.get_type", json!([b])).await == "CD" {
                found = b.as_str().unwrap().to_string();
            }
        }
        found
    };
    assert_eq!(
        p.err("VBD.eject", json!([cd])).await,
        vec!["VBD_IS_EMPTY", cd.as_str()]
    );
    assert_eq!(
        p.err("VBD.insert", json!([vbd, vdi])).await,
        vec!["VBD_NOT_REMOVABLE_MEDIA", vbd.as_str()]
    );
    let iso_sr = p.by_name("SR", "ISO library").await;
    let iso = p.ok("SR.get_VDIs", json!([iso_sr])).await[0]
        .as_str()
        .unwrap()
        .to_string();
    p.ok("VBD.insert", json!([cd, iso])).await;
    assert_eq!(
        p.err("VBD.insert", json!([cd, iso])).await,
        vec!["VBD_NOT_EMPTY", cd.as_str()]
    );
    p.ok("VBD.eject", json!([cd])).await;
    assert_eq!(p.ok("VBD.get_empty", json!([cd])).await, true);
    // in use while running
    p.ok("VM.start", json!([vm, false, false])).await;
    assert_eq!(
        p.err("VDI.destroy", json!([vdi])).await,
        vec!["VDI_IN_USE", vdi.as_str(), "destroy"]
    );
    let vbd_uuid = p.s("VBD.get_uuid", json!([vbd])).await;
    let vm_uuid = p.s("VM.get_uuid", json!([vm])).await;
    assert_eq!(
        p.err("VBD.destroy", json!([vbd])).await,
        vec![
            "OPERATION_NOT_ALLOWED".to_string(),
            format!("VBD '{vbd_uuid}' still attached to '{vm_uuid}'")
        ]
    );
    p.ok("VM.hard_shutdown", json!([vm])).await;
    p.ok("VDI.resize", json!([vdi, 2 * GIB])).await;
    assert_eq!(
        p.ok("VDI.get_virtual_size", json!([vdi])).await,
        json!(2 * GIB)
    );
    p.ok("VDI.destroy", json!([vdi])).await;
    // detached VBD records go with the VDI
    assert_eq!(
        p.err("VBD.get_record", json!([vbd])).await,
        vec!["HANDLE_INVALID", "VBD", vbd.as_str()]
    );
    let _: J = p.record("VM", &vm).await;
}
