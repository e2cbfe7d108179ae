//! Error types.
//!
//! Two levels:
//! * [`ValidationError`]: one problem with one input field, meant to become one plan-time
//!   diagnostic. The [`Field`] says which attribute is at fault (so the caller can attach the
//!   Terraform attribute path); the [`Problem`] says what is wrong, with the offending value.
//! * [`Error`]: what [`crate::build_iso`], [`crate::read_iso`] and the renderers return.

use std::fmt;

/// Attribute of one `network_interface` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceAttr {
    /// `mac`
    Mac,
    /// `name` (the guest-side link name; defaults to `eth<device>`)
    Name,
    /// `device`
    Device,
    /// `ipv4_address`
    Ipv4Address,
    /// `ipv4_gateway`
    Ipv4Gateway,
    /// `dns_servers[i]`
    DnsServer(usize),
    /// `dns_search[i]`
    DnsSearch(usize),
    /// `mtu`
    Mtu,
}

/// The input field a [`ValidationError`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// `network_interface[index].<attr>`; `index` is the position in the slice given to the
    /// renderer (the provider passes interfaces in configuration order).
    Interface {
        /// Position of the interface in the list.
        index: usize,
        /// Which of its attributes.
        attr: InterfaceAttr,
    },
    /// `cloud_init.instance_id`
    InstanceId,
    /// `cloud_init.meta_data` (the user's own meta-data text)
    MetaData,
    /// `cloud_init.network_config` (the user's own network-config text). `location` is the
    /// dotted path inside the YAML document (e.g. `ethernets.lan.match.macaddress`), empty for
    /// the document as a whole.
    NetworkConfig {
        /// Path inside the user's YAML document.
        location: String,
    },
}

impl Field {
    /// Shorthand for `Field::Interface { index, attr }`.
    pub fn interface(index: usize, attr: InterfaceAttr) -> Self {
        Field::Interface { index, attr }
    }

    /// Shorthand for `Field::NetworkConfig { location }`.
    pub fn network_config(location: impl Into<String>) -> Self {
        Field::NetworkConfig {
            location: location.into(),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Interface { index, attr } => {
                write!(f, "network_interface[{index}].")?;
                match attr {
                    InterfaceAttr::Mac => f.write_str("mac"),
                    InterfaceAttr::Name => f.write_str("name"),
                    InterfaceAttr::Device => f.write_str("device"),
                    InterfaceAttr::Ipv4Address => f.write_str("ipv4_address"),
                    InterfaceAttr::Ipv4Gateway => f.write_str("ipv4_gateway"),
                    InterfaceAttr::DnsServer(i) => write!(f, "dns_servers[{i}]"),
                    InterfaceAttr::DnsSearch(i) => write!(f, "dns_search[{i}]"),
                    InterfaceAttr::Mtu => f.write_str("mtu"),
                }
            }
            Field::InstanceId => f.write_str("cloud_init.instance_id"),
            Field::MetaData => f.write_str("cloud_init.meta_data"),
            Field::NetworkConfig { location } if location.is_empty() => {
                f.write_str("cloud_init.network_config")
            }
            Field::NetworkConfig { location } => {
                write!(f, "cloud_init.network_config (at `{location}`)")
            }
        }
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Not `a.b.c.d/prefix` with a prefix of 0..=32, or not a host address.
    #[error("invalid IPv4 address {value:?}: {reason}")]
    InvalidCidr {
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The gateway is not a usable IPv4 address for this interface.
    #[error("invalid IPv4 gateway {value:?}: {reason}")]
    InvalidGateway {
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Not six colon-separated pairs of hex digits, or a multicast address.
    #[error("malformed MAC address {value:?}: {reason}")]
    InvalidMac {
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The same MAC is used by two interfaces (cloud-init and cloudbase-init match by MAC).
    #[error("MAC address {value} is also used by network_interface[{other}]")]
    DuplicateMac {
        /// The normalised (lower-case) MAC.
        value: String,
        /// Index of the other interface.
        other: usize,
    },
    /// The link name is not usable as a guest interface name.
    #[error("invalid interface name {value:?}: {reason}")]
    InvalidName {
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Two interfaces end up with the same guest-side name.
    #[error("interface name {value:?} is also used by network_interface[{other}]")]
    DuplicateName {
        /// The name.
        value: String,
        /// Index of the other interface.
        other: usize,
    },
    /// A DNS server that is not an IP address.
    #[error("invalid DNS server {value:?}: expected an IPv4 or IPv6 address")]
    InvalidDnsServer {
        /// The value as given.
        value: String,
    },
    /// A DNS search domain that is not a domain name.
    #[error("invalid DNS search domain {value:?}: {reason}")]
    InvalidDnsSearch {
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An MTU outside what Ethernet links accept.
    #[error("invalid MTU {value}: expected {min}..={max}")]
    InvalidMtu {
        /// The value as given.
        value: u32,
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },
    /// Something that must not be empty is.
    #[error("must not be empty")]
    Empty,
    /// A value that must be a single line has a line break.
    #[error("must be a single line without control characters")]
    NotSingleLine,
    /// A gateway was given for an interface without a static address.
    #[error(
        "ipv4_gateway {value:?} needs ipv4_address (an interface without an address uses DHCP)"
    )]
    GatewayWithoutAddress {
        /// The gateway as given.
        value: String,
    },
    /// The text is not valid YAML.
    #[error("not valid YAML: {reason}")]
    InvalidYaml {
        /// The parser's message.
        reason: String,
    },
    /// The YAML document is not a mapping (or has the wrong type at `location`).
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// `version` is not 1 or 2.
    #[error("unsupported network-config version {found}: expected 1 or 2")]
    UnsupportedVersion {
        /// The value found (YAML rendering).
        found: String,
    },
    /// A physical interface without a MAC: cloudbase-init cannot apply it.
    #[error(
        "physical interface {name:?} has no MAC address; cloudbase-init applies network \
         configuration only to links matched by MAC ({hint})"
    )]
    MissingMac {
        /// The interface's name or ID.
        name: String,
        /// Which key to add.
        hint: &'static str,
    },
    /// A configuration element cloudbase-init ignores or fails on.
    #[error("{what} is not supported by cloudbase-init: {reason}")]
    UnsupportedByCloudbase {
        /// The element.
        what: String,
        /// What cloudbase-init does with it.
        reason: &'static str,
    },
}

/// One problem with one field: a plan-time diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// The offending field.
    pub field: Field,
    /// What is wrong with it.
    pub problem: Problem,
}

impl ValidationError {
    /// Builds a validation error.
    pub fn new(field: Field, problem: Problem) -> Self {
        ValidationError { field, problem }
    }
}

/// A non-empty list of [`ValidationError`]s (all problems found, not just the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Errors of building or reading a config drive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The inputs are invalid; every problem found is listed.
    #[error("invalid config drive input: {0}")]
    Invalid(#[from] ValidationErrors),
    /// A file is too large for an ISO9660 extent (4 GiB - 1 byte).
    #[error("{file} is too large for the config drive ({size} bytes)")]
    FileTooLarge {
        /// The drive file name.
        file: &'static str,
        /// Its size.
        size: usize,
    },
    /// The bytes are not an ISO9660 image (no primary volume descriptor).
    #[error("not an ISO9660 image: {0}")]
    NotIso9660(String),
    /// The image is ISO9660 but damaged or uses structures this reader does not handle.
    #[error("malformed ISO9660 image: {0}")]
    Malformed(String),
    /// A file read back from the drive is not UTF-8 text.
    #[error("{file} on the config drive is not UTF-8 text")]
    NotUtf8 {
        /// The drive file name.
        file: String,
    },
}

impl Error {
    /// The validation errors, when this is [`Error::Invalid`].
    pub fn validation_errors(&self) -> Option<&[ValidationError]> {
        match self {
            Error::Invalid(v) => Some(&v.0),
            _ => None,
        }
    }
}

/// Collects validation errors, turning an empty list into `Ok`.
pub(crate) fn collect(errors: Vec<ValidationError>) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}
