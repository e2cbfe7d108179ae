//! JSON-RPC 1.0 and 2.0 as XAPI speaks it (mirage/ocaml-rpc `jsonrpc.ml`,
//! `api_server.ml`): version detection by the `jsonrpc` member, mandatory integer-or-string
//! `id`, V1 array errors and V2 `{code: 1, message, data}` errors.

use serde_json::{Value as J, json};

use crate::error::ApiError;
use crate::value::Value;

/// JSON-RPC version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// 1.0 (no `jsonrpc` member).
    V1,
    /// 2.0.
    V2,
}

/// A parsed JSON-RPC call.
#[derive(Debug)]
pub struct JsonCall {
    /// Version.
    pub version: Version,
    /// Echoed id.
    pub id: J,
    /// Method.
    pub method: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

/// Parses a request; `Err` is the text of the exception XAPI would raise (HTTP 500).
pub fn parse_call(body: &[u8]) -> Result<JsonCall, String> {
    let j: J = serde_json::from_slice(body)
        .map_err(|e| format!("Jsonrpc.Malformed_method_request(\"{e}\")"))?;
    let obj = j
        .as_object()
        .ok_or_else(|| "Jsonrpc.Malformed_method_request(\"not an object\")".to_string())?;
    let version = match obj.get("jsonrpc") {
        None => Version::V1,
        Some(J::String(v)) if v == "2.0" => Version::V2,
        Some(other) => {
            return Err(format!(
                "Jsonrpc.Malformed_method_request(\"Invalid field 'jsonrpc': {other}\")"
            ));
        }
    };
    let id = match obj.get("id") {
        Some(J::Number(n)) if n.is_i64() || n.is_u64() => J::Number(n.clone()),
        Some(J::String(s)) => J::String(s.clone()),
        _ => {
            return Err("Jsonrpc.Malformed_method_request(\"Invalid field 'id'\")".to_string());
        }
    };
    let method = match obj.get("method") {
        Some(J::String(m)) => m.clone(),
        _ => {
            return Err("Jsonrpc.Malformed_method_request(\"Invalid field 'method'\")".to_string());
        }
    };
    let params = match (version, obj.get("params")) {
        (_, Some(J::Array(a))) => a.iter().map(Value::from_json).collect(),
        (Version::V2, None) | (Version::V2, Some(J::Null)) => Vec::new(),
        (Version::V2, Some(o @ J::Object(_))) => vec![Value::from_json(o)],
        _ => {
            return Err("Jsonrpc.Malformed_method_request(\"Invalid field 'params'\")".to_string());
        }
    };
    Ok(JsonCall {
        version,
        id,
        method,
        params,
    })
}

fn ordered(pairs: Vec<(&str, J)>) -> String {
    // serde_json's Map keeps insertion order only with `preserve_order`; build the text
    // by hand so the member order is XAPI's: jsonrpc, result|error, id.
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&J::String((*k).to_string()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// A success response body.
pub fn success(version: Version, id: &J, result: &Value) -> String {
    match version {
        Version::V1 => ordered(vec![
            ("result", result.to_json()),
            ("error", J::Null),
            ("id", id.clone()),
        ]),
        Version::V2 => ordered(vec![
            ("jsonrpc", json!("2.0")),
            ("result", result.to_json()),
            ("id", id.clone()),
        ]),
    }
}

/// A failure response body.
pub fn failure(version: Version, id: &J, e: &ApiError) -> String {
    match version {
        Version::V1 => ordered(vec![
            ("result", J::Null),
            ("error", json!(e.to_vec())),
            ("id", id.clone()),
        ]),
        Version::V2 => {
            let err_text = format!(
                "{{\"code\":1,\"message\":{},\"data\":{}}}",
                J::String(e.code.clone()),
                json!(e.params)
            );
            ordered_raw(&[
                ("jsonrpc", "\"2.0\"".to_string()),
                ("error", err_text),
                ("id", id.to_string()),
            ])
        }
    }
}

fn ordered_raw(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{v}", J::String((*k).to_string())))
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_error_shapes() {
        let c = parse_call(br#"{"method":"VM.get_all","params":["s"],"id":"x"}"#).unwrap();
        assert_eq!(c.version, Version::V1);
        let c2 = parse_call(br#"{"jsonrpc":"2.0","method":"VM.get_all","id":7}"#).unwrap();
        assert_eq!(c2.version, Version::V2);
        assert!(c2.params.is_empty());
        assert!(parse_call(br#"{"jsonrpc":"1.0","method":"a","id":1}"#).is_err());
        assert!(parse_call(br#"{"method":"a","params":[]}"#).is_err());
        assert!(parse_call(br#"{"method":"a","params":{},"id":1}"#).is_err());
        let e = ApiError::new("SESSION_INVALID", ["OpaqueRef:x"]);
        assert_eq!(
            failure(Version::V2, &json!(7), &e),
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:x"]},"id":7}"#
        );
        assert_eq!(
            failure(Version::V1, &json!("x"), &e),
            r#"{"result":null,"error":["SESSION_INVALID","OpaqueRef:x"],"id":"x"}"#
        );
        assert_eq!(
            success(Version::V2, &json!(1), &Value::Int(3)),
            r#"{"jsonrpc":"2.0","result":3,"id":1}"#
        );
    }
}
