//! `xenapi_template`: one VM template, by UUID, exact name, name regex and
//! tags, optionally the most recent of several (for Packer-built templates).
//!
//! "Most recent" rule: candidates are ordered by creation time, which XAPI
//! exposes as `VM_metrics.install_time` (set when the VM object — and so the
//! template Packer converted it into — was created); templates whose time is
//! missing or the epoch sort as oldest. Equal times (one-second resolution,
//! or copies made together) are ordered by `name_label` in *natural* order,
//! which compares digit runs as numbers: Packer's `{{timestamp}}` (Unix
//! seconds) or `{{isotime "20060102-1504"}}` embedded in names then orders
//! newest last, and `v9` < `v10`. The last one wins.

use std::cmp::Ordering;

use async_trait::async_trait;
use regex::Regex;
use schema::{Attribute, Block, Diagnostics, Schema, Type, Value};
use xapi::{Vm, VmMetrics, VmRecord, VmRef};

use super::{
    candidate, config_bool, config_string, config_strings, describe_query, echo, echo_or, path,
    read_through_pool, require_one_of, string_map, string_set,
};
use crate::framework::{Context, DataSource};
use crate::pool::{Candidate, ClassKey, Pool, PoolError, is_template};

/// The type name.
pub const TYPE_NAME: &str = "xenapi_template";

/// `xenapi_template`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TemplateDataSource;

impl TemplateDataSource {
    /// The schema.
    pub fn schema() -> Schema {
        let block = Block::new()
            .description(
                "Looks up one VM template (snapshots excluded) to create VMs from, by `uuid`, \
                 exact `name_label`, a `name_regex` and/or `tags`. When several templates \
                 match, the lookup fails and lists them, unless `most_recent = true` picks the \
                 newest — so a template built by Packer (e.g. named \
                 `ubuntu-24.04-1718000000` or tagged `packer`) can be chosen without \
                 hard-coding its UUID.\n\n\
                 **Most recent**: templates are ordered by creation time, XAPI's \
                 `VM_metrics.install_time` (templates without it count as oldest); on equal \
                 times by `name_label` in natural order (digit runs compared as numbers, so a \
                 Unix or ISO timestamp embedded in the name orders correctly). The last one \
                 wins.\n\n\
                 Costs at most two XAPI calls: one `event.from` load of the VM class (shared \
                 with every other lookup in the same run) and, for `most_recent` or the \
                 `install_time` output, one read of VM metrics.",
            )
            .attribute(
                Attribute::computed("id", Type::String)
                    .description("The UUID of the template (same as `uuid`)."),
            )
            .attribute(
                Attribute::optional_computed("uuid", Type::String)
                    .description("The UUID of the template to look up."),
            )
            .attribute(
                Attribute::optional_computed("name_label", Type::String).description(
                    "The exact name of the template to look up (combined with the other filters).",
                ),
            )
            .attribute(Attribute::optional("name_regex", Type::String).description(
                "A regular expression (Rust `regex` syntax, unanchored: use `^...$` to match \
                 the whole name) the template's `name_label` must match, e.g. \
                 `\"^ubuntu-24\\\\.04-\\\\d+$\"`.",
            ))
            .attribute(
                Attribute::optional("tags", Type::set(Type::String))
                    .description("Tags the template must all carry (it may carry more)."),
            )
            .attribute(Attribute::optional("most_recent", Type::Bool).description(
                "When several templates match, pick the most recent one (see above) instead \
                 of failing. Default `false`.",
            ))
            .attribute(
                Attribute::computed("name_description", Type::String)
                    .description("The template's description."),
            )
            .attribute(
                Attribute::computed("all_tags", Type::set(Type::String))
                    .description("Every tag the template carries."),
            )
            .attribute(
                Attribute::computed("install_time", Type::String).description(
                    "When the template was created (`VM_metrics.install_time`, RFC 3339 UTC); \
                 null when XAPI does not report it.",
                ),
            )
            .attribute(
                Attribute::computed("is_default_template", Type::Bool).description(
                    "Whether this is one of XAPI's built-in templates (an installer template \
                 without disks rather than a ready image).",
                ),
            )
            .attribute(
                Attribute::computed("vcpus", Type::Number)
                    .description("Virtual CPUs at startup of the template."),
            )
            .attribute(
                Attribute::computed("vcpus_max", Type::Number)
                    .description("Maximum virtual CPUs of the template."),
            )
            .attribute(
                Attribute::computed("memory_static_min", Type::Number)
                    .description("`memory_static_min` of the template, in bytes."),
            )
            .attribute(
                Attribute::computed("memory_dynamic_min", Type::Number)
                    .description("`memory_dynamic_min` of the template, in bytes."),
            )
            .attribute(
                Attribute::computed("memory_dynamic_max", Type::Number)
                    .description("`memory_dynamic_max` of the template, in bytes."),
            )
            .attribute(
                Attribute::computed("memory_static_max", Type::Number)
                    .description("`memory_static_max` of the template, in bytes."),
            )
            .attribute(
                Attribute::computed("boot_firmware", Type::String).description(
                    "`bios` or `uefi` (`HVM_boot_params.firmware`; `bios` when unset).",
                ),
            )
            .attribute(
                Attribute::computed("other_config", Type::map(Type::String))
                    .description("The template's `other_config` map."),
            );
        Schema::new(0, block)
    }
}

/// Compares names in natural order: digit runs as numbers, the rest as text.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let ta: &[u8] = {
                    let z = na.iter().take_while(|c| **c == b'0').count();
                    &na[z.min(na.len().saturating_sub(1))..]
                };
                let tb: &[u8] = {
                    let z = nb.iter().take_while(|c| **c == b'0').count();
                    &nb[z.min(nb.len().saturating_sub(1))..]
                };
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// Creation time in Unix seconds; `None` when missing or the epoch.
fn creation_time(metrics: Option<&xapi::VmMetricsRecord>) -> Option<i64> {
    metrics
        .and_then(|m| m.install_time.unix_seconds())
        .filter(|t| *t > 0)
}

/// The most recent of `candidates` by the documented rule.
pub fn most_recent<'a>(
    candidates: &[(&'a VmRef, &'a VmRecord)],
    time_of: impl Fn(&VmRecord) -> Option<i64>,
) -> Option<(&'a VmRef, &'a VmRecord)> {
    candidates.iter().copied().max_by(|(_, a), (_, b)| {
        time_of(a)
            .unwrap_or(i64::MIN)
            .cmp(&time_of(b).unwrap_or(i64::MIN))
            .then_with(|| natural_cmp(&a.name_label, &b.name_label))
            .then_with(|| a.uuid.cmp(&b.uuid))
    })
}

fn rfc3339(seconds: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

struct Filters {
    uuid: Option<String>,
    name: Option<String>,
    regex: Option<Regex>,
    regex_text: Option<String>,
    tags: Vec<String>,
    most_recent: bool,
}

impl Filters {
    fn matches(&self, vm: &VmRecord) -> bool {
        is_template(vm)
            && self
                .uuid
                .as_deref()
                .is_none_or(|u| u.trim().eq_ignore_ascii_case(&vm.uuid))
            && self.name.as_deref().is_none_or(|n| n == vm.name_label)
            && self
                .regex
                .as_ref()
                .is_none_or(|r| r.is_match(&vm.name_label))
            && self.tags.iter().all(|t| vm.tags.contains(t))
    }

    fn describe(&self) -> String {
        let mut parts = vec![describe_query(self.uuid.as_deref(), self.name.as_deref())];
        if parts[0] == "(no filter)" {
            parts.clear();
        }
        if let Some(r) = &self.regex_text {
            parts.push(format!("name_regex {r}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(",")));
        }
        parts.join(" and ")
    }
}

async fn read(pool: &Pool, config: &Value, filters: &Filters) -> Result<Value, PoolError> {
    pool.prefetch(&[ClassKey::of::<Vm>()]).await?;
    let vms = pool.all::<Vm>().await?;
    let matches: Vec<(&VmRef, &VmRecord)> =
        vms.iter().filter(|(_, v)| filters.matches(v)).collect();
    let describe_all = |list: &mut dyn Iterator<Item = &VmRecord>| -> Vec<Candidate> {
        let mut c: Vec<Candidate> = list.map(|v| candidate(&v.uuid, &v.name_label)).collect();
        c.sort_by(|a, b| {
            natural_cmp(&a.name_label, &b.name_label).then_with(|| a.uuid.cmp(&b.uuid))
        });
        c
    };
    let (chosen, metrics_all) = match matches.len() {
        0 => {
            return Err(PoolError::NotFound {
                kind: "template",
                query: filters.describe(),
                candidates: describe_all(&mut vms.values().filter(|v| is_template(v))),
            });
        }
        1 => (matches[0], None),
        _ if filters.most_recent => {
            let metrics = pool.all::<VmMetrics>().await?;
            let time_of = |v: &VmRecord| creation_time(metrics.get(&v.metrics));
            let Some(chosen) = most_recent(&matches, time_of) else {
                return Err(PoolError::NotFound {
                    kind: "template",
                    query: filters.describe(),
                    candidates: Vec::new(),
                });
            };
            (chosen, Some(metrics))
        }
        _ => {
            let candidates = describe_all(&mut matches.iter().map(|(_, v)| *v));
            return Err(PoolError::Ambiguous {
                kind: "template (set most_recent = true to pick the newest)",
                query: filters.describe(),
                candidates,
            });
        }
    };
    let (_, vm) = chosen;
    let install_time = match &metrics_all {
        Some(all) => creation_time(all.get(&vm.metrics)),
        None => creation_time(pool.record::<VmMetrics>(&vm.metrics).await?.as_ref()),
    };
    let firmware = vm
        .hvm_boot_params
        .get("firmware")
        .map(|f| f.to_ascii_lowercase())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "bios".to_string());
    Ok(Value::object([
        ("id", Value::from(vm.uuid.as_str())),
        (
            "uuid",
            echo_or(config, "uuid", Value::from(vm.uuid.as_str())),
        ),
        ("name_label", Value::from(vm.name_label.as_str())),
        ("name_regex", echo(config, "name_regex")),
        ("tags", echo(config, "tags")),
        ("most_recent", echo(config, "most_recent")),
        (
            "name_description",
            Value::from(vm.name_description.as_str()),
        ),
        ("all_tags", string_set(&vm.tags)),
        (
            "install_time",
            install_time
                .and_then(rfc3339)
                .map_or(Value::Null, Value::from),
        ),
        ("is_default_template", Value::from(vm.is_default_template)),
        ("vcpus", Value::from(vm.vcpus_at_startup)),
        ("vcpus_max", Value::from(vm.vcpus_max)),
        ("memory_static_min", Value::from(vm.memory_static_min)),
        ("memory_dynamic_min", Value::from(vm.memory_dynamic_min)),
        ("memory_dynamic_max", Value::from(vm.memory_dynamic_max)),
        ("memory_static_max", Value::from(vm.memory_static_max)),
        ("boot_firmware", Value::from(firmware)),
        ("other_config", string_map(&vm.other_config)),
    ]))
}

#[async_trait]
impl DataSource for TemplateDataSource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        TemplateDataSource::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        require_one_of(
            config,
            &["uuid", "name_label", "name_regex", "tags"],
            "template",
            diags,
        );
        if let Some(text) = config_string(config, "name_regex")
            && let Err(e) = Regex::new(&text)
        {
            diags.error_at(
                path("name_regex"),
                "Invalid regular expression",
                format!("`name_regex` {text:?} is not a valid regular expression: {e}"),
            );
        }
    }

    async fn read(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics) -> Value {
        let regex_text = config_string(config, "name_regex");
        let regex = match regex_text.as_deref().map(Regex::new).transpose() {
            Ok(r) => r,
            Err(e) => {
                diags.error_at(
                    path("name_regex"),
                    "Invalid regular expression",
                    format!("`name_regex` is not a valid regular expression: {e}"),
                );
                return Value::Null;
            }
        };
        let filters = Filters {
            uuid: config_string(config, "uuid"),
            name: config_string(config, "name_label"),
            regex,
            regex_text,
            tags: config_strings(config, "tags").unwrap_or_default(),
            most_recent: config_bool(config, "most_recent").unwrap_or(false),
        };
        read_through_pool(ctx, diags, |pool| async move {
            read(&pool, config, &filters).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("v9", "v10"), Ordering::Less);
        assert_eq!(
            natural_cmp("ubuntu-1700000000", "ubuntu-1700000100"),
            Ordering::Less
        );
        assert_eq!(
            natural_cmp("ubuntu-2025-01-10", "ubuntu-2025-01-02"),
            Ordering::Greater
        );
        assert_eq!(natural_cmp("a007", "a7"), Ordering::Equal);
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(natural_cmp("", ""), Ordering::Equal);
    }

    #[test]
    fn most_recent_prefers_install_time_then_name() {
        let mk = |uuid: &str, name: &str| VmRecord {
            uuid: uuid.into(),
            name_label: name.into(),
            is_a_template: true,
            ..VmRecord::default()
        };
        let (r1, r2, r3) = (VmRef::new("1"), VmRef::new("2"), VmRef::new("3"));
        let a = mk("a", "packer-1700000300");
        let b = mk("b", "packer-1700000100");
        let c = mk("c", "packer-1700000200");
        let list = [(&r1, &a), (&r2, &b), (&r3, &c)];
        // Install times decide: b is newest.
        let t = |v: &VmRecord| match v.uuid.as_str() {
            "b" => Some(300),
            _ => Some(100),
        };
        assert_eq!(most_recent(&list, t).unwrap().1.uuid, "b");
        // Equal times: the name's timestamp decides.
        assert_eq!(most_recent(&list, |_| Some(5)).unwrap().1.uuid, "a");
        // Missing times are oldest.
        let t = |v: &VmRecord| (v.uuid == "c").then_some(1);
        assert_eq!(most_recent(&list, t).unwrap().1.uuid, "c");
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
    }
}
