//! MAC addresses for VIFs: parsing, prefixes, random and deterministic generation,
//! and collision checks.
//!
//! Pure: no IO, no XAPI, no Terraform types. Used by the `xenapi_mac_address`
//! resource, the `mac_address` function and the VM resource (which passes the MACs
//! of every VIF in the pool to [`MacSet`]).
//!
//! # Text form
//!
//! Addresses are always *written* lowercase and colon-separated
//! (`02:4f:a1:00:3c:9e`): cloud-init matches interfaces by lowercase MAC, and XAPI
//! stores `VIF.MAC` verbatim. When *reading* an address (import IDs, user input,
//! XAPI records) upper-case hex digits and `-` separators (the Windows form
//! `02-4F-A1-00-3C-9E`) are accepted too, as long as one separator is used
//! throughout and every octet has exactly two hex digits. Other notations (Cisco's
//! `024f.a100.3c9e`, bare `024fa1003c9e`) are rejected, so that a typo is never
//! silently reinterpreted.
//!
//! # Bits
//!
//! Bit 0 of the first octet (I/G) must be clear for a NIC: set means a multicast
//! (group) address. Bit 1 (U/L) set means *locally administered*: no vendor owns the
//! address, which is what XAPI itself generates for VIFs.
//!
//! # Prefixes
//!
//! - `local` (the default): locally administered unicast; 46 random bits.
//! - `xensource`: the XenSource OUI `00:16:3e` followed by 24 random bits. Only
//!   16.7 million addresses: with 1,000 VIFs on one L2 segment the chance of a
//!   collision is about 3 %, which is why it is not the default.
//! - an explicit 3-octet prefix such as `aa:bb:cc` followed by 24 random bits. It
//!   must be unicast (bit 0 of its first octet clear).
//!
//! # Deterministic addresses
//!
//! [`MacPrefix::derive`] turns a string seed into an address: it takes the
//! SHA-256 digest of the seed's UTF-8 bytes; with `local` the address is the
//! digest's first six bytes with bit 1 of the first byte set and bit 0 cleared; with
//! `xensource` or an explicit prefix it is the prefix followed by the digest's first
//! three bytes. In Terraform terms the `local` result is `substr(sha256(seed), 0, 12)`
//! with the two bits of the first octet fixed. This is a compatibility promise: the
//! same seed gives the same address in every version of the provider.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The XenSource OUI, `00:16:3e`, the space Xen tools use for generated MACs.
pub const XENSOURCE_OUI: [u8; 3] = [0x00, 0x16, 0x3e];

/// How many random addresses [`MacSet::generate_unique`] tries before giving up.
pub const MAX_GENERATION_ATTEMPTS: usize = 64;

const MULTICAST_BIT: u8 = 0x01;
const LOCAL_BIT: u8 = 0x02;

/// Errors from parsing MACs and prefixes and from unique generation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// The text is not a MAC address in an accepted form.
    #[error(
        "{input:?} is not a MAC address: {reason}; expected six pairs of hexadecimal \
         digits separated by ':' (or '-'), e.g. 02:4f:a1:00:3c:9e"
    )]
    MalformedAddress { input: String, reason: String },
    /// The text is neither `local`, `xensource` nor a 3-octet prefix.
    #[error(
        "{input:?} is not a MAC prefix: {reason}; expected \"local\", \"xensource\" or \
         three pairs of hexadecimal digits separated by ':' such as \"aa:bb:cc\""
    )]
    MalformedPrefix { input: String, reason: String },
    /// An explicit prefix whose first octet has the multicast (I/G) bit set.
    #[error(
        "the MAC prefix {input:?} is a multicast (group) prefix: bit 0 of its first octet \
         (0x{first_octet:02x}) is set, so no network interface may use it; the second hex \
         digit of the first octet must be even (0, 2, 4, 6, 8, a, c or e), e.g. \
         \"{suggestion}\""
    )]
    MulticastPrefix {
        input: String,
        first_octet: u8,
        suggestion: String,
    },
    /// Every generated candidate was already in use.
    #[error(
        "could not find a free MAC address with prefix {prefix} after {attempts} attempts: \
         {in_use} addresses are already in use; use the \"local\" prefix (46 random bits) \
         or set the MAC explicitly"
    )]
    Exhausted {
        prefix: String,
        attempts: usize,
        in_use: usize,
    },
}

/// A 48-bit MAC address. Displays lowercase and colon-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress([u8; 6]);

impl MacAddress {
    /// The address with these six octets.
    pub const fn new(octets: [u8; 6]) -> Self {
        MacAddress(octets)
    }

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// The first three octets (the OUI part).
    pub fn oui(&self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// Bit 0 of the first octet clear: an individual (unicast) address.
    pub const fn is_unicast(&self) -> bool {
        self.0[0] & MULTICAST_BIT == 0
    }

    /// Bit 1 of the first octet set: a locally administered address.
    pub const fn is_locally_administered(&self) -> bool {
        self.0[0] & LOCAL_BIT != 0
    }

    /// Parses an address in one of the accepted forms (see the module docs).
    pub fn parse(text: &str) -> Result<Self, MacError> {
        let octets = parse_octets::<6>(text).map_err(|reason| MacError::MalformedAddress {
            input: text.to_owned(),
            reason,
        })?;
        Ok(MacAddress(octets))
    }

    /// Parses and re-renders an address in the canonical lowercase, colon form.
    pub fn normalize(text: &str) -> Result<String, MacError> {
        Self::parse(text).map(|mac| mac.to_string())
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddress {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Which part of the address space generated addresses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MacPrefix {
    /// Locally administered unicast, 46 random bits.
    #[default]
    Local,
    /// The XenSource OUI `00:16:3e` and 24 random bits.
    XenSource,
    /// An explicit unicast 3-octet prefix and 24 random bits.
    Oui([u8; 3]),
}

impl MacPrefix {
    /// The keyword for [`MacPrefix::Local`].
    pub const LOCAL: &'static str = "local";
    /// The keyword for [`MacPrefix::XenSource`].
    pub const XENSOURCE: &'static str = "xensource";

    /// Parses `local`, `xensource` or an explicit prefix `aa:bb:cc` (also `aa-bb-cc`,
    /// any case). The keywords are lowercase only.
    pub fn parse(text: &str) -> Result<Self, MacError> {
        match text {
            Self::LOCAL => return Ok(MacPrefix::Local),
            Self::XENSOURCE => return Ok(MacPrefix::XenSource),
            _ => {}
        }
        let lower = text.to_ascii_lowercase();
        if lower == Self::LOCAL || lower == Self::XENSOURCE {
            return Err(MacError::MalformedPrefix {
                input: text.to_owned(),
                reason: format!("the keyword is written in lowercase: {lower:?}"),
            });
        }
        let oui = parse_octets::<3>(text).map_err(|reason| MacError::MalformedPrefix {
            input: text.to_owned(),
            reason,
        })?;
        if oui[0] & MULTICAST_BIT != 0 {
            let fixed = oui[0] & !MULTICAST_BIT;
            return Err(MacError::MulticastPrefix {
                input: text.to_owned(),
                first_octet: oui[0],
                suggestion: format!("{fixed:02x}:{:02x}:{:02x}", oui[1], oui[2]),
            });
        }
        Ok(MacPrefix::Oui(oui))
    }

    /// How many bits of a generated address are random.
    pub const fn random_bits(&self) -> u32 {
        match self {
            MacPrefix::Local => 46,
            MacPrefix::XenSource | MacPrefix::Oui(_) => 24,
        }
    }

    /// Builds an address of this prefix from six bytes of entropy: `local` keeps
    /// all six and fixes the two low bits of the first octet; the OUI prefixes are
    /// followed by the first three bytes.
    pub fn from_entropy(&self, bytes: [u8; 6]) -> MacAddress {
        match self {
            MacPrefix::Local => {
                let mut octets = bytes;
                octets[0] = (octets[0] & !(MULTICAST_BIT | LOCAL_BIT)) | LOCAL_BIT;
                MacAddress(octets)
            }
            MacPrefix::XenSource => with_oui(XENSOURCE_OUI, bytes),
            MacPrefix::Oui(oui) => with_oui(*oui, bytes),
        }
    }

    /// A random address of this prefix.
    pub fn generate<R: RngCore + ?Sized>(&self, rng: &mut R) -> MacAddress {
        let mut bytes = [0u8; 6];
        rng.fill_bytes(&mut bytes);
        self.from_entropy(bytes)
    }

    /// The deterministic address of this prefix for `seed` (SHA-256, see the
    /// module docs). Stable across provider versions.
    pub fn derive(&self, seed: &str) -> MacAddress {
        let digest = Sha256::digest(seed.as_bytes());
        let mut bytes = [0u8; 6];
        bytes.copy_from_slice(&digest[..6]);
        self.from_entropy(bytes)
    }

    /// Whether `mac` is an address this prefix could have produced.
    pub fn matches(&self, mac: &MacAddress) -> bool {
        match self {
            MacPrefix::Local => mac.is_unicast() && mac.is_locally_administered(),
            MacPrefix::XenSource => mac.oui() == XENSOURCE_OUI,
            MacPrefix::Oui(oui) => mac.oui() == *oui,
        }
    }

    /// The prefix an existing unicast address most plausibly came from:
    /// `xensource` for `00:16:3e:…`, `local` for a locally administered address,
    /// otherwise its own first three octets. Used when importing an address. A
    /// multicast address has no prefix (`None`).
    pub fn infer(mac: &MacAddress) -> Option<Self> {
        if !mac.is_unicast() {
            None
        } else if mac.oui() == XENSOURCE_OUI {
            Some(MacPrefix::XenSource)
        } else if mac.is_locally_administered() {
            Some(MacPrefix::Local)
        } else {
            Some(MacPrefix::Oui(mac.oui()))
        }
    }
}

impl fmt::Display for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MacPrefix::Local => f.write_str(Self::LOCAL),
            MacPrefix::XenSource => f.write_str(Self::XENSOURCE),
            MacPrefix::Oui([a, b, c]) => write!(f, "{a:02x}:{b:02x}:{c:02x}"),
        }
    }
}

impl FromStr for MacPrefix {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A set of MAC addresses already in use (for instance every `VIF.MAC` of a pool),
/// to check candidates against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacSet(HashSet<MacAddress>);

impl MacSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set of the addresses among `texts` that parse; the others are returned
    /// as well, so that the caller can report them. XAPI stores `VIF.MAC` verbatim
    /// and does not normalise case, so `02:AA:…` and `02:aa:…` are the same entry.
    pub fn from_texts<I, S>(texts: I) -> (Self, Vec<String>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = MacSet::new();
        let mut unparsable = Vec::new();
        for text in texts {
            let text = text.as_ref();
            match MacAddress::parse(text) {
                Ok(mac) => {
                    set.insert(mac);
                }
                Err(_) => unparsable.push(text.to_owned()),
            }
        }
        (set, unparsable)
    }

    /// Adds an address; `false` when it was already present.
    pub fn insert(&mut self, mac: MacAddress) -> bool {
        self.0.insert(mac)
    }

    /// Whether the address is in use.
    pub fn contains(&self, mac: &MacAddress) -> bool {
        self.0.contains(mac)
    }

    /// How many addresses are in use.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no address is in use.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A random address of `prefix` that is not in the set, which is then added to
    /// the set (so several interfaces generated in a row never share an address).
    /// Gives up after [`MAX_GENERATION_ATTEMPTS`] candidates, which only happens when
    /// a 24-bit prefix is (nearly) full.
    pub fn generate_unique<R: RngCore + ?Sized>(
        &mut self,
        prefix: &MacPrefix,
        rng: &mut R,
    ) -> Result<MacAddress, MacError> {
        for _ in 0..MAX_GENERATION_ATTEMPTS {
            let candidate = prefix.generate(rng);
            if self.insert(candidate) {
                return Ok(candidate);
            }
        }
        Err(MacError::Exhausted {
            prefix: prefix.to_string(),
            attempts: MAX_GENERATION_ATTEMPTS,
            in_use: self.len(),
        })
    }
}

impl FromIterator<MacAddress> for MacSet {
    fn from_iter<T: IntoIterator<Item = MacAddress>>(iter: T) -> Self {
        MacSet(iter.into_iter().collect())
    }
}

fn with_oui(oui: [u8; 3], bytes: [u8; 6]) -> MacAddress {
    MacAddress([oui[0], oui[1], oui[2], bytes[0], bytes[1], bytes[2]])
}

/// Parses `N` two-digit hex groups separated by one consistent separator (`:` or
/// `-`). The error is a short reason for the caller's message.
fn parse_octets<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    if text.trim() != text {
        return Err("it has leading or trailing whitespace".to_owned());
    }
    let separator = match text.chars().find(|c| !c.is_ascii_hexdigit()) {
        None => {
            return Err("the octets must be separated by ':' or '-'".to_owned());
        }
        Some(c @ (':' | '-')) => c,
        Some(c) => return Err(format!("{c:?} is neither a hex digit nor a separator")),
    };
    let other = if separator == ':' { '-' } else { ':' };
    if text.contains(other) {
        return Err("it mixes ':' and '-' separators".to_owned());
    }
    let groups: Vec<&str> = text.split(separator).collect();
    if groups.len() != N {
        return Err(format!("it has {} octets instead of {N}", groups.len()));
    }
    let mut octets = [0u8; N];
    for (i, group) in groups.iter().enumerate() {
        if group.len() != 2 || !group.chars().all(|c| c.is_ascii_hexdigit()) {
            let position = i + 1;
            return Err(format!(
                "octet {position} ({group:?}) is not two hex digits"
            ));
        }
        octets[i] = u8::from_str_radix(group, 16)
            .map_err(|_| format!("octet {} ({group:?}) is not two hex digits", i + 1))?;
    }
    Ok(octets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn mac(text: &str) -> MacAddress {
        MacAddress::parse(text).unwrap()
    }

    #[test]
    fn parses_and_renders_lowercase_colon_form() {
        assert_eq!(mac("02:4f:a1:00:3c:9e").to_string(), "02:4f:a1:00:3c:9e");
        assert_eq!(mac("02:4F:A1:00:3C:9E").to_string(), "02:4f:a1:00:3c:9e");
        assert_eq!(mac("02-4F-A1-00-3C-9E").to_string(), "02:4f:a1:00:3c:9e");
        assert_eq!(
            MacAddress::normalize("AA-BB-CC-00-11-22").unwrap(),
            "aa:bb:cc:00:11:22"
        );
        assert_eq!(
            mac("00:16:3e:ff:00:01").octets(),
            [0x00, 0x16, 0x3e, 0xff, 0x00, 0x01]
        );
        assert_eq!(
            "0a:0b:0c:0d:0e:0f".parse::<MacAddress>().unwrap(),
            mac("0a:0b:0c:0d:0e:0f")
        );
    }

    #[test]
    fn rejects_malformed_addresses_with_a_reason() {
        let cases = [
            ("", "it is empty"),
            (" 02:4f:a1:00:3c:9e", "whitespace"),
            ("02:4f:a1:00:3c:9e\n", "whitespace"),
            ("024fa1003c9e", "separated"),
            ("024f.a100.3c9e", "'.' is neither"),
            ("02:4f:a1:00:3c", "5 octets instead of 6"),
            ("02:4f:a1:00:3c:9e:00", "7 octets instead of 6"),
            ("02:4f:a1-00:3c:9e", "mixes"),
            ("2:4f:a1:00:3c:9e", "octet 1 (\"2\")"),
            ("02:4f:a1:00:3c:9e0", "octet 6"),
            ("02:4f:a1::3c:9e", "octet 4 (\"\")"),
            ("02:4f:g1:00:3c:9e", "octet 3 (\"g1\")"),
            ("g2:4f:a1:00:3c:9e", "'g' is neither"),
            ("é2:4f:a1:00:3c:9e", "is neither"),
        ];
        for (input, reason) in cases {
            let err = MacAddress::parse(input).unwrap_err();
            let MacError::MalformedAddress { input: got, .. } = &err else {
                panic!("{input:?}: unexpected error {err:?}");
            };
            assert_eq!(got, input);
            let text = err.to_string();
            assert!(text.contains(reason), "{input:?}: {text}");
            assert!(text.contains("e.g. 02:4f:a1:00:3c:9e"), "{text}");
        }
    }

    #[test]
    fn bit_predicates() {
        assert!(mac("02:00:00:00:00:00").is_locally_administered());
        assert!(mac("02:00:00:00:00:00").is_unicast());
        assert!(!mac("00:16:3e:00:00:00").is_locally_administered());
        assert!(!mac("01:00:5e:00:00:01").is_unicast());
        assert!(!mac("ff:ff:ff:ff:ff:ff").is_unicast());
    }

    #[test]
    fn parses_prefixes() {
        assert_eq!(MacPrefix::parse("local").unwrap(), MacPrefix::Local);
        assert_eq!(MacPrefix::parse("xensource").unwrap(), MacPrefix::XenSource);
        assert_eq!(
            MacPrefix::parse("aa:bb:cc").unwrap(),
            MacPrefix::Oui([0xaa, 0xbb, 0xcc])
        );
        assert_eq!(
            MacPrefix::parse("AA-BB-CC").unwrap(),
            MacPrefix::Oui([0xaa, 0xbb, 0xcc])
        );
        assert_eq!(
            MacPrefix::parse("00:16:3e").unwrap().to_string(),
            "00:16:3e"
        );
        assert_eq!(MacPrefix::default(), MacPrefix::Local);
        for p in ["local", "xensource", "0a:bb:cc"] {
            assert_eq!(MacPrefix::parse(p).unwrap().to_string(), p);
        }
    }

    #[test]
    fn rejects_bad_prefixes_clearly() {
        let err = MacPrefix::parse("01:00:5e").unwrap_err();
        assert_eq!(
            err,
            MacError::MulticastPrefix {
                input: "01:00:5e".into(),
                first_octet: 0x01,
                suggestion: "00:00:5e".into()
            }
        );
        let text = err.to_string();
        assert!(text.contains("multicast"), "{text}");
        assert!(text.contains("\"00:00:5e\""), "{text}");

        let err = MacPrefix::parse("AB:cd:ef").unwrap_err();
        assert!(err.to_string().contains("\"aa:cd:ef\""), "{err}");

        for (input, reason) in [
            ("Local", "lowercase"),
            ("XenSource", "lowercase"),
            ("random", "is neither"),
            ("", "empty"),
            ("aa:bb", "2 octets instead of 3"),
            ("aa:bb:cc:dd", "4 octets instead of 3"),
            ("aabbcc", "separated"),
        ] {
            let err = MacPrefix::parse(input).unwrap_err();
            assert!(matches!(err, MacError::MalformedPrefix { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(reason), "{input:?}: {text}");
            assert!(text.contains("\"xensource\""), "{text}");
        }
    }

    #[test]
    fn random_addresses_follow_the_prefix_rules() {
        let mut rng = StdRng::seed_from_u64(7);
        let prefixes = [
            MacPrefix::Local,
            MacPrefix::XenSource,
            MacPrefix::Oui([0xaa, 0xbb, 0xcc]),
            MacPrefix::Oui([0x0e, 0x00, 0x01]),
        ];
        for prefix in prefixes {
            for _ in 0..2000 {
                let m = prefix.generate(&mut rng);
                assert!(m.is_unicast(), "{prefix}: {m}");
                assert!(prefix.matches(&m), "{prefix}: {m}");
                assert_eq!(MacAddress::parse(&m.to_string()).unwrap(), m);
            }
        }
        let m = MacPrefix::XenSource.generate(&mut rng);
        assert!(m.to_string().starts_with("00:16:3e:"));
        let m = MacPrefix::Oui([0xaa, 0xbb, 0xcc]).generate(&mut rng);
        assert!(m.to_string().starts_with("aa:bb:cc:"));
    }

    #[test]
    fn local_addresses_use_all_46_free_bits() {
        // Every bit except the two fixed ones must vary across random addresses.
        let mut rng = StdRng::seed_from_u64(11);
        let mut seen_one = [0u8; 6];
        let mut seen_zero = [0u8; 6];
        for _ in 0..500 {
            let o = MacPrefix::Local.generate(&mut rng).octets();
            for i in 0..6 {
                seen_one[i] |= o[i];
                seen_zero[i] |= !o[i];
            }
        }
        assert_eq!(seen_one, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(seen_zero, [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(MacPrefix::Local.random_bits(), 46);
        assert_eq!(MacPrefix::XenSource.random_bits(), 24);
    }

    #[test]
    fn from_entropy_fixes_only_the_two_low_bits() {
        assert_eq!(
            MacPrefix::Local.from_entropy([0xff; 6]).to_string(),
            "fe:ff:ff:ff:ff:ff"
        );
        assert_eq!(
            MacPrefix::Local.from_entropy([0x00; 6]).to_string(),
            "02:00:00:00:00:00"
        );
        assert_eq!(
            MacPrefix::XenSource
                .from_entropy([1, 2, 3, 4, 5, 6])
                .to_string(),
            "00:16:3e:01:02:03"
        );
    }

    /// The deterministic scheme is a compatibility promise: these values must never
    /// change. They were computed independently with `printf %s SEED | sha256sum`.
    #[test]
    fn derived_addresses_are_stable() {
        let cases = [
            // sha256("web-0") = 1ae6fac6e0a6...
            ("web-0", MacPrefix::Local, "1a:e6:fa:c6:e0:a6"),
            ("web-0", MacPrefix::XenSource, "00:16:3e:1a:e6:fa"),
            // sha256("") = e3b0c44298fc...
            ("", MacPrefix::Local, "e2:b0:c4:42:98:fc"),
            // sha256("vm-42/eth1") = f5161790927a...
            ("vm-42/eth1", MacPrefix::Local, "f6:16:17:90:92:7a"),
            (
                "vm-42/eth1",
                MacPrefix::Oui([0xaa, 0xbb, 0xcc]),
                "aa:bb:cc:f5:16:17",
            ),
            // sha256("héllo") (UTF-8) = 3c48591d8d09...
            ("héllo", MacPrefix::Local, "3e:48:59:1d:8d:09"),
        ];
        for (seed, prefix, expected) in cases {
            let got = prefix.derive(seed);
            assert_eq!(got.to_string(), expected, "seed {seed:?} prefix {prefix}");
            assert!(prefix.matches(&got));
            assert!(got.is_unicast());
        }
        assert_ne!(MacPrefix::Local.derive("a"), MacPrefix::Local.derive("b"));
    }

    #[test]
    fn matches_and_infer() {
        let local = mac("02:4f:a1:00:3c:9e");
        let xen = mac("00:16:3e:12:34:56");
        let vendor = mac("00:50:56:01:02:03");
        let multicast = mac("01:00:5e:00:00:01");
        let own = mac("aa:bb:cc:01:02:03");

        assert!(MacPrefix::Local.matches(&local));
        assert!(!MacPrefix::Local.matches(&xen));
        assert!(!MacPrefix::Local.matches(&mac("03:00:00:00:00:00")));
        assert!(MacPrefix::XenSource.matches(&xen));
        assert!(!MacPrefix::XenSource.matches(&local));
        assert!(MacPrefix::Oui([0xaa, 0xbb, 0xcc]).matches(&own));
        assert!(!MacPrefix::Oui([0xaa, 0xbb, 0xcd]).matches(&own));

        assert_eq!(MacPrefix::infer(&local), Some(MacPrefix::Local));
        assert_eq!(MacPrefix::infer(&own), Some(MacPrefix::Local));
        assert_eq!(MacPrefix::infer(&xen), Some(MacPrefix::XenSource));
        assert_eq!(
            MacPrefix::infer(&vendor),
            Some(MacPrefix::Oui([0x00, 0x50, 0x56]))
        );
        assert_eq!(MacPrefix::infer(&multicast), None);
        for m in [local, xen, vendor, own] {
            assert!(MacPrefix::infer(&m).unwrap().matches(&m));
        }
    }

    #[test]
    fn mac_set_detects_collisions_case_insensitively() {
        let (set, bad) = MacSet::from_texts(["02:AA:bb:00:00:01", "00:16:3e:00:00:02", "junk"]);
        assert_eq!(bad, vec!["junk".to_owned()]);
        assert_eq!(set.len(), 2);
        assert!(set.contains(&mac("02:aa:bb:00:00:01")));
        assert!(set.contains(&mac("00-16-3E-00-00-02")));
        assert!(!set.contains(&mac("02:aa:bb:00:00:02")));
        assert!(!set.is_empty());
        assert!(MacSet::new().is_empty());
    }

    /// An RNG that replays fixed bytes, to force collisions.
    struct Replay(Vec<u8>, usize);

    impl RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for d in dest {
                *d = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
    }

    #[test]
    fn generate_unique_skips_addresses_in_use() {
        // The RNG yields 02:00:00:00:00:01 first, then 02:00:00:00:00:02.
        let mut rng = Replay(vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
        let mut set: MacSet = [mac("02:00:00:00:00:01")].into_iter().collect();
        let got = set.generate_unique(&MacPrefix::Local, &mut rng).unwrap();
        assert_eq!(got, mac("02:00:00:00:00:02"));
        assert!(set.contains(&got), "the chosen address is reserved");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn generate_unique_gives_up_with_a_clear_error() {
        let mut rng = Replay(vec![7, 7, 7, 0, 0, 0], 0);
        let mut set: MacSet = [mac("00:16:3e:07:07:07")].into_iter().collect();
        let err = set
            .generate_unique(&MacPrefix::XenSource, &mut rng)
            .unwrap_err();
        assert_eq!(
            err,
            MacError::Exhausted {
                prefix: "xensource".into(),
                attempts: MAX_GENERATION_ATTEMPTS,
                in_use: 1
            }
        );
        assert!(err.to_string().contains("\"local\" prefix"));
    }

    #[test]
    fn generate_unique_fills_a_batch_without_duplicates() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut set = MacSet::new();
        for _ in 0..1000 {
            set.generate_unique(&MacPrefix::XenSource, &mut rng)
                .unwrap();
        }
        assert_eq!(set.len(), 1000);
    }
}
