//! XML-RPC as XAPI speaks it (mirage/ocaml-rpc `xmlrpc.ml`): requests accept typed and untyped
//! values; responses are non-strict (strings and ints as bare `<value>text</value>`) inside
//! the `Status` / `Value` / `ErrorDescription` envelope.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::ApiError;
use crate::value::Value;

/// A parsed XML-RPC call.
#[derive(Debug)]
pub struct XmlCall {
    /// Method name.
    pub method: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

/// Parses a `methodCall` document; `Err` carries the parse failure text (XAPI answers such
/// requests with HTTP 500).
pub fn parse_call(body: &str) -> Result<XmlCall, String> {
    let doc = roxmltree::Document::parse(body).map_err(|e| format!("Xmlrpc.Parse_error({e})"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "methodCall" {
        return Err(format!(
            "Xmlrpc.Parse_error(\"methodCall\", \"{}\")",
            root.tag_name().name()
        ));
    }
    let method = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "methodName")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .ok_or_else(|| "Xmlrpc.Parse_error(\"methodName\")".to_string())?;
    let mut params = Vec::new();
    if let Some(ps) = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "params")
    {
        for p in ps.children().filter(|n| n.is_element()) {
            if p.tag_name().name() != "param" {
                return Err(format!(
                    "Xmlrpc.Parse_error(\"param\", \"{}\")",
                    p.tag_name().name()
                ));
            }
            let v = p
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "value")
                .ok_or_else(|| "Xmlrpc.Parse_error(\"value\")".to_string())?;
            params.push(parse_value(v)?);
        }
    }
    Ok(XmlCall { method, params })
}

fn text_of(n: roxmltree::Node) -> String {
    n.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn parse_value(v: roxmltree::Node) -> Result<Value, String> {
    let Some(child) = v.children().find(|n| n.is_element()) else {
        return Ok(Value::Str(text_of(v)));
    };
    let text = text_of(child);
    Ok(match child.tag_name().name() {
        "string" => Value::Str(text),
        "int" | "i4" | "i8" => Value::Int(
            text.trim()
                .parse()
                .map_err(|_| format!("Xmlrpc.Parse_error(\"int\", \"{text}\")"))?,
        ),
        "boolean" => match text.trim() {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            other => return Err(format!("Xmlrpc.Parse_error(\"boolean\", \"{other}\")")),
        },
        "double" => Value::Float(
            text.trim()
                .parse()
                .map_err(|_| format!("Xmlrpc.Parse_error(\"double\", \"{text}\")"))?,
        ),
        "dateTime.iso8601" => Value::DateTime(text.trim().to_string()),
        "nil" => Value::Str(String::new()),
        "base64" => Value::Str(text),
        "array" => {
            let mut items = Vec::new();
            if let Some(data) = child
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "data")
            {
                for item in data
                    .children()
                    .filter(|n| n.is_element() && n.tag_name().name() == "value")
                {
                    items.push(parse_value(item)?);
                }
            }
            Value::Set(items)
        }
        "struct" => {
            let mut m = BTreeMap::new();
            for member in child
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "member")
            {
                let name = member
                    .children()
                    .find(|n| n.is_element() && n.tag_name().name() == "name")
                    .map(text_of)
                    .ok_or_else(|| "Xmlrpc.Parse_error(\"name\")".to_string())?;
                let value = member
                    .children()
                    .find(|n| n.is_element() && n.tag_name().name() == "value")
                    .ok_or_else(|| "Xmlrpc.Parse_error(\"value\")".to_string())?;
                m.insert(name, parse_value(value)?);
            }
            Value::Map(m)
        }
        other => return Err(format!("Xmlrpc.Parse_error(\"value\", \"{other}\")")),
    })
}

/// Escapes text for XML.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// Formats a float like OCaml's `%.16g`.
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{}", f as i64)
    } else {
        let s = format!("{f}");
        if s.len() > 18 { format!("{f:.16e}") } else { s }
    }
}

/// Writes `<value>...</value>` in XAPI's non-strict encoding.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => {
            out.push_str("<value>");
            escape(s, out);
            out.push_str("</value>");
        }
        Value::Int(i) => {
            let _ = write!(out, "<value>{i}</value>");
        }
        Value::Float(f) => {
            let _ = write!(out, "<value><double>{}</double></value>", format_float(*f));
        }
        Value::Bool(b) => {
            let _ = write!(out, "<value><boolean>{}</boolean></value>", u8::from(*b));
        }
        Value::DateTime(d) => {
            out.push_str("<value><dateTime.iso8601>");
            escape(d, out);
            out.push_str("</dateTime.iso8601></value>");
        }
        Value::Set(items) => {
            out.push_str("<value><array><data>");
            for i in items {
                write_value(i, out);
            }
            out.push_str("</data></array></value>");
        }
        Value::Map(m) => {
            out.push_str("<value><struct>");
            for (k, v) in m {
                out.push_str("<member><name>");
                escape(k, out);
                out.push_str("</name>");
                write_value(v, out);
                out.push_str("</member>");
            }
            out.push_str("</struct></value>");
        }
    }
}

/// The value as an XML-RPC fragment (`task.result` uses this form).
pub fn value_to_string(v: &Value) -> String {
    let mut s = String::new();
    write_value(v, &mut s);
    s
}

fn envelope(inner: Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><methodResponse><params><param>");
    write_value(&inner, &mut out);
    out.push_str("</param></params></methodResponse>");
    out
}

/// A success response.
pub fn success(v: &Value) -> String {
    let mut m = BTreeMap::new();
    m.insert("Status".to_string(), Value::s("Success"));
    m.insert("Value".to_string(), v.clone());
    envelope(Value::Map(m))
}

/// A failure response.
pub fn failure(e: &ApiError) -> String {
    let mut m = BTreeMap::new();
    m.insert("Status".to_string(), Value::s("Failure"));
    m.insert("ErrorDescription".to_string(), Value::str_set(e.to_vec()));
    envelope(Value::Map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_and_untyped_values() {
        let body = r#"<?xml version='1.0'?><methodCall><methodName>VM.set_memory_limits</methodName>
<params><param><value><string>OpaqueRef:s</string></value></param>
<param><value>OpaqueRef:vm</value></param>
<param><value><int>5</int></value></param>
<param><value><boolean>1</boolean></value></param>
<param><value><struct><member><name>a</name><value>b</value></member></struct></value></param>
<param><value><array><data><value>x</value><value><i8>7</i8></value></data></array></value></param>
</params></methodCall>"#;
        let call = parse_call(body).unwrap();
        assert_eq!(call.method, "VM.set_memory_limits");
        assert_eq!(call.params[0], Value::s("OpaqueRef:s"));
        assert_eq!(call.params[1], Value::s("OpaqueRef:vm"));
        assert_eq!(call.params[2], Value::Int(5));
        assert_eq!(call.params[3], Value::Bool(true));
        assert_eq!(call.params[4], Value::str_map([("a", "b")]));
        assert_eq!(
            call.params[5],
            Value::Set(vec![Value::s("x"), Value::Int(7)])
        );
    }

    #[test]
    fn renders_non_strict_envelope() {
        let s = success(&Value::Int(42));
        assert!(s.contains("<member><name>Value</name><value>42</value></member>"));
        assert!(s.contains("<name>Status</name><value>Success</value>"));
        let f = failure(&ApiError::new("HANDLE_INVALID", ["VM", "OpaqueRef:x"]));
        assert!(f.contains("<name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value>"));
        assert!(parse_call("<methodCall>").is_err());
    }
}
