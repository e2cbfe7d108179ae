//! The per-process record snapshot (DESIGN decision 8: reads are cheap).
//!
//! Per XAPI class, the snapshot starts empty and answers single-object reads
//! with targeted calls (`get_record`, `get_by_uuid`, `get_by_name_label`). Once
//! a class has been asked for more than [`super::PoolOptions::batch_threshold`]
//! times, or someone asks for every object of the class, it is *batched*: one
//! `event.from([class], "", 0)` loads every record of the class (the same data
//! as `<class>.get_all_records`, plus an event token), and from then on the
//! class is kept current with `event.from([class], token, 0)` deltas, which
//! return only the objects changed since the last call.
//!
//! A batched class is re-synchronised (one delta call, shared by every
//! concurrent reader) when its last sync started longer ago than
//! [`super::PoolOptions::freshness`] or when [`Snapshot::invalidate`] was
//! called after a mutation. So refreshing N VMs costs one bootstrap plus a few
//! delta calls, not N whole-pool scans, and a read never sees data older than
//! the freshness window or older than this process's own last mutation.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xapi::{Class, Client, EventOperation, Ref};

use super::error::PoolError;

/// A XAPI class the snapshot can hold: how to get the identity of a record.
pub trait Cached: Class<Record: Sync> {
    /// The record's UUID.
    fn uuid(record: &Self::Record) -> &str;
    /// The record's `name_label` (empty for classes without one).
    fn name_label(_record: &Self::Record) -> &str {
        ""
    }
}

macro_rules! cached {
    ($($class:ty => named: $named:tt;)*) => {
        $(
            impl Cached for $class {
                fn uuid(record: &Self::Record) -> &str {
                    &record.uuid
                }
                cached!(@name $named);
            }
        )*
    };
    (@name true) => {
        fn name_label(record: &Self::Record) -> &str {
            &record.name_label
        }
    };
    (@name false) => {};
}

cached! {
    xapi::Pool => named: true;
    xapi::Host => named: true;
    xapi::HostMetrics => named: false;
    xapi::Sr => named: true;
    xapi::Vdi => named: true;
    xapi::Vbd => named: false;
    xapi::Network => named: true;
    xapi::Pif => named: false;
    xapi::Vif => named: false;
    xapi::Vm => named: true;
    xapi::VmGuestMetrics => named: false;
    xapi::VmMetrics => named: false;
}

/// Every record of one class, keyed by reference.
pub type Records<C> = BTreeMap<Ref<C>, <C as Class>::Record>;

struct ClassCache<C: Class> {
    token: String,
    records: Arc<Records<C>>,
    /// When the sync that produced this state started.
    started: Instant,
    /// The invalidation epoch when that sync started.
    epoch: u64,
}

struct ClassSlot<C: Class> {
    state: tokio::sync::Mutex<Option<ClassCache<C>>>,
    batched: AtomicBool,
    targeted: AtomicU64,
}

impl<C: Class> Default for ClassSlot<C> {
    fn default() -> Self {
        ClassSlot {
            state: tokio::sync::Mutex::new(None),
            batched: AtomicBool::new(false),
            targeted: AtomicU64::new(0),
        }
    }
}

/// The snapshot of one pool (see the module documentation).
pub struct Snapshot {
    slots: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
    epoch: AtomicU64,
    freshness: Duration,
    batch_threshold: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("freshness", &self.freshness)
            .field("batch_threshold", &self.batch_threshold)
            .finish()
    }
}

fn event_class<C: Class>() -> String {
    C::NAME.to_ascii_lowercase()
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new(freshness: Duration, batch_threshold: u64) -> Self {
        Snapshot {
            slots: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            freshness,
            batch_threshold,
        }
    }

    fn slot<C: Cached>(&self) -> Arc<ClassSlot<C>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let entry = slots
            .entry(C::NAME)
            .or_insert_with(|| Arc::new(ClassSlot::<C>::default()) as Arc<dyn Any + Send + Sync>)
            .clone();
        drop(slots);
        match entry.downcast::<ClassSlot<C>>() {
            Ok(slot) => slot,
            // Class names are unique per type, so this cannot happen; a fresh
            // (uncached) slot is still a correct answer.
            Err(_) => Arc::new(ClassSlot::default()),
        }
    }

    /// Marks everything as possibly changed: the next read of every batched
    /// class synchronises first. Call after mutating calls.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// True once class `C` is served from the batched snapshot.
    pub fn is_batched<C: Cached>(&self) -> bool {
        self.slot::<C>().batched.load(Ordering::SeqCst)
    }

    /// Every record of class `C`, current within the freshness window.
    pub async fn all<C: Cached>(&self, client: &Client) -> Result<Arc<Records<C>>, PoolError> {
        let slot = self.slot::<C>();
        self.sync_slots(client, vec![Box::new(slot.clone())])
            .await?;
        let guard = slot.state.lock().await;
        Ok(guard
            .as_ref()
            .map(|cache| cache.records.clone())
            .unwrap_or_default())
    }

    /// Brings several classes up to date with one `event.from` call (a
    /// bootstrap of all of them when one is not loaded yet, else one delta
    /// call) and marks them batched. Later [`Snapshot::all`] /
    /// [`Snapshot::get`] of these classes are answered from memory.
    pub async fn prefetch(&self, client: &Client, classes: &[ClassKey]) -> Result<(), PoolError> {
        let slots = classes.iter().map(|k| (k.slot)(self)).collect();
        self.sync_slots(client, slots).await
    }

    async fn sync_slots(
        &self,
        client: &Client,
        mut slots: Vec<Box<dyn SlotOps>>,
    ) -> Result<(), PoolError> {
        // A fixed lock order (by class name) keeps concurrent prefetches of
        // overlapping class sets from deadlocking.
        slots.sort_by_key(|s| s.class());
        slots.dedup_by_key(|s| s.class());
        let requested = Instant::now();
        let epoch = self.epoch.load(Ordering::SeqCst);
        let mut guards = Vec::with_capacity(slots.len());
        for slot in &slots {
            slot.mark_batched();
            guards.push(slot.lock().await);
        }
        let stale: Vec<usize> = (0..guards.len())
            .filter(|&i| !guards[i].fresh(requested, epoch, self.freshness))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let classes: Vec<String> = stale.iter().map(|&i| slots[i].class()).collect();
        let names = classes.join(", ");
        let started = Instant::now();
        let sync_epoch = self.epoch.load(Ordering::SeqCst);
        // Delta from the oldest token when every class is loaded. Events are
        // current snapshots, so replaying a change a newer class already saw
        // is harmless.
        let tokens: Option<Vec<String>> = stale.iter().map(|&i| guards[i].token()).collect();
        let delta = match tokens.and_then(|t| t.into_iter().min()) {
            Some(token) => match client.event_from(&classes, &token, Duration::ZERO).await {
                Ok(batch) => Some(batch),
                // An expired or foreign token: start over.
                Err(e) if e.is(&xapi::ErrorCode::EventFromTokenParseFailure) => None,
                Err(e) if e.code().is_some_and(|c| c.as_str() == "EVENTS_LOST") => None,
                Err(e) => {
                    return Err(PoolError::xapi(format!("reading changes of {names}"), e));
                }
            },
            None => None,
        };
        let (batch, bootstrap) = match delta {
            Some(batch) => (batch, false),
            None => (
                client
                    .event_from(&classes, "", Duration::ZERO)
                    .await
                    .map_err(|e| PoolError::xapi(format!("reading every {names} object"), e))?,
                true,
            ),
        };
        for &i in &stale {
            guards[i].install(&batch.events, &batch.token, bootstrap, started, sync_epoch)?;
        }
        tracing::debug!(
            classes = %names,
            events = batch.events.len(),
            bootstrap,
            "pool snapshot synchronised"
        );
        Ok(())
    }

    /// Counts a targeted read; true when the class should be batched instead.
    fn should_batch<C: Cached>(&self, slot: &ClassSlot<C>) -> bool {
        if slot.batched.load(Ordering::SeqCst) {
            return true;
        }
        let n = slot.targeted.fetch_add(1, Ordering::SeqCst) + 1;
        n > self.batch_threshold
    }

    /// The record of one object; `None` when it does not exist.
    pub async fn get<C: Cached>(
        &self,
        client: &Client,
        r: &Ref<C>,
    ) -> Result<Option<C::Record>, PoolError> {
        if r.is_null() {
            return Ok(None);
        }
        let slot = self.slot::<C>();
        if self.should_batch(&slot) {
            return Ok(self.all::<C>(client).await?.get(r).cloned());
        }
        match client.get_record::<C>(r).await {
            Ok(record) => Ok(Some(record)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(PoolError::xapi(format!("reading {} {r}", C::NAME), e)),
        }
    }

    /// The object with this UUID; `None` when there is none.
    pub async fn by_uuid<C: Cached>(
        &self,
        client: &Client,
        uuid: &str,
    ) -> Result<Option<(Ref<C>, C::Record)>, PoolError> {
        let slot = self.slot::<C>();
        if self.should_batch(&slot) {
            let all = self.all::<C>(client).await?;
            return Ok(all
                .iter()
                .find(|(_, rec)| C::uuid(rec).eq_ignore_ascii_case(uuid))
                .map(|(r, rec)| (r.clone(), rec.clone())));
        }
        let r = match client.get_by_uuid::<C>(uuid).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(PoolError::xapi(format!("looking up {} {uuid}", C::NAME), e));
            }
        };
        match client.get_record::<C>(&r).await {
            Ok(record) => Ok(Some((r, record))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(PoolError::xapi(format!("reading {} {uuid}", C::NAME), e)),
        }
    }

    /// Every object whose `name_label` is exactly `name`.
    pub async fn by_name<C: Cached>(
        &self,
        client: &Client,
        name: &str,
    ) -> Result<Vec<(Ref<C>, C::Record)>, PoolError> {
        let slot = self.slot::<C>();
        if self.should_batch(&slot) {
            let all = self.all::<C>(client).await?;
            return Ok(all
                .iter()
                .filter(|(_, rec)| C::name_label(rec) == name)
                .map(|(r, rec)| (r.clone(), rec.clone()))
                .collect());
        }
        let refs = client
            .get_by_name_label::<C>(name)
            .await
            .map_err(|e| PoolError::xapi(format!("looking up {} named {name:?}", C::NAME), e))?;
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            match client.get_record::<C>(&r).await {
                Ok(record) => out.push((r, record)),
                // Deleted between the two calls.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(PoolError::xapi(format!("reading {} {r}", C::NAME), e));
                }
            }
        }
        Ok(out)
    }
}

/// A class to [`Snapshot::prefetch`]: `ClassKey::of::<xapi::Vm>()`.
#[derive(Clone, Copy)]
pub struct ClassKey {
    name: &'static str,
    slot: fn(&Snapshot) -> Box<dyn SlotOps>,
}

impl std::fmt::Debug for ClassKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClassKey({})", self.name)
    }
}

impl ClassKey {
    /// The key of class `C`.
    pub fn of<C: Cached>() -> Self {
        fn slot<C: Cached>(s: &Snapshot) -> Box<dyn SlotOps> {
            Box::new(s.slot::<C>())
        }
        ClassKey {
            name: C::NAME,
            slot: slot::<C>,
        }
    }

    /// The XAPI class name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A class slot with its record type erased (for multi-class syncs).
trait SlotOps: Send + Sync {
    fn class(&self) -> String;
    fn mark_batched(&self);
    fn lock(&self) -> BoxFuture<'_, Box<dyn LockedSlot + '_>>;
}

trait LockedSlot: Send {
    fn fresh(&self, requested: Instant, epoch: u64, freshness: Duration) -> bool;
    fn token(&self) -> Option<String>;
    fn install(
        &mut self,
        events: &[xapi::Event],
        token: &str,
        bootstrap: bool,
        started: Instant,
        epoch: u64,
    ) -> Result<(), PoolError>;
}

impl<C: Cached> SlotOps for Arc<ClassSlot<C>> {
    fn class(&self) -> String {
        event_class::<C>()
    }

    fn mark_batched(&self) {
        self.batched.store(true, Ordering::SeqCst);
    }

    fn lock(&self) -> BoxFuture<'_, Box<dyn LockedSlot + '_>> {
        Box::pin(async move { Box::new(self.state.lock().await) as Box<dyn LockedSlot + '_> })
    }
}

impl<C: Cached> LockedSlot for tokio::sync::MutexGuard<'_, Option<ClassCache<C>>> {
    fn fresh(&self, requested: Instant, epoch: u64, freshness: Duration) -> bool {
        match self.as_ref() {
            None => false,
            Some(cache) => {
                let recent = cache.started >= requested
                    || requested.duration_since(cache.started) <= freshness;
                cache.epoch >= epoch && recent
            }
        }
    }

    fn token(&self) -> Option<String> {
        self.as_ref().map(|c| c.token.clone())
    }

    fn install(
        &mut self,
        events: &[xapi::Event],
        token: &str,
        bootstrap: bool,
        started: Instant,
        epoch: u64,
    ) -> Result<(), PoolError> {
        let mut records = match (bootstrap, self.as_ref()) {
            (false, Some(cache)) => (*cache.records).clone(),
            _ => Records::<C>::new(),
        };
        apply::<C>(&mut records, events)?;
        **self = Some(ClassCache {
            token: token.to_string(),
            records: Arc::new(records),
            started,
            epoch,
        });
        Ok(())
    }
}

fn apply<C: Cached>(records: &mut Records<C>, events: &[xapi::Event]) -> Result<(), PoolError> {
    let class = event_class::<C>();
    for event in events {
        if !event.class.eq_ignore_ascii_case(&class) {
            continue;
        }
        let r = Ref::<C>::new(event.reference.clone());
        match event.operation {
            EventOperation::Del => {
                records.remove(&r);
            }
            _ => match event.record::<C>() {
                Ok(Some(record)) => {
                    records.insert(r, record);
                }
                // `add`/`mod` without a snapshot: nothing to store.
                Ok(None) => {}
                Err(e) => {
                    return Err(PoolError::xapi(
                        format!("decoding a {} record from event.from", C::NAME),
                        e,
                    ));
                }
            },
        }
    }
    Ok(())
}
