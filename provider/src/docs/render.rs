//! Markdown rendering of schemas and function signatures in the Terraform
//! Registry's layout (the one `tfplugindocs` produces): attributes grouped into
//! Required / Optional / Read-Only, sorted by name, nested schemas in their own
//! anchored sections below.

use std::fmt::Write as _;

use crate::framework::FunctionDefinition;
use schema::{
    Attribute, AttributeType, Block, BlockNesting, NestedAttributes, NestedBlock, Nesting,
    Requiredness, Type,
};

/// The link tfplugindocs uses for write-only arguments.
const WRITE_ONLY_LINK: &str = "[Write-only](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments)";

/// The registry's human name of a type: `String`, `List of Number`, `Map of String`.
pub fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "Boolean".to_owned(),
        Type::Number => "Number".to_owned(),
        Type::String => "String".to_owned(),
        Type::Dynamic => "Dynamic".to_owned(),
        Type::List(inner) => format!("List of {}", type_name(inner)),
        Type::Set(inner) => format!("Set of {}", type_name(inner)),
        Type::Map(inner) => format!("Map of {}", type_name(inner)),
        Type::Tuple(_) => "Tuple".to_owned(),
        Type::Object(_) => "Object".to_owned(),
    }
}

/// The lowercase type as written in a function signature (`string`, `list of number`).
pub fn signature_type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".to_owned(),
        Type::Number => "number".to_owned(),
        Type::String => "string".to_owned(),
        Type::Dynamic => "dynamic".to_owned(),
        Type::List(inner) => format!("list of {}", signature_type_name(inner)),
        Type::Set(inner) => format!("set of {}", signature_type_name(inner)),
        Type::Map(inner) => format!("map of {}", signature_type_name(inner)),
        Type::Tuple(_) => "tuple".to_owned(),
        Type::Object(_) => "object".to_owned(),
    }
}

/// The object type an attribute's type contains (directly or as collection
/// element), whose attributes are listed in a nested section.
fn object_inside(ty: &Type) -> Option<&schema::ObjectType> {
    match ty {
        Type::Object(object) => Some(object),
        Type::List(inner) | Type::Set(inner) | Type::Map(inner) => object_inside(inner),
        _ => None,
    }
}

/// A nested section still to be written below the current list.
enum Pending<'a> {
    Block(String, &'a Block),
    Attributes(String, &'a [Attribute]),
    Object(String, &'a schema::ObjectType),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Required,
    Optional,
    ReadOnly,
}

const GROUPS: [(Group, &str); 3] = [
    (Group::Required, "Required"),
    (Group::Optional, "Optional"),
    (Group::ReadOnly, "Read-Only"),
];

fn attribute_group(attribute: &Attribute) -> Group {
    match attribute.requiredness {
        Requiredness::Required => Group::Required,
        Requiredness::Optional | Requiredness::OptionalComputed => Group::Optional,
        Requiredness::Computed => Group::ReadOnly,
    }
}

fn block_group(block: &NestedBlock) -> Group {
    if block.min_items > 0 {
        Group::Required
    } else {
        Group::Optional
    }
}

fn anchor(kind: &str, path: &str) -> String {
    format!("{kind}--{}", path.replace('.', "--"))
}

fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Collapses a markdown description to what fits after a list item's type: its
/// text with surrounding whitespace removed and continuation lines indented so that
/// they stay inside the list item.
fn item_description(text: &str) -> String {
    let trimmed = text.trim();
    let mut out = String::new();
    for (i, line) in trimmed.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.trim().is_empty() {
                out.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
    }
    out
}

fn attribute_line<'a>(
    attribute: &'a Attribute,
    parent: &str,
    pending: &mut Vec<Pending<'a>>,
) -> String {
    let path = join_path(parent, &attribute.name);
    let mut kind = match &attribute.ty {
        AttributeType::Primitive(ty) => type_name(ty),
        AttributeType::Nested(nested) => match nested.nesting {
            Nesting::Single => "Attributes".to_owned(),
            Nesting::List => "Attributes List".to_owned(),
            Nesting::Set => "Attributes Set".to_owned(),
            Nesting::Map => "Attributes Map".to_owned(),
        },
    };
    if attribute.sensitive || attribute.write_only {
        kind.push_str(", Sensitive");
    }
    if attribute.write_only {
        kind.push_str(", ");
        kind.push_str(WRITE_ONLY_LINK);
    }
    if attribute.deprecated {
        kind.push_str(", Deprecated");
    }
    let mut line = format!("- `{}` ({kind})", attribute.name);
    let description = item_description(&attribute.description);
    if !description.is_empty() {
        line.push(' ');
        line.push_str(&description);
    }
    if attribute.deprecated
        && let Some(message) = &attribute.deprecation_message
    {
        let _ = write!(line, " **Deprecated:** {}", item_description(message));
    }
    let see_below = |line: &mut String, anchor: &str| {
        let _ = write!(line, " (see [below for nested schema](#{anchor}))");
    };
    match &attribute.ty {
        AttributeType::Nested(NestedAttributes { attributes, .. }) => {
            let a = anchor("nestedatt", &path);
            see_below(&mut line, &a);
            pending.push(Pending::Attributes(path, attributes));
        }
        AttributeType::Primitive(ty) => {
            if let Some(object) = object_inside(ty) {
                let a = anchor("nestedobjatt", &path);
                see_below(&mut line, &a);
                pending.push(Pending::Object(path, object));
            }
        }
    }
    line
}

fn block_line<'a>(block: &'a NestedBlock, parent: &str, pending: &mut Vec<Pending<'a>>) -> String {
    let path = join_path(parent, &block.type_name);
    let mut kind = match block.nesting {
        BlockNesting::Single | BlockNesting::Group => "Block".to_owned(),
        BlockNesting::List => "Block List".to_owned(),
        BlockNesting::Set => "Block Set".to_owned(),
        BlockNesting::Map => "Block Map".to_owned(),
    };
    if block.min_items > 0 {
        let _ = write!(kind, ", Min: {}", block.min_items);
    }
    if block.max_items > 0 {
        let _ = write!(kind, ", Max: {}", block.max_items);
    }
    if block.block.deprecated {
        kind.push_str(", Deprecated");
    }
    let mut line = format!("- `{}` ({kind})", block.type_name);
    let description = item_description(&block.block.description);
    if !description.is_empty() {
        line.push(' ');
        line.push_str(&description);
    }
    let a = anchor("nestedblock", &path);
    let _ = write!(line, " (see [below for nested schema](#{a}))");
    pending.push(Pending::Block(path, &block.block));
    line
}

/// Writes the grouped attribute lists of one level. `heading` renders a group title
/// (`### Required` at the top level, `Required:` in nested sections).
fn write_level<'a>(
    out: &mut String,
    attributes: &'a [Attribute],
    blocks: &'a [NestedBlock],
    parent: &str,
    heading: &dyn Fn(&str) -> String,
    pending: &mut Vec<Pending<'a>>,
) {
    for (group, title) in GROUPS {
        let mut items: Vec<(&str, ItemRef<'a>)> = attributes
            .iter()
            .filter(|a| attribute_group(a) == group)
            .map(|a| (a.name.as_str(), ItemRef::Attribute(a)))
            .chain(
                blocks
                    .iter()
                    .filter(|b| block_group(b) == group)
                    .map(|b| (b.type_name.as_str(), ItemRef::Block(b))),
            )
            .collect();
        if items.is_empty() {
            continue;
        }
        items.sort_by(|a, b| a.0.cmp(b.0));
        out.push_str(&heading(title));
        out.push_str("\n\n");
        for (_, item) in items {
            let line = match item {
                ItemRef::Attribute(a) => attribute_line(a, parent, pending),
                ItemRef::Block(b) => block_line(b, parent, pending),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
}

enum ItemRef<'a> {
    Attribute(&'a Attribute),
    Block(&'a NestedBlock),
}

/// The `## Schema` section of a resource, data source or provider page.
pub fn schema_section(block: &Block) -> String {
    let mut out =
        String::from("<!-- schema generated by terraform-provider-xenapi docs -->\n## Schema\n\n");
    let mut pending = Vec::new();
    write_level(
        &mut out,
        &block.attributes,
        &block.blocks,
        "",
        &|title| format!("### {title}"),
        &mut pending,
    );
    // Nested sections, in the order they were referenced (depth-first).
    let mut queue: std::collections::VecDeque<Pending<'_>> = pending.into();
    while let Some(item) = queue.pop_front() {
        let mut nested = Vec::new();
        match item {
            Pending::Block(path, block) => {
                let _ = write!(
                    out,
                    "<a id=\"{}\"></a>\n### Nested Schema for `{path}`\n\n",
                    anchor("nestedblock", &path)
                );
                write_level(
                    &mut out,
                    &block.attributes,
                    &block.blocks,
                    &path,
                    &|title| format!("{title}:"),
                    &mut nested,
                );
            }
            Pending::Attributes(path, attributes) => {
                let _ = write!(
                    out,
                    "<a id=\"{}\"></a>\n### Nested Schema for `{path}`\n\n",
                    anchor("nestedatt", &path)
                );
                write_level(
                    &mut out,
                    attributes,
                    &[],
                    &path,
                    &|title| format!("{title}:"),
                    &mut nested,
                );
            }
            Pending::Object(path, object) => {
                let _ = write!(
                    out,
                    "<a id=\"{}\"></a>\n### Nested Schema for `{path}`\n\nAttributes:\n\n",
                    anchor("nestedobjatt", &path)
                );
                for (name, ty) in &object.attributes {
                    let _ = write!(out, "- `{name}` ({})", type_name(ty));
                    if let Some(inner) = object_inside(ty) {
                        let child = join_path(&path, name);
                        let _ = write!(
                            out,
                            " (see [below for nested schema](#{}))",
                            anchor("nestedobjatt", &child)
                        );
                        nested.push(Pending::Object(child, inner));
                    }
                    out.push('\n');
                }
                out.push('\n');
            }
        }
        // Children of this section come before later siblings' sections.
        for child in nested.into_iter().rev() {
            queue.push_front(child);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The signature line of a function: `mac_address(seed string, prefix string...) string`.
pub fn function_signature(name: &str, function: &FunctionDefinition) -> String {
    let mut params: Vec<String> = function
        .parameters
        .iter()
        .map(|p| format!("{} {}", p.name, signature_type_name(&p.ty)))
        .collect();
    if let Some(v) = &function.variadic_parameter {
        params.push(format!("{} {}...", v.name, signature_type_name(&v.ty)));
    }
    format!(
        "{name}({}) {}",
        params.join(", "),
        signature_type_name(&function.return_type)
    )
}

/// The numbered argument list of a function page.
pub fn function_arguments(function: &FunctionDefinition) -> String {
    let mut out = String::new();
    for p in &function.parameters {
        let nullable = if p.allow_null_value { ", Nullable" } else { "" };
        let _ = writeln!(
            out,
            "1. `{}` ({}{nullable}) {}",
            p.name,
            type_name(&p.ty),
            item_description(&p.description)
        );
    }
    if let Some(v) = &function.variadic_parameter {
        let _ = writeln!(
            out,
            "1. `{}` (Variadic, {}) {}",
            v.name,
            type_name(&v.ty),
            item_description(&v.description)
        );
    }
    out
}

/// YAML front matter value for `description: |-`: every line indented by two.
pub fn front_matter_description(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| {
            if line.trim().is_empty() {
                String::new()
            } else {
                format!("  {}", line.trim_end())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Parameter;
    use schema::NestedBlock;

    #[test]
    fn schema_section_groups_sorts_and_links_nested_schemas() {
        let block = Block::new()
            .attribute(Attribute::required("name", Type::String).description("The name."))
            .attribute(Attribute::computed("id", Type::String).description("The id."))
            .attribute(
                Attribute::optional("secret", Type::String)
                    .write_only()
                    .description("A secret."),
            )
            .attribute(
                Attribute::optional("old", Type::Bool)
                    .deprecated("Use `name`.")
                    .description("Old flag."),
            )
            .attribute(Attribute::optional("tags", Type::map(Type::String)))
            .attribute(Attribute::computed(
                "report",
                Type::list(Type::object([("ip", Type::String), ("up", Type::Bool)])),
            ))
            .attribute(Attribute::nested_required(
                "memory",
                Nesting::Single,
                vec![
                    Attribute::required("static_max", Type::Number).description("Bytes.\nMore."),
                    Attribute::optional("static_min", Type::Number),
                ],
            ))
            .block(
                NestedBlock::list(
                    "network_interface",
                    Block::new()
                        .description("A NIC.")
                        .attribute(Attribute::required("network", Type::String))
                        .attribute(Attribute::optional_computed("mac", Type::String))
                        .block(NestedBlock::single(
                            "qos",
                            Block::new().attribute(Attribute::optional("rate", Type::Number)),
                        )),
                )
                .min_items(1),
            );
        let expected = "\
<!-- schema generated by terraform-provider-xenapi docs -->
## Schema

### Required

- `memory` (Attributes) (see [below for nested schema](#nestedatt--memory))
- `name` (String) The name.
- `network_interface` (Block List, Min: 1) A NIC. (see [below for nested schema](#nestedblock--network_interface))

### Optional

- `old` (Boolean, Deprecated) Old flag. **Deprecated:** Use `name`.
- `secret` (String, Sensitive, [Write-only](https://developer.hashicorp.com/terraform/language/resources/ephemeral#write-only-arguments)) A secret.
- `tags` (Map of String)

### Read-Only

- `id` (String) The id.
- `report` (List of Object) (see [below for nested schema](#nestedobjatt--report))

<a id=\"nestedatt--memory\"></a>
### Nested Schema for `memory`

Required:

- `static_max` (Number) Bytes.
  More.

Optional:

- `static_min` (Number)

<a id=\"nestedblock--network_interface\"></a>
### Nested Schema for `network_interface`

Required:

- `network` (String)

Optional:

- `mac` (String)
- `qos` (Block) (see [below for nested schema](#nestedblock--network_interface--qos))

<a id=\"nestedblock--network_interface--qos\"></a>
### Nested Schema for `network_interface.qos`

Optional:

- `rate` (Number)

<a id=\"nestedobjatt--report\"></a>
### Nested Schema for `report`

Attributes:

- `ip` (String)
- `up` (Boolean)
";
        assert_eq!(schema_section(&block), expected);
    }

    #[test]
    fn function_signature_and_arguments() {
        let def = FunctionDefinition {
            parameters: vec![
                Parameter::new("seed", Type::String, "The seed."),
                Parameter {
                    allow_null_value: true,
                    ..Parameter::new("count", Type::Number, "How many.")
                },
            ],
            variadic_parameter: Some(Parameter::new("prefix", Type::String, "A prefix.")),
            return_type: Type::list(Type::String),
            summary: String::new(),
            description: String::new(),
            deprecation_message: None,
        };
        assert_eq!(
            function_signature("f", &def),
            "f(seed string, count number, prefix string...) list of string"
        );
        assert_eq!(
            function_arguments(&def),
            "1. `seed` (String) The seed.\n1. `count` (Number, Nullable) How many.\n\
             1. `prefix` (Variadic, String) A prefix.\n"
        );
    }

    #[test]
    fn front_matter_description_indents_lines() {
        assert_eq!(front_matter_description("  a\nb\n\nc  "), "  a\n  b\n\n  c");
    }
}
