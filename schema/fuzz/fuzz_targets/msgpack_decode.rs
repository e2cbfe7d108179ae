//! Fuzzes the msgpack decoder: it must never panic, and whatever it accepts
//! must encode again and decode to the same value.
//!
//! Input: `type JSON` NUL `msgpack bytes`; without a NUL the whole input is
//! msgpack, decoded against a fixed set of types (including `dynamic`, which
//! lets the input choose its own type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use schema::{Type, msgpack};

fn check(bytes: &[u8], ty: &Type) {
    if let Ok(v) = msgpack::decode(bytes, ty) {
        let again = msgpack::encode(&v, ty).expect("a decoded value must encode");
        let back = msgpack::decode(&again, ty).expect("an encoded value must decode");
        assert_eq!(back, v, "round trip changed the value");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(nul) = data.iter().position(|b| *b == 0) {
        if let Ok(ty) = Type::from_json(&data[..nul]) {
            check(&data[nul + 1..], &ty);
        }
    }
    let fixed = [
        Type::Dynamic,
        Type::Number,
        Type::String,
        Type::list(Type::Dynamic),
        Type::set(Type::Number),
        Type::map(Type::String),
        Type::object([
            ("a", Type::String),
            (
                "b",
                Type::list(Type::object([("c", Type::Number), ("d", Type::Dynamic)])),
            ),
            ("e", Type::set(Type::String)),
        ]),
        Type::tuple([Type::Bool, Type::Number]),
    ];
    for ty in &fixed {
        check(data, ty);
    }
    let _ = schema::json::decode(data, &Type::Dynamic);
});
