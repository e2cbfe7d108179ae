"""Peer test: the official XenAPI Python SDK (PyPI `xenapi`, XML-RPC) against xapi-labpool.

Starts the lab pool binary itself (LABPOOL_BIN, default: target/debug/xapi-labpool of the
workspace), then exercises login, listing, clone+provision+start+shutdown+destroy and the
memory error codes. Prints `python-peer: N passed, M failed` and exits non-zero on failure.
"""

import os
import subprocess
import sys
import time
import traceback

import XenAPI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BIN = os.environ.get("LABPOOL_BIN", os.path.join(ROOT, "target", "debug", "xapi-labpool"))
GIB = 1 << 30


def start_pool():
    proc = subprocess.Popen(
        [BIN, "--listen", "127.0.0.1:0", "--boot-seconds", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError("unexpected first line: %r" % url)
    return proc, url


def expect_failure(fn, *details):
    try:
        fn()
    except XenAPI.Failure as f:
        assert f.details[: len(details)] == list(details), f.details
        return f.details
    raise AssertionError("expected failure %s" % (details,))


def wait(pred, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_login_failure(url, x):
    s = XenAPI.Session(url)
    expect_failure(lambda: s.xenapi.login_with_password("root", "wrong", "1.0", "peer"),
                   "SESSION_AUTHENTICATION_FAILED", "root")


def test_list_vms_and_templates(url, x):
    records = x.VM.get_all_records()
    templates = [r["name_label"] for r in records.values() if r["is_a_template"]]
    assert "Debian Bookworm 12" in templates, templates
    assert "labpool Ubuntu 24.04 cloud-init" in templates, templates
    dom0 = [r for r in records.values() if r["is_control_domain"]]
    assert len(dom0) == 3
    # non-strict XML-RPC: ints arrive as strings
    t = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    assert x.VM.get_memory_static_max(t) == str(GIB)
    pool = x.pool.get_all()[0]
    master = x.pool.get_master(pool)
    assert x.host.get_record(master)["name_label"] == "lab-host-1"
    assert len(x.SR.get_all()) == 5
    assert len(x.network.get_all()) == 2


def test_clone_provision_start_shutdown_destroy(url, x):
    t = x.VM.get_by_name_label("labpool Ubuntu 24.04 cloud-init")[0]
    vm = x.VM.clone(t, "py-peer")
    assert x.VM.get_is_a_template(vm) is True
    x.VM.provision(vm)
    assert x.VM.get_is_a_template(vm) is False
    net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vif = x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "", "MTU": "1500",
                        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    mac = x.VIF.get_MAC(vif)
    assert len(mac.split(":")) == 6 and int(mac[:2], 16) & 2, mac
    x.VM.set_memory_limits(vm, str(GIB), str(2 * GIB), str(2 * GIB), str(2 * GIB))
    task = x.Async.VM.start(vm, False, False)
    wait(lambda: x.task.get_status(task) != "pending")
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    assert x.VM.get_power_state(vm) == "Running"
    gm = wait(lambda: (lambda g: g if g != "OpaqueRef:NULL" else None)(x.VM.get_guest_metrics(vm)))
    nets = x.VM_guest_metrics.get_networks(gm)
    assert nets["0/ip"].startswith("192.168.100."), nets
    x.VM.clean_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"
    vdis = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "Disk"]
    x.VM.destroy(vm)
    for v in vdis:
        x.VDI.destroy(v)
    assert x.VM.get_by_name_label("py-peer") == []


def test_memory_errors(url, x):
    t = x.VM.get_by_name_label("labpool Ubuntu 24.04 cloud-init")[0]
    vm = x.VM.clone(t, "py-mem")
    x.VM.provision(vm)
    expect_failure(lambda: x.VM.set_memory_limits(vm, str(2 * GIB), str(4 * GIB), str(GIB), str(4 * GIB)),
                   "MEMORY_CONSTRAINT_VIOLATION_ORDER")
    expect_failure(lambda: x.VM.set_memory_limits(vm, str(GIB), str(2 * GIB), str(GIB), str(3 * GIB)),
                   "MEMORY_CONSTRAINT_VIOLATION_ORDER")
    expect_failure(lambda: x.VM.set_memory_dynamic_range(vm, str(3 * GIB), str(GIB)),
                   "MEMORY_CONSTRAINT_VIOLATION_ORDER")
    x.VM.start(vm, False, False)
    expect_failure(lambda: x.VM.set_memory_limits(vm, str(GIB), str(2 * GIB), str(2 * GIB), str(2 * GIB)),
                   "VM_BAD_POWER_STATE", vm, "halted", "running")
    expect_failure(lambda: x.VM.set_memory_static_max(vm, str(4 * GIB)),
                   "VM_BAD_POWER_STATE", vm, "halted", "running")
    x.VM.set_memory_dynamic_range(vm, str(GIB), str(2 * GIB))
    x.VM.hard_shutdown(vm)
    expect_failure(lambda: x.VM.start(t, False, False), "VM_IS_TEMPLATE", t, "start")
    expect_failure(lambda: x.VM.get_record("OpaqueRef:nope"), "HANDLE_INVALID", "VM", "OpaqueRef:nope")
    x.VM.destroy(vm)


def main():
    proc, url = start_pool()
    passed = failed = 0
    try:
        session = XenAPI.Session(url)
        session.xenapi.login_with_password("root", "labpool", "1.0", "python-peer")
        x = session.xenapi
        for name, fn in sorted(globals().items()):
            if name.startswith("test_") and callable(fn):
                try:
                    fn(url, x)
                    passed += 1
                    print("ok   %s" % name)
                except Exception:
                    failed += 1
                    print("FAIL %s" % name)
                    traceback.print_exc()
        session.xenapi.session.logout()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("python-peer: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
