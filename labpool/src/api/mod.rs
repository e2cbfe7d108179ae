//! The XAPI classes and calls the lab pool implements, one module per concern.

pub mod events;
pub mod generic;
pub mod hostpool;
pub mod memory;
pub mod session;
pub mod storage;
pub mod sysprep;
pub mod tasks;
pub mod vif;
pub mod vm;

use crate::dispatch::Registry;

/// Registers every custom method (after the generated ones, which they override).
pub fn register_all(r: &mut Registry) {
    session::register(r);
    hostpool::register(r);
    storage::register(r);
    vif::register(r);
    vm::register(r);
    memory::register(r);
    tasks::register(r);
    events::register(r);
}
