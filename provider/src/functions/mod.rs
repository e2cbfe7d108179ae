//! Provider-defined functions (`provider::xenapi::<name>(...)`). They run on an
//! unconfigured provider and are pure.

pub mod mac_address;
