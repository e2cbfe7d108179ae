//! The value and schema model of the Terraform plugin protocol (tfplugin6).
//!
//! No IO, no gRPC, no XAPI: this crate is the vocabulary that the plugin
//! server and the resources share.
//!
//! # Types and values
//!
//! Terraform values are [cty](https://github.com/zclconf/go-cty) values. A
//! [`Type`] is a primitive (`bool`, `number`, `string`), a collection
//! (`list(T)`, `set(T)`, `map(T)`), a structural type (`tuple([...])`,
//! `object({...})`) or the `dynamic` pseudo-type. A [`Value`] does not carry
//! its type: the type always comes from the schema, and the codecs are driven
//! by it. Any value, at any depth (an attribute, a list element, a map
//! entry), may be [`Value::Null`] or [`Value::Unknown`] (not known until
//! apply; possibly with [`Refinements`] such as "not null" or a string
//! prefix). Objects always carry every attribute of their type, with
//! `Null` where there is no value. A value held by a `dynamic` attribute is
//! wrapped in [`Value::Dynamic`] together with its concrete type.
//!
//! Numbers are [`Number`]s: exact decimals of any size (Terraform sends
//! numbers that do not fit a float64 as decimal strings), never rounded
//! through `f64` or `i64`.
//!
//! # Codecs
//!
//! [`msgpack`] is the wire format of `DynamicValue.msgpack` (go-cty's
//! encoding: nil for null, ext for unknown, `[type JSON, value]` for dynamic,
//! lossless numbers, objects with exactly all attributes). [`json`] is the
//! format of `RawState.json`. Decoders never panic on any input and bound the
//! nesting depth; their errors carry the [`AttributePath`] of the problem.
//!
//! # Schemas
//!
//! [`Schema`] / [`Block`] / [`Attribute`] / [`NestedBlock`] describe
//! resources, data sources and the provider configuration, with
//! required/optional/computed ([`Requiredness`]), sensitive, write-only and
//! deprecated flags, markdown descriptions and nested attributes.
//! [`Block::implied_type`] gives the object type of the block's values, and
//! [`Block::validate`] applies Terraform's `InternalValidate` rules.
//!
//! ```
//! use schema::*;
//!
//! let block = Block::new()
//!     .attribute(Attribute::required("name", Type::String).description("The VM name."))
//!     .attribute(Attribute::optional("password", Type::String).sensitive())
//!     .block(NestedBlock::list("network_interface", Block::new()
//!         .attribute(Attribute::optional_computed("mac", Type::String))));
//! block.validate().unwrap();
//! let ty = block.implied_type();
//! let value = Value::object([
//!     ("name", Value::from("web")),
//!     ("password", Value::Null),
//!     ("network_interface", Value::List(vec![Value::object([("mac", Value::unknown())])])),
//! ]);
//! let bytes = msgpack::encode(&value, &ty).unwrap();
//! assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), value);
//! let path = AttributePath::new("network_interface").index(0).attr("mac");
//! assert!(value.get_path(&path).unwrap().is_unknown());
//! assert_eq!(block.attribute_at(&path).unwrap().name, "mac");
//! assert_eq!(path.to_string(), "network_interface[0].mac");
//! ```
//!
//! # Paths and diagnostics
//!
//! [`AttributePath`] addresses a nested value (`tags["env"]`,
//! `network_interface[0].mac`); [`Diagnostics`] collect errors and warnings,
//! optionally with a path, for the plugin server to return.

mod diag;
mod error;
pub mod json;
mod jsontext;
pub mod msgpack;
mod number;
mod path;
mod schema;
mod types;
mod value;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use error::{DecodeError, EncodeError};
pub use number::{MAX_DECIMAL_EXPONENT, Number, NumberError};
pub use path::{AttributePath, PathStep};
pub use schema::{
    Attribute, AttributeType, Block, BlockNesting, NestedAttributes, NestedBlock, Nesting,
    Requiredness, Schema, SchemaError, is_valid_name,
};
pub use types::{MAX_TYPE_DEPTH, ObjectType, Type, TypeError};
pub use value::{Refinements, Value};
