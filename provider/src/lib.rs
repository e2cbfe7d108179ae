//! terraform-provider-xenapi as a library: the plugin server, the resource
//! framework, and the provider's resources, data sources and functions.
//!
//! The binary (`src/main.rs`) only parses its command line and calls
//! [`server::serve_plugin`]; tests call the same entry points in-process.

pub mod catalog;
pub mod data_sources;
pub mod docs;
pub mod framework;
pub mod functions;
pub mod logging;
pub mod mac;
pub mod pool;
pub mod provider_config;
pub mod resources;
pub mod server;
