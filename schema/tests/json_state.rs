//! The RawState JSON codec (go-cty `cty/json` semantics).

use schema::json::{self, DecodeOptions};
use schema::{Number, Type, Value};

fn state_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("size", Type::Number),
        ("enabled", Type::Bool),
        ("tags", Type::map(Type::String)),
        ("nics", Type::list(Type::object([("mac", Type::String)]))),
        ("ids", Type::set(Type::Number)),
        ("extra", Type::Dynamic),
    ])
}

#[test]
fn big_numbers_survive_exactly() {
    let t = Type::object([("size", Type::Number)]);
    let v = json::decode(br#"{"size": 12345678901234567890123}"#, &t).unwrap();
    assert_eq!(
        v.get("size").unwrap().as_number().unwrap().to_string(),
        "12345678901234567890123"
    );
    assert_eq!(
        json::encode(&v, &t).unwrap(),
        br#"{"size":12345678901234567890123}"#
    );
    let v = json::decode(br#"{"size": 0.1}"#, &t).unwrap();
    assert_eq!(json::encode(&v, &t).unwrap(), br#"{"size":0.1}"#);
    let v = json::decode(br#"{"size": -1.5e-3}"#, &t).unwrap();
    assert_eq!(json::encode(&v, &t).unwrap(), br#"{"size":-0.0015}"#);
}

#[test]
fn decodes_state_with_cty_leniency() {
    let t = state_type();
    let v = json::decode(
        br#"{"id":"vm-1","size":"42","enabled":"true","tags":{"env":"prod"},
             "nics":[{"mac":"aa:bb"}],"ids":[1,1,2],
             "extra":{"value":["a"],"type":["list","string"]}}"#,
        &t,
    )
    .unwrap();
    assert_eq!(
        v.get("size").unwrap().as_i64(),
        Some(42),
        "number from string"
    );
    assert_eq!(
        v.get("enabled").unwrap().as_bool(),
        Some(true),
        "bool from string"
    );
    assert_eq!(
        v.get("ids").unwrap(),
        &Value::Set(vec![1i64.into(), 2i64.into()])
    );
    assert_eq!(
        v.get("extra").unwrap(),
        &Value::Dynamic(
            Box::new(Type::list(Type::String)),
            Box::new(Value::List(vec!["a".into()]))
        )
    );
    // missing attributes decode as null
    let v = json::decode(br#"{"id":"x"}"#, &t).unwrap();
    assert_eq!(v.get("size"), Some(&Value::Null));
    assert_eq!(v.get("nics"), Some(&Value::Null));
    // strings accept numbers and bools as text, as cty does
    let st = Type::object([("s", Type::String)]);
    assert_eq!(
        json::decode(br#"{"s": 1.50}"#, &st)
            .unwrap()
            .get("s")
            .unwrap()
            .as_str(),
        Some("1.50")
    );
    assert_eq!(
        json::decode(br#"{"s": false}"#, &st)
            .unwrap()
            .get("s")
            .unwrap()
            .as_str(),
        Some("false")
    );
    assert_eq!(json::decode(b"null", &t).unwrap(), Value::Null);
    assert_eq!(json::decode(b"", &t).unwrap(), Value::Null);
}

#[test]
fn rejects_unknown_attributes_unless_asked() {
    let t = Type::object([("a", Type::String)]);
    let e = json::decode(br#"{"a":"x","gone":1}"#, &t).unwrap_err();
    assert!(e.message.contains("unsupported attribute \"gone\""), "{e}");
    let v = json::decode_with(
        br#"{"a":"x","gone":1}"#,
        &t,
        DecodeOptions {
            ignore_unknown_attributes: true,
        },
    )
    .unwrap();
    assert_eq!(v, Value::object([("a", Value::from("x"))]));
}

#[test]
fn decode_errors_have_paths() {
    let t = state_type();
    let e = json::decode(br#"{"nics":[{"mac":{}}]}"#, &t).unwrap_err();
    assert_eq!(e.path.to_string(), "nics[0].mac");
    let e = json::decode(br#"{"tags":{"env":[]}}"#, &t).unwrap_err();
    assert_eq!(e.path.to_string(), "tags[\"env\"]");
    assert!(json::decode(br#"{"size":"abc"}"#, &t).is_err());
    assert!(json::decode(br#"{"size":1e999999}"#, &t).is_err());
    assert!(json::decode(br#"{"tags":{"a":"1","a":"2"}}"#, &t).is_err());
    assert!(
        json::decode(br#"{"extra":{"value":1}}"#, &t).is_err(),
        "dynamic without type"
    );
    assert!(
        json::decode(br#"{"extra":{"type":"number"}}"#, &t).is_err(),
        "dynamic without value"
    );
    assert!(json::decode(br#"{"extra":{"type":"number","value":1,"x":2}}"#, &t).is_err());
    assert!(json::decode(br#"{"id":"x"} trailing"#, &t).is_err());
    assert!(json::decode(&[b'['; 100_000], &Type::list(Type::String)).is_err());
}

#[test]
fn encodes_sorted_compact_json() {
    let t = state_type();
    let v = Value::object([
        ("id", Value::from("vm \"1\"")),
        ("size", Value::from(u64::MAX)),
        ("enabled", Value::from(false)),
        (
            "tags",
            Value::Map(
                [
                    ("b".to_string(), Value::from("2")),
                    ("a".to_string(), Value::from("1")),
                ]
                .into(),
            ),
        ),
        (
            "nics",
            Value::List(vec![Value::object([("mac", Value::Null)])]),
        ),
        ("ids", Value::Set(vec![3i64.into(), 3i64.into()])),
        ("extra", Value::from(7i64)),
    ]);
    let out = String::from_utf8(json::encode(&v, &t).unwrap()).unwrap();
    assert_eq!(
        out,
        r#"{"enabled":false,"extra":{"value":7,"type":"number"},"id":"vm \"1\"","ids":[3],"nics":[{"mac":null}],"size":18446744073709551615,"tags":{"a":"1","b":"2"}}"#
    );
    let back = json::decode(out.as_bytes(), &t).unwrap();
    let mut expected = v.clone();
    *expected.get_mut("ids").unwrap() = Value::Set(vec![3i64.into()]);
    *expected.get_mut("extra").unwrap() =
        Value::Dynamic(Box::new(Type::Number), Box::new(7i64.into()));
    assert_eq!(back, expected);
}

#[test]
fn unknowns_and_infinity_cannot_be_json() {
    let t = Type::object([("a", Type::list(Type::String))]);
    let v = Value::object([("a", Value::List(vec![Value::unknown()]))]);
    let e = json::encode(&v, &t).unwrap_err();
    assert_eq!(e.path.to_string(), "a[0]");
    assert!(json::encode(&Value::Number(Number::infinity()), &Type::Number).is_err());
    assert!(json::encode(&Value::object([("a", Value::Null), ("b", Value::Null)]), &t).is_err());
    assert!(json::encode(&Value::object::<&str>([]), &t).is_err());
}
