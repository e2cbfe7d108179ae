//! Schema model: implied types and Terraform's InternalValidate rules.

use schema::{
    Attribute, AttributePath, Block, BlockNesting, NestedBlock, Nesting, Requiredness, Schema, Type,
};

fn problems(b: &Block) -> Vec<String> {
    b.validate().err().map(|e| e.problems).unwrap_or_default()
}

fn has(b: &Block, needle: &str) -> bool {
    problems(b).iter().any(|p| p.contains(needle))
}

fn vm_block() -> Block {
    Block::new()
        .description("A **VM**.")
        .attribute(Attribute::required("name_label", Type::String).description("Name."))
        .attribute(Attribute::computed("uuid", Type::String))
        .attribute(Attribute::optional("tags", Type::map(Type::String)))
        .attribute(
            Attribute::optional("unattend", Type::String)
                .sensitive()
                .write_only(),
        )
        .attribute(Attribute::nested_optional(
            "memory",
            Nesting::Single,
            vec![
                Attribute::required("static_max", Type::Number),
                Attribute::optional_computed("dynamic_min", Type::Number),
            ],
        ))
        .block(
            NestedBlock::list(
                "network_interface",
                Block::new()
                    .attribute(Attribute::required("network_id", Type::String))
                    .attribute(Attribute::optional_computed("mac", Type::String)),
            )
            .min_items(1)
            .max_items(7),
        )
        .block(NestedBlock::single(
            "cdrom",
            Block::new().attribute(Attribute::optional("iso", Type::String)),
        ))
        .block(NestedBlock::group(
            "timeouts",
            Block::new().attribute(Attribute::optional("create", Type::String)),
        ))
        .block(NestedBlock::set(
            "disk",
            Block::new().attribute(Attribute::required("sr", Type::String)),
        ))
        .block(NestedBlock::map(
            "label",
            Block::new().attribute(Attribute::optional("v", Type::Bool)),
        ))
}

#[test]
fn valid_schema_and_implied_type() {
    let b = vm_block();
    assert_eq!(problems(&b), Vec::<String>::new());
    assert!(Schema::new(1, b.clone()).validate().is_ok());
    let t = b.implied_type();
    let obj = |pairs: Vec<(&str, Type)>| Type::object(pairs);
    assert_eq!(
        t,
        obj(vec![
            ("name_label", Type::String),
            ("uuid", Type::String),
            ("tags", Type::map(Type::String)),
            ("unattend", Type::String),
            (
                "memory",
                obj(vec![
                    ("static_max", Type::Number),
                    ("dynamic_min", Type::Number)
                ])
            ),
            (
                "network_interface",
                Type::list(obj(vec![
                    ("network_id", Type::String),
                    ("mac", Type::String)
                ]))
            ),
            ("cdrom", obj(vec![("iso", Type::String)])),
            ("timeouts", obj(vec![("create", Type::String)])),
            ("disk", Type::set(obj(vec![("sr", Type::String)]))),
            ("label", Type::map(obj(vec![("v", Type::Bool)]))),
        ])
    );
}

#[test]
fn nested_attribute_nesting_modes() {
    let inner = vec![Attribute::required("a", Type::String)];
    let o = Type::object([("a", Type::String)]);
    for (n, expect) in [
        (Nesting::Single, o.clone()),
        (Nesting::List, Type::list(o.clone())),
        (Nesting::Set, Type::set(o.clone())),
        (Nesting::Map, Type::map(o.clone())),
    ] {
        assert_eq!(
            Attribute::nested_optional("x", n, inner.clone()).implied_type(),
            expect
        );
    }
}

#[test]
fn blocks_containing_dynamic_become_dynamic_for_list_and_map() {
    let dynb = Block::new().attribute(Attribute::optional("any", Type::Dynamic));
    assert_eq!(
        NestedBlock::list("l", dynb.clone()).implied_type(),
        Type::Dynamic
    );
    assert_eq!(
        NestedBlock::map("m", dynb.clone()).implied_type(),
        Type::Dynamic
    );
    assert_eq!(
        NestedBlock::single("s", dynb.clone()).implied_type(),
        Type::object([("any", Type::Dynamic)])
    );
}

#[test]
fn names_must_be_lowercase_identifiers() {
    for bad in ["Name", "my-attr", "", "a b", "é"] {
        let b = Block::new().attribute(Attribute::optional(bad, Type::String));
        assert!(
            has(&b, "name may contain only lowercase letters"),
            "{bad:?}"
        );
        let b = Block::new().block(NestedBlock::list(bad, Block::new()));
        assert!(
            has(&b, "name may contain only lowercase letters"),
            "{bad:?}"
        );
    }
    let b = Block::new().attribute(Attribute::optional("ok_name_2", Type::String));
    assert!(b.validate().is_ok());
    // nested attribute names too, with a dotted prefix
    let b = Block::new().attribute(Attribute::nested_optional(
        "outer",
        Nesting::List,
        vec![Attribute::optional("Bad", Type::String)],
    ));
    assert_eq!(
        problems(&b),
        ["outer.Bad: name may contain only lowercase letters, digits and underscores"]
    );
}

#[test]
fn requiredness_flags_follow_terraform_rules() {
    assert_eq!(
        Requiredness::from_flags(true, false, false),
        Ok(Requiredness::Required)
    );
    assert_eq!(
        Requiredness::from_flags(false, true, false),
        Ok(Requiredness::Optional)
    );
    assert_eq!(
        Requiredness::from_flags(false, false, true),
        Ok(Requiredness::Computed)
    );
    assert_eq!(
        Requiredness::from_flags(false, true, true),
        Ok(Requiredness::OptionalComputed)
    );
    assert!(
        Requiredness::from_flags(false, false, false)
            .unwrap_err()
            .contains("must set Optional, Required or Computed")
    );
    assert!(
        Requiredness::from_flags(true, true, false)
            .unwrap_err()
            .contains("both Optional and Required")
    );
    assert!(
        Requiredness::from_flags(true, false, true)
            .unwrap_err()
            .contains("both Computed and Required")
    );
    assert!(Requiredness::from_flags(true, true, true).is_err());
    for r in [
        Requiredness::Required,
        Requiredness::Optional,
        Requiredness::Computed,
        Requiredness::OptionalComputed,
    ] {
        let (a, b, c) = r.flags();
        assert_eq!(Requiredness::from_flags(a, b, c), Ok(r));
    }
}

#[test]
fn deprecation_message_only_when_deprecated() {
    let mut a = Attribute::optional("old", Type::String);
    a.deprecation_message = Some("use new".into());
    let b = Block::new().attribute(a.clone());
    assert!(has(
        &b,
        "old: deprecation_message is set but the attribute is not deprecated"
    ));
    a.deprecated = true;
    assert!(Block::new().attribute(a).validate().is_ok());
    assert!(
        Block::new()
            .attribute(Attribute::optional("x", Type::String).deprecated("gone"))
            .validate()
            .is_ok()
    );
    let mut inner = Block::new();
    inner.deprecation_message = Some("x".into());
    assert!(has(
        &Block::new().block(NestedBlock::list("blk", inner)),
        "blk: deprecation_message is set but the block is not deprecated"
    ));
}

#[test]
fn no_write_only_or_dynamic_inside_set_nesting() {
    let wo = Block::new().attribute(Attribute::optional("secret", Type::String).write_only());
    assert!(has(
        &Block::new().block(NestedBlock::set("s", wo.clone())),
        "s: NestingSet blocks may not contain WriteOnly attributes"
    ));
    assert!(
        Block::new()
            .block(NestedBlock::list("l", wo.clone()))
            .validate()
            .is_ok()
    );
    // deeper: a list block inside a set block
    let deep = Block::new().block(NestedBlock::list("inner", wo));
    assert!(has(
        &Block::new().block(NestedBlock::set("s", deep)),
        "NestingSet blocks may not contain WriteOnly"
    ));
    let dynb = Block::new().attribute(Attribute::optional("any", Type::Dynamic));
    assert!(has(
        &Block::new().block(NestedBlock::set("s", dynb)),
        "s: NestingSet blocks may not contain attributes of cty.DynamicPseudoType"
    ));
    let set_attr = Attribute::nested_optional(
        "sa",
        Nesting::Set,
        vec![Attribute::optional("pw", Type::String).write_only()],
    );
    assert!(has(
        &Block::new().attribute(set_attr),
        "sa: NestingSet attributes may not contain WriteOnly attributes"
    ));
    let set_attr = Attribute::nested_optional(
        "sa",
        Nesting::Set,
        vec![Attribute::optional("v", Type::list(Type::Dynamic))],
    );
    assert!(has(
        &Block::new().attribute(set_attr),
        "sa: NestingSet attributes may not contain attributes of cty.DynamicPseudoType"
    ));
    let list_attr = Attribute::nested_optional(
        "la",
        Nesting::List,
        vec![Attribute::optional("pw", Type::String).write_only()],
    );
    assert!(Block::new().attribute(list_attr).validate().is_ok());
    assert!(has(
        &Block::new().attribute(Attribute::optional_computed("pw", Type::String).write_only()),
        "write-only attributes cannot be computed"
    ));
}

#[test]
fn block_min_max_rules() {
    let b = || Block::new().attribute(Attribute::optional("a", Type::String));
    let check = |nb: NestedBlock| problems(&Block::new().block(nb));
    assert!(check(NestedBlock::single("x", b())).is_empty());
    assert!(check(NestedBlock::single("x", b()).min_items(1).max_items(1)).is_empty());
    assert_eq!(
        check(NestedBlock::single("x", b()).max_items(1).min_items(0)),
        ["x: MinItems and MaxItems must match in NestingSingle mode"]
    );
    assert_eq!(
        check(NestedBlock::single("x", b()).min_items(2).max_items(2)),
        ["x: MinItems and MaxItems must be set to either 0 or 1 in NestingSingle mode"]
    );
    assert_eq!(
        check(NestedBlock::group("x", b()).max_items(1)),
        ["x: MinItems and MaxItems cannot be used in NestingGroup mode"]
    );
    assert!(
        check(NestedBlock::list("x", b()).min_items(5)).is_empty(),
        "max 0 = unlimited"
    );
    assert_eq!(
        check(NestedBlock::list("x", b()).min_items(3).max_items(2)),
        ["x: MinItems must be less than or equal to MaxItems in NestingList mode"]
    );
    assert_eq!(
        check(NestedBlock::set("x", b()).min_items(3).max_items(2)),
        ["x: MinItems must be less than or equal to MaxItems in NestingSet mode"]
    );
    assert_eq!(
        check(NestedBlock::map("x", b()).min_items(1)),
        ["x: MinItems and MaxItems must both be 0 in NestingMap mode"]
    );
    assert_eq!(BlockNesting::Map.to_string(), "NestingMap");
}

#[test]
fn conflicts_duplicates_and_versions() {
    let b = Block::new()
        .attribute(Attribute::optional("x", Type::String))
        .block(NestedBlock::list("x", Block::new()));
    assert!(has(
        &b,
        "x: name defined as both attribute and child block type"
    ));
    let b = Block::new()
        .attribute(Attribute::optional("x", Type::String))
        .attribute(Attribute::optional("x", Type::Number));
    assert!(has(&b, "x: defined more than once"));
    let e = Schema::new(-1, Block::new()).validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid schema: schema version -1 is negative"
    );
    // problems inside nested blocks carry the dotted prefix
    let b = Block::new().block(NestedBlock::list(
        "outer",
        Block::new().block(NestedBlock::map("inner", Block::new()).max_items(3)),
    ));
    assert_eq!(
        problems(&b),
        ["outer.inner: MinItems and MaxItems must both be 0 in NestingMap mode"]
    );
}

#[test]
fn attribute_at_follows_blocks_and_nested_attributes() {
    let b = vm_block();
    let at = |p: AttributePath| b.attribute_at(&p).map(|a| a.name.clone());
    assert_eq!(at(AttributePath::new("uuid")), Some("uuid".into()));
    assert_eq!(
        at(AttributePath::new("memory").attr("static_max")),
        Some("static_max".into())
    );
    assert_eq!(
        at(AttributePath::new("network_interface").index(0).attr("mac")),
        Some("mac".into())
    );
    assert_eq!(
        at(AttributePath::new("label").key("k").attr("v")),
        Some("v".into())
    );
    assert_eq!(
        at(AttributePath::new("cdrom").attr("iso")),
        Some("iso".into())
    );
    assert_eq!(
        at(AttributePath::new("network_interface").attr("mac")),
        None
    );
    assert_eq!(at(AttributePath::new("nope")), None);
    assert_eq!(
        at(AttributePath::new("network_interface")),
        None,
        "a block is not an attribute"
    );
    assert_eq!(at(AttributePath::root()), None);
    assert_eq!(at(AttributePath::new("tags").key("x")), None);
    assert!(b.get_attribute("unattend").unwrap().write_only);
    assert!(b.get_attribute("unattend").unwrap().sensitive);
}
