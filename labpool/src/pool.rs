//! Shared state of a running lab pool.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::db::{Db, rs};
use crate::dispatch::{Effect, Registry};
use crate::error::{ApiError, ApiResult, codes};
use crate::faults::{FaultAction, Faults};

/// Host refs sorted by name (the listener order).
pub fn host_order(db: &Db) -> Vec<String> {
    let mut hosts: Vec<(String, String)> = db
        .all("host")
        .map(|(r, h)| (rs(h, "name_label").to_string(), r.clone()))
        .collect();
    hosts.sort();
    hosts.into_iter().map(|(_, r)| r).collect()
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Accepted user name.
    pub username: String,
    /// Accepted password.
    pub password: String,
    /// Simulated guest boot time in seconds.
    pub boot_seconds: f64,
    /// Latency added to every call.
    pub latency_ms: u64,
    /// Delay before answering a failed login (XAPI waits 5 s).
    pub auth_failure_delay_ms: u64,
    /// `VM.sysprep`: simulated XAPI version and timings.
    pub sysprep: crate::api::sysprep::SysprepConfig,
}

/// State shared by every listener and background task.
pub struct Shared {
    db: Mutex<Db>,
    gen_tx: watch::Sender<u64>,
    /// Settings.
    pub settings: Settings,
    /// Fault injection.
    pub faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<String, u64>>,
    /// The method table.
    pub registry: Registry,
    /// Weak self-reference for spawning background work.
    pub me: std::sync::Weak<Shared>,
    /// The inventory the pool was built from (for reset).
    pub inventory: crate::inventory::Inventory,
    /// Host refs in listener order.
    host_refs: Mutex<Vec<String>>,
    /// Listener addresses (`127.0.0.1:port`) in listener order.
    pub addresses: Mutex<Vec<String>>,
}

impl Shared {
    /// Creates the shared state.
    pub fn new(
        mut db: Db,
        settings: Settings,
        inventory: crate::inventory::Inventory,
    ) -> Arc<Shared> {
        crate::api::sysprep::on_startup(&mut db, &settings.sysprep);
        let mut registry = Registry::build();
        crate::api::sysprep::register(&mut registry, &settings.sysprep);
        let (gen_tx, _) = watch::channel(db.generation);
        let host_refs = host_order(&db);
        Arc::new_cyclic(|me| Shared {
            inventory,
            host_refs: Mutex::new(host_refs),
            addresses: Mutex::new(Vec::new()),
            db: Mutex::new(db),
            gen_tx,
            settings,
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(BTreeMap::new()),
            registry,
            me: me.clone(),
        })
    }

    /// The host ref served by listener `i`.
    pub fn host_ref(&self, i: usize) -> String {
        self.host_refs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(i)
            .cloned()
            .unwrap_or_default()
    }

    /// Recomputes the listener order and writes the listener addresses into the host records.
    pub fn assign_addresses(&self) {
        let addrs = self
            .addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut db = self.lock_db();
        let refs = host_order(&db);
        for (r, a) in refs.iter().zip(addrs.iter()) {
            let _ = db.update("host", r, |h| {
                h.insert("address".into(), crate::value::Value::s(a));
            });
        }
        *self.host_refs.lock().unwrap_or_else(|e| e.into_inner()) = refs;
    }

    /// Replaces the database (reset), keeping event generations monotonic.
    pub fn replace_db(&self, mut new: Db) {
        crate::api::sysprep::on_startup(&mut new, &self.settings.sysprep);
        {
            let mut db = self.lock_db();
            let base = db.generation;
            for table in new.tables.values_mut() {
                for o in table.values_mut() {
                    o.created += base;
                    o.modified += base;
                }
            }
            new.generation += base + 1;
            let g = new.generation;
            for (class, table) in &db.tables {
                for (r, o) in table {
                    new.tombstones.push_back(crate::db::Tomb {
                        class: class.clone(),
                        r#ref: r.clone(),
                        created: o.created,
                        deleted: g,
                    });
                }
            }
            *db = new;
        }
        self.assign_addresses();
        self.notify();
    }

    /// Locks the database (recovering from a poisoned lock).
    pub fn lock_db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the current generation to `event.from` waiters.
    pub fn notify(&self) {
        let g = self.lock_db().generation;
        self.gen_tx.send_replace(g);
    }

    /// Subscribes to generation changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.gen_tx.subscribe()
    }

    /// Counts a call.
    pub fn count(&self, method: &str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry(method.to_string()).or_insert(0) += 1;
    }

    /// The call counts.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resets the call counts.
    pub fn reset_counts(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Latency and fault for one call.
    pub fn faults_for(&self, method: &str) -> (u64, Option<FaultAction>) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        (self.settings.latency_ms + f.latency_ms, f.decide(method))
    }

    /// The delay before `Async.` tasks run.
    pub fn async_delay_ms(&self) -> u64 {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .async_delay_ms
    }

    /// `Some(master address)` when `host` is not the pool master.
    pub fn slave_check(&self, host: &str) -> Option<String> {
        let db = self.lock_db();
        let (_, pool) = db.all("pool").next()?;
        let master = rs(pool, "master").to_string();
        if master == host {
            return None;
        }
        db.get("host", &master)
            .ok()
            .map(|h| rs(h, "address").to_string())
    }

    /// Validates a session ref.
    pub fn check_session(&self, session: &str) -> ApiResult<()> {
        if self.lock_db().exists("session", session) {
            Ok(())
        } else {
            Err(ApiError::new(codes::SESSION_INVALID, [session]))
        }
    }

    /// Runs a side effect.
    pub fn run_effect(&self, e: Effect) {
        let Some(me) = self.me.upgrade() else { return };
        match e {
            Effect::GuestBoot { vm, boot } => crate::guest::schedule_boot(me, vm, boot),
        }
    }
}
