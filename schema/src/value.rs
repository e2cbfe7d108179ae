//! Values: known, unknown or null at every level.

use std::collections::BTreeMap;

use crate::number::Number;
use crate::path::{AttributePath, PathStep};
use crate::types::{ObjectType, Type};

/// What is known about an unknown value (cty "refinements", msgpack ext 12).
/// `Refinements::default()` is a plain unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Refinements {
    /// The value will definitely not be null.
    pub not_null: bool,
    /// Known prefix of a string value.
    pub string_prefix: Option<String>,
    /// Lower bound of a number: (bound, inclusive).
    pub number_lower: Option<(Number, bool)>,
    /// Upper bound of a number: (bound, inclusive).
    pub number_upper: Option<(Number, bool)>,
    /// Minimum length of a list, set or map.
    pub length_min: Option<u64>,
    /// Maximum length of a list, set or map.
    pub length_max: Option<u64>,
}

impl Refinements {
    /// True when nothing is known (a plain unknown).
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }

    /// Keeps only the refinements that make sense for `ty` (cty refines
    /// strings by prefix, numbers by bounds, collections by length, and any
    /// non-dynamic type by nullness).
    pub fn restricted_to(mut self, ty: &Type) -> Refinements {
        if *ty == Type::Dynamic {
            return Refinements::default();
        }
        if *ty != Type::String {
            self.string_prefix = None;
        }
        if *ty != Type::Number {
            self.number_lower = None;
            self.number_upper = None;
        }
        if !ty.is_collection() {
            self.length_min = None;
            self.length_max = None;
        }
        self
    }
}

/// A cty value. The type is not stored (except for [`Value::Dynamic`]): it
/// comes from the schema, and the codecs are driven by it.
#[derive(Debug, Clone)]
pub enum Value {
    /// Null of whatever type is expected.
    Null,
    /// Not yet known (during planning).
    Unknown(Refinements),
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Set elements; equality ignores order. Codecs remove duplicate wholly
    /// known elements, as cty does.
    Set(Vec<Value>),
    Tuple(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Always carries every attribute of its type (Null where absent).
    Object(BTreeMap<String, Value>),
    /// A known-typed value held by a `dynamic` attribute.
    Dynamic(Box<Type>, Box<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Unknown(a), Unknown(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.contains(x))
                    && b.iter().all(|x| a.contains(x))
            }
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            (Dynamic(ta, va), Dynamic(tb, vb)) => ta == tb && va == vb,
            _ => false,
        }
    }
}

impl Value {
    /// True for null (also a dynamic wrapper around null).
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(_, v) => v.is_null(),
            _ => false,
        }
    }

    /// True if this value itself is unknown (not: contains unknowns).
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::Dynamic(_, v) => v.is_unknown(),
            _ => false,
        }
    }

    /// True if the value is known here and all the way down.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => {
                vs.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
        }
    }

    /// A plain (unrefined) unknown.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// A null of type `ty`. Objects stay [`Value::Null`] (not an object of
    /// nulls): a null object and an object with null attributes differ.
    pub fn null_of(_ty: &Type) -> Value {
        Value::Null
    }

    /// An unknown of type `ty`.
    pub fn unknown_of(_ty: &Type) -> Value {
        Value::unknown()
    }

    /// An object whose every attribute is null: what Terraform synthesises for
    /// an absent GROUP block.
    pub fn all_null_object(ty: &ObjectType) -> Value {
        Value::Object(
            ty.attributes
                .keys()
                .map(|k| (k.clone(), Value::Null))
                .collect(),
        )
    }

    /// Builds an object from pairs.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Looks through a dynamic wrapper.
    pub fn unwrap_dynamic(&self) -> &Value {
        match self {
            Value::Dynamic(_, v) => v.unwrap_dynamic(),
            v => v,
        }
    }

    /// An object attribute.
    pub fn get(&self, attr: &str) -> Option<&Value> {
        match self.unwrap_dynamic() {
            Value::Object(m) => m.get(attr),
            _ => None,
        }
    }

    /// Mutable access to an object attribute.
    pub fn get_mut(&mut self, attr: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) => m.get_mut(attr),
            Value::Dynamic(_, v) => v.get_mut(attr),
            _ => None,
        }
    }

    /// Follows a path: attributes through objects, string keys through maps,
    /// integer keys through lists and tuples. `None` when the path does not
    /// exist (also through null or unknown values).
    pub fn get_path(&self, path: &AttributePath) -> Option<&Value> {
        let mut cur = self;
        for step in path.steps() {
            cur = match (cur.unwrap_dynamic(), step) {
                (Value::Object(m), PathStep::Attribute(a)) => m.get(a)?,
                (Value::Map(m), PathStep::ElementKeyString(k)) => m.get(k)?,
                (Value::List(v) | Value::Tuple(v), PathStep::ElementKeyInt(i)) => {
                    v.get(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// A known string.
    pub fn as_str(&self) -> Option<&str> {
        match self.unwrap_dynamic() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_dynamic() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A known number.
    pub fn as_number(&self) -> Option<&Number> {
        match self.unwrap_dynamic() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A known number that is an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// A known number that is a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// Elements of a known list, set or tuple.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a known map or object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unwrap_dynamic() {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The type this value evidently has, where that is unambiguous:
    /// primitives, objects and tuples of inferable values, and non-empty
    /// collections whose elements all infer to the same type. Used when a
    /// value without a [`Value::Dynamic`] wrapper is encoded as `dynamic`.
    pub fn infer_type(&self) -> Option<Type> {
        match self {
            Value::Null | Value::Unknown(_) => None,
            Value::Bool(_) => Some(Type::Bool),
            Value::Number(_) => Some(Type::Number),
            Value::String(_) => Some(Type::String),
            Value::Dynamic(t, _) => Some((**t).clone()),
            Value::Tuple(vs) => vs
                .iter()
                .map(Value::infer_type)
                .collect::<Option<Vec<_>>>()
                .map(Type::Tuple),
            Value::Object(m) => {
                let mut attrs = BTreeMap::new();
                for (k, v) in m {
                    attrs.insert(k.clone(), v.infer_type()?);
                }
                Some(Type::Object(ObjectType {
                    attributes: attrs,
                    optional: Default::default(),
                }))
            }
            Value::List(vs) | Value::Set(vs) => {
                let et = common_type(vs.iter())?;
                Some(match self {
                    Value::List(_) => Type::list(et),
                    _ => Type::set(et),
                })
            }
            Value::Map(m) => Some(Type::map(common_type(m.values())?)),
        }
    }
}

fn common_type<'a>(mut vs: impl Iterator<Item = &'a Value>) -> Option<Type> {
    let first = vs.next()?.infer_type()?;
    for v in vs {
        if v.infer_type()? != first {
            return None;
        }
    }
    Some(first)
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(Number::from_i64(n))
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(Number::from_u64(n))
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(Number::from_i64(i64::from(n)))
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knownness() {
        let v = Value::object([
            ("a", Value::from("x")),
            ("b", Value::List(vec![Value::from(1i64), Value::unknown()])),
            ("c", Value::Null),
        ]);
        assert!(!v.is_null() && !v.is_unknown() && !v.is_wholly_known());
        assert!(Value::Null.is_wholly_known());
        assert!(Value::Dynamic(Box::new(Type::String), Box::new(Value::Null)).is_null());
        assert!(Value::Dynamic(Box::new(Type::String), Box::new(Value::unknown())).is_unknown());
        assert_eq!(v.get("a").and_then(Value::as_str), Some("x"));
        assert_eq!(v.get("zzz"), None);
        let p = AttributePath::new("b").index(0);
        assert_eq!(v.get_path(&p).and_then(Value::as_i64), Some(1));
        assert_eq!(v.get_path(&AttributePath::new("b").index(5)), None);
        assert_eq!(v.get_path(&AttributePath::new("b").index(-1)), None);
        assert_eq!(v.get_path(&AttributePath::new("c").attr("x")), None);
        assert_eq!(v.get_path(&AttributePath::root()), Some(&v));
    }

    #[test]
    fn set_equality_ignores_order() {
        let a = Value::Set(vec![Value::from("x"), Value::from("y")]);
        let b = Value::Set(vec![Value::from("y"), Value::from("x")]);
        assert_eq!(a, b);
        assert_ne!(a, Value::Set(vec![Value::from("x")]));
        assert_ne!(a, Value::List(vec![Value::from("x"), Value::from("y")]));
    }

    #[test]
    fn refinements_restricted() {
        let r = Refinements {
            not_null: true,
            string_prefix: Some("ab".into()),
            length_min: Some(1),
            ..Default::default()
        };
        let s = r.clone().restricted_to(&Type::String);
        assert_eq!(s.string_prefix.as_deref(), Some("ab"));
        assert_eq!(s.length_min, None);
        let l = r.clone().restricted_to(&Type::list(Type::String));
        assert_eq!(
            (l.string_prefix, l.length_min, l.not_null),
            (None, Some(1), true)
        );
        assert!(r.restricted_to(&Type::Dynamic).is_empty());
    }

    #[test]
    fn infers_types() {
        assert_eq!(Value::from(true).infer_type(), Some(Type::Bool));
        assert_eq!(
            Value::List(vec![Value::from(1i64), Value::from(2i64)]).infer_type(),
            Some(Type::list(Type::Number))
        );
        assert_eq!(Value::List(vec![]).infer_type(), None);
        assert_eq!(
            Value::List(vec![Value::from(1i64), Value::from("a")]).infer_type(),
            None
        );
        assert_eq!(
            Value::object([("a", Value::from("x"))]).infer_type(),
            Some(Type::object([("a", Type::String)]))
        );
        assert_eq!(Value::from(None::<bool>), Value::Null);
    }
}
