//! Typed object references (`OpaqueRef:<uuid>`).
//!
//! XAPI identifies every object by an opaque reference string. This module gives each
//! class its own reference type, [`Ref<C>`], so that a VIF reference cannot be passed where
//! a VM reference is expected. On the wire a reference is a plain JSON string; the null
//! reference is `OpaqueRef:NULL`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The wire spelling of the null reference.
pub const NULL_REF: &str = "OpaqueRef:NULL";

/// A XAPI class: the marker type that ties a reference type to its record type and wire name.
pub trait Class: 'static + Send + Sync {
    /// The class name used in method names (`VM`, `VIF`, `VM_guest_metrics`, ...).
    const NAME: &'static str;
    /// The record type returned by `<class>.get_record`.
    type Record: DeserializeOwned + Send + fmt::Debug + Clone + 'static;
}

/// A reference to an object of class `C`.
///
/// References are opaque: compare and store them, never parse them. `Ref::null()` is the
/// XAPI null reference, which many fields hold when they point nowhere (for example
/// `VM.resident_on` of a halted VM).
pub struct Ref<C: Class> {
    raw: String,
    _class: PhantomData<fn() -> C>,
}

impl<C: Class> Ref<C> {
    /// Wraps a raw reference string as received from XAPI.
    pub fn new(raw: impl Into<String>) -> Self {
        Ref {
            raw: raw.into(),
            _class: PhantomData,
        }
    }

    /// The null reference (`OpaqueRef:NULL`).
    pub fn null() -> Self {
        Ref::new(NULL_REF)
    }

    /// True for `OpaqueRef:NULL` and for the empty string (which some XAPI versions emit
    /// for unset reference fields).
    pub fn is_null(&self) -> bool {
        self.raw == NULL_REF || self.raw.is_empty()
    }

    /// The raw reference string.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Consumes the reference, returning the raw string.
    pub fn into_string(self) -> String {
        self.raw
    }

    /// The name of the class this reference points into.
    pub fn class_name(&self) -> &'static str {
        C::NAME
    }
}

impl<C: Class> Default for Ref<C> {
    fn default() -> Self {
        Ref::null()
    }
}

impl<C: Class> Clone for Ref<C> {
    fn clone(&self) -> Self {
        Ref::new(self.raw.clone())
    }
}

impl<C: Class> PartialEq for Ref<C> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<C: Class> Eq for Ref<C> {}

impl<C: Class> PartialOrd for Ref<C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<C: Class> Ord for Ref<C> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.raw.cmp(&other.raw)
    }
}

impl<C: Class> Hash for Ref<C> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state)
    }
}

impl<C: Class> fmt::Debug for Ref<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", C::NAME, self.raw)
    }
}

impl<C: Class> fmt::Display for Ref<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl<C: Class> Serialize for Ref<C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de, C: Class> Deserialize<'de> for Ref<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Lenient: a JSON null (never sent by XAPI, but seen from proxies and older tools)
        // is read as the null reference.
        let raw: Option<String> = Option::deserialize(d)?;
        Ok(Ref::new(raw.unwrap_or_else(|| NULL_REF.to_string())))
    }
}

/// Declares a class marker, its reference alias, and the [`Class`] impl.
macro_rules! classes {
    ($( $(#[$doc:meta])* $marker:ident, $alias:ident, $name:literal, $record:ty; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $marker {}
            impl Class for $marker {
                const NAME: &'static str = $name;
                type Record = $record;
            }
            #[doc = concat!("A reference to a `", $name, "` object.")]
            pub type $alias = Ref<$marker>;
        )*
    };
}

use crate::records::*;

classes! {
    /// Class marker for `pool`.
    Pool, PoolRef, "pool", PoolRecord;
    /// Class marker for `host`.
    Host, HostRef, "host", HostRecord;
    /// Class marker for `host_metrics`.
    HostMetrics, HostMetricsRef, "host_metrics", HostMetricsRecord;
    /// Class marker for `SR`.
    Sr, SrRef, "SR", SrRecord;
    /// Class marker for `VDI`.
    Vdi, VdiRef, "VDI", VdiRecord;
    /// Class marker for `VBD`.
    Vbd, VbdRef, "VBD", VbdRecord;
    /// Class marker for `network`.
    Network, NetworkRef, "network", NetworkRecord;
    /// Class marker for `PIF`.
    Pif, PifRef, "PIF", PifRecord;
    /// Class marker for `VIF`.
    Vif, VifRef, "VIF", VifRecord;
    /// Class marker for `VM`.
    Vm, VmRef, "VM", VmRecord;
    /// Class marker for `VM_guest_metrics`.
    VmGuestMetrics, VmGuestMetricsRef, "VM_guest_metrics", VmGuestMetricsRecord;
    /// Class marker for `VM_metrics`.
    VmMetrics, VmMetricsRef, "VM_metrics", VmMetricsRecord;
    /// Class marker for `task`.
    Task, TaskRef, "task", TaskRecord;
    /// Class marker for `message`.
    Message, MessageRef, "message", MessageRecord;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_round_trip_as_plain_strings() {
        let r: VmRef = serde_json::from_str("\"OpaqueRef:1234\"").unwrap();
        assert_eq!(r.as_str(), "OpaqueRef:1234");
        assert!(!r.is_null());
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"OpaqueRef:1234\"");
        assert_eq!(format!("{r:?}"), "VM(OpaqueRef:1234)");
    }

    #[test]
    fn null_refs() {
        let r: HostRef = serde_json::from_str("\"OpaqueRef:NULL\"").unwrap();
        assert!(r.is_null());
        let r: HostRef = serde_json::from_str("null").unwrap();
        assert!(r.is_null());
        assert_eq!(HostRef::default(), HostRef::null());
        assert_eq!(Ref::<Sr>::null().class_name(), "SR");
    }
}
