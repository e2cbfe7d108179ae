//! Byte-exact fixtures of go-cty's msgpack encoding, and the decoder's rules.

use std::collections::BTreeMap;

use schema::{Number, Refinements, Type, Value, msgpack};

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn enc(v: &Value, t: &Type) -> String {
    hex(&msgpack::encode(v, t).unwrap())
}

fn unhex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

fn dec(s: &str, t: &Type) -> Result<Value, schema::DecodeError> {
    msgpack::decode(&unhex(s), t)
}

fn num(s: &str) -> Value {
    Value::Number(Number::parse(s).unwrap())
}

#[test]
fn null_and_unknown_fixtures() {
    for t in [
        Type::String,
        Type::Number,
        Type::list(Type::Bool),
        Type::object([("a", Type::String)]),
        Type::Dynamic,
    ] {
        assert_eq!(enc(&Value::Null, &t), "c0");
        assert_eq!(enc(&Value::unknown(), &t), "d4 00 00");
        assert_eq!(dec("c0", &t).unwrap(), Value::Null);
        assert_eq!(dec("d4 00 00", &t).unwrap(), Value::unknown());
    }
}

#[test]
fn primitive_fixtures() {
    assert_eq!(enc(&Value::from(true), &Type::Bool), "c3");
    assert_eq!(enc(&Value::from(false), &Type::Bool), "c2");
    assert_eq!(
        enc(&Value::from("hello"), &Type::String),
        "a5 68 65 6c 6c 6f"
    );
    assert_eq!(enc(&Value::from(1i64), &Type::Number), "01");
    assert_eq!(enc(&Value::from(-1i64), &Type::Number), "ff");
    assert_eq!(enc(&Value::from(200i64), &Type::Number), "cc c8");
    assert_eq!(enc(&Value::from(-200i64), &Type::Number), "d1 ff 38");
    assert_eq!(enc(&Value::from(70000i64), &Type::Number), "ce 00 01 11 70");
    assert_eq!(
        enc(&Value::from(i64::MIN), &Type::Number),
        "d3 80 00 00 00 00 00 00 00"
    );
    assert_eq!(
        enc(&Value::from(u64::MAX), &Type::Number),
        "cf ff ff ff ff ff ff ff ff"
    );
    assert_eq!(
        enc(&num("1.5"), &Type::Number),
        "cb 3f f8 00 00 00 00 00 00"
    );
    assert_eq!(
        enc(&num("4294967296e2"), &Type::Number),
        "cf 00 00 00 64 00 00 00 00"
    );
    // Not representable as float64: decimal string, exactly as Terraform sent it.
    let big = "12345678901234567890123";
    let mut expect = vec![0xb7];
    expect.extend_from_slice(big.as_bytes());
    assert_eq!(enc(&num(big), &Type::Number), hex(&expect));
    assert_eq!(enc(&num("0.1"), &Type::Number), "a3 30 2e 31");
    // A big integer that is an exact float64 (2^70) is written as float64, as cty does.
    assert_eq!(
        enc(&num("1180591620717411303424"), &Type::Number),
        "cb 44 50 00 00 00 00 00 00"
    );
    assert_eq!(
        enc(&Value::Number(Number::infinity()), &Type::Number),
        "cb 7f f0 00 00 00 00 00 00"
    );
    assert_eq!(
        enc(&Value::Number(Number::neg_infinity()), &Type::Number),
        "cb ff f0 00 00 00 00 00 00"
    );
}

#[test]
fn numbers_decode_from_every_encoding() {
    let t = Type::Number;
    assert_eq!(dec("05", &t).unwrap(), num("5"));
    assert_eq!(dec("fb", &t).unwrap(), num("-5"));
    assert_eq!(dec("d0 fb", &t).unwrap(), num("-5"));
    assert_eq!(dec("cc c8", &t).unwrap(), num("200"));
    assert_eq!(dec("cd 01 00", &t).unwrap(), num("256"));
    assert_eq!(
        dec("cf ff ff ff ff ff ff ff ff", &t).unwrap(),
        num("18446744073709551615")
    );
    assert_eq!(
        dec("d3 80 00 00 00 00 00 00 00", &t).unwrap(),
        num("-9223372036854775808")
    );
    assert_eq!(dec("ca 3f c0 00 00", &t).unwrap(), num("1.5"));
    assert_eq!(dec("cb 3f f8 00 00 00 00 00 00", &t).unwrap(), num("1.5"));
    assert_eq!(dec("a5 31 65 34 30 30", &t).unwrap(), num("1e400"));
    assert_eq!(
        dec("cb 7f f0 00 00 00 00 00 00", &t).unwrap(),
        Value::Number(Number::infinity())
    );
    assert_eq!(
        dec("a4 2b 49 6e 66", &t).unwrap(),
        Value::Number(Number::infinity())
    );
    assert!(dec("cb 7f f8 00 00 00 00 00 00", &t).is_err(), "NaN");
    assert!(dec("a3 61 62 63", &t).is_err(), "not a number");
    assert!(dec("c3", &t).is_err(), "bool is not a number");
    // float64 0.1 keeps its exact binary value and re-encodes as the same float.
    let v = dec("cb 3f b9 99 99 99 99 99 9a", &t).unwrap();
    assert_eq!(v.as_number().unwrap().as_f64(), 0.1);
    assert_eq!(enc(&v, &t), "cb 3f b9 99 99 99 99 99 9a");
}

#[test]
fn collection_fixtures() {
    let lt = Type::list(Type::String);
    assert_eq!(enc(&Value::List(vec!["a".into()]), &lt), "91 a1 61");
    assert_eq!(enc(&Value::List(vec![]), &lt), "90");
    assert_eq!(
        enc(&Value::List(vec![Value::Null, Value::unknown()]), &lt),
        "92 c0 d4 00 00"
    );
    let mt = Type::map(Type::Number);
    let m: BTreeMap<String, Value> = [
        ("b".to_string(), Value::from(2i64)),
        ("a".to_string(), Value::from(1i64)),
    ]
    .into();
    assert_eq!(enc(&Value::Map(m), &mt), "82 a1 61 01 a1 62 02");
    let tt = Type::tuple([Type::String, Type::Bool]);
    assert_eq!(
        enc(&Value::Tuple(vec!["x".into(), true.into()]), &tt),
        "92 a1 78 c3"
    );
    assert!(msgpack::encode(&Value::Tuple(vec!["x".into()]), &tt).is_err());
    assert!(dec("91 a1 78", &tt).is_err());
}

#[test]
fn objects_carry_exactly_every_attribute_sorted() {
    let t = Type::object([("b", Type::Number), ("a", Type::String)]);
    let v = Value::object([("b", Value::from(1i64)), ("a", Value::from("x"))]);
    assert_eq!(enc(&v, &t), "82 a1 61 a1 78 a1 62 01");
    assert_eq!(
        dec("82 a1 62 01 a1 61 a1 78", &t).unwrap(),
        v,
        "any key order decodes"
    );
    // missing attribute
    let e = msgpack::encode(&Value::object([("a", Value::from("x"))]), &t).unwrap_err();
    assert!(e.message.contains("missing attribute \"b\""), "{e}");
    assert!(dec("81 a1 61 a1 78", &t).is_err());
    assert!(dec("80", &t).is_err());
    // unknown attribute
    let e = msgpack::encode(
        &Value::object([
            ("a", Value::from("x")),
            ("b", Value::Null),
            ("c", Value::Null),
        ]),
        &t,
    )
    .unwrap_err();
    assert!(e.message.contains("unsupported attribute \"c\""), "{e}");
    let e = dec("82 a1 61 a1 78 a1 63 01", &t).unwrap_err();
    assert!(e.message.contains("unsupported attribute \"c\""), "{e}");
    // duplicate key with the right count
    assert!(dec("82 a1 61 a1 78 a1 61 a1 78", &t).is_err());
    // nested error paths
    let nt = Type::object([("nics", Type::list(Type::object([("mac", Type::String)])))]);
    let e = dec("81 a4 6e 69 63 73 91 81 a3 6d 61 63 05", &nt).unwrap_err();
    assert_eq!(e.path.to_string(), "nics[0].mac");
    assert_eq!(
        e.to_string(),
        "at nics[0].mac: expected string, found msgpack integer"
    );
    let bad = Value::object([(
        "nics",
        Value::List(vec![Value::object([("mac", Value::from(5i64))])]),
    )]);
    assert_eq!(
        msgpack::encode(&bad, &nt).unwrap_err().path.to_string(),
        "nics[0].mac"
    );
}

#[test]
fn sets_dedup_known_elements_only() {
    let t = Type::set(Type::Number);
    assert_eq!(
        dec("93 01 01 02", &t).unwrap(),
        Value::Set(vec![1i64.into(), 2i64.into()])
    );
    assert_eq!(
        enc(&Value::Set(vec![1i64.into(), 1i64.into()]), &t),
        "91 01"
    );
    // 1 and 1.0 (float) are the same number
    assert_eq!(
        dec("92 01 cb 3f f0 00 00 00 00 00 00", &t).unwrap(),
        Value::Set(vec![1i64.into()])
    );
    // unknowns are never equal to each other
    assert_eq!(
        dec("92 d4 00 00 d4 00 00", &t).unwrap(),
        Value::Set(vec![Value::unknown(), Value::unknown()])
    );
    let ot = Type::set(Type::object([("a", Type::String)]));
    let partly = Value::object([("a", Value::unknown())]);
    assert_eq!(
        enc(&Value::Set(vec![partly.clone(), partly]), &ot),
        "92 81 a1 61 d4 00 00 81 a1 61 d4 00 00"
    );
}

#[test]
fn dynamic_values() {
    let t = Type::Dynamic;
    let v = Value::Dynamic(Box::new(Type::String), Box::new("x".into()));
    // [bin("\"string\""), "x"]
    assert_eq!(enc(&v, &t), "92 c4 08 22 73 74 72 69 6e 67 22 a1 78");
    assert_eq!(
        dec("92 c4 08 22 73 74 72 69 6e 67 22 a1 78", &t).unwrap(),
        v
    );
    // the type may also arrive as str
    assert_eq!(dec("92 a8 22 73 74 72 69 6e 67 22 a1 78", &t).unwrap(), v);
    // unwrapped primitives infer their type
    assert_eq!(
        enc(&Value::from("x"), &t),
        "92 c4 08 22 73 74 72 69 6e 67 22 a1 78"
    );
    // a known-type null / unknown stays wrapped
    let wrapped_null = Value::Dynamic(Box::new(Type::Number), Box::new(Value::Null));
    assert_eq!(
        enc(&wrapped_null, &t),
        "92 c4 08 22 6e 75 6d 62 65 72 22 c0"
    );
    assert_eq!(
        dec("92 c4 08 22 6e 75 6d 62 65 72 22 c0", &t).unwrap(),
        wrapped_null
    );
    assert!(wrapped_null.is_null());
    let wrapped_unknown = Value::Dynamic(Box::new(Type::Number), Box::new(Value::unknown()));
    assert_eq!(
        enc(&wrapped_unknown, &t),
        "92 c4 08 22 6e 75 6d 62 65 72 22 d4 00 00"
    );
    // an unrefined unknown dynamic is a bare ext, refinements are dropped
    let refined = Value::Unknown(Refinements {
        not_null: true,
        ..Default::default()
    });
    assert_eq!(enc(&refined, &t), "d4 00 00");
    // cannot infer the type of an empty list
    assert!(msgpack::encode(&Value::List(vec![]), &t).is_err());
    // errors
    assert!(dec("91 c4 01 22", &t).is_err());
    assert!(dec("92 c4 03 22 78 22 a1 78", &t).is_err(), "bad type json");
    assert!(dec("92 01 a1 78", &t).is_err(), "type must be bytes");
    assert!(dec("a1 78", &t).is_err());
    // inside an object
    let ot = Type::object([("any", Type::Dynamic)]);
    let ov = Value::object([(
        "any",
        Value::Dynamic(
            Box::new(Type::list(Type::Bool)),
            Box::new(Value::List(vec![true.into()])),
        ),
    )]);
    let bytes = msgpack::encode(&ov, &ot).unwrap();
    assert_eq!(msgpack::decode(&bytes, &ot).unwrap(), ov);
}

#[test]
fn refined_unknowns() {
    let nn = Refinements {
        not_null: true,
        ..Default::default()
    };
    // ext8, length 3, type 12, {1: false}
    assert_eq!(
        enc(&Value::Unknown(nn.clone()), &Type::String),
        "c7 03 0c 81 01 c2"
    );
    assert_eq!(
        dec("c7 03 0c 81 01 c2", &Type::String).unwrap(),
        Value::Unknown(nn.clone())
    );
    let pre = Refinements {
        not_null: true,
        string_prefix: Some("ab".into()),
        ..Default::default()
    };
    assert_eq!(
        enc(&Value::Unknown(pre.clone()), &Type::String),
        "c7 07 0c 82 01 c2 02 a2 61 62"
    );
    assert_eq!(
        dec("c7 07 0c 82 01 c2 02 a2 61 62", &Type::String).unwrap(),
        Value::Unknown(pre)
    );
    let bounds = Refinements {
        number_lower: Some((Number::from_i64(1), true)),
        number_upper: Some((Number::parse("12345678901234567890123").unwrap(), false)),
        ..Default::default()
    };
    let b = msgpack::encode(&Value::Unknown(bounds.clone()), &Type::Number).unwrap();
    assert_eq!(
        msgpack::decode(&b, &Type::Number).unwrap(),
        Value::Unknown(bounds)
    );
    let lens = Refinements {
        length_min: Some(1),
        length_max: Some(3),
        ..Default::default()
    };
    let lt = Type::list(Type::String);
    assert_eq!(
        enc(&Value::Unknown(lens.clone()), &lt),
        "c7 05 0c 82 05 01 06 03"
    );
    assert_eq!(
        dec("c7 05 0c 82 05 01 06 03", &lt).unwrap(),
        Value::Unknown(lens.clone())
    );
    // refinements that do not apply to the type are dropped (never an empty ext 12)
    assert_eq!(enc(&Value::Unknown(lens), &Type::String), "d4 00 00");
    assert_eq!(
        dec("c7 05 0c 82 05 01 06 03", &Type::String).unwrap(),
        Value::unknown()
    );
    // unknown refinement keys are ignored (here key 9 -> [1, {"x": 2}])
    assert_eq!(
        dec("c7 0a 0c 82 09 92 01 81 a1 78 02 01 c2", &Type::String).unwrap(),
        Value::Unknown(nn)
    );
    // any other ext code, and ext 12 of length <= 1, is a plain unknown
    assert_eq!(dec("d5 05 00 00", &Type::Bool).unwrap(), Value::unknown());
    assert_eq!(dec("c7 00 07", &Type::Bool).unwrap(), Value::unknown());
    assert_eq!(dec("d4 0c 00", &Type::Bool).unwrap(), Value::unknown());
    assert_eq!(dec("d4 0c 80", &Type::Bool).unwrap(), Value::unknown());
    // payload limit
    let mut big = vec![0xc8, 0x04, 0x01, 0x0c, 0x81, 0x02, 0xda, 0x03, 0xfc];
    big.extend(std::iter::repeat_n(b'a', 0x3fc));
    assert_eq!(big.len() - 4, 1025);
    // the same shape at exactly 1024 bytes is accepted
    let mut ok = vec![0xc8, 0x04, 0x00, 0x0c, 0x81, 0x02, 0xda, 0x03, 0xfb];
    ok.extend(std::iter::repeat_n(b'a', 0x3fb));
    assert!(msgpack::decode(&ok, &Type::String).unwrap().is_unknown());
    assert!(
        msgpack::decode(&big, &Type::String)
            .unwrap_err()
            .message
            .contains("too long")
    );
    // malformed payloads
    assert!(dec("d5 0c 81 01", &Type::String).is_err());
    assert!(dec("d5 0c 01 02", &Type::String).is_err());
    // long prefixes are truncated so the payload stays within cty's limit
    let long = Refinements {
        string_prefix: Some("é".repeat(2000)),
        ..Default::default()
    };
    let b = msgpack::encode(&Value::Unknown(long), &Type::String).unwrap();
    assert!(b.len() < 1024);
    let Value::Unknown(r) = msgpack::decode(&b, &Type::String).unwrap() else {
        panic!()
    };
    assert_eq!(r.string_prefix.unwrap(), "é".repeat(128));
}

#[test]
fn strings_must_be_utf8_and_keys_strings() {
    assert!(dec("a2 ff fe", &Type::String).is_err());
    assert!(dec("81 01 01", &Type::map(Type::Number)).is_err());
    assert!(
        dec("82 a1 61 01 a1 61 02", &Type::map(Type::Number)).is_err(),
        "duplicate key"
    );
    assert_eq!(
        dec("da 00 02 68 69", &Type::String).unwrap(),
        Value::from("hi"),
        "str16"
    );
    assert!(
        dec("c4 02 68 69", &Type::String).is_err(),
        "bin is not a string"
    );
}

#[test]
fn framing_errors_are_errors_not_panics() {
    let t = Type::list(Type::String);
    assert!(dec("92 a1 61", &t).is_err(), "truncated");
    assert!(dec("91 a1 61 c0", &t).is_err(), "trailing data");
    assert!(dec("c1", &t).is_err(), "reserved marker");
    assert!(dec("dd ff ff ff ff", &t).is_err(), "hostile length");
    assert!(dec("db ff ff ff ff", &Type::String).is_err());
    assert_eq!(
        msgpack::decode(&[], &t).unwrap(),
        Value::Null,
        "empty means null"
    );
}

#[test]
fn depth_is_bounded() {
    // deeply nested dynamic values: [bin "dynamic", [bin "dynamic", ...]]
    let mut bytes = Vec::new();
    for _ in 0..100_000 {
        bytes.extend_from_slice(&[0x92, 0xc4, 0x09]);
        bytes.extend_from_slice(b"\"dynamic\"");
    }
    bytes.push(0xc0);
    let e = msgpack::decode(&bytes, &Type::Dynamic).unwrap_err();
    assert!(e.message.contains("too deep"), "{e}");
    // a deep but legal type nested beyond the value limit
    let mut t = Type::Bool;
    for _ in 0..300 {
        t = Type::list(t);
    }
    let mut bytes = vec![0x91; 300];
    bytes.push(0xc3);
    assert!(msgpack::decode(&bytes, &t).is_err());
    // refinements with deeply nested unknown keys
    let mut payload = vec![0x81, 0x09];
    payload.extend(std::iter::repeat_n(0x91, 400));
    payload.push(0xc0);
    let mut bytes = vec![0xc8, 0x00, payload.len() as u8, 0x0c];
    bytes[1] = (payload.len() >> 8) as u8;
    bytes[2] = payload.len() as u8;
    bytes.extend_from_slice(&payload);
    assert!(msgpack::decode(&bytes, &Type::String).is_err());
}

#[test]
fn value_type_mismatches_are_encode_errors() {
    assert!(msgpack::encode(&Value::from("x"), &Type::Number).is_err());
    assert!(msgpack::encode(&Value::List(vec![]), &Type::set(Type::String)).is_err());
    let wrong_dyn = Value::Dynamic(Box::new(Type::Number), Box::new(1i64.into()));
    assert!(msgpack::encode(&wrong_dyn, &Type::String).is_err());
    let right_dyn = Value::Dynamic(Box::new(Type::String), Box::new("a".into()));
    assert_eq!(enc(&right_dyn, &Type::String), "a1 61");
}

#[test]
fn maximum_depth_fits_a_small_thread_stack() {
    // Just below the limit, worst case (dynamic wrappers), on a 1 MiB stack:
    // the limit must protect callers in debug builds too.
    let ok = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let levels = msgpack::MAX_DEPTH;
            let mut bytes = Vec::new();
            for _ in 0..levels {
                bytes.extend_from_slice(&[0x92, 0xc4, 0x09]);
                bytes.extend_from_slice(b"\"dynamic\"");
            }
            bytes.push(0xc0);
            let v = msgpack::decode(&bytes, &Type::Dynamic).unwrap();
            let again = msgpack::encode(&v, &Type::Dynamic).unwrap();
            assert_eq!(again, bytes);
            let j = schema::json::encode(&v, &Type::Dynamic).unwrap();
            assert_eq!(schema::json::decode(&j, &Type::Dynamic).unwrap(), v);
            let mut t = Type::String;
            for _ in 0..msgpack::MAX_DEPTH {
                t = Type::list(t);
            }
            let mut bytes = vec![0x91; msgpack::MAX_DEPTH];
            bytes.extend_from_slice(&[0xa1, b'x']);
            let v = msgpack::decode(&bytes, &t).unwrap();
            let j = schema::json::encode(&v, &t).unwrap();
            assert_eq!(schema::json::decode(&j, &t).unwrap(), v);
        })
        .unwrap()
        .join();
    assert!(ok.is_ok());
}
