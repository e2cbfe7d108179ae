//! `labpool`: a faithful XAPI (XenAPI) pool simulator.
//!
//! Start one in-process with [`LabPool::start`], or run the `xapi-labpool` binary. The wire
//! format, error codes and semantics follow XAPI as documented in the project's
//! `reference/xapi.md`; see `README.md` for the CLI, the inventory format, the `/labpool/`
//! admin API and the error-code table.
//!
//! ```no_run
//! # async fn demo() -> Result<(), labpool::LabPoolError> {
//! let pool = labpool::LabPool::start(labpool::Config::default()).await?;
//! println!("XAPI at {}", pool.base_url());
//! pool.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod faults;
pub mod guest;
pub mod http;
pub mod inventory;
pub mod pool;
pub mod rpc;
pub mod server;
pub mod value;

pub use error::{ApiError, LabPoolError};
pub use inventory::Inventory;
pub use server::{Config, LabPool, RunningPool};
