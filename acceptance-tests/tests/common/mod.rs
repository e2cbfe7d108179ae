//! Helpers shared by the acceptance tests: MAC address checks written from
//! the documented rules (issue 2 and the provider docs), independently of the
//! provider's own code.

#![allow(dead_code)]

use sha2::{Digest, Sha256};

/// Parses a lowercase, colon-separated MAC into its six octets; `Err` says why not.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("{text:?} does not have six colon-separated octets"));
    }
    let mut out = [0u8; 6];
    for (i, part) in parts.iter().enumerate() {
        let lower = part.len() == 2
            && part
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !lower {
            return Err(format!(
                "{text:?}: octet {part:?} is not two lowercase hex digits"
            ));
        }
        out[i] = u8::from_str_radix(part, 16).map_err(|e| format!("{text:?}: {e}"))?;
    }
    Ok(out)
}

/// A locally administered (bit 1 set), unicast (bit 0 clear) MAC.
pub fn check_local_unicast(text: &str) -> Result<(), String> {
    let octets = parse_mac(text)?;
    if octets[0] & 0x01 != 0 {
        return Err(format!("{text} is multicast"));
    }
    if octets[0] & 0x02 == 0 {
        return Err(format!("{text} is not locally administered"));
    }
    Ok(())
}

/// A unicast MAC that starts with `prefix` (`aa:bb:cc`).
pub fn check_prefix(text: &str, prefix: &str) -> Result<(), String> {
    let octets = parse_mac(text)?;
    if octets[0] & 0x01 != 0 {
        return Err(format!("{text} is multicast"));
    }
    if !text.starts_with(&format!("{prefix}:")) {
        return Err(format!("{text} does not start with {prefix}:"));
    }
    Ok(())
}

fn colon(octets: &[u8]) -> String {
    octets
        .iter()
        .map(|o| format!("{o:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The documented derivation of `provider::xenapi::mac_address(seed)`: the
/// first six bytes of SHA-256(seed) with bit 1 of the first octet set and
/// bit 0 cleared.
pub fn derived_local(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut octets = [0u8; 6];
    octets.copy_from_slice(&digest[..6]);
    octets[0] = (octets[0] | 0x02) & !0x01;
    colon(&octets)
}

/// The documented derivation with a prefix: the prefix's three octets, then
/// the first three bytes of SHA-256(seed).
pub fn derived_with_prefix(seed: &str, prefix: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    format!("{prefix}:{}", colon(&digest[..3]))
}
