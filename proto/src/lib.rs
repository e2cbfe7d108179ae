//! Wire contracts of the Terraform plugin protocol, generated at build time.
//!
//! - [`tfplugin6`]: Terraform's provider protocol 6.10 (Terraform v1.15), the
//!   `tfplugin6.Provider` service.
//! - [`plugin`]: go-plugin's `GRPCController`, `GRPCStdio` and `GRPCBroker`.
//!
//! These types are an implementation detail of the provider's plugin server:
//! only its conversion module uses them. Everything else works with the
//! `schema` crate's native types.

/// tfplugin6, protocol 6.10.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's internal services.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// The protocol version implemented by [`tfplugin6`], as `(major, minor)`.
pub const PROTOCOL_VERSION: (u32, u32) = (6, 10);
