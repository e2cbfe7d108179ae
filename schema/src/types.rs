//! cty types and their compact JSON form (the `type` bytes in a schema and
//! the first element of a msgpack-encoded `dynamic` value).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::jsontext::{self, Json};

/// Maximum nesting depth accepted when parsing type JSON.
pub const MAX_TYPE_DEPTH: usize = 128;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// The `dynamic` pseudo-type ("any type, decided by the value").
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(ObjectType),
}

/// An object type: attribute names and types, plus the names of attributes
/// that are optional in a type constraint (used by function parameters; wire
/// values always carry every attribute).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ObjectType {
    pub attributes: BTreeMap<String, Type>,
    pub optional: BTreeSet<String>,
}

/// Why type JSON could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid type JSON: {0}")]
pub struct TypeError(pub String);

impl Type {
    /// `list(T)`
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    /// `set(T)`
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    /// `map(T)`
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    /// `tuple([T...])`
    pub fn tuple(ts: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(ts.into_iter().collect())
    }
    /// `object({name = T, ...})` with no optional attributes.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(ObjectType {
            attributes: attrs.into_iter().map(|(k, t)| (k.into(), t)).collect(),
            optional: BTreeSet::new(),
        })
    }

    /// True for bool, number and string.
    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::Bool | Type::Number | Type::String)
    }

    /// True for list, set and map.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// Element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(t) | Type::Set(t) | Type::Map(t) => Some(t),
            _ => None,
        }
    }

    /// Attribute types of an object type.
    pub fn attribute_types(&self) -> Option<&BTreeMap<String, Type>> {
        match self {
            Type::Object(o) => Some(&o.attributes),
            _ => None,
        }
    }

    /// True if `dynamic` appears anywhere in the type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::Bool | Type::Number | Type::String => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Tuple(ts) => ts.iter().any(Type::has_dynamic),
            Type::Object(o) => o.attributes.values().any(Type::has_dynamic),
        }
    }

    /// The same type with every object's optional-attribute markers removed.
    pub fn without_optional_attributes(&self) -> Type {
        match self {
            Type::List(t) => Type::list(t.without_optional_attributes()),
            Type::Set(t) => Type::set(t.without_optional_attributes()),
            Type::Map(t) => Type::map(t.without_optional_attributes()),
            Type::Tuple(ts) => {
                Type::Tuple(ts.iter().map(Type::without_optional_attributes).collect())
            }
            Type::Object(o) => Type::Object(ObjectType {
                attributes: o
                    .attributes
                    .iter()
                    .map(|(k, t)| (k.clone(), t.without_optional_attributes()))
                    .collect(),
                optional: BTreeSet::new(),
            }),
            other => other.clone(),
        }
    }

    /// cty's compact JSON: `"string"`, `["list","number"]`,
    /// `["object",{"a":"bool"}]`, `["object",{"a":"bool"},["a"]]` (the third
    /// element lists optional attributes), `["tuple",["string"]]`, `"dynamic"`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Type::Bool => out.extend_from_slice(b"\"bool\""),
            Type::Number => out.extend_from_slice(b"\"number\""),
            Type::String => out.extend_from_slice(b"\"string\""),
            Type::Dynamic => out.extend_from_slice(b"\"dynamic\""),
            Type::List(t) | Type::Set(t) | Type::Map(t) => {
                let kind: &[u8] = match self {
                    Type::List(_) => b"[\"list\",",
                    Type::Set(_) => b"[\"set\",",
                    _ => b"[\"map\",",
                };
                out.extend_from_slice(kind);
                t.write_json(out);
                out.push(b']');
            }
            Type::Tuple(ts) => {
                out.extend_from_slice(b"[\"tuple\",[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    t.write_json(out);
                }
                out.extend_from_slice(b"]]");
            }
            Type::Object(o) => {
                out.extend_from_slice(b"[\"object\",{");
                for (i, (k, t)) in o.attributes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    jsontext::write_string(out, k);
                    out.push(b':');
                    t.write_json(out);
                }
                out.push(b'}');
                if !o.optional.is_empty() {
                    out.extend_from_slice(b",[");
                    for (i, k) in o.optional.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        jsontext::write_string(out, k);
                    }
                    out.push(b']');
                }
                out.push(b']');
            }
        }
    }

    /// Parses cty's compact type JSON (see [`Type::to_json`]). Never panics;
    /// nesting deeper than [`MAX_TYPE_DEPTH`] is rejected.
    pub fn from_json(bytes: &[u8]) -> Result<Type, TypeError> {
        // Each type level uses at most two JSON levels (["list", T]).
        let json =
            jsontext::parse(bytes, MAX_TYPE_DEPTH * 2 + 2).map_err(|e| TypeError(e.to_string()))?;
        Type::from_json_value(&json, 0)
    }

    pub(crate) fn from_json_value(j: &Json, depth: usize) -> Result<Type, TypeError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(TypeError("type nesting too deep".into()));
        }
        match j {
            Json::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(TypeError(format!("invalid primitive type name {other:?}"))),
            },
            Json::Array(items) => {
                let kind = match items.first() {
                    Some(Json::String(k)) => k.as_str(),
                    _ => return Err(TypeError("invalid complex type kind name".into())),
                };
                let arity_err = || TypeError(format!("wrong number of elements in {kind} type"));
                match kind {
                    "list" | "set" | "map" => {
                        if items.len() != 2 {
                            return Err(arity_err());
                        }
                        let inner = Box::new(Type::from_json_value(&items[1], depth + 1)?);
                        Ok(match kind {
                            "list" => Type::List(inner),
                            "set" => Type::Set(inner),
                            _ => Type::Map(inner),
                        })
                    }
                    "tuple" => {
                        if items.len() != 2 {
                            return Err(arity_err());
                        }
                        match &items[1] {
                            Json::Array(ts) => Ok(Type::Tuple(
                                ts.iter()
                                    .map(|t| Type::from_json_value(t, depth + 1))
                                    .collect::<Result<_, _>>()?,
                            )),
                            _ => Err(TypeError("tuple element types must be an array".into())),
                        }
                    }
                    "object" => {
                        if items.len() != 2 && items.len() != 3 {
                            return Err(arity_err());
                        }
                        let members = match &items[1] {
                            Json::Object(m) => m,
                            _ => {
                                return Err(TypeError(
                                    "object attribute types must be an object".into(),
                                ));
                            }
                        };
                        let mut attributes = BTreeMap::new();
                        for (k, v) in members {
                            let t = Type::from_json_value(v, depth + 1)?;
                            if attributes.insert(k.clone(), t).is_some() {
                                return Err(TypeError(format!("duplicate object attribute {k:?}")));
                            }
                        }
                        let mut optional = BTreeSet::new();
                        if let Some(opts) = items.get(2) {
                            let Json::Array(names) = opts else {
                                return Err(TypeError(
                                    "optional attribute list must be an array".into(),
                                ));
                            };
                            for n in names {
                                let Json::String(n) = n else {
                                    return Err(TypeError(
                                        "optional attribute names must be strings".into(),
                                    ));
                                };
                                if !attributes.contains_key(n) {
                                    return Err(TypeError(format!(
                                        "optional attribute {n:?} is not an attribute of the object"
                                    )));
                                }
                                optional.insert(n.clone());
                            }
                        }
                        Ok(Type::Object(ObjectType {
                            attributes,
                            optional,
                        }))
                    }
                    other => Err(TypeError(format!(
                        "invalid complex type kind name {other:?}"
                    ))),
                }
            }
            _ => Err(TypeError("invalid type description".into())),
        }
    }
}

/// Terraform type-constraint syntax: `string`, `list(number)`,
/// `object({a=bool, b=optional(string)})`, `tuple([string, bool])`, `any`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("any"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Tuple(ts) => {
                f.write_str("tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Type::Object(o) => {
                f.write_str("object({")?;
                for (i, (k, t)) in o.attributes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if o.optional.contains(k) {
                        write!(f, "{k}=optional({t})")?;
                    } else {
                        write!(f, "{k}={t}")?;
                    }
                }
                f.write_str("})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(t: &Type, json: &str) {
        assert_eq!(String::from_utf8(t.to_json()).unwrap(), json);
        assert_eq!(&Type::from_json(json.as_bytes()).unwrap(), t);
    }

    #[test]
    fn json_forms_match_cty() {
        rt(&Type::String, r#""string""#);
        rt(&Type::Number, r#""number""#);
        rt(&Type::Bool, r#""bool""#);
        rt(&Type::Dynamic, r#""dynamic""#);
        rt(&Type::list(Type::Number), r#"["list","number"]"#);
        rt(&Type::set(Type::String), r#"["set","string"]"#);
        rt(
            &Type::map(Type::list(Type::Bool)),
            r#"["map",["list","bool"]]"#,
        );
        rt(
            &Type::tuple([Type::String, Type::Number]),
            r#"["tuple",["string","number"]]"#,
        );
        rt(&Type::tuple([]), r#"["tuple",[]]"#);
        rt(
            &Type::object([("b", Type::Number), ("a", Type::String)]),
            r#"["object",{"a":"string","b":"number"}]"#,
        );
        let mut opt = ObjectType::default();
        opt.attributes.insert("x".into(), Type::String);
        opt.attributes.insert("y".into(), Type::Number);
        opt.optional.insert("y".into());
        rt(
            &Type::Object(opt),
            r#"["object",{"x":"string","y":"number"},["y"]]"#,
        );
    }

    #[test]
    fn accepts_whitespace() {
        assert_eq!(
            Type::from_json(b" [ \"list\" , \"string\" ] ").unwrap(),
            Type::list(Type::String)
        );
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "",
            "\"str\"",
            "[]",
            "[\"list\"]",
            "[\"list\",\"string\",\"x\"]",
            "[\"nope\",\"string\"]",
            "[\"object\",[]]",
            "[\"object\",{\"a\":\"string\"},[\"b\"]]",
            "[\"object\",{\"a\":\"string\",\"a\":\"bool\"}]",
            "[\"tuple\",\"string\"]",
            "5",
            "null",
            "[\"list\",\"string\"] x",
        ] {
            assert!(Type::from_json(s.as_bytes()).is_err(), "{s:?}");
        }
        let deep = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(Type::from_json(deep.as_bytes()).is_err());
        let ok = format!("{}\"string\"{}", "[\"list\",".repeat(100), "]".repeat(100));
        assert!(Type::from_json(ok.as_bytes()).is_ok());
    }

    #[test]
    fn display_and_helpers() {
        let t = Type::object([
            ("a", Type::list(Type::Dynamic)),
            ("b", Type::tuple([Type::Bool])),
        ]);
        assert_eq!(t.to_string(), "object({a=list(any), b=tuple([bool])})");
        assert!(t.has_dynamic());
        assert!(!Type::map(Type::String).has_dynamic());
        assert_eq!(Type::list(Type::Number).element_type(), Some(&Type::Number));
    }
}
