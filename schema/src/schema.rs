//! Schemas: blocks, attributes, nested blocks and nested attributes, their
//! implied cty types, and Terraform's `InternalValidate` rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::path::{AttributePath, PathStep};
use crate::types::{ObjectType, Type};

/// A resource, data source or provider schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    /// Schema version (state upgrades); must be non-negative.
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }

    /// The cty type of values conforming to this schema.
    pub fn implied_type(&self) -> Type {
        self.block.implied_type()
    }

    /// [`Block::validate`] plus a non-negative version.
    pub fn validate(&self) -> Result<(), SchemaError> {
        let mut problems = Vec::new();
        if self.version < 0 {
            problems.push(format!("schema version {} is negative", self.version));
        }
        self.block.validate_into("", &mut problems);
        SchemaError::from_problems(problems)
    }
}

/// A block: attributes and nested block types. Descriptions are markdown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    pub deprecated: bool,
    pub deprecation_message: Option<String>,
}

/// Which of required / optional / computed an attribute is. Being an enum,
/// it cannot express the combinations Terraform forbids (required+optional,
/// required+computed, none at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requiredness {
    /// Must be set in configuration.
    Required,
    /// May be set in configuration; the provider never sets it.
    Optional,
    /// Set by the provider only.
    Computed,
    /// May be set in configuration; otherwise the provider sets it.
    OptionalComputed,
}

impl Requiredness {
    /// The protocol flags `(required, optional, computed)`.
    pub fn flags(self) -> (bool, bool, bool) {
        match self {
            Requiredness::Required => (true, false, false),
            Requiredness::Optional => (false, true, false),
            Requiredness::Computed => (false, false, true),
            Requiredness::OptionalComputed => (false, true, true),
        }
    }

    /// Builds from protocol flags, applying Terraform's rules: one of
    /// required/optional/computed must be set, required excludes the others.
    pub fn from_flags(required: bool, optional: bool, computed: bool) -> Result<Self, String> {
        match (required, optional, computed) {
            (true, false, false) => Ok(Requiredness::Required),
            (false, true, false) => Ok(Requiredness::Optional),
            (false, false, true) => Ok(Requiredness::Computed),
            (false, true, true) => Ok(Requiredness::OptionalComputed),
            (false, false, false) => Err("must set Optional, Required or Computed".into()),
            (true, true, _) => Err("cannot set both Optional and Required".into()),
            (true, false, true) => Err("cannot set both Computed and Required".into()),
        }
    }

    pub fn is_required(self) -> bool {
        self == Requiredness::Required
    }
    pub fn is_optional(self) -> bool {
        matches!(
            self,
            Requiredness::Optional | Requiredness::OptionalComputed
        )
    }
    pub fn is_computed(self) -> bool {
        matches!(
            self,
            Requiredness::Computed | Requiredness::OptionalComputed
        )
    }
}

/// Nesting mode of nested attributes (protocol 6 `Schema.Object`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
}

/// Nesting mode of a nested block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockNesting {
    /// At most one block; null when absent.
    Single,
    /// Exactly one block; an all-null object when absent (never null).
    Group,
    /// Zero or more blocks; an empty list when absent (never null).
    List,
    /// Zero or more blocks; an empty set when absent (never null).
    Set,
    /// Labelled blocks; an empty map when absent (never null).
    Map,
}

impl fmt::Display for BlockNesting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockNesting::Single => "NestingSingle",
            BlockNesting::Group => "NestingGroup",
            BlockNesting::List => "NestingList",
            BlockNesting::Set => "NestingSet",
            BlockNesting::Map => "NestingMap",
        })
    }
}

/// Attributes nested inside an attribute (`nested_type`).
#[derive(Debug, Clone, PartialEq)]
pub struct NestedAttributes {
    pub nesting: Nesting,
    pub attributes: Vec<Attribute>,
}

/// An attribute's type: a cty type, or nested attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeType {
    Primitive(Type),
    Nested(NestedAttributes),
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: AttributeType,
    pub requiredness: Requiredness,
    /// Markdown.
    pub description: String,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: bool,
    pub deprecation_message: Option<String>,
}

/// A nested block type.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: BlockNesting,
    /// 0 means no minimum.
    pub min_items: u64,
    /// 0 means no maximum.
    pub max_items: u64,
}

/// Problems found by [`Block::validate`] / [`Schema::validate`], each
/// prefixed with the dotted name of the offending attribute or block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub problems: Vec<String>,
}

impl SchemaError {
    fn from_problems(problems: Vec<String>) -> Result<(), SchemaError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SchemaError { problems })
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid schema: {}", self.problems.join("; "))
    }
}

impl std::error::Error for SchemaError {}

/// `^[a-z0-9_]+$`
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

// ---------------------------------------------------------------------------
// Attribute

impl Attribute {
    fn new(name: &str, ty: AttributeType, requiredness: Requiredness) -> Self {
        Attribute {
            name: name.to_string(),
            ty,
            requiredness,
            description: String::new(),
            sensitive: false,
            write_only: false,
            deprecated: false,
            deprecation_message: None,
        }
    }

    /// A required attribute of type `ty`.
    pub fn required(name: &str, ty: Type) -> Self {
        Self::new(name, AttributeType::Primitive(ty), Requiredness::Required)
    }
    /// An optional attribute of type `ty`.
    pub fn optional(name: &str, ty: Type) -> Self {
        Self::new(name, AttributeType::Primitive(ty), Requiredness::Optional)
    }
    /// A computed (read-only) attribute of type `ty`.
    pub fn computed(name: &str, ty: Type) -> Self {
        Self::new(name, AttributeType::Primitive(ty), Requiredness::Computed)
    }
    /// An optional attribute the provider fills in when unset.
    pub fn optional_computed(name: &str, ty: Type) -> Self {
        Self::new(
            name,
            AttributeType::Primitive(ty),
            Requiredness::OptionalComputed,
        )
    }

    fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>, r: Requiredness) -> Self {
        Self::new(
            name,
            AttributeType::Nested(NestedAttributes {
                nesting,
                attributes,
            }),
            r,
        )
    }
    /// A required attribute with nested attributes.
    pub fn nested_required(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Self::nested(name, nesting, attributes, Requiredness::Required)
    }
    /// An optional attribute with nested attributes.
    pub fn nested_optional(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Self::nested(name, nesting, attributes, Requiredness::Optional)
    }
    /// A computed attribute with nested attributes.
    pub fn nested_computed(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Self::nested(name, nesting, attributes, Requiredness::Computed)
    }
    /// An optional+computed attribute with nested attributes.
    pub fn nested_optional_computed(
        name: &str,
        nesting: Nesting,
        attributes: Vec<Attribute>,
    ) -> Self {
        Self::nested(name, nesting, attributes, Requiredness::OptionalComputed)
    }

    /// Sets the markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    /// Marks the attribute sensitive (hidden in plan output).
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Marks the attribute write-only (never stored in state).
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    /// Marks the attribute deprecated, with a message (empty for none).
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        let m = message.into();
        self.deprecated = true;
        self.deprecation_message = if m.is_empty() { None } else { Some(m) };
        self
    }
    /// Replaces the requiredness.
    pub fn with_requiredness(mut self, r: Requiredness) -> Self {
        self.requiredness = r;
        self
    }

    pub fn is_required(&self) -> bool {
        self.requiredness.is_required()
    }
    pub fn is_optional(&self) -> bool {
        self.requiredness.is_optional()
    }
    pub fn is_computed(&self) -> bool {
        self.requiredness.is_computed()
    }

    /// The cty type of this attribute's value.
    pub fn implied_type(&self) -> Type {
        match &self.ty {
            AttributeType::Primitive(t) => t.clone(),
            AttributeType::Nested(n) => n.implied_type(),
        }
    }

    /// True if this attribute, or any attribute nested in it, is write-only.
    pub fn contains_write_only(&self) -> bool {
        self.write_only
            || matches!(&self.ty, AttributeType::Nested(n) if n.attributes.iter().any(Attribute::contains_write_only))
    }

    fn validate_into(&self, prefix: &str, problems: &mut Vec<String>) {
        let here = format!("{prefix}{}", self.name);
        if !is_valid_name(&self.name) {
            problems.push(format!(
                "{here}: name may contain only lowercase letters, digits and underscores"
            ));
        }
        if self.deprecation_message.is_some() && !self.deprecated {
            problems.push(format!(
                "{here}: deprecation_message is set but the attribute is not deprecated"
            ));
        }
        if self.write_only && self.requiredness.is_computed() {
            problems.push(format!("{here}: write-only attributes cannot be computed"));
        }
        match &self.ty {
            AttributeType::Primitive(_) => {}
            AttributeType::Nested(n) => {
                if n.nesting == Nesting::Set {
                    if n.implied_type().has_dynamic() {
                        problems.push(format!(
                            "{here}: NestingSet attributes may not contain attributes of cty.DynamicPseudoType"
                        ));
                    }
                    if n.attributes.iter().any(Attribute::contains_write_only) {
                        problems.push(format!(
                            "{here}: NestingSet attributes may not contain WriteOnly attributes"
                        ));
                    }
                }
                check_duplicates(
                    n.attributes.iter().map(|a| a.name.as_str()),
                    &format!("{here}."),
                    problems,
                );
                for a in &n.attributes {
                    a.validate_into(&format!("{here}."), problems);
                }
            }
        }
    }
}

impl NestedAttributes {
    /// The implied type: object, list/set/map of object.
    pub fn implied_type(&self) -> Type {
        let obj = Type::Object(ObjectType {
            attributes: self
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.implied_type()))
                .collect(),
            optional: BTreeSet::new(),
        });
        match self.nesting {
            Nesting::Single => obj,
            Nesting::List => Type::list(obj),
            Nesting::Set => Type::set(obj),
            Nesting::Map => Type::map(obj),
        }
    }
}

fn check_duplicates<'a>(
    names: impl Iterator<Item = &'a str>,
    prefix: &str,
    problems: &mut Vec<String>,
) {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            problems.push(format!("{prefix}{n}: defined more than once"));
        }
    }
}

// ---------------------------------------------------------------------------
// NestedBlock

impl NestedBlock {
    fn new(type_name: &str, nesting: BlockNesting, block: Block) -> Self {
        NestedBlock {
            type_name: type_name.to_string(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }
    /// At most one block (null when absent). Leave min/max at 0, or set both
    /// to 1 to require the block.
    pub fn single(type_name: &str, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Single, block)
    }
    /// Exactly one block, optional in configuration.
    pub fn group(type_name: &str, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Group, block)
    }
    /// A list of blocks.
    pub fn list(type_name: &str, block: Block) -> Self {
        Self::new(type_name, BlockNesting::List, block)
    }
    /// A set of blocks.
    pub fn set(type_name: &str, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Set, block)
    }
    /// Labelled blocks.
    pub fn map(type_name: &str, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Map, block)
    }
    /// Minimum number of blocks.
    pub fn min_items(mut self, n: u64) -> Self {
        self.min_items = n;
        self
    }
    /// Maximum number of blocks.
    pub fn max_items(mut self, n: u64) -> Self {
        self.max_items = n;
        self
    }

    /// The implied type of the block's value: object for SINGLE/GROUP,
    /// list/set/map of object otherwise. A LIST or MAP whose block contains
    /// `dynamic` is `dynamic` (Terraform decodes it as a tuple / object whose
    /// shape depends on the configuration).
    pub fn implied_type(&self) -> Type {
        let obj = self.block.implied_type();
        match self.nesting {
            BlockNesting::Single | BlockNesting::Group => obj,
            BlockNesting::List if obj.has_dynamic() => Type::Dynamic,
            BlockNesting::Map if obj.has_dynamic() => Type::Dynamic,
            BlockNesting::List => Type::list(obj),
            BlockNesting::Set => Type::set(obj),
            BlockNesting::Map => Type::map(obj),
        }
    }
}

// ---------------------------------------------------------------------------
// Block

impl Block {
    /// An empty block.
    pub fn new() -> Self {
        Block::default()
    }
    /// Adds an attribute.
    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    /// Adds a nested block type.
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }
    /// Sets the markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    /// Marks the block deprecated, with a message (empty for none).
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        let m = message.into();
        self.deprecated = true;
        self.deprecation_message = if m.is_empty() { None } else { Some(m) };
        self
    }

    /// The attribute called `name`.
    pub fn get_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The nested block type called `name`.
    pub fn get_block(&self, name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == name)
    }

    /// The cty object type of this block's values: one attribute per
    /// attribute and per nested block type.
    pub fn implied_type(&self) -> Type {
        let mut attributes = BTreeMap::new();
        for a in &self.attributes {
            attributes.insert(a.name.clone(), a.implied_type());
        }
        for b in &self.blocks {
            attributes.insert(b.type_name.clone(), b.implied_type());
        }
        Type::Object(ObjectType {
            attributes,
            optional: BTreeSet::new(),
        })
    }

    /// True if any attribute in this block or below is write-only.
    pub fn contains_write_only(&self) -> bool {
        self.attributes.iter().any(Attribute::contains_write_only)
            || self.blocks.iter().any(|b| b.block.contains_write_only())
    }

    /// Terraform's `InternalValidate` rules (plus the name rule it has
    /// disabled for attributes, and write-only / deprecation sanity checks).
    pub fn validate(&self) -> Result<(), SchemaError> {
        let mut problems = Vec::new();
        self.validate_into("", &mut problems);
        SchemaError::from_problems(problems)
    }

    fn validate_into(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.deprecation_message.is_some() && !self.deprecated {
            let here = if prefix.is_empty() {
                "(root)"
            } else {
                prefix.trim_end_matches('.')
            };
            problems.push(format!(
                "{here}: deprecation_message is set but the block is not deprecated"
            ));
        }
        check_duplicates(
            self.attributes.iter().map(|a| a.name.as_str()),
            prefix,
            problems,
        );
        check_duplicates(
            self.blocks.iter().map(|b| b.type_name.as_str()),
            prefix,
            problems,
        );
        for a in &self.attributes {
            a.validate_into(prefix, problems);
        }
        for b in &self.blocks {
            let name = &b.type_name;
            let here = format!("{prefix}{name}");
            if self.get_attribute(name).is_some() {
                problems.push(format!(
                    "{here}: name defined as both attribute and child block type"
                ));
            } else if !is_valid_name(name) {
                problems.push(format!(
                    "{here}: name may contain only lowercase letters, digits and underscores"
                ));
            }
            match b.nesting {
                BlockNesting::Single => {
                    if b.min_items != b.max_items {
                        problems.push(format!(
                            "{here}: MinItems and MaxItems must match in NestingSingle mode"
                        ));
                    } else if b.min_items > 1 {
                        problems.push(format!(
                            "{here}: MinItems and MaxItems must be set to either 0 or 1 in NestingSingle mode"
                        ));
                    }
                }
                BlockNesting::Group => {
                    if b.min_items != 0 || b.max_items != 0 {
                        problems.push(format!(
                            "{here}: MinItems and MaxItems cannot be used in NestingGroup mode"
                        ));
                    }
                }
                BlockNesting::List | BlockNesting::Set => {
                    if b.max_items != 0 && b.min_items > b.max_items {
                        problems.push(format!(
                            "{here}: MinItems must be less than or equal to MaxItems in {} mode",
                            b.nesting
                        ));
                    }
                    if b.nesting == BlockNesting::Set {
                        if b.block.implied_type().has_dynamic() {
                            problems.push(format!(
                                "{here}: NestingSet blocks may not contain attributes of cty.DynamicPseudoType"
                            ));
                        }
                        if b.block.contains_write_only() {
                            problems.push(format!(
                                "{here}: NestingSet blocks may not contain WriteOnly attributes"
                            ));
                        }
                    }
                }
                BlockNesting::Map => {
                    if b.min_items != 0 || b.max_items != 0 {
                        problems.push(format!(
                            "{here}: MinItems and MaxItems must both be 0 in NestingMap mode"
                        ));
                    }
                }
            }
            b.block.validate_into(&format!("{here}."), problems);
        }
    }

    /// The attribute a path points at, following attribute steps through
    /// nested blocks and nested attributes (element-key steps for list, set
    /// and map nesting are skipped). `None` if the path does not end at an
    /// attribute.
    pub fn attribute_at(&self, path: &AttributePath) -> Option<&Attribute> {
        let steps = path.steps();
        let (first, rest) = steps.split_first()?;
        let PathStep::Attribute(name) = first else {
            return None;
        };
        if let Some(a) = self.get_attribute(name) {
            return attribute_at_rest(a, rest);
        }
        let b = self.get_block(name)?;
        let rest = match b.nesting {
            BlockNesting::Single | BlockNesting::Group => rest,
            BlockNesting::List | BlockNesting::Set | BlockNesting::Map => skip_key(rest)?,
        };
        b.block.attribute_at(&AttributePath(rest.to_vec()))
    }
}

fn skip_key(rest: &[PathStep]) -> Option<&[PathStep]> {
    match rest.split_first() {
        Some((PathStep::ElementKeyInt(_) | PathStep::ElementKeyString(_), tail)) => Some(tail),
        _ => None,
    }
}

fn attribute_at_rest<'a>(a: &'a Attribute, rest: &[PathStep]) -> Option<&'a Attribute> {
    if rest.is_empty() {
        return Some(a);
    }
    let AttributeType::Nested(n) = &a.ty else {
        return None;
    };
    let rest = match n.nesting {
        Nesting::Single => rest,
        Nesting::List | Nesting::Set | Nesting::Map => skip_key(rest)?,
    };
    let (first, tail) = rest.split_first()?;
    let PathStep::Attribute(name) = first else {
        return None;
    };
    let inner = n.attributes.iter().find(|x| &x.name == name)?;
    attribute_at_rest(inner, tail)
}
