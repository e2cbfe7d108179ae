//! # xapi — a typed async client for XAPI (XCP-ng / XenServer)
//!
//! Speaks JSON-RPC 2.0 to `<pool>/jsonrpc` over `reqwest` with rustls (aws-lc-rs; no
//! OpenSSL). Knows nothing about Terraform.
//!
//! ```no_run
//! # async fn demo() -> xapi::Result<()> {
//! use std::time::Duration;
//! use xapi::{Client, Config, MemoryLimits, TlsOptions};
//!
//! let config = Config::new("https://pool-master.example", "root", "secret")?
//!     .with_tls(TlsOptions::Pinned { fingerprints: vec!["AB:CD:…".parse()?] });
//! let xapi = Client::new(config)?;
//!
//! // Reads: one call for all VMs (templates, snapshots and dom0 included).
//! let vms = xapi.vm().get_all_records().await?;
//! let (template, _) = vms.iter().find(|(_, r)| r.is_a_template && r.name_label == "Ubuntu").unwrap();
//!
//! // Create from template, set memory while halted, boot once.
//! let vm = xapi.vm().clone(template, "web-1").await?;
//! xapi.vm().set_memory_limits(&vm, MemoryLimits {
//!     static_min: 1 << 30, dynamic_min: 2 << 30, dynamic_max: 4 << 30, static_max: 4 << 30,
//! }).await?;
//! xapi.vm().provision(&vm).await?;
//! let task = xapi.vm().start_async(&vm, false, false).await?;
//! xapi.await_task(&task, Duration::from_secs(600)).await?;   // driven by event.from
//! // Wait for the guest agent without polling.
//! xapi.wait_for::<xapi::Vm>(&vm, Duration::from_secs(300), |r| !r.guest_metrics.is_null()).await?;
//! xapi.logout().await?;
//! # Ok(()) }
//! ```
//!
//! ## What the client does for you
//! * **Sessions**: logs in lazily with `session.login_with_password(user, password, "1.1",
//!   originator)`; follows `HOST_IS_SLAVE [master]` to the master (at login and on any
//!   call); logs in again once, transparently, on `SESSION_INVALID`; [`Client::logout`].
//! * **Retries**: reads (`*.get_*`, `event.from`, ...) are retried with exponential
//!   backoff on transport failures; every other call is retried only when the connection
//!   could not be established. A mutating call whose request may have reached the server
//!   is never resent: it fails with [`Error::OutcomeUnknown`].
//! * **Errors**: XAPI errors are [`Error::Api`] with an [`ApiError`] (`code` as
//!   [`ErrorCode`], unknown codes preserved, and the string `params`). Failed async tasks
//!   are reported the same way, so matching on codes works for both forms.
//! * **Tasks and events**: `*_async` calls return a [`TaskRef`]; [`Client::await_task`],
//!   [`Client::run_async`], [`Client::wait_for`], [`Client::wait_for_guest_metrics`] and
//!   [`Client::wait_for_events`] block on `event.from`, never on sleep loops.
//! * **Sysprep**: [`VmApi::sysprep`] detects whether the pool's `VM.sysprep` takes the
//!   `timeout` parameter from the pool's own answer, and never logs the unattend content.
//! * **Raw VDI transfer**: [`Client::import_raw_vdi`] (`PUT /import_raw_vdi`, follows
//!   `302`, outcome from the task) and [`Client::export_raw_vdi`].
//! * **TLS**: [`TlsOptions`] — system roots (default), a CA bundle, pinned SHA-256
//!   fingerprints of leaf certificates, or explicit insecure.
//! * **Limits and counters**: mutating calls share a per-client semaphore
//!   ([`Config::max_concurrent_mutations`]); [`Client::call_counts`] reports wire requests
//!   per method for benchmarks.
//! * **Secrets**: the password ([`Secret`]) and session ids never appear in `Debug`
//!   output, errors, or logs; `tracing` spans carry the method name only.
//!
//! ## Wire encoding
//! Ints are sent as JSON numbers and accepted as numbers or decimal strings; records are
//! decoded leniently (missing fields default, unknown fields ignored, enums
//! case-insensitive with unknown values kept), see [`records`] and [`wire`].

#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod error;
pub mod events;
mod jsonrpc;
pub mod records;
pub mod refs;
pub mod tls;
mod transfer;
pub mod wire;

pub use api::{
    HostApi, MemoryLimits, MessageApi, MetricsApi, NetworkApi, PifApi, PoolApi, SrApi,
    SysprepSignature, TaskApi, VbdApi, VbdCreate, VdiApi, VdiCreate, VifApi, VifCreate, VmApi,
};
pub use client::{Client, Config, RetryPolicy, Secret};
pub use error::{ApiError, Error, ErrorCode, Result};
pub use events::{Event, EventBatch, EventOperation, object_subscription};
pub use records::*;
pub use refs::*;
pub use tls::{Fingerprint, TlsOptions};
pub use wire::DateTime;
