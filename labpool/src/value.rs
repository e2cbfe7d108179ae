//! The lab pool's own value model: the XAPI types as they travel on the wire.
//!
//! Records are stored as maps of field name to [`Value`]; refs and enums are strings
//! (enums in their datamodel spelling), datetimes are kept in XAPI's wire form
//! `YYYYMMDDTHH:MM:SSZ`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A value as XAPI marshals it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum Value {
    /// Strings, refs and enums.
    Str(String),
    /// 64-bit integers.
    Int(i64),
    /// Floats.
    Float(f64),
    /// Booleans.
    Bool(bool),
    /// Datetime in XAPI's wire form `YYYYMMDDTHH:MM:SSZ`.
    DateTime(String),
    /// Sets (arrays).
    Set(Vec<Value>),
    /// Maps and records (string keys).
    Map(BTreeMap<String, Value>),
}

/// A record: field name to value.
pub type Record = BTreeMap<String, Value>;

/// The null reference.
pub const NULL_REF: &str = "OpaqueRef:NULL";

impl Value {
    /// An empty map.
    pub fn empty_map() -> Value {
        Value::Map(BTreeMap::new())
    }

    /// An empty set.
    pub fn empty_set() -> Value {
        Value::Set(Vec::new())
    }

    /// A string value.
    pub fn s(v: impl Into<String>) -> Value {
        Value::Str(v.into())
    }

    /// A set of strings.
    pub fn str_set<I, S>(items: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::Set(items.into_iter().map(|s| Value::Str(s.into())).collect())
    }

    /// A map of string to string.
    pub fn str_map<I, K, V>(items: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Value::Map(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), Value::Str(v.into())))
                .collect(),
        )
    }

    /// Short type name used in type errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "String",
            Value::Int(_) => "Int",
            Value::Float(_) => "Float",
            Value::Bool(_) => "Bool",
            Value::DateTime(_) => "DateTime",
            Value::Set(_) => "Enum",
            Value::Map(_) => "Dict",
        }
    }

    /// The string content, if this is a string (or datetime).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::DateTime(s) => Some(s),
            _ => None,
        }
    }

    /// The map content, if this is a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The set content, if this is a set.
    pub fn as_set(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// Interprets the value as an int64 the way XAPI's unmarshaller does: a number or a
    /// decimal string.
    pub fn to_int(&self) -> Result<i64, ApiError> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Str(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| type_error("Int64", self)),
            _ => Err(type_error("Int64", self)),
        }
    }

    /// Interprets the value as a float (number, int or numeric string).
    pub fn to_float(&self) -> Result<f64, ApiError> {
        match self {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| type_error("Float", self)),
            _ => Err(type_error("Float", self)),
        }
    }

    /// Interprets the value as a boolean (booleans only).
    pub fn to_bool(&self) -> Result<bool, ApiError> {
        match self {
            Value::Bool(b) => Ok(*b),
            _ => Err(type_error("Bool", self)),
        }
    }

    /// Interprets the value as a string.
    pub fn to_string_value(&self) -> Result<String, ApiError> {
        match self {
            Value::Str(s) | Value::DateTime(s) => Ok(s.clone()),
            _ => Err(type_error("String", self)),
        }
    }

    /// Interprets the value as a map of string to string.
    pub fn to_string_map(&self) -> Result<BTreeMap<String, String>, ApiError> {
        match self {
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.to_string_value()?)))
                .collect(),
            _ => Err(type_error("Dict", self)),
        }
    }

    /// Interprets the value as a set of strings.
    pub fn to_string_set(&self) -> Result<Vec<String>, ApiError> {
        match self {
            Value::Set(s) => s.iter().map(|v| v.to_string_value()).collect(),
            _ => Err(type_error("Enum", self)),
        }
    }

    /// Converts a JSON value (from a JSON-RPC request) into a value.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Str(String::new()),
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::Set(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON the way XAPI's JSON-RPC marshaller does.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) | Value::DateTime(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Set(s) => serde_json::Value::Array(s.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// The error XAPI reports when a parameter has the wrong type.
pub fn type_error(expected: &str, got: &Value) -> ApiError {
    ApiError::new(
        crate::error::codes::INTERNAL_ERROR,
        [format!(
            "Rpc.Runtime_error(\"{expected}\", {})",
            got.type_name()
        )],
    )
}

/// Formats a unix timestamp as XAPI's wire datetime `YYYYMMDDTHH:MM:SSZ`.
pub fn format_datetime(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The current time as an XAPI datetime value.
pub fn now_datetime() -> Value {
    Value::DateTime(format_datetime(now_unix()))
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The epoch as an XAPI datetime value.
pub fn epoch_datetime() -> Value {
    Value::DateTime("19700101T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_format_matches_xapi() {
        assert_eq!(format_datetime(0), "19700101T00:00:00Z");
        assert_eq!(format_datetime(1742357784), "20250319T04:16:24Z");
    }

    #[test]
    fn ints_accept_numbers_and_decimal_strings_only() {
        assert_eq!(Value::Int(5).to_int().unwrap(), 5);
        assert_eq!(Value::s("1073741824").to_int().unwrap(), 1073741824);
        assert!(Value::Float(1.0).to_int().is_err());
        assert!(Value::s("abc").to_int().is_err());
        assert!(Value::s("true").to_bool().is_err());
    }
}
