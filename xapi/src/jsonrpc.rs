//! JSON-RPC 2.0 envelopes as XAPI speaks them (`POST <base>/jsonrpc`).
//!
//! Requests: `{"jsonrpc":"2.0","method":"VM.get_all","params":[session, ...],"id":N}`.
//! Responses: `{"jsonrpc":"2.0","result":v,"id":N}` or
//! `{"jsonrpc":"2.0","error":{"code":1,"message":"CODE","data":["p1",...]},"id":N}`.
//! The JSON-RPC 1.0 shapes (`"error":["CODE","p1",...]`) are decoded too, for older hosts.

use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::wire::value_to_string;

/// Serializes one request.
pub(crate) fn encode_request(id: u64, method: &str, params: &[Value]) -> Vec<u8> {
    let v = json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": params,
        "id": id,
    });
    // Serializing a Value cannot fail.
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Decodes a response body: `Ok(Ok(result))`, `Ok(Err(xapi error))`, or `Err(reason)` when
/// the body is not a JSON-RPC response.
pub(crate) fn decode_response(
    expected_id: u64,
    body: &[u8],
) -> Result<Result<Value, ApiError>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({e}); body starts with {:?}",
            String::from_utf8_lossy(&body[..body.len().min(120)])
        )
    })?;
    let obj = v
        .as_object()
        .ok_or_else(|| "response is not a JSON object".to_string())?;
    if let Some(id) = obj.get("id") {
        let matches = match id {
            Value::Number(n) => n.as_u64() == Some(expected_id),
            Value::String(s) => s == &expected_id.to_string(),
            Value::Null => true,
            _ => false,
        };
        if !matches {
            return Err(format!(
                "response id {id} does not match request id {expected_id}"
            ));
        }
    }
    match obj.get("error") {
        None | Some(Value::Null) => {}
        Some(err) => return Ok(Err(decode_error(err))),
    }
    match obj.get("result") {
        Some(r) => Ok(Ok(r.clone())),
        None => Err("response has neither result nor error".to_string()),
    }
}

/// Decodes the `error` member in any of the shapes XAPI (or a JSON-RPC peer) uses.
pub(crate) fn decode_error(err: &Value) -> ApiError {
    match err {
        // JSON-RPC 1.0 (XAPI < 7.3 style): ["CODE", "p1", ...]
        Value::Array(items) => {
            ApiError::from_description(items.iter().map(value_to_string).collect())
        }
        // JSON-RPC 2.0: {"code": 1, "message": "CODE", "data": [...]}
        Value::Object(o) => {
            let message = o.get("message").map(value_to_string).unwrap_or_default();
            let params: Vec<String> = match o.get("data") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(value_to_string).collect(),
                Some(other) => vec![value_to_string(other)],
            };
            if message.is_empty() {
                let code = o.get("code").map(value_to_string).unwrap_or_default();
                ApiError::new(ErrorCode::Other(format!("JSONRPC_ERROR_{code}")), params)
            } else {
                ApiError::new(ErrorCode::parse(&message), params)
            }
        }
        // A bare string error.
        other => ApiError::new(ErrorCode::parse(&value_to_string(other)), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let body = encode_request(
            7,
            "VM.set_memory_limits",
            &[
                json!("OpaqueRef:s"),
                json!("OpaqueRef:vm"),
                json!(1073741824i64),
                json!(4294967296i64),
                json!(2147483648i64),
                json!(4294967296i64),
            ],
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["method"], "VM.set_memory_limits");
        assert_eq!(v["id"], 7);
        assert_eq!(v["params"][2], json!(1073741824i64));
        assert!(v["params"][2].is_i64());
    }

    #[test]
    fn v2_success_and_error() {
        let ok = br#"{"jsonrpc":"2.0","result":["OpaqueRef:a"],"id":3}"#;
        assert_eq!(
            decode_response(3, ok).unwrap().unwrap(),
            json!(["OpaqueRef:a"])
        );
        let err = br#"{"jsonrpc":"2.0","error":{"code":1,"message":"HANDLE_INVALID","data":["VM","OpaqueRef:x"]},"id":3}"#;
        let e = decode_response(3, err).unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::HandleInvalid);
        assert_eq!(e.params, vec!["VM", "OpaqueRef:x"]);
        // Void result.
        let void = br#"{"jsonrpc":"2.0","result":"","id":"3"}"#;
        assert_eq!(decode_response(3, void).unwrap().unwrap(), json!(""));
    }

    #[test]
    fn v1_shapes() {
        let err = br#"{"result":null,"error":["MEMORY_CONSTRAINT_VIOLATION_ORDER"],"id":1}"#;
        let e = decode_response(1, err).unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::MemoryConstraintViolationOrder);
        assert!(e.params.is_empty());
        let ok = br#"{"result":"OpaqueRef:s","error":null,"id":1}"#;
        assert_eq!(
            decode_response(1, ok).unwrap().unwrap(),
            json!("OpaqueRef:s")
        );
    }

    #[test]
    fn unknown_codes_and_odd_data_are_kept() {
        let err = br#"{"jsonrpc":"2.0","error":{"code":1,"message":"BRAND_NEW_ERROR","data":[1,"x",true]},"id":1}"#;
        let e = decode_response(1, err).unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::Other("BRAND_NEW_ERROR".into()));
        assert_eq!(e.params, vec!["1", "x", "true"]);
        let err = br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":""},"id":1}"#;
        let e = decode_response(1, err).unwrap().unwrap_err();
        assert_eq!(e.code.as_str(), "JSONRPC_ERROR_-32601");
        let err = br#"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:secret"]},"id":1}"#;
        let e = decode_response(1, err).unwrap().unwrap_err();
        assert_eq!(e.code, ErrorCode::SessionInvalid);
        assert!(!e.params.iter().any(|p| p.contains("secret")));
    }

    #[test]
    fn malformed_responses() {
        assert!(decode_response(1, b"<html>500</html>").is_err());
        assert!(decode_response(1, b"[1]").is_err());
        assert!(decode_response(1, br#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(decode_response(1, br#"{"jsonrpc":"2.0","result":1,"id":2}"#).is_err());
    }
}
