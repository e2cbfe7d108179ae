//! Small helpers to read typed values out of `schema::Value` objects, keeping
//! the difference between null (unset), unknown (known only at apply) and a
//! value.

use std::collections::BTreeMap;

use schema::Value;

/// A configuration value that may be unset or not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Known<T> {
    /// Unset.
    #[default]
    Null,
    /// Known only at apply time.
    Unknown,
    /// A value.
    Value(T),
}

impl<T: Copy> Known<T> {
    /// The value, if known and set.
    pub fn value(&self) -> Option<T> {
        match self {
            Known::Value(v) => Some(*v),
            _ => None,
        }
    }
    /// `self` if set (known or unknown), else `other`.
    pub fn or(self, other: Known<T>) -> Known<T> {
        match self {
            Known::Null => other,
            v => v,
        }
    }
}

impl<T> Known<T> {
    /// True for a known value.
    pub fn is_value(&self) -> bool {
        matches!(self, Known::Value(_))
    }
    /// True when not yet known.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Known::Unknown)
    }
    /// True when unset.
    pub fn is_null(&self) -> bool {
        matches!(self, Known::Null)
    }
}

/// The attribute `name` of an object (null when absent or not an object).
pub fn at<'v>(obj: &'v Value, name: &str) -> &'v Value {
    obj.get(name).unwrap_or(&Value::Null)
}

/// An integer attribute. A non-integer number counts as unknown-to-us and is
/// reported by validation separately.
pub fn int_at(obj: &Value, name: &str) -> Known<i64> {
    classify(at(obj, name), |v| v.as_i64())
}

/// A string attribute.
pub fn str_at(obj: &Value, name: &str) -> Known<String> {
    match at(obj, name) {
        Value::Null => Known::Null,
        v if v.is_unknown() => Known::Unknown,
        v => v
            .as_str()
            .map(|s| Known::Value(s.to_owned()))
            .unwrap_or(Known::Null),
    }
}

/// A bool attribute.
pub fn bool_at(obj: &Value, name: &str) -> Known<bool> {
    classify(at(obj, name), Value::as_bool)
}

fn classify<T>(v: &Value, f: impl Fn(&Value) -> Option<T>) -> Known<T> {
    if v.is_null() {
        Known::Null
    } else if v.is_unknown() {
        Known::Unknown
    } else {
        f(v).map(Known::Value).unwrap_or(Known::Unknown)
    }
}

/// A known string or `None` (null or unknown).
pub fn opt_str(obj: &Value, name: &str) -> Option<String> {
    match str_at(obj, name) {
        Known::Value(s) => Some(s),
        _ => None,
    }
}

/// A list or set of strings; unknown elements are skipped. Null -> empty.
pub fn str_list(obj: &Value, name: &str) -> Vec<String> {
    at(obj, name)
        .as_elements()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A map of strings (known entries only). Null -> `None`.
pub fn str_map(obj: &Value, name: &str) -> Option<BTreeMap<String, String>> {
    let v = at(obj, name);
    if v.is_null() || v.is_unknown() {
        return None;
    }
    v.as_map().map(|m| {
        m.iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect()
    })
}

/// The elements of a list attribute (empty when null or unknown).
pub fn elements<'v>(obj: &'v Value, name: &str) -> &'v [Value] {
    at(obj, name).as_elements().unwrap_or(&[])
}

/// Sets `name` on an object value (no-op for non-objects).
pub fn set(obj: &mut Value, name: &str, value: Value) {
    if let Some(slot) = obj.get_mut(name) {
        *slot = value;
    }
}

/// A string list value.
pub fn string_list(items: &[String]) -> Value {
    Value::List(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// A string map value (null when `None`).
pub fn string_map(map: Option<&BTreeMap<String, String>>) -> Value {
    match map {
        None => Value::Null,
        Some(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        ),
    }
}

/// Parses a Go-style duration (`"30m"`, `"1h30m"`, `"45s"`, `"1.5h"`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?} lacks a unit (s, m or h)"))?;
        if num_len == 0 {
            return Err(format!(
                "{text:?} is not a duration like \"30m\" or \"1h30m\""
            ));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("{text:?} has a bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => {
                return Err(format!(
                    "{text:?} has an unknown unit {u:?} (use s, m or h)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total += n * factor;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in ["", "30", "m", "3x", "1h30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_values() {
        let v = Value::object([
            ("a", Value::from(3i64)),
            ("b", Value::Null),
            ("c", Value::unknown()),
        ]);
        assert_eq!(int_at(&v, "a"), Known::Value(3));
        assert_eq!(int_at(&v, "b"), Known::Null);
        assert_eq!(int_at(&v, "c"), Known::Unknown);
        assert_eq!(int_at(&v, "missing"), Known::Null);
        assert_eq!(Known::<i64>::Null.or(Known::Value(1)), Known::Value(1));
    }
}
