//! A small block-style YAML emitter for the documents this crate renders.
//!
//! Why not `serde_norway::to_string`: its serializer decides whether a string needs quotes by
//! the YAML 1.2 core schema only. cloud-init and cloudbase-init read YAML with PyYAML, which
//! implements YAML 1.1, where the plain scalar `12:34:56:12:34:56` (a perfectly ordinary MAC)
//! is a base-60 integer and `yes`/`on`/`off` are booleans. serde_norway emits all of these
//! unquoted. This emitter quotes every string scalar that is not trivially safe under both
//! YAML 1.1 and 1.2, using JSON string syntax (`serde_json`), which is a valid YAML
//! double-quoted scalar in both versions. The output is parsed back with `serde_norway` in the
//! tests to check it means what was intended.

/// A YAML node. Mappings keep insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Int(u64),
    Bool(bool),
}

impl Node {
    pub(crate) fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    pub(crate) fn strs<I, S>(items: I) -> Node
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Node::Seq(items.into_iter().map(|s| Node::Str(s.into())).collect())
    }
}

/// Words that YAML 1.1 resolves to booleans or null when plain.
const YAML11_SPECIAL: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

/// True if `s` can be written as a plain scalar and reads back as the same string under both
/// YAML 1.1 and YAML 1.2: starts with an ASCII letter, continues with letters, digits, `.`,
/// `_`, `-`, and is not a YAML 1.1 boolean/null word.
fn plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !YAML11_SPECIAL.contains(&s.to_ascii_lowercase().as_str())
}

fn scalar(s: &str) -> String {
    if plain_safe(s) {
        s.to_owned()
    } else {
        // serde_json never fails on a &str.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

fn inline(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(scalar(s)),
        Node::Int(i) => Some(i.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        Node::Map(m) if m.is_empty() => Some("{}".to_owned()),
        Node::Seq(s) if s.is_empty() => Some("[]".to_owned()),
        _ => None,
    }
}

fn emit_map(out: &mut String, entries: &[(String, Node)], indent: usize, first_inline: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&scalar(key));
        out.push(':');
        match inline(value) {
            Some(v) => {
                out.push(' ');
                out.push_str(&v);
                out.push('\n');
            }
            None => {
                out.push('\n');
                emit_block(out, value, indent + 2);
            }
        }
    }
}

fn emit_block(out: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Map(entries) if !entries.is_empty() => emit_map(out, entries, indent, false),
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                match item {
                    Node::Map(entries) if !entries.is_empty() => {
                        emit_map(out, entries, indent + 2, true)
                    }
                    Node::Seq(inner) if !inner.is_empty() => {
                        out.push('\n');
                        emit_block(out, item, indent + 2);
                    }
                    other => {
                        out.push_str(&inline(other).unwrap_or_default());
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&inline(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// Renders a document. The top-level node is normally a mapping.
pub(crate) fn to_string(node: &Node) -> String {
    let mut out = String::new();
    emit_block(&mut out, node, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_yaml11_ambiguous_scalars() {
        assert_eq!(scalar("12:34:56:12:34:56"), "\"12:34:56:12:34:56\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("Off"), "\"Off\"");
        assert_eq!(scalar("10.0.0.1"), "\"10.0.0.1\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(scalar("eth0"), "eth0");
        assert_eq!(scalar("lab.example.net"), "lab.example.net");
        assert_eq!(scalar("physical"), "physical");
    }

    #[test]
    fn nested_layout() {
        let doc = Node::Map(vec![
            ("version".into(), Node::Int(1)),
            (
                "config".into(),
                Node::Seq(vec![Node::Map(vec![
                    ("type".into(), Node::str("physical")),
                    (
                        "subnets".into(),
                        Node::Seq(vec![Node::Map(vec![
                            ("type".into(), Node::str("static")),
                            ("dns_nameservers".into(), Node::strs(["1.1.1.1"])),
                        ])]),
                    ),
                    ("empty".into(), Node::Seq(vec![])),
                    ("flag".into(), Node::Bool(false)),
                ])]),
            ),
        ]);
        let text = to_string(&doc);
        assert_eq!(
            text,
            "version: 1\nconfig:\n  - type: physical\n    subnets:\n      - type: static\n        dns_nameservers:\n          - \"1.1.1.1\"\n    empty: []\n    flag: false\n"
        );
        let parsed: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(
            parsed["config"][0]["subnets"][0]["dns_nameservers"][0],
            "1.1.1.1"
        );
        assert_eq!(parsed["config"][0]["flag"], false);
        assert_eq!(parsed["version"], 1);
    }
}
