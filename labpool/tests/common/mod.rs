//! Test helpers: an in-process lab pool and a minimal JSON-RPC client written for the
//! tests (independent of the `xapi` crate).
#![allow(dead_code)]

use serde_json::{Value as J, json};

pub struct Pool {
    pub pool: labpool::RunningPool,
    pub http: reqwest::Client,
    pub session: String,
}

pub type Res = Result<J, Vec<String>>;

impl Pool {
    pub async fn start() -> Pool {
        Self::start_with(labpool::Config {
            boot_seconds: 0.05,
            ..labpool::Config::default()
        })
        .await
    }

    pub async fn start_with(cfg: labpool::Config) -> Pool {
        let pool = labpool::LabPool::start(cfg).await.expect("lab pool starts");
        let http = reqwest::Client::new();
        let mut p = Pool {
            pool,
            http,
            session: String::new(),
        };
        let s = p
            .call_raw("session.login_with_password", json!(["root", "labpool"]))
            .await
            .expect("login");
        p.session = s.as_str().unwrap().to_string();
        p
    }

    pub fn url(&self) -> &str {
        self.pool.base_url()
    }

    /// JSON-RPC 2.0 call without a session.
    pub async fn call_raw(&self, method: &str, params: J) -> Res {
        self.call_at(self.url(), method, params).await
    }

    pub async fn call_at(&self, base: &str, method: &str, params: J) -> Res {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let resp: J = self
            .http
            .post(format!("{base}/jsonrpc"))
            .json(&body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if let Some(e) = resp.get("error") {
            let mut v = vec![e["message"].as_str().unwrap().to_string()];
            for d in e["data"].as_array().unwrap() {
                v.push(d.as_str().unwrap().to_string());
            }
            Err(v)
        } else {
            Ok(resp["result"].clone())
        }
    }

    /// Session call: the session is prepended.
    pub async fn call(&self, method: &str, params: J) -> Res {
        let mut p = vec![J::String(self.session.clone())];
        p.extend(params.as_array().cloned().unwrap_or_default());
        self.call_raw(method, J::Array(p)).await
    }

    pub async fn ok(&self, method: &str, params: J) -> J {
        match self.call(method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e:?}"),
        }
    }

    pub async fn err(&self, method: &str, params: J) -> Vec<String> {
        match self.call(method, params).await {
            Ok(v) => panic!("{method} unexpectedly succeeded: {v}"),
            Err(e) => e,
        }
    }

    pub async fn s(&self, method: &str, params: J) -> String {
        self.ok(method, params).await.as_str().unwrap().to_string()
    }

    pub async fn by_name(&self, class: &str, name: &str) -> String {
        let v = self
            .ok(&format!("{class}.get_by_name_label"), json!([name]))
            .await;
        v[0].as_str().unwrap().to_string()
    }

    pub async fn record(&self, class: &str, r: &str) -> J {
        self.ok(&format!("{class}.get_record"), json!([r])).await
    }

    pub async fn admin_get(&self, path: &str) -> J {
        self.http
            .get(format!("{}/labpool/{path}", self.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: J) -> J {
        self.http
            .post(format!("{}/labpool/{path}", self.url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn default_sr(&self) -> String {
        let pools = self.ok("pool.get_all", json!([])).await;
        let p = pools[0].as_str().unwrap().to_string();
        self.s("pool.get_default_SR", json!([p])).await
    }

    /// Writes `bytes` into `vdi` with `PUT /import_raw_vdi` (raw format).
    pub async fn upload(&self, vdi: &str, bytes: &[u8]) {
        let r = self
            .http
            .put(format!(
                "{}/import_raw_vdi?session_id={}&vdi={vdi}&format=raw",
                self.url(),
                self.session
            ))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    /// Puts `bytes` (a drive image) on a new VDI in the default SR and attaches it to
    /// `vm` as a Disk VBD; returns the VDI.
    pub async fn attach_disk_image(&self, vm: &str, bytes: &[u8]) -> String {
        let sr = self.default_sr().await;
        let vdi = self
            .s(
                "VDI.create",
                json!([{
                    "name_label": "cidata", "name_description": "", "SR": sr,
                    "virtual_size": bytes.len() as i64, "type": "user", "sharable": false,
                    "read_only": false, "other_config": {}
                }]),
            )
            .await;
        self.upload(&vdi, bytes).await;
        self.ok(
            "VBD.create",
            json!([{
                "VM": vm, "VDI": vdi, "userdevice": "autodetect", "bootable": false, "mode": "RW",
                "type": "Disk", "empty": false, "other_config": {}, "qos_algorithm_type": "",
                "qos_algorithm_params": {}
            }]),
        )
        .await;
        vdi
    }

    pub async fn network0(&self) -> String {
        self.by_name("network", "Pool-wide network associated with eth0")
            .await
    }

    /// Clone a template and return the new VM.
    pub async fn clone_of(&self, template: &str, name: &str) -> String {
        let t = self.by_name("VM", template).await;
        self.s("VM.clone", json!([t, name])).await
    }

    /// A halted, non-template VM from the ready Linux template.
    pub async fn linux_vm(&self, name: &str) -> String {
        let vm = self.clone_of("labpool Ubuntu 24.04 cloud-init", name).await;
        self.ok("VM.provision", json!([vm])).await;
        vm
    }

    pub async fn vif(&self, vm: &str, device: &str, mac: &str, network: &str) -> Res {
        self.call(
            "VIF.create",
            json!([{
                "device": device, "network": network, "VM": vm, "MAC": mac, "MTU": 1500,
                "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}
            }]),
        )
        .await
    }

    pub async fn wait_task(&self, task: &str) -> J {
        for _ in 0..500 {
            let r = self.record("task", task).await;
            if r["status"] != "pending" && r["status"] != "cancelling" {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("task {task} did not finish");
    }

    /// Waits until the VM's guest metrics satisfy `pred`.
    pub async fn wait_guest(&self, vm: &str, pred: impl Fn(&J) -> bool) -> J {
        for _ in 0..500 {
            let gm = self.s("VM.get_guest_metrics", json!([vm])).await;
            if gm != "OpaqueRef:NULL" {
                let r = self.record("VM_guest_metrics", &gm).await;
                if pred(&r) {
                    return r;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("guest of {vm} did not report");
    }
}
