//! The JSON encoding of values, as used by `RawState.json` (stored state),
//! compatible with go-cty's `cty/json` package.
//!
//! Numbers are read and written as exact decimal text, so big numbers
//! survive. Objects may omit attributes (they decode as null) but may not
//! carry unknown ones (unless [`DecodeOptions::ignore_unknown_attributes`]).
//! `dynamic` values are `{"value": V, "type": T}`. Unknown values cannot be
//! written as JSON.

use std::collections::BTreeMap;

use crate::error::{DecodeError, EncodeError};
use crate::jsontext::{self, Json};
use crate::msgpack::{check_object_attrs, dedup_set, encode_mismatch};
use crate::number::Number;
use crate::path::AttributePath;
use crate::types::Type;
use crate::value::Value;

/// Maximum JSON nesting depth accepted when decoding.
pub const MAX_DEPTH: usize = 128;

/// Options for [`decode_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Drop object attributes the type does not have instead of failing
    /// (useful when reading a state written by an older schema).
    pub ignore_unknown_attributes: bool,
}

/// Decodes JSON `bytes` as a value of type `ty` (cty semantics: missing
/// object attributes are null, unknown ones are an error). Empty input is
/// null.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    decode_with(bytes, ty, DecodeOptions::default())
}

/// [`decode`] with options.
pub fn decode_with(bytes: &[u8], ty: &Type, opts: DecodeOptions) -> Result<Value, DecodeError> {
    let root = AttributePath::root();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let j =
        jsontext::parse(bytes, MAX_DEPTH).map_err(|e| DecodeError::new(&root, e.to_string()))?;
    decode_json(&j, ty, &root, opts, 0)
}

/// Encodes a wholly known `value` of type `ty` as compact JSON.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_value(&mut out, value, ty, &AttributePath::root())?;
    Ok(out)
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn mismatch(p: &AttributePath, ty: &Type, j: &Json) -> DecodeError {
    DecodeError::new(p, format!("expected {ty}, found JSON {}", kind(j)))
}

fn parse_number(s: &str, p: &AttributePath) -> Result<Number, DecodeError> {
    Number::parse(s).map_err(|e| DecodeError::new(p, format!("invalid number: {e}")))
}

fn decode_json(
    j: &Json,
    ty: &Type,
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(p, "JSON nesting too deep"));
    }
    match (ty, j) {
        (_, Json::Null) => Ok(Value::Null),
        (Type::Dynamic, _) => decode_dynamic(j, p, opts, depth),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, Json::String(s)) if s == "true" => Ok(Value::Bool(true)),
        (Type::Bool, Json::String(s)) if s == "false" => Ok(Value::Bool(false)),
        (Type::Number, Json::Number(s) | Json::String(s)) => Ok(Value::Number(parse_number(s, p)?)),
        (Type::String, Json::String(s) | Json::Number(s)) => Ok(Value::String(s.clone())),
        (Type::String, Json::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::List(et), Json::Array(items)) => {
            decode_items(items, et, p, opts, depth).map(Value::List)
        }
        (Type::Set(et), Json::Array(items)) => {
            decode_items(items, et, p, opts, depth).map(|v| Value::Set(dedup_set(v)))
        }
        (Type::Tuple(ets), Json::Array(items)) => decode_tuple(items, ets, p, opts, depth),
        (Type::Map(et), Json::Object(members)) => decode_map(members, et, p, opts, depth),
        (Type::Object(ot), Json::Object(members)) => {
            decode_object(members, &ot.attributes, p, opts, depth)
        }
        _ => Err(mismatch(p, ty, j)),
    }
}

#[inline(never)]
fn decode_dynamic(
    j: &Json,
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Value, DecodeError> {
    let Json::Object(members) = j else {
        return Err(DecodeError::new(
            p,
            "dynamic value must be a JSON object {\"value\": ..., \"type\": ...}",
        ));
    };
    let (mut t, mut v) = (None, None);
    for (k, val) in members {
        match k.as_str() {
            "type" => t = Some(val),
            "value" => v = Some(val),
            other => {
                return Err(DecodeError::new(
                    p,
                    format!("invalid key {other:?} in dynamically-typed value"),
                ));
            }
        }
    }
    let t = t.ok_or_else(|| DecodeError::new(p, "missing type in dynamically-typed value"))?;
    let v = v.ok_or_else(|| DecodeError::new(p, "missing value in dynamically-typed value"))?;
    let inner_ty = Type::from_json_value(t, 0)
        .map_err(|e| DecodeError::new(p, format!("dynamic value: {e}")))?;
    let inner = decode_json(v, &inner_ty, p, opts, depth + 1)?;
    Ok(Value::Dynamic(Box::new(inner_ty), Box::new(inner)))
}

#[inline(never)]
fn decode_items(
    items: &[Json],
    et: &Type,
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Vec<Value>, DecodeError> {
    let mut vals = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        vals.push(decode_json(
            item,
            et,
            &p.clone().index(i as i64),
            opts,
            depth + 1,
        )?);
    }
    Ok(vals)
}

#[inline(never)]
fn decode_tuple(
    items: &[Json],
    ets: &[Type],
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Value, DecodeError> {
    if items.len() != ets.len() {
        return Err(DecodeError::new(
            p,
            format!("tuple needs {} elements, found {}", ets.len(), items.len()),
        ));
    }
    let mut vals = Vec::with_capacity(items.len());
    for (i, (item, et)) in items.iter().zip(ets).enumerate() {
        vals.push(decode_json(
            item,
            et,
            &p.clone().index(i as i64),
            opts,
            depth + 1,
        )?);
    }
    Ok(Value::Tuple(vals))
}

#[inline(never)]
fn decode_map(
    members: &[(String, Json)],
    et: &Type,
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Value, DecodeError> {
    let mut m = BTreeMap::new();
    for (k, item) in members {
        let ep = p.clone().key(k);
        let v = decode_json(item, et, &ep, opts, depth + 1)?;
        if m.insert(k.clone(), v).is_some() {
            return Err(DecodeError::new(&ep, "duplicate map key"));
        }
    }
    Ok(Value::Map(m))
}

#[inline(never)]
fn decode_object(
    members: &[(String, Json)],
    attrs: &BTreeMap<String, Type>,
    p: &AttributePath,
    opts: DecodeOptions,
    depth: usize,
) -> Result<Value, DecodeError> {
    let mut m = BTreeMap::new();
    for (k, item) in members {
        let ep = p.clone().attr(k);
        let Some(aty) = attrs.get(k) else {
            if opts.ignore_unknown_attributes {
                continue;
            }
            return Err(DecodeError::new(p, format!("unsupported attribute {k:?}")));
        };
        let v = decode_json(item, aty, &ep, opts, depth + 1)?;
        if m.insert(k.clone(), v).is_some() {
            return Err(DecodeError::new(&ep, "duplicate object attribute"));
        }
    }
    for k in attrs.keys() {
        m.entry(k.clone()).or_insert(Value::Null);
    }
    Ok(Value::Object(m))
}

fn encode_value(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    p: &AttributePath,
) -> Result<(), EncodeError> {
    match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        Value::Unknown(_) => {
            return Err(EncodeError::new(
                p,
                "value is not known: unknown values cannot be written as JSON",
            ));
        }
        _ => {}
    }
    if let Type::Dynamic = ty {
        let (inner_ty, inner) = match v {
            Value::Dynamic(t, inner) => ((**t).clone(), &**inner),
            other => (
                other.infer_type().ok_or_else(|| {
                    EncodeError::new(p, "cannot infer the type of a value for a dynamic attribute; wrap it in Value::Dynamic")
                })?,
                other,
            ),
        };
        out.extend_from_slice(b"{\"value\":");
        encode_value(out, inner, &inner_ty, p)?;
        out.extend_from_slice(b",\"type\":");
        out.extend_from_slice(&inner_ty.to_json());
        out.push(b'}');
        return Ok(());
    }
    match (ty, v) {
        (_, Value::Dynamic(t, inner)) => {
            if **t == *ty {
                encode_value(out, inner, ty, p)
            } else {
                Err(EncodeError::new(
                    p,
                    format!("expected a value of type {ty}, found dynamic value of type {t}"),
                ))
            }
        }
        (Type::Bool, Value::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        (Type::Number, Value::Number(n)) => {
            if n.is_infinite() {
                return Err(EncodeError::new(p, "infinity cannot be written as JSON"));
            }
            out.extend_from_slice(n.to_string().as_bytes());
            Ok(())
        }
        (Type::String, Value::String(s)) => {
            jsontext::write_string(out, s);
            Ok(())
        }
        (Type::List(et), Value::List(items)) | (Type::Set(et), Value::Set(items)) => {
            let deduped;
            let items = if matches!(ty, Type::Set(_)) {
                deduped = dedup_set(items.clone());
                &deduped
            } else {
                items
            };
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode_value(out, item, et, &p.clone().index(i as i64))?;
            }
            out.push(b']');
            Ok(())
        }
        (Type::Tuple(ets), Value::Tuple(items)) => {
            if ets.len() != items.len() {
                return Err(EncodeError::new(
                    p,
                    format!("tuple needs {} elements, found {}", ets.len(), items.len()),
                ));
            }
            out.push(b'[');
            for (i, (item, et)) in items.iter().zip(ets).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode_value(out, item, et, &p.clone().index(i as i64))?;
            }
            out.push(b']');
            Ok(())
        }
        (Type::Map(et), Value::Map(m)) => {
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                jsontext::write_string(out, k);
                out.push(b':');
                encode_value(out, item, et, &p.clone().key(k))?;
            }
            out.push(b'}');
            Ok(())
        }
        (Type::Object(ot), Value::Object(m)) => {
            check_object_attrs(m, &ot.attributes, p)?;
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                jsontext::write_string(out, k);
                out.push(b':');
                let aty = ot
                    .attributes
                    .get(k)
                    .ok_or_else(|| EncodeError::new(p, format!("unsupported attribute {k:?}")))?;
                encode_value(out, item, aty, &p.clone().attr(k))?;
            }
            out.push(b'}');
            Ok(())
        }
        _ => Err(encode_mismatch(p, ty, v)),
    }
}
