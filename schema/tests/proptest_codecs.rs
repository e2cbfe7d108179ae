//! Property tests: generate a type, then a value of that type; msgpack and
//! JSON round trips; decoders never panic on arbitrary or mutated input.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use schema::{Number, Refinements, Type, Value, json, msgpack};

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::Number),
        Just(Type::String),
        Just(Type::Dynamic),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            vec(inner.clone(), 0..4).prop_map(Type::Tuple),
            btree_map("[a-z_][a-z0-9_]{0,5}", inner, 0..4).prop_map(Type::object),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from_i64),
        any::<u64>().prop_map(Number::from_u64),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).unwrap_or_else(Number::zero)),
        "-?[0-9]{1,30}(\\.[0-9]{1,20})?(e-?[0-9]{1,3})?"
            .prop_map(|s| Number::parse(&s).unwrap_or_else(|_| Number::zero())),
    ]
}

fn arb_refinements(ty: &Type) -> BoxedStrategy<Refinements> {
    match ty {
        Type::Dynamic => Just(Refinements::default()).boxed(),
        Type::String => (any::<bool>(), proptest::option::of(".{1,20}"))
            .prop_map(|(not_null, string_prefix)| Refinements {
                not_null,
                string_prefix,
                ..Default::default()
            })
            .boxed(),
        Type::Number => (
            any::<bool>(),
            proptest::option::of((arb_number(), any::<bool>())),
            proptest::option::of((arb_number(), any::<bool>())),
        )
            .prop_map(|(not_null, number_lower, number_upper)| Refinements {
                not_null,
                number_lower,
                number_upper,
                ..Default::default()
            })
            .boxed(),
        Type::List(_) | Type::Set(_) | Type::Map(_) => (
            any::<bool>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(not_null, length_min, length_max)| Refinements {
                not_null,
                length_min,
                length_max,
                ..Default::default()
            })
            .boxed(),
        _ => any::<bool>()
            .prop_map(|not_null| Refinements {
                not_null,
                ..Default::default()
            })
            .boxed(),
    }
}

/// A value conforming to `ty`; unknowns only when `unknowns` is set.
fn arb_value(ty: &Type, depth: u32, unknowns: bool) -> BoxedStrategy<Value> {
    let known = arb_known(ty, depth, unknowns);
    if unknowns {
        prop_oneof![
            1 => Just(Value::Null),
            1 => arb_refinements(ty).prop_map(Value::Unknown),
            6 => known,
        ]
        .boxed()
    } else {
        prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
    }
}

fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if v.is_wholly_known() && out.iter().any(|o| o.is_wholly_known() && *o == v) {
            continue;
        }
        out.push(v);
    }
    out
}

fn arb_known(ty: &Type, depth: u32, unknowns: bool) -> BoxedStrategy<Value> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::String => any::<String>().prop_map(Value::String).boxed(),
        Type::List(et) => vec(arb_value(et, depth, unknowns), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(et) => vec(arb_value(et, depth, unknowns), 0..4)
            .prop_map(|v| Value::Set(dedup(v)))
            .boxed(),
        Type::Map(et) => btree_map(any::<String>(), arb_value(et, depth, unknowns), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        Type::Tuple(ets) => ets
            .iter()
            .map(|t| arb_value(t, depth, unknowns))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        Type::Object(ot) => {
            let names: Vec<String> = ot.attributes.keys().cloned().collect();
            ot.attributes
                .values()
                .map(|t| arb_value(t, depth, unknowns))
                .collect::<Vec<_>>()
                .prop_map(move |vals| Value::Object(names.iter().cloned().zip(vals).collect()))
                .boxed()
        }
        Type::Dynamic => {
            let inner_types = if depth == 0 {
                prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String)].boxed()
            } else {
                arb_type().boxed()
            };
            inner_types
                .prop_flat_map(move |t| {
                    let tt = t.clone();
                    arb_value(&t, depth.saturating_sub(1), unknowns)
                        .prop_map(move |v| Value::Dynamic(Box::new(tt.clone()), Box::new(v)))
                })
                .boxed()
        }
    }
}

fn typed_value(unknowns: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(move |t| {
        let tt = t.clone();
        arb_value(&t, 2, unknowns).prop_map(move |v| (tt.clone(), v))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trip((ty, v) in typed_value(true)) {
        let bytes = msgpack::encode(&v, &ty).unwrap();
        let back = msgpack::decode(&bytes, &ty).unwrap();
        prop_assert_eq!(&back, &v);
        // canonical: re-encoding gives the same bytes
        prop_assert_eq!(msgpack::encode(&back, &ty).unwrap(), bytes);
    }

    #[test]
    fn json_round_trip((ty, v) in typed_value(false)) {
        prop_assert!(v.is_wholly_known());
        let bytes = json::encode(&v, &ty).unwrap();
        let back = json::decode(&bytes, &ty).unwrap();
        prop_assert_eq!(&back, &v);
        // msgpack and JSON agree
        let via_msgpack = msgpack::decode(&msgpack::encode(&back, &ty).unwrap(), &ty).unwrap();
        prop_assert_eq!(via_msgpack, v);
    }

    #[test]
    fn json_refuses_unknowns((ty, v) in typed_value(true)) {
        let r = json::encode(&v, &ty);
        prop_assert_eq!(r.is_ok(), v.is_wholly_known());
    }

    #[test]
    fn type_json_round_trip(ty in arb_type()) {
        prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }

    #[test]
    fn number_text_round_trip(n in arb_number()) {
        prop_assert_eq!(Number::parse(&n.to_string()).unwrap(), n.clone());
        if let Some(i) = n.as_i64() { prop_assert_eq!(Number::from_i64(i), n.clone()); }
        if n.is_exact_f64() { prop_assert_eq!(Number::from_f64(n.as_f64()).unwrap(), n); }
    }

    #[test]
    fn arbitrary_bytes_never_panic(ty in arb_type(), bytes in vec(any::<u8>(), 0..512)) {
        let _ = msgpack::decode(&bytes, &ty);
        let _ = msgpack::decode(&bytes, &Type::Dynamic);
        let _ = json::decode(&bytes, &ty);
        let _ = Type::from_json(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        (ty, v) in typed_value(true),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = msgpack::encode(&v, &ty).unwrap();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(back) = msgpack::decode(&bytes, &ty) {
            // whatever decodes must encode again
            prop_assert!(msgpack::encode(&back, &ty).is_ok());
        }
        let n = cut.index(bytes.len() + 1);
        let _ = msgpack::decode(&bytes[..n], &ty);
        if v.is_wholly_known() {
            let mut j = json::encode(&v, &ty).unwrap();
            let i = cut.index(j.len());
            j[i] ^= 0x5a;
            let _ = json::decode(&j, &ty);
        }
    }
}
