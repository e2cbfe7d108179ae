//! Lenient decoding of XAPI's wire values.
//!
//! XAPI's JSON-RPC emits ints as JSON numbers, but values that went through XML-RPC (task
//! results, some proxies, older hosts) carry ints as decimal strings. The decoders here
//! accept both, and treat `null` as the type's default, so that a record from any XAPI
//! version decodes.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Deserializes an `int` field given as a JSON number, a decimal string, or an integral float.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a decimal string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
                Ok(v as i64)
            } else {
                Err(E::custom(format!("{v} is not an integer")))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(0);
            }
            t.parse::<i64>()
                .map_err(|_| E::custom(format!("{v:?} is not a decimal integer")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
        fn visit_none<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

/// Deserializes a `float` field given as a JSON number or a numeric string.
pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or a numeric string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(0.0);
            }
            t.parse::<f64>()
                .map_err(|_| E::custom(format!("{v:?} is not a number")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Ok(0.0)
        }
        fn visit_none<E: de::Error>(self) -> Result<f64, E> {
            Ok(0.0)
        }
    }
    d.deserialize_any(V)
}

/// Deserializes a `bool` field given as a JSON boolean, or leniently as `"true"`/`"false"`/
/// `"1"`/`"0"` (XML-RPC style).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" | "" => Ok(false),
                _ => Err(E::custom(format!("{v:?} is not a boolean"))),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// Deserializes a string field; `null` becomes `""` and numbers/bools are stringified.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(value_to_string(&v))
}

/// Renders a JSON value as the string XAPI would have meant (strings unquoted).
pub fn value_to_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Deserializes a `(string -> string) map`; non-string values are stringified, `null` is
/// an empty map.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v = Option::<BTreeMap<String, serde_json::Value>>::deserialize(d)?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, value_to_string(&v)))
        .collect())
}

/// Deserializes a `string set`; non-string members are stringified, `null` is empty.
pub fn string_set<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Option::<Vec<serde_json::Value>>::deserialize(d)?;
    Ok(v.unwrap_or_default().iter().map(value_to_string).collect())
}

/// Deserializes a set of values leniently (`null` is empty).
pub fn set<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A XAPI `datetime`, kept in its wire form (`20250319T04:16:24Z`).
///
/// XAPI writes `YYYYMMDDTHH:MM:SSZ`; clients may also see RFC 3339 with dashes.
/// [`DateTime::unix_seconds`] parses both.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub String);

impl DateTime {
    /// The raw wire text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds since the Unix epoch (UTC), or `None` if the text is not a XAPI datetime.
    /// A missing time zone is taken as UTC, as XAPI does; numeric offsets are applied.
    pub fn unix_seconds(&self) -> Option<i64> {
        parse_datetime(&self.0)
    }
}

impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d).map(DateTime)
    }
}

fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    // Split date and time at 'T'.
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let date: String = date.chars().filter(|c| *c != '-').collect();
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = date[0..4].parse().ok()?;
    let month: i64 = date[4..6].parse().ok()?;
    let day: i64 = date[6..8].parse().ok()?;
    // Time: HH:MM:SS or HHMMSS, optional fraction, then Z / ±HH:MM / nothing.
    let tz_pos = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_pos);
    let time = time.split('.').next()?;
    let time: String = time.chars().filter(|c| *c != ':').collect();
    if time.len() != 6 || !time.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: i64 = time[0..2].parse().ok()?;
    let min: i64 = time[2..4].parse().ok()?;
    let sec: i64 = time[4..6].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let offset = match tz {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let digits: String = tz[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[0..2].parse().ok()?;
            let m: i64 = digits[2..4].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Declares a XAPI enum: known variants with their wire spelling plus `Other(String)`
/// for values this client does not know. Parsing is case-insensitive, as XAPI's is.
macro_rules! xapi_enum {
    ($(#[$doc:meta])* $name:ident default $default:ident { $( $(#[$vdoc:meta])* $variant:ident = $wire:literal ),* $(,)? }) => {
        $crate::wire::xapi_enum!($(#[$doc])* $name { $( $(#[$vdoc])* $variant = $wire ),* });
        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }
    };
    ($(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $wire:literal ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* #[doc = concat!("`", $wire, "`")] $variant, )*
            /// A value this client does not know, preserved verbatim.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Parses a wire value (case-insensitive); unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                $( if s.eq_ignore_ascii_case($wire) { return $name::$variant; } )*
                $name::Other(s.to_string())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = $crate::wire::string(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}
pub(crate) use xapi_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "int", default)]
        i: i64,
        #[serde(deserialize_with = "float", default)]
        f: f64,
        #[serde(deserialize_with = "boolean", default)]
        b: bool,
        #[serde(deserialize_with = "string_map", default)]
        m: BTreeMap<String, String>,
    }

    #[test]
    fn ints_as_numbers_or_strings() {
        let t: T = serde_json::from_str(r#"{"i": 1073741824}"#).unwrap();
        assert_eq!(t.i, 1073741824);
        let t: T = serde_json::from_str(r#"{"i": "17179869184"}"#).unwrap();
        assert_eq!(t.i, 17179869184);
        let t: T = serde_json::from_str(r#"{"i": -1}"#).unwrap();
        assert_eq!(t.i, -1);
        let t: T = serde_json::from_str(r#"{"i": null}"#).unwrap();
        assert_eq!(t.i, 0);
        assert!(serde_json::from_str::<T>(r#"{"i": "12a"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"i": 1.5}"#).is_err());
        let t: T = serde_json::from_str(r#"{"i": 2.0}"#).unwrap();
        assert_eq!(t.i, 2);
    }

    #[test]
    fn floats_bools_maps() {
        let t: T =
            serde_json::from_str(r#"{"f": "0.5", "b": true, "m": {"a": "x", "n": 3}}"#).unwrap();
        assert_eq!(t.f, 0.5);
        assert!(t.b);
        assert_eq!(t.m["a"], "x");
        assert_eq!(t.m["n"], "3");
        let t: T = serde_json::from_str(r#"{"f": 1, "b": "0", "m": null}"#).unwrap();
        assert_eq!(t.f, 1.0);
        assert!(!t.b);
        assert!(t.m.is_empty());
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            DateTime("19700101T00:00:00Z".into()).unix_seconds(),
            Some(0)
        );
        assert_eq!(
            DateTime("20250319T04:16:24Z".into()).unix_seconds(),
            Some(1742357784)
        );
        assert_eq!(
            DateTime("2025-03-19T04:16:24Z".into()).unix_seconds(),
            Some(1742357784)
        );
        assert_eq!(
            DateTime("2025-03-19T06:16:24+02:00".into()).unix_seconds(),
            Some(1742357784)
        );
        assert_eq!(
            DateTime("20250319T04:16:24".into()).unix_seconds(),
            Some(1742357784)
        );
        assert_eq!(DateTime("garbage".into()).unix_seconds(), None);
        assert_eq!(DateTime("".into()).unix_seconds(), None);
    }

    xapi_enum!(
        /// test enum
        Color { Red = "Red", Green = "green" }
    );

    #[test]
    fn enums_are_case_insensitive_and_keep_unknowns() {
        assert_eq!(Color::parse("red"), Color::Red);
        assert_eq!(Color::parse("GREEN"), Color::Green);
        assert_eq!(Color::parse("blue"), Color::Other("blue".into()));
        let c: Color = serde_json::from_str("\"Blue\"").unwrap();
        assert_eq!(c.as_str(), "Blue");
        assert_eq!(serde_json::to_string(&Color::Red).unwrap(), "\"Red\"");
    }
}
