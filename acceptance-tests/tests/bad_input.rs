//! Invalid input to `xenapi_mac_address` and `provider::xenapi::mac_address`:
//! every class gives an error diagnostic at plan time that points at the
//! offending attribute or argument (its source range), never a crash, and
//! leaves the state untouched.

use acceptance_tests::{Diagnostic, Step, TestCase, config};

const VALID: &str = r#"
resource "xenapi_mac_address" "ok" {}
"#;

/// `config` plus the valid resource, so that the state holds something the
/// failing step must not touch.
fn with_valid(body: &str) -> String {
    config(&format!("{VALID}\n{body}"))
}

/// Some error diagnostic's source range covers text containing `needle`, or
/// starts exactly at `needle` (Terraform points at the first token of a
/// function argument): the diagnostic carries the attribute (or argument)
/// path and Terraform resolved it to the configuration.
fn points_at(needle: &'static str) -> impl Fn(&[Diagnostic], &str) -> Result<(), String> {
    move |diagnostics, source| {
        let hit = diagnostics.iter().filter(|d| d.is_error()).any(|d| {
            let Some(range) = d.range.as_ref().filter(|r| r.filename.ends_with("main.tf")) else {
                return false;
            };
            let starts_at_needle = usize::try_from(range.start.byte)
                .ok()
                .and_then(|start| source.get(start..))
                .is_some_and(|rest| rest.starts_with(needle));
            starts_at_needle || d.covered_text(source).is_some_and(|t| t.contains(needle))
        });
        if hit {
            Ok(())
        } else {
            Err(format!(
                "no error diagnostic points at {needle:?}; got:\n  {}",
                diagnostics
                    .iter()
                    .map(|d| format!(
                        "{d} covering {:?}",
                        d.covered_text(source).unwrap_or("<no range>")
                    ))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ))
        }
    }
}

#[test]
fn resource_bad_input_is_a_plan_time_diagnostic_with_a_path() {
    TestCase::new("resource_bad_input_is_a_plan_time_diagnostic_with_a_path")
        .without_pool()
        .step(Step::config(config(VALID)))
        // Unknown attribute.
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefixx = "local"
}
"#,
            ))
            .expect_plan_error("(?i)unsupported argument")
            .diagnostics(points_at("prefixx")),
        )
        // Wrong types.
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefix = ["local"]
}
"#,
            ))
            .expect_plan_error("(?i)incorrect attribute value type|string required")
            .diagnostics(points_at(r#"["local"]"#)),
        )
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  keepers = "not-a-map"
}
"#,
            ))
            .expect_plan_error("(?i)incorrect attribute value type|map of string required")
            .diagnostics(points_at("not-a-map")),
        )
        // Invalid prefixes: not a prefix at all, a multicast prefix, a
        // keyword in the wrong case, too many octets.
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefix = "bogus"
}
"#,
            ))
            .expect_plan_error("(?i)not a MAC prefix")
            .diagnostics(points_at("bogus")),
        )
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefix = "01:00:5e"
}
"#,
            ))
            .expect_plan_error("(?i)multicast")
            .diagnostics(points_at("01:00:5e")),
        )
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefix = "XenSource"
}
"#,
            ))
            .expect_plan_error("(?i)lowercase")
            .diagnostics(points_at("XenSource")),
        )
        .step(
            Step::config(with_valid(
                r#"
resource "xenapi_mac_address" "bad" {
  prefix = "aa:bb:cc:dd"
}
"#,
            ))
            .expect_plan_error("(?i)not a MAC prefix")
            .diagnostics(points_at("aa:bb:cc:dd")),
        )
        .run();
}

#[test]
fn function_bad_input_is_a_plan_time_diagnostic_with_the_argument() {
    TestCase::new("function_bad_input_is_a_plan_time_diagnostic_with_the_argument")
        .without_pool()
        .step(Step::config(config(VALID)))
        // Malformed seed types.
        .step(
            Step::config(with_valid(
                r#"
output "bad" {
  value = provider::xenapi::mac_address(["seed-list"])
}
"#,
            ))
            .expect_plan_error("(?i)invalid function argument|string required")
            .diagnostics(points_at(r#"["seed-list"]"#)),
        )
        .step(
            Step::config(with_valid(
                r#"
output "bad" {
  value = provider::xenapi::mac_address({ seed = "object" })
}
"#,
            ))
            .expect_plan_error("(?i)invalid function argument|string required")
            .diagnostics(points_at(r#"{ seed = "object" }"#)),
        )
        .step(
            Step::config(with_valid(
                r#"
output "bad" {
  value = provider::xenapi::mac_address(null)
}
"#,
            ))
            .expect_plan_error("(?i)invalid function argument|null")
            .diagnostics(points_at("null")),
        )
        // A bad prefix argument.
        .step(
            Step::config(with_valid(
                r#"
output "bad" {
  value = provider::xenapi::mac_address("seed", "bogus-prefix")
}
"#,
            ))
            .expect_plan_error("(?i)not a MAC prefix")
            .diagnostics(points_at("bogus-prefix")),
        )
        // Too many arguments.
        .step(
            Step::config(with_valid(
                r#"
output "bad" {
  value = provider::xenapi::mac_address("seed", "local", "extra-argument")
}
"#,
            ))
            .expect_plan_error("(?i)too many|argument"),
        )
        .run();
}
