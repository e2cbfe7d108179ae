//! Managed resources. One file per resource type.

pub mod mac_address;
pub mod vm;
