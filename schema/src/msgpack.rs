//! The MessagePack encoding of values (`DynamicValue.msgpack`), driven by the
//! type, compatible with go-cty's `msgpack` package.
//!
//! - null is `nil` for every type;
//! - unknown is any ext value; we write `d4 00 00` (fixext1, type 0), or
//!   ext 12 with a map of refinements when there are any;
//! - numbers are ints when whole and in 64-bit range, float64 when exactly
//!   representable, otherwise decimal strings; int, uint, float32, float64
//!   and strings are all accepted;
//! - objects are maps with exactly every attribute, keys sorted;
//! - `dynamic` is `[bin(type JSON), value]`, a null dynamic is `nil`, an
//!   unknown dynamic a bare ext.
//!
//! The decoder never panics, bounds nesting depth by [`MAX_DEPTH`], and never
//! pre-allocates more than the input could fill.

use std::collections::BTreeMap;

use rmp::Marker;

use crate::error::{DecodeError, EncodeError};
use crate::number::Number;
use crate::path::AttributePath;
use crate::types::Type;
use crate::value::{Refinements, Value};

/// Maximum nesting depth (arrays, maps and dynamic wrappers) accepted when
/// decoding.
pub const MAX_DEPTH: usize = 128;

/// cty rejects refinement payloads larger than this.
pub const MAX_REFINEMENT_PAYLOAD: usize = 1024;

/// Ext type code of a refined unknown.
const EXT_REFINED_UNKNOWN: i8 = 12;

/// Length a string prefix refinement is shortened to when the refinements
/// would not fit in [`MAX_REFINEMENT_PAYLOAD`].
const MAX_PREFIX_LEN: usize = 256;

/// Decodes msgpack `bytes` as a value of type `ty`. Empty input is null (a
/// `DynamicValue` with no content means null).
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let root = AttributePath::root();
    let v = decode_value(&mut r, ty, &root, 0)?;
    if r.pos != bytes.len() {
        return Err(DecodeError::new(
            &root,
            format!(
                "{} bytes of trailing data after the value",
                bytes.len() - r.pos
            ),
        ));
    }
    Ok(v)
}

/// Encodes `value` as msgpack for type `ty`.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_value(&mut out, value, ty, &AttributePath::root())?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Reading

enum Head<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(u32),
    Map(u32),
    Ext(i8, &'a [u8]),
}

impl Head<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Head::Nil => "nil",
            Head::Bool(_) => "bool",
            Head::Int(_) | Head::Uint(_) => "integer",
            Head::F32(_) | Head::F64(_) => "float",
            Head::Str(_) => "string",
            Head::Bin(_) => "binary",
            Head::Array(_) => "array",
            Head::Map(_) => "map",
            Head::Ext(..) => "ext",
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, path: &AttributePath) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::new(path, "unexpected end of msgpack data"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be<const N: usize>(&mut self, path: &AttributePath) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, path)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn len8(&mut self, p: &AttributePath) -> Result<usize, DecodeError> {
        Ok(usize::from(self.be::<1>(p)?[0]))
    }
    fn len16(&mut self, p: &AttributePath) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.be::<2>(p)?)))
    }
    fn len32(&mut self, p: &AttributePath) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.be::<4>(p)?))
            .map_err(|_| DecodeError::new(p, "length out of range"))
    }

    fn head(&mut self, p: &AttributePath) -> Result<Head<'a>, DecodeError> {
        let b = self.be::<1>(p)?[0];
        Ok(match Marker::from_u8(b) {
            Marker::FixPos(v) => Head::Int(i64::from(v)),
            Marker::FixNeg(v) => Head::Int(i64::from(v)),
            Marker::Null => Head::Nil,
            Marker::True => Head::Bool(true),
            Marker::False => Head::Bool(false),
            Marker::U8 => Head::Int(i64::from(self.be::<1>(p)?[0])),
            Marker::U16 => Head::Int(i64::from(u16::from_be_bytes(self.be(p)?))),
            Marker::U32 => Head::Int(i64::from(u32::from_be_bytes(self.be(p)?))),
            Marker::U64 => Head::Uint(u64::from_be_bytes(self.be(p)?)),
            Marker::I8 => Head::Int(i64::from(i8::from_be_bytes(self.be(p)?))),
            Marker::I16 => Head::Int(i64::from(i16::from_be_bytes(self.be(p)?))),
            Marker::I32 => Head::Int(i64::from(i32::from_be_bytes(self.be(p)?))),
            Marker::I64 => Head::Int(i64::from_be_bytes(self.be(p)?)),
            Marker::F32 => Head::F32(f32::from_be_bytes(self.be(p)?)),
            Marker::F64 => Head::F64(f64::from_be_bytes(self.be(p)?)),
            Marker::FixStr(n) => Head::Str(self.take(usize::from(n), p)?),
            Marker::Str8 => {
                let n = self.len8(p)?;
                Head::Str(self.take(n, p)?)
            }
            Marker::Str16 => {
                let n = self.len16(p)?;
                Head::Str(self.take(n, p)?)
            }
            Marker::Str32 => {
                let n = self.len32(p)?;
                Head::Str(self.take(n, p)?)
            }
            Marker::Bin8 => {
                let n = self.len8(p)?;
                Head::Bin(self.take(n, p)?)
            }
            Marker::Bin16 => {
                let n = self.len16(p)?;
                Head::Bin(self.take(n, p)?)
            }
            Marker::Bin32 => {
                let n = self.len32(p)?;
                Head::Bin(self.take(n, p)?)
            }
            Marker::FixArray(n) => Head::Array(u32::from(n)),
            Marker::Array16 => Head::Array(u32::from(u16::from_be_bytes(self.be(p)?))),
            Marker::Array32 => Head::Array(u32::from_be_bytes(self.be(p)?)),
            Marker::FixMap(n) => Head::Map(u32::from(n)),
            Marker::Map16 => Head::Map(u32::from(u16::from_be_bytes(self.be(p)?))),
            Marker::Map32 => Head::Map(u32::from_be_bytes(self.be(p)?)),
            Marker::FixExt1 => self.ext(1, p)?,
            Marker::FixExt2 => self.ext(2, p)?,
            Marker::FixExt4 => self.ext(4, p)?,
            Marker::FixExt8 => self.ext(8, p)?,
            Marker::FixExt16 => self.ext(16, p)?,
            Marker::Ext8 => {
                let n = self.len8(p)?;
                self.ext(n, p)?
            }
            Marker::Ext16 => {
                let n = self.len16(p)?;
                self.ext(n, p)?
            }
            Marker::Ext32 => {
                let n = self.len32(p)?;
                self.ext(n, p)?
            }
            Marker::Reserved => {
                return Err(DecodeError::new(p, "invalid msgpack marker 0xc1"));
            }
        })
    }

    fn ext(&mut self, n: usize, p: &AttributePath) -> Result<Head<'a>, DecodeError> {
        let code = i8::from_be_bytes(self.be::<1>(p)?);
        Ok(Head::Ext(code, self.take(n, p)?))
    }

    /// Skips one complete value (used for unknown refinement keys).
    fn skip(&mut self, p: &AttributePath, depth: usize) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::new(p, "msgpack nesting too deep"));
        }
        match self.head(p)? {
            Head::Array(n) => {
                for _ in 0..n {
                    self.skip(p, depth + 1)?;
                }
            }
            Head::Map(n) => {
                for _ in 0..n {
                    self.skip(p, depth + 1)?;
                    self.skip(p, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn utf8<'b>(bytes: &'b [u8], p: &AttributePath) -> Result<&'b str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::new(p, "string is not valid UTF-8"))
}

fn type_mismatch(p: &AttributePath, ty: &Type, h: &Head<'_>) -> DecodeError {
    DecodeError::new(p, format!("expected {ty}, found msgpack {}", h.describe()))
}

fn number_from_head(h: &Head<'_>, p: &AttributePath) -> Result<Option<Number>, DecodeError> {
    Ok(Some(match h {
        Head::Int(i) => Number::from_i64(*i),
        Head::Uint(u) => Number::from_u64(*u),
        Head::F32(f) => Number::from_f64(f64::from(*f))
            .ok_or_else(|| DecodeError::new(p, "NaN is not a valid number"))?,
        Head::F64(f) => {
            Number::from_f64(*f).ok_or_else(|| DecodeError::new(p, "NaN is not a valid number"))?
        }
        Head::Str(s) => Number::parse(utf8(s, p)?)
            .map_err(|e| DecodeError::new(p, format!("invalid number: {e}")))?,
        _ => return Ok(None),
    }))
}

fn decode_value(
    r: &mut Reader<'_>,
    ty: &Type,
    p: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(p, "msgpack nesting too deep"));
    }
    let h = r.head(p)?;
    match (ty, h) {
        (_, Head::Nil) => Ok(Value::Null),
        (_, Head::Ext(code, payload)) => decode_unknown(code, payload, ty, p),
        (Type::Dynamic, h) => decode_dynamic(r, h, p, depth),
        (Type::Bool, Head::Bool(b)) => Ok(Value::Bool(b)),
        (Type::Number, h) => match number_from_head(&h, p)? {
            Some(n) => Ok(Value::Number(n)),
            None => Err(type_mismatch(p, ty, &h)),
        },
        (Type::String, Head::Str(s)) => Ok(Value::String(utf8(s, p)?.to_string())),
        (Type::List(et), Head::Array(n)) => decode_list(r, n, et, p, depth).map(Value::List),
        (Type::Set(et), Head::Array(n)) => {
            decode_list(r, n, et, p, depth).map(|items| Value::Set(dedup_set(items)))
        }
        (Type::Tuple(ets), Head::Array(n)) => decode_tuple(r, n, ets, p, depth),
        (Type::Map(et), Head::Map(n)) => decode_map(r, n, et, p, depth),
        (Type::Object(ot), Head::Map(n)) => decode_object(r, n, &ot.attributes, p, depth),
        (_, h) => Err(type_mismatch(p, ty, &h)),
    }
}

#[inline(never)]
fn decode_unknown(
    code: i8,
    payload: &[u8],
    ty: &Type,
    p: &AttributePath,
) -> Result<Value, DecodeError> {
    let refinements = if code == EXT_REFINED_UNKNOWN && payload.len() > 1 {
        decode_refinements(payload, p)?.restricted_to(ty)
    } else {
        Refinements::default()
    };
    Ok(Value::Unknown(refinements))
}

#[inline(never)]
fn decode_dynamic(
    r: &mut Reader<'_>,
    h: Head<'_>,
    p: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    let Head::Array(2) = h else {
        return Err(DecodeError::new(
            p,
            format!(
                "dynamic value must be a 2-element array [type, value], found msgpack {}",
                h.describe()
            ),
        ));
    };
    let ty_bytes = match r.head(p)? {
        Head::Bin(b) | Head::Str(b) => b,
        other => {
            return Err(DecodeError::new(
                p,
                format!(
                    "dynamic value type must be bytes, found msgpack {}",
                    other.describe()
                ),
            ));
        }
    };
    let inner_ty = Type::from_json(ty_bytes)
        .map_err(|e| DecodeError::new(p, format!("dynamic value: {e}")))?;
    let v = decode_value(r, &inner_ty, p, depth + 1)?;
    Ok(Value::Dynamic(Box::new(inner_ty), Box::new(v)))
}

#[inline(never)]
fn decode_list(
    r: &mut Reader<'_>,
    n: u32,
    et: &Type,
    p: &AttributePath,
    depth: usize,
) -> Result<Vec<Value>, DecodeError> {
    let mut items = Vec::with_capacity((n as usize).min(r.remaining()));
    for i in 0..n {
        let ep = p.clone().index(i64::from(i));
        items.push(decode_value(r, et, &ep, depth + 1)?);
    }
    Ok(items)
}

#[inline(never)]
fn decode_tuple(
    r: &mut Reader<'_>,
    n: u32,
    ets: &[Type],
    p: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    if n as usize != ets.len() {
        return Err(DecodeError::new(
            p,
            format!("tuple needs {} elements, found {n}", ets.len()),
        ));
    }
    let mut items = Vec::with_capacity(ets.len());
    for (i, et) in ets.iter().enumerate() {
        let ep = p.clone().index(i as i64);
        items.push(decode_value(r, et, &ep, depth + 1)?);
    }
    Ok(Value::Tuple(items))
}

#[inline(never)]
fn decode_map(
    r: &mut Reader<'_>,
    n: u32,
    et: &Type,
    p: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let key = read_key(r, p)?;
        let ep = p.clone().key(&key);
        let v = decode_value(r, et, &ep, depth + 1)?;
        if m.insert(key, v).is_some() {
            return Err(DecodeError::new(&ep, "duplicate map key"));
        }
    }
    Ok(Value::Map(m))
}

#[inline(never)]
fn decode_object(
    r: &mut Reader<'_>,
    n: u32,
    attrs: &BTreeMap<String, Type>,
    p: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    if n as usize != attrs.len() {
        return Err(DecodeError::new(
            p,
            format!("object needs exactly {} attributes, found {n}", attrs.len()),
        ));
    }
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let key = read_key(r, p)?;
        let ep = p.clone().attr(&key);
        let Some(aty) = attrs.get(&key) else {
            return Err(DecodeError::new(
                p,
                format!("unsupported attribute {key:?}"),
            ));
        };
        let v = decode_value(r, aty, &ep, depth + 1)?;
        if m.insert(key, v).is_some() {
            return Err(DecodeError::new(&ep, "duplicate object attribute"));
        }
    }
    Ok(Value::Object(m))
}

fn read_key(r: &mut Reader<'_>, p: &AttributePath) -> Result<String, DecodeError> {
    match r.head(p)? {
        Head::Str(s) => Ok(utf8(s, p)?.to_string()),
        other => Err(DecodeError::new(
            p,
            format!(
                "map key must be a string, found msgpack {}",
                other.describe()
            ),
        )),
    }
}

/// Removes duplicates among wholly known elements (cty never considers
/// values containing unknowns equal, so those are all kept).
pub(crate) fn dedup_set(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for v in items {
        if v.is_wholly_known() && out.iter().any(|o| o.is_wholly_known() && *o == v) {
            continue;
        }
        out.push(v);
    }
    out
}

fn decode_refinements(payload: &[u8], p: &AttributePath) -> Result<Refinements, DecodeError> {
    if payload.len() > MAX_REFINEMENT_PAYLOAD {
        return Err(DecodeError::new(
            p,
            format!(
                "unknown value refinements too long ({} bytes, limit {MAX_REFINEMENT_PAYLOAD})",
                payload.len()
            ),
        ));
    }
    let bad = |what: &str| DecodeError::new(p, format!("invalid unknown value refinement: {what}"));
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let Head::Map(n) = r.head(p)? else {
        return Err(bad("payload is not a map"));
    };
    let mut out = Refinements::default();
    for _ in 0..n {
        let key = match r.head(p)? {
            Head::Int(k) => k,
            Head::Uint(_) => -1, // unknown key
            _ => return Err(bad("key is not an integer")),
        };
        match key {
            1 => match r.head(p)? {
                Head::Bool(is_null) => out.not_null = !is_null,
                _ => return Err(bad("nullness is not a bool")),
            },
            2 => match r.head(p)? {
                Head::Str(s) => out.string_prefix = Some(utf8(s, p)?.to_string()),
                _ => return Err(bad("string prefix is not a string")),
            },
            3 | 4 => {
                let Head::Array(2) = r.head(p)? else {
                    return Err(bad("number bound is not [number, inclusive]"));
                };
                let num = number_from_head(&r.head(p)?, p)?
                    .ok_or_else(|| bad("bound is not a number"))?;
                let Head::Bool(inclusive) = r.head(p)? else {
                    return Err(bad("bound inclusiveness is not a bool"));
                };
                if key == 3 {
                    out.number_lower = Some((num, inclusive));
                } else {
                    out.number_upper = Some((num, inclusive));
                }
            }
            5 | 6 => {
                let len = match r.head(p)? {
                    Head::Int(i) => u64::try_from(i).map_err(|_| bad("negative length"))?,
                    Head::Uint(u) => u,
                    _ => return Err(bad("length is not an integer")),
                };
                if key == 5 {
                    out.length_min = Some(len);
                } else {
                    out.length_max = Some(len);
                }
            }
            _ => r.skip(p, 1)?,
        }
    }
    if r.pos != payload.len() {
        return Err(bad("trailing data"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Writing

fn w_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

fn w_int(out: &mut Vec<u8>, v: i64) {
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_sint(out, v);
}

fn w_uint(out: &mut Vec<u8>, v: u64) {
    let _ = rmp::encode::write_uint(out, v);
}

fn w_f64(out: &mut Vec<u8>, v: f64) {
    let _ = rmp::encode::write_f64(out, v);
}

fn w_str(out: &mut Vec<u8>, s: &str) {
    let _ = rmp::encode::write_str(out, s);
}

fn w_bin(out: &mut Vec<u8>, b: &[u8]) {
    let _ = rmp::encode::write_bin(out, b);
}

fn w_array_len(out: &mut Vec<u8>, n: usize, p: &AttributePath) -> Result<(), EncodeError> {
    let n = u32::try_from(n).map_err(|_| EncodeError::new(p, "too many elements"))?;
    let _ = rmp::encode::write_array_len(out, n);
    Ok(())
}

fn w_map_len(out: &mut Vec<u8>, n: usize, p: &AttributePath) -> Result<(), EncodeError> {
    let n = u32::try_from(n).map_err(|_| EncodeError::new(p, "too many elements"))?;
    let _ = rmp::encode::write_map_len(out, n);
    Ok(())
}

fn w_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        w_int(out, i);
    } else if let Some(u) = n.as_u64() {
        w_uint(out, u);
    } else if n.is_infinite() || n.is_exact_f64() {
        w_f64(out, n.as_f64());
    } else {
        w_str(out, &n.to_string());
    }
}

fn refinement_payload(r: &Refinements, with_bounds: bool, prefix_limit: usize) -> Vec<u8> {
    let mut entries: Vec<(i64, Vec<u8>)> = Vec::new();
    if r.not_null {
        entries.push((1, vec![0xc2])); // is-null: false
    }
    if let Some(prefix) = &r.string_prefix
        && !prefix.is_empty()
    {
        let mut end = prefix.len().min(prefix_limit);
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        let mut b = Vec::new();
        w_str(&mut b, &prefix[..end]);
        entries.push((2, b));
    }
    if with_bounds {
        for (key, bound) in [(3, &r.number_lower), (4, &r.number_upper)] {
            if let Some((n, inclusive)) = bound {
                let mut b = vec![0x92];
                w_number(&mut b, n);
                b.push(if *inclusive { 0xc3 } else { 0xc2 });
                entries.push((key, b));
            }
        }
    }
    if let Some(min) = r.length_min {
        let mut b = Vec::new();
        w_uint(&mut b, min);
        entries.push((5, b));
    }
    if let Some(max) = r.length_max {
        let mut b = Vec::new();
        w_uint(&mut b, max);
        entries.push((6, b));
    }
    if entries.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let _ = rmp::encode::write_map_len(&mut out, entries.len() as u32);
    for (k, v) in entries {
        w_int(&mut out, k);
        out.extend_from_slice(&v);
    }
    out
}

fn w_unknown(out: &mut Vec<u8>, r: &Refinements, ty: &Type) {
    let r = r.clone().restricted_to(ty);
    // Keep the refinements exactly when they fit cty's limit; otherwise
    // shorten the prefix (as cty does), and as a last resort drop the
    // number bounds rather than produce something cty rejects.
    let mut payload = refinement_payload(&r, true, usize::MAX);
    if payload.len() > MAX_REFINEMENT_PAYLOAD {
        payload = refinement_payload(&r, true, MAX_PREFIX_LEN);
    }
    if payload.len() > MAX_REFINEMENT_PAYLOAD {
        payload = refinement_payload(&r, false, MAX_PREFIX_LEN);
    }
    if payload.is_empty() {
        out.extend_from_slice(&[0xd4, 0x00, 0x00]);
    } else {
        let _ = rmp::encode::write_ext_meta(out, payload.len() as u32, EXT_REFINED_UNKNOWN);
        out.extend_from_slice(&payload);
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown(_) => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Tuple(_) => "tuple",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Dynamic(..) => "dynamic",
    }
}

pub(crate) fn encode_mismatch(p: &AttributePath, ty: &Type, v: &Value) -> EncodeError {
    EncodeError::new(
        p,
        format!("expected a value of type {ty}, found {}", value_kind(v)),
    )
}

/// Checks that an object value carries exactly the attributes of its type.
pub(crate) fn check_object_attrs(
    m: &BTreeMap<String, Value>,
    attrs: &BTreeMap<String, Type>,
    p: &AttributePath,
) -> Result<(), EncodeError> {
    if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
        return Err(EncodeError::new(
            p,
            format!("unsupported attribute {extra:?}"),
        ));
    }
    if let Some(missing) = attrs.keys().find(|k| !m.contains_key(*k)) {
        return Err(EncodeError::new(
            p,
            format!("missing attribute {missing:?} (objects must carry every attribute; use null)"),
        ));
    }
    Ok(())
}

fn encode_value(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    p: &AttributePath,
) -> Result<(), EncodeError> {
    match v {
        Value::Null => {
            w_nil(out);
            return Ok(());
        }
        Value::Unknown(r) => {
            w_unknown(out, r, ty);
            return Ok(());
        }
        _ => {}
    }
    if let Type::Dynamic = ty {
        let (inner_ty, inner) = match v {
            Value::Dynamic(t, inner) => ((**t).clone(), &**inner),
            other => (
                other.infer_type().ok_or_else(|| {
                    EncodeError::new(
                        p,
                        format!(
                            "cannot infer the type of a {} for a dynamic attribute; wrap it in Value::Dynamic",
                            value_kind(other)
                        ),
                    )
                })?,
                other,
            ),
        };
        out.push(0x92);
        w_bin(out, &inner_ty.to_json());
        return encode_value(out, inner, &inner_ty, p);
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
            let _ = rmp::encode::write_bool(out, *b);
            Ok(())
        }
        (Type::Number, Value::Number(n)) => {
            w_number(out, n);
            Ok(())
        }
        (Type::String, Value::String(s)) => {
            w_str(out, s);
            Ok(())
        }
        (Type::List(et), Value::List(items)) => {
            w_array_len(out, items.len(), p)?;
            for (i, item) in items.iter().enumerate() {
                encode_value(out, item, et, &p.clone().index(i as i64))?;
            }
            Ok(())
        }
        (Type::Set(et), Value::Set(items)) => {
            let items = dedup_set(items.clone());
            w_array_len(out, items.len(), p)?;
            for item in &items {
                encode_value(out, item, et, p)?;
            }
            Ok(())
        }
        (Type::Tuple(ets), Value::Tuple(items)) => {
            if ets.len() != items.len() {
                return Err(EncodeError::new(
                    p,
                    format!("tuple needs {} elements, found {}", ets.len(), items.len()),
                ));
            }
            w_array_len(out, items.len(), p)?;
            for (i, (item, et)) in items.iter().zip(ets).enumerate() {
                encode_value(out, item, et, &p.clone().index(i as i64))?;
            }
            Ok(())
        }
        (Type::Map(et), Value::Map(m)) => {
            w_map_len(out, m.len(), p)?;
            for (k, item) in m {
                w_str(out, k);
                encode_value(out, item, et, &p.clone().key(k))?;
            }
            Ok(())
        }
        (Type::Object(ot), Value::Object(m)) => {
            check_object_attrs(m, &ot.attributes, p)?;
            w_map_len(out, m.len(), p)?;
            for (k, item) in m {
                w_str(out, k);
                encode_value(out, item, &ot.attributes[k], &p.clone().attr(k))?;
            }
            Ok(())
        }
        _ => Err(encode_mismatch(p, ty, v)),
    }
}
