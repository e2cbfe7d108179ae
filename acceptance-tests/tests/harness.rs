//! Self-tests of the harness with Terraform's built-in `terraform_data`
//! resource (no provider involved): the steps run end to end with every CLI,
//! and the checks do fail when they should.

use acceptance_tests::cli::{matrix, which};
use acceptance_tests::{Step, TestCase};
use serde_json::Value as Json;

#[test]
fn matrix_has_terraform_1_15_and_every_cli_found() {
    let clis = matrix().unwrap_or_else(|e| panic!("{e}"));
    let explicit = std::env::var_os("TF_ACC_TERRAFORM_PATH").is_some();
    if !explicit {
        assert!(
            clis.iter().any(|c| c.version.at_least(1, 15)),
            "no Terraform 1.15 in {clis:?}"
        );
        if let Some(on_path) = which("terraform") {
            let on_path = std::fs::canonicalize(&on_path).unwrap_or(on_path);
            assert!(
                clis.iter().any(|c| c.path == on_path)
                    || clis.len() >= 2
                    || clis.iter().all(|c| c.version.at_least(1, 15)),
                "terraform on PATH ({}) missing from the matrix {clis:?}",
                on_path.display()
            );
        }
    }
    for cli in clis {
        println!("matrix: {cli}");
    }
}

const BUILTIN: &str = r#"
resource "terraform_data" "x" {
  input = "hello"
}

output "o" {
  value = terraform_data.x.output
}
"#;

#[test]
fn builtin_resource_runs_every_step_with_every_cli() {
    TestCase::new("builtin_resource_runs_every_step_with_every_cli")
        .without_provider()
        .step(
            Step::config(BUILTIN)
                .plan_check(|ctx| {
                    let actions = ctx.plan().actions_for("terraform_data.x");
                    if actions != Some(vec!["create".to_string()]) {
                        return Err(format!("expected create, got {actions:?}"));
                    }
                    Ok(())
                })
                .state_check(|ctx| {
                    let s = ctx.state();
                    if s.output("o") != Some(Json::from("hello")) {
                        return Err(format!("output o = {:?}", s.output("o")));
                    }
                    if ctx.doc.get("terraform_version").and_then(Json::as_str)
                        != Some(ctx.cli.version.to_string().as_str())
                    {
                        return Err(format!(
                            "state written by {:?}, the case runs {}",
                            ctx.doc.get("terraform_version"),
                            ctx.cli
                        ));
                    }
                    Ok(())
                }),
        )
        .step(
            Step::config(BUILTIN.replace("hello", "world")).state_check(|ctx| {
                let before = ctx.previous().and_then(|p| p.output("o"));
                let now = ctx.state().output("o");
                if before != Some(Json::from("hello")) || now != Some(Json::from("world")) {
                    return Err(format!("outputs {before:?} -> {now:?}"));
                }
                Ok(())
            }),
        )
        .step(
            Step::config(BUILTIN.replace("\"hello\"", "[\"a\"] + 1"))
                .expect_plan_error("(?i)invalid operand|unsuitable value"),
        )
        .check_destroy(|ctx| {
            if ctx.previous().map(|p| p.resources().len()) != Some(1) {
                return Err("expected one resource before destroy".into());
            }
            Ok(())
        })
        .run();
}

#[test]
fn a_perpetual_diff_fails_the_step() {
    let result = TestCase::new("a_perpetual_diff_fails_the_step")
        .without_provider()
        .step(Step::config(
            r#"
resource "terraform_data" "x" {
  triggers_replace = timestamp()
}
"#,
        ))
        .try_run();
    let message = result.expect_err("a perpetual diff must fail the case");
    assert!(message.contains("plan was not empty"), "{message}");
}

#[test]
fn expect_error_fails_when_nothing_fails() {
    let result = TestCase::new("expect_error_fails_when_nothing_fails")
        .without_provider()
        .step(Step::config(BUILTIN).expect_error("anything"))
        .try_run();
    let message = result.expect_err("a step expected to fail must fail");
    assert!(message.contains("succeeded"), "{message}");
}

#[test]
fn a_failing_state_check_fails_the_case_and_still_destroys() {
    let result = TestCase::new("a_failing_state_check_fails_the_case_and_still_destroys")
        .without_provider()
        .step(Step::config(BUILTIN).state_check(|_| Err("deliberate".into())))
        .try_run();
    let message = result.expect_err("a failing check must fail the case");
    assert!(message.contains("deliberate"), "{message}");
    assert!(!message.contains("destroy failed"), "{message}");
}
