//! VM calls against the lab pool: reads, clone/copy/provision, memory, VCPUs, maps and
//! sets, power operations (sync and async), destroy — with XAPI's error codes.

mod common;

use std::time::Duration;

use common::*;
use xapi::{ErrorCode, MemoryLimits, PowerState, StringMap, Vm};

#[tokio::test]
async fn reads_by_all_records_uuid_and_name() {
    let lab = Lab::start().await;
    let c = lab.client();
    let all = c.vm().get_all_records().await.unwrap();
    // Templates and the three control domains are in get_all_records.
    assert_eq!(all.values().filter(|r| r.is_control_domain).count(), 3);
    let (tref, trec) = all
        .iter()
        .find(|(_, r)| r.name_label == LINUX_TEMPLATE)
        .unwrap();
    assert!(trec.is_a_template);
    assert!(trec.memory_static_max > 0);
    assert_eq!(c.vm().get_all().await.unwrap().len(), all.len());
    assert_eq!(&c.vm().get_by_uuid(&trec.uuid).await.unwrap(), tref);
    assert_eq!(c.vm().get_record(tref).await.unwrap().uuid, trec.uuid);
    assert_eq!(
        c.vm().get_by_name_label(LINUX_TEMPLATE).await.unwrap(),
        vec![tref.clone()]
    );
    assert!(
        c.vm()
            .get_by_name_label("no such VM")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.get_uuid(tref).await.unwrap(), trec.uuid);

    let e = c
        .vm()
        .get_by_uuid("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::UuidInvalid), "{e}");
    assert!(e.is_not_found());
    let e = c
        .vm()
        .get_record(&xapi::VmRef::new(
            "OpaqueRef:00000000-0000-0000-0000-000000000000",
        ))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::HandleInvalid), "{e}");
    assert_eq!(e.api().unwrap().param(0), Some("VM"));
}

#[tokio::test]
async fn clone_provision_and_destroy() {
    let lab = Lab::start().await;
    let c = lab.client();
    let tpl = template(&c, LINUX_TEMPLATE).await;
    let trec = c.vm().get_record(&tpl).await.unwrap();
    let vm = c.vm().clone(&tpl, "clone-1").await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(rec.name_label, "clone-1");
    assert!(rec.is_a_template, "a clone of a template is a template");
    assert_ne!(
        rec.other_config.get("mac_seed"),
        trec.other_config.get("mac_seed")
    );
    assert_eq!(rec.memory_static_max, trec.memory_static_max);

    c.vm().provision(&vm).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert!(!rec.is_a_template);
    assert_eq!(rec.power_state, PowerState::Halted);
    // Provision is only for templates.
    let e = c.vm().provision(&vm).await.unwrap_err();
    assert!(e.is(&ErrorCode::OnlyProvisionTemplate), "{e}");

    let vdis: Vec<_> = {
        let mut v = Vec::new();
        for vbd in &rec.vbds {
            let b = c.vbd().get_record(vbd).await.unwrap();
            if !b.vdi.is_null() {
                v.push(b.vdi);
            }
        }
        v
    };
    c.vm().destroy(&vm).await.unwrap();
    let e = c.vm().get_record(&vm).await.unwrap_err();
    assert!(e.is_not_found());
    // VM.destroy leaves the VDIs.
    for vdi in &vdis {
        c.vdi().get_record(vdi).await.unwrap();
    }
}

#[tokio::test]
async fn provision_default_template_needs_a_real_sr() {
    let lab = Lab::start().await;
    let c = lab.client();
    let tpl = template(&c, DEFAULT_TEMPLATE).await;
    let vm = c.vm().clone(&tpl, "from-default").await.unwrap();
    let e = c.vm().provision(&vm).await.unwrap_err();
    assert!(e.is(&ErrorCode::UuidInvalid), "{e}");
    assert_eq!(e.api().unwrap().param(0), Some("sr"));

    // XAPI clears is_a_template before it reads the disks: the failed VM is no template.
    assert!(!c.vm().get_record(&vm).await.unwrap().is_a_template);
    c.vm().destroy(&vm).await.unwrap();

    // Rewrite the provisioning XML with the pool default SR, as the CLI does.
    let vm = c.vm().clone(&tpl, "from-default-2").await.unwrap();
    let (_, pool) = c.pool().the_pool().await.unwrap();
    let sr = c.sr().get_record(&pool.default_sr).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    let disks = rec.other_config["disks"].replace("sr=\"\"", &format!("sr=\"{}\"", sr.uuid));
    c.vm().remove_from_other_config(&vm, "disks").await.unwrap();
    c.vm()
        .add_to_other_config(&vm, "disks", &disks)
        .await
        .unwrap();
    c.vm()
        .provision_async(&vm, Duration::from_secs(30))
        .await
        .unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert!(!rec.is_a_template);
    assert!(!rec.other_config.contains_key("disks"));
    let mut sizes = Vec::new();
    for vbd in &rec.vbds {
        let b = c.vbd().get_record(vbd).await.unwrap();
        let d = c.vdi().get_record(&b.vdi).await.unwrap();
        assert_eq!(d.sr, pool.default_sr);
        sizes.push(d.virtual_size);
    }
    assert_eq!(sizes, vec![10 * GIB]);
}

#[tokio::test]
async fn copy_and_async_clone() {
    let lab = Lab::start().await;
    let c = lab.client();
    let tpl = template(&c, LINUX_TEMPLATE).await;
    let (_, pool) = c.pool().the_pool().await.unwrap();
    let copy = c
        .vm()
        .copy(&tpl, "full-copy", &pool.default_sr)
        .await
        .unwrap();
    assert!(c.vm().get_record(&copy).await.unwrap().is_a_template);
    let copy2 = c
        .vm()
        .copy_async(
            &tpl,
            "full-copy-2",
            &pool.default_sr,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        c.vm().get_record(&copy2).await.unwrap().name_label,
        "full-copy-2"
    );
    let clone = c
        .vm()
        .clone_async(&tpl, "async-clone", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        c.vm().get_record(&clone).await.unwrap().name_label,
        "async-clone"
    );
    // run_async cleans up its tasks.
    let tasks = c.task().get_all_records().await.unwrap();
    assert!(
        tasks
            .values()
            .all(|t| !t.name_label.starts_with("Async.VM.c")),
        "{tasks:?}"
    );
}

#[tokio::test]
async fn memory_setters_and_their_gates() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "mem").await;
    let want = MemoryLimits {
        static_min: 512 * MIB,
        dynamic_min: GIB,
        dynamic_max: 2 * GIB,
        static_max: 4 * GIB,
    };
    c.vm().set_memory_limits(&vm, want).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(MemoryLimits::of(&rec), want);

    // Every order violation is refused.
    for bad in [
        MemoryLimits {
            static_min: 3 * GIB,
            ..want
        },
        MemoryLimits {
            dynamic_min: 3 * GIB,
            ..want
        },
        MemoryLimits {
            dynamic_max: 8 * GIB,
            ..want
        },
        MemoryLimits {
            static_max: GIB,
            ..want
        },
    ] {
        assert!(!bad.is_ordered());
        let e = c.vm().set_memory_limits(&vm, bad).await.unwrap_err();
        assert!(
            e.is(&ErrorCode::MemoryConstraintViolationOrder),
            "{bad:?}: {e}"
        );
    }
    assert_eq!(
        MemoryLimits::of(&c.vm().get_record(&vm).await.unwrap()),
        want
    );

    c.vm()
        .set_memory_static_range(&vm, 256 * MIB, 6 * GIB)
        .await
        .unwrap();
    c.vm().set_memory_static_max(&vm, 5 * GIB).await.unwrap();
    c.vm().set_memory_static_min(&vm, 384 * MIB).await.unwrap();
    c.vm()
        .set_memory_dynamic_range(&vm, 2 * GIB, 3 * GIB)
        .await
        .unwrap();
    c.vm().set_memory_dynamic_max(&vm, 4 * GIB).await.unwrap();
    c.vm().set_memory_dynamic_min(&vm, GIB).await.unwrap();
    let got = MemoryLimits::of(&c.vm().get_record(&vm).await.unwrap());
    assert_eq!(
        got,
        MemoryLimits {
            static_min: 384 * MIB,
            dynamic_min: GIB,
            dynamic_max: 4 * GIB,
            static_max: 5 * GIB
        }
    );
    let e = c
        .vm()
        .set_memory_dynamic_max(&vm, 6 * GIB)
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::MemoryConstraintViolationOrder), "{e}");

    c.vm().set_memory(&vm, 3 * GIB).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(
        (
            rec.memory_static_max,
            rec.memory_dynamic_min,
            rec.memory_dynamic_max
        ),
        (3 * GIB, 3 * GIB, 3 * GIB)
    );

    // Running: the dynamic range changes live, the rest is refused.
    c.vm()
        .set_memory_dynamic_range(&vm, 2 * GIB, 3 * GIB)
        .await
        .unwrap();
    c.vm().start(&vm, false, false).await.unwrap();
    c.vm()
        .set_memory_dynamic_range(&vm, GIB, 3 * GIB)
        .await
        .unwrap();
    assert_eq!(
        c.vm().get_record(&vm).await.unwrap().memory_dynamic_min,
        GIB
    );
    let e = c.vm().set_memory_limits(&vm, want).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    let api = e.api().unwrap();
    assert_eq!(api.param(0), Some(vm.as_str()));
    assert_eq!(api.param(1), Some("halted"));
    assert_eq!(api.param(2), Some("running"));
    let e = c
        .vm()
        .set_memory_static_max(&vm, 8 * GIB)
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    c.vm().hard_shutdown(&vm).await.unwrap();
}

#[tokio::test]
async fn not_enough_host_memory_at_start() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "huge").await;
    let (_, pool) = c.pool().the_pool().await.unwrap();
    let free = c.host().compute_free_memory(&pool.master).await.unwrap();
    assert!(free > 0);
    let big = 200 * GIB;
    c.vm()
        .set_memory_limits(
            &vm,
            MemoryLimits {
                static_min: big,
                dynamic_min: big,
                dynamic_max: big,
                static_max: big,
            },
        )
        .await
        .unwrap();
    let e = c.vm().start(&vm, false, false).await.unwrap_err();
    assert!(e.is(&ErrorCode::HostNotEnoughFreeMemory), "{e}");
    // The async form reports the same code through the task.
    let task = c.vm().start_async(&vm, false, false).await.unwrap();
    let e = c
        .await_task(&task, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::HostNotEnoughFreeMemory), "{e}");
    assert!(e.to_string().starts_with("Async.VM.start"), "{e}");
}

#[tokio::test]
async fn vcpus() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "cpu").await;
    // Grow: max first, then at_startup.
    c.vm().set_vcpus_max(&vm, 8).await.unwrap();
    c.vm().set_vcpus_at_startup(&vm, 4).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!((rec.vcpus_max, rec.vcpus_at_startup), (8, 4));
    let e = c.vm().set_vcpus_at_startup(&vm, 9).await.unwrap_err();
    assert!(e.is(&ErrorCode::InvalidValue), "{e}");
    let e = c.vm().set_vcpus_max(&vm, 2).await.unwrap_err();
    assert!(e.is(&ErrorCode::InvalidValue), "{e}");
    let e = c.vm().set_vcpus_at_startup(&vm, 0).await.unwrap_err();
    assert!(e.is(&ErrorCode::InvalidValue), "{e}");

    c.vm().start(&vm, false, false).await.unwrap();
    let e = c.vm().set_vcpus_max(&vm, 16).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    c.vm().set_vcpus_number_live(&vm, 6).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    let metrics = c.metrics().vm(&rec.metrics).await.unwrap();
    assert_eq!(metrics.vcpus_number, 6);
    c.vm().hard_shutdown(&vm).await.unwrap();
}

#[tokio::test]
async fn maps_sets_and_references() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "maps").await;
    let map = |pairs: &[(&str, &str)]| -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };

    c.vm().set_name_label(&vm, "renamed").await.unwrap();
    c.vm().set_name_description(&vm, "described").await.unwrap();

    c.vm()
        .add_to_platform(&vm, "cores-per-socket", "2")
        .await
        .unwrap();
    let e = c
        .vm()
        .add_to_platform(&vm, "cores-per-socket", "2")
        .await
        .unwrap_err();
    assert!(e.is(&ErrorCode::MapDuplicateKey), "{e}");
    assert_eq!(
        e.api().unwrap().params[..2],
        ["VM".to_string(), "platform".to_string()]
    );
    c.vm().remove_from_platform(&vm, "viridian").await.unwrap();

    c.vm()
        .add_to_other_config(&vm, "owner", "test")
        .await
        .unwrap();
    c.vm()
        .remove_from_other_config(&vm, "absent")
        .await
        .unwrap();

    c.vm()
        .set_xenstore_data(&vm, &map(&[("vm-data/a", "1")]))
        .await
        .unwrap();
    c.vm()
        .add_to_xenstore_data(&vm, "vm-data/b", "2")
        .await
        .unwrap();
    c.vm()
        .remove_from_xenstore_data(&vm, "vm-data/a")
        .await
        .unwrap();

    c.vm()
        .set_tags(&vm, &["x".to_string(), "y".to_string()])
        .await
        .unwrap();
    c.vm().add_tags(&vm, "z").await.unwrap();
    c.vm().add_tags(&vm, "z").await.unwrap();
    c.vm().remove_tags(&vm, "x").await.unwrap();

    c.vm()
        .set_hvm_boot_params(&vm, &map(&[("order", "cd")]))
        .await
        .unwrap();
    c.vm()
        .add_to_hvm_boot_params(&vm, "firmware", "uefi")
        .await
        .unwrap();
    c.vm()
        .remove_from_hvm_boot_params(&vm, "order")
        .await
        .unwrap();

    let (_, pool) = c.pool().the_pool().await.unwrap();
    c.vm().set_affinity(&vm, &pool.master).await.unwrap();

    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(rec.name_label, "renamed");
    assert_eq!(rec.name_description, "described");
    assert_eq!(
        rec.platform.get("cores-per-socket").map(String::as_str),
        Some("2")
    );
    assert!(!rec.platform.contains_key("viridian"));
    assert_eq!(rec.other_config["owner"], "test");
    assert_eq!(rec.xenstore_data, map(&[("vm-data/b", "2")]));
    let mut tags = rec.tags.clone();
    tags.sort();
    assert_eq!(tags, vec!["y", "z"]);
    assert_eq!(rec.hvm_boot_params, map(&[("firmware", "uefi")]));
    assert_eq!(rec.affinity, pool.master);

    let mut platform = rec.platform.clone();
    platform.insert("nx".into(), "true".into());
    c.vm().set_platform(&vm, &platform).await.unwrap();
    let mut oc = rec.other_config.clone();
    oc.remove("owner");
    c.vm().set_other_config(&vm, &oc).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(rec.platform, platform);
    assert!(!rec.other_config.contains_key("owner"));

    // Blocked operations answer OPERATION_BLOCKED with the stored reason.
    c.vm()
        .set_blocked_operations(&vm, &map(&[("start", "BLOCKED_BY_TEST")]))
        .await
        .unwrap();
    let e = c.vm().start(&vm, false, false).await.unwrap_err();
    assert!(e.is(&ErrorCode::OperationBlocked), "{e}");
    assert_eq!(e.api().unwrap().param(1), Some("BLOCKED_BY_TEST"));
    c.vm()
        .set_blocked_operations(&vm, &StringMap::new())
        .await
        .unwrap();
    c.vm().start(&vm, false, false).await.unwrap();
    c.vm().hard_shutdown(&vm).await.unwrap();
}

#[tokio::test]
async fn power_operations() {
    let lab = Lab::start().await;
    let c = lab.client();
    let vm = new_vm(&c, "power").await;
    let vm2 = new_vm(&c, "power-2").await;
    let hosts = c.host().get_all_records().await.unwrap();
    let host2 = hosts
        .iter()
        .find(|(_, h)| h.name_label == "lab-host-2")
        .map(|(r, _)| r.clone())
        .unwrap();

    let e = c.vm().hard_shutdown(&vm).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    assert_eq!(e.api().unwrap().param(2), Some("halted"));

    c.vm().start(&vm, false, false).await.unwrap();
    let rec = c.vm().get_record(&vm).await.unwrap();
    assert_eq!(rec.power_state, PowerState::Running);
    assert!(!rec.resident_on.is_null());
    let e = c.vm().start(&vm, false, false).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");

    // Wait (event-driven) until the guest agent reports, then shut down cleanly.
    let rec = c
        .wait_for::<Vm>(&vm, Duration::from_secs(30), |r| !r.guest_metrics.is_null())
        .await
        .unwrap();
    let gm = c.metrics().guest(&rec.guest_metrics).await.unwrap();
    assert_eq!(
        gm.other.get("feature-shutdown").map(String::as_str),
        Some("1")
    );
    c.vm().clean_reboot(&vm).await.unwrap();
    c.vm().hard_reboot(&vm).await.unwrap();
    c.wait_for::<Vm>(&vm, Duration::from_secs(30), |r| !r.guest_metrics.is_null())
        .await
        .unwrap();
    c.vm().clean_shutdown(&vm).await.unwrap();
    assert_eq!(
        c.vm().get_record(&vm).await.unwrap().power_state,
        PowerState::Halted
    );

    c.vm().start_on(&vm, &host2, false, false).await.unwrap();
    assert_eq!(c.vm().get_record(&vm).await.unwrap().resident_on, host2);
    c.vm().hard_shutdown(&vm).await.unwrap();

    // The same through Async tasks, waited on with event.from.
    let t = Duration::from_secs(30);
    let task = c
        .vm()
        .start_on_async(&vm, &host2, false, false)
        .await
        .unwrap();
    c.await_task(&task, t).await.unwrap();
    c.wait_for::<Vm>(&vm, t, |r| !r.guest_metrics.is_null())
        .await
        .unwrap();
    let task = c.vm().clean_reboot_async(&vm).await.unwrap();
    c.await_task(&task, t).await.unwrap();
    let task = c.vm().hard_reboot_async(&vm).await.unwrap();
    c.await_task(&task, t).await.unwrap();
    c.wait_for::<Vm>(&vm, t, |r| !r.guest_metrics.is_null())
        .await
        .unwrap();
    let task = c.vm().clean_shutdown_async(&vm).await.unwrap();
    c.await_task(&task, t).await.unwrap();
    let task = c.vm().start_async(&vm, false, false).await.unwrap();
    let done = c.await_task(&task, t).await.unwrap();
    assert_eq!(done.result_value(), "");
    let task = c.vm().hard_shutdown_async(&vm).await.unwrap();
    c.await_task(&task, t).await.unwrap();

    // Destroy is refused while running, allowed when halted.
    c.vm().start(&vm, false, false).await.unwrap();
    let e = c.vm().destroy(&vm).await.unwrap_err();
    assert!(e.is(&ErrorCode::VmBadPowerState), "{e}");
    c.vm().hard_shutdown(&vm).await.unwrap();
    c.vm().destroy(&vm).await.unwrap();

    // VM.shutdown: clean with hard fallback.
    c.vm().start(&vm2, false, false).await.unwrap();
    c.vm().shutdown(&vm2).await.unwrap();
    assert_eq!(
        c.vm().get_record(&vm2).await.unwrap().power_state,
        PowerState::Halted
    );

    // Start/stop leave messages.
    let msgs = c.message().get_all_records().await.unwrap();
    let since = c
        .message()
        .get_since(&xapi::DateTime("19700101T00:00:00Z".into()))
        .await
        .unwrap();
    assert_eq!(since.len(), msgs.len());
    assert!(msgs.values().any(|m| m.name == "VM_STARTED"));
    let (mref, m) = msgs.iter().next().unwrap();
    assert_eq!(c.message().get_record(mref).await.unwrap().uuid, m.uuid);
}
