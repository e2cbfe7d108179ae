//! Reading Terraform's JSON: plans and states (`show -json`), and diagnostics
//! (`plan -json` / `apply -json` UI streams, `validate -json`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

/// A resource instance in `show -json` state or `planned_values`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceValues {
    pub address: String,
    pub values: Json,
}

/// Every managed resource instance of a `values` tree (root and child modules).
pub fn resources(values_root: &Json) -> Vec<ResourceValues> {
    fn walk(module: &Json, out: &mut Vec<ResourceValues>) {
        if let Some(list) = module.get("resources").and_then(Json::as_array) {
            for r in list {
                if r.get("mode").and_then(Json::as_str) != Some("managed") {
                    continue;
                }
                if let Some(address) = r.get("address").and_then(Json::as_str) {
                    out.push(ResourceValues {
                        address: address.to_string(),
                        values: r.get("values").cloned().unwrap_or(Json::Null),
                    });
                }
            }
        }
        if let Some(children) = module.get("child_modules").and_then(Json::as_array) {
            for child in children {
                walk(child, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(root) = values_root.get("root_module") {
        walk(root, &mut out);
    }
    out
}

/// Checks over a `terraform show -json` state document.
pub struct State<'a>(pub &'a Json);

impl<'a> State<'a> {
    /// The managed resource instances in the state.
    pub fn resources(&self) -> Vec<ResourceValues> {
        self.0.get("values").map(resources).unwrap_or_default()
    }

    /// The attribute values of one resource instance.
    pub fn resource(&self, address: &str) -> Option<Json> {
        self.resources()
            .into_iter()
            .find(|r| r.address == address)
            .map(|r| r.values)
    }

    /// One attribute (a top-level name, or a dotted path into objects/lists).
    pub fn attr(&self, address: &str, path: &str) -> Option<Json> {
        let values = self.resource(address)?;
        lookup(&values, path).cloned()
    }

    /// A string attribute.
    pub fn attr_str(&self, address: &str, path: &str) -> Option<String> {
        self.attr(address, path)
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// The value of a root module output.
    pub fn output(&self, name: &str) -> Option<Json> {
        self.0
            .get("values")?
            .get("outputs")?
            .get(name)?
            .get("value")
            .cloned()
    }

    /// True when the state has no managed resources.
    pub fn is_empty(&self) -> bool {
        self.resources().is_empty()
    }
}

/// Checks over a `terraform show -json PLANFILE` document.
pub struct Plan<'a>(pub &'a Json);

impl<'a> Plan<'a> {
    /// `address -> actions` for every resource change (including no-ops).
    pub fn actions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for rc in self
            .0
            .get("resource_changes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(address) = rc.get("address").and_then(Json::as_str) else {
                continue;
            };
            let actions = rc
                .get("change")
                .and_then(|c| c.get("actions"))
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(address.to_string(), actions);
        }
        out
    }

    /// The actions planned for one resource (`["create"]`, `["delete","create"]`, ...).
    pub fn actions_for(&self, address: &str) -> Option<Vec<String>> {
        self.actions().remove(address)
    }

    /// The resource change object for one resource.
    pub fn change(&self, address: &str) -> Option<&'a Json> {
        self.0
            .get("resource_changes")
            .and_then(Json::as_array)?
            .iter()
            .find(|rc| rc.get("address").and_then(Json::as_str) == Some(address))?
            .get("change")
    }

    /// True when `path` of the resource's planned value is unknown until apply.
    pub fn is_unknown_after(&self, address: &str, path: &str) -> bool {
        self.change(address)
            .and_then(|c| c.get("after_unknown"))
            .and_then(|u| lookup(u, path))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }

    /// The planned (known) value of `path` of a resource.
    pub fn after(&self, address: &str, path: &str) -> Option<&'a Json> {
        self.change(address)
            .and_then(|c| c.get("after"))
            .and_then(|a| lookup(a, path))
    }

    /// The planned value of a root output, when known at plan time.
    pub fn output_after(&self, name: &str) -> Option<&'a Json> {
        let change = self.0.get("output_changes")?.get(name)?;
        if change.get("after_unknown").and_then(Json::as_bool) == Some(true) {
            return None;
        }
        change.get("after")
    }

    /// The attribute paths Terraform reports as forcing replacement.
    pub fn replace_paths(&self, address: &str) -> Vec<Json> {
        self.0
            .get("resource_changes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|rc| rc.get("address").and_then(Json::as_str) == Some(address))
            .and_then(|rc| rc.get("change"))
            .and_then(|c| c.get("replace_paths"))
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// True when nothing would change: every resource change is a no-op (or a
    /// read) and no output changes.
    pub fn is_empty(&self) -> bool {
        let resources_quiet = self
            .actions()
            .values()
            .all(|a| a.iter().all(|x| x == "no-op" || x == "read"));
        let outputs_quiet = self
            .0
            .get("output_changes")
            .and_then(Json::as_object)
            .map(|o| {
                o.values().all(|c| {
                    c.get("actions")
                        .and_then(Json::as_array)
                        .map(|a| a.iter().all(|x| x == "no-op"))
                        .unwrap_or(true)
                })
            })
            .unwrap_or(true);
        resources_quiet && outputs_quiet
    }
}

/// Looks up a dotted path (`keepers.rotation`, `network_interface.0.mac`).
pub fn lookup<'j>(value: &'j Json, path: &str) -> Option<&'j Json> {
    if path.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for step in path.split('.') {
        current = match current {
            Json::Object(map) => map.get(step)?,
            Json::Array(list) => list.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Flattens a JSON value into `path -> scalar` (the flatmap that
/// terraform-plugin-testing's ImportStateVerify compares). Empty collections
/// and nulls are dropped, as the SDK's flatmap does not distinguish them.
pub fn flatten(value: &Json) -> BTreeMap<String, Json> {
    fn walk(prefix: &str, value: &Json, out: &mut BTreeMap<String, Json>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match value {
            Json::Null => {}
            Json::Object(map) => {
                for (k, v) in map {
                    walk(&key(k), v, out);
                }
            }
            Json::Array(list) => {
                for (i, v) in list.iter().enumerate() {
                    walk(&key(&i.to_string()), v, out);
                }
            }
            scalar => {
                out.insert(prefix.to_string(), scalar.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The differences between two resources' attributes, ignoring paths that
/// equal one of `ignore` or start with `ignore + "."`.
pub fn attribute_differences(expected: &Json, actual: &Json, ignore: &[&str]) -> Vec<String> {
    let ignored = |path: &str| {
        ignore
            .iter()
            .any(|i| path == *i || path.starts_with(&format!("{i}.")))
    };
    let a = flatten(expected);
    let b = flatten(actual);
    let mut diffs = Vec::new();
    for (path, value) in &a {
        if ignored(path) {
            continue;
        }
        match b.get(path) {
            Some(other) if other == value => {}
            Some(other) => diffs.push(format!("{path}: expected {value}, got {other}")),
            None => diffs.push(format!("{path}: expected {value}, missing")),
        }
    }
    for (path, value) in &b {
        if !ignored(path) && !a.contains_key(path) {
            diffs.push(format!("{path}: unexpected {value}"));
        }
    }
    diffs
}

/// A source position in a diagnostic.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
    #[serde(default)]
    pub byte: u64,
}

/// A diagnostic's source range.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Range {
    pub filename: String,
    pub start: Pos,
    pub end: Pos,
}

/// The code excerpt Terraform shows with a diagnostic.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Snippet {
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub start_line: u64,
}

/// A diagnostic in Terraform's machine-readable form.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: String,
    pub summary: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub range: Option<Range>,
    #[serde(default)]
    pub snippet: Option<Snippet>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }

    /// The source text the diagnostic's range covers, read from `source`.
    pub fn covered_text<'s>(&self, source: &'s str) -> Option<&'s str> {
        let range = self.range.as_ref()?;
        let start = usize::try_from(range.start.byte).ok()?;
        let end = usize::try_from(range.end.byte).ok()?;
        source.get(start..end)
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.severity, self.summary)?;
        if !self.detail.is_empty() {
            write!(f, " — {}", self.detail)?;
        }
        if let Some(r) = &self.range {
            write!(f, " [{}:{}:{}]", r.filename, r.start.line, r.start.column)?;
        }
        Ok(())
    }
}

/// Extracts diagnostics from `-json` output: the streamed UI (one JSON object
/// per line with `"type":"diagnostic"`) or `validate -json`'s single document.
pub fn diagnostics_from_output(stdout: &str) -> Vec<Diagnostic> {
    if let Ok(doc) = serde_json::from_str::<Json>(stdout)
        && let Some(list) = doc.get("diagnostics").and_then(Json::as_array)
    {
        return list
            .iter()
            .filter_map(|d| serde_json::from_value(d.clone()).ok())
            .collect();
    }
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|msg| msg.get("type").and_then(Json::as_str) == Some("diagnostic"))
        .filter_map(|msg| msg.get("diagnostic").cloned())
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_resources_in_child_modules() {
        let state = json!({"values": {"root_module": {
            "resources": [{"address": "a.b", "mode": "managed", "values": {"x": 1}},
                          {"address": "data.c.d", "mode": "data", "values": {}}],
            "child_modules": [{"resources": [{"address": "module.m.a.c", "mode": "managed", "values": {"y": 2}}]}]
        }, "outputs": {"o": {"value": "v"}}}});
        let s = State(&state);
        let addrs: Vec<_> = s.resources().into_iter().map(|r| r.address).collect();
        assert_eq!(addrs, vec!["a.b", "module.m.a.c"]);
        assert_eq!(s.attr("module.m.a.c", "y"), Some(json!(2)));
        assert_eq!(s.output("o"), Some(json!("v")));
        assert!(!s.is_empty());
    }

    #[test]
    fn plan_actions_and_emptiness() {
        let plan = json!({"resource_changes": [
            {"address": "a.b", "change": {"actions": ["no-op"], "after": {"k": "v"}, "after_unknown": {}}},
            {"address": "a.c", "change": {"actions": ["delete", "create"], "after": {}, "after_unknown": {"id": true}},
             "replace_paths": [["keepers"]]}
        ], "output_changes": {"o": {"actions": ["no-op"], "after": "x", "after_unknown": false}}});
        let p = Plan(&plan);
        assert_eq!(
            p.actions_for("a.c"),
            Some(vec!["delete".into(), "create".into()])
        );
        assert!(p.is_unknown_after("a.c", "id"));
        assert!(!p.is_unknown_after("a.b", "k"));
        assert_eq!(p.after("a.b", "k"), Some(&json!("v")));
        assert_eq!(p.output_after("o"), Some(&json!("x")));
        assert!(!p.is_empty());
        let quiet =
            json!({"resource_changes": [{"address": "a.b", "change": {"actions": ["no-op"]}}]});
        assert!(Plan(&quiet).is_empty());
    }

    #[test]
    fn differences_respect_ignores() {
        let a =
            json!({"id": "x", "keepers": {"k": "1"}, "address": "02:00:00:00:00:01", "empty": []});
        let b = json!({"id": "x", "keepers": null, "address": "02:00:00:00:00:02"});
        let diffs = attribute_differences(&a, &b, &[]);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert!(attribute_differences(&a, &b, &["keepers", "address"]).is_empty());
        // A prefix must match a whole path segment.
        assert_eq!(
            attribute_differences(&a, &b, &["keeper", "address"]).len(),
            1
        );
    }

    #[test]
    fn parses_streamed_and_validate_diagnostics() {
        let stream = concat!(
            r#"{"@level":"info","type":"version","terraform":"1.15.5"}"#,
            "\n",
            r#"{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"Bad","detail":"d","range":{"filename":"main.tf","start":{"line":2,"column":3,"byte":10},"end":{"line":2,"column":9,"byte":16}}}}"#,
            "\n"
        );
        let d = diagnostics_from_output(stream);
        assert_eq!(d.len(), 1);
        assert!(d[0].is_error());
        assert_eq!(d[0].range.as_ref().map(|r| r.start.line), Some(2));
        let source = "0123456789abcdefgh";
        assert_eq!(d[0].covered_text(source), Some("abcdef"));
        let validate = r#"{"valid":false,"error_count":1,"diagnostics":[{"severity":"error","summary":"S","detail":""}]}"#;
        assert_eq!(diagnostics_from_output(validate)[0].summary, "S");
    }
}
