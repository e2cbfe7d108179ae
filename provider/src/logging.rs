//! Logging to stderr in the shape Terraform's plugin client understands.
//!
//! go-plugin reads every stderr line of a plugin. A line that parses as a JSON
//! object with string `@level`, `@message` and `@timestamp` (the latter as
//! `2006-01-02T15:04:05.000000Z07:00`) is re-emitted into Terraform's log at that
//! level, with every other key as a key/value pair; so `TF_LOG=debug` (or
//! `TF_LOG_PROVIDER=debug`) shows our `tracing` events with their fields. Any other
//! line is logged at DEBUG.
//!
//! The level comes from `TF_LOG_PROVIDER`, else `TF_LOG` (`TRACE`, `DEBUG`,
//! `INFO`, `WARN`, `ERROR`, `OFF`; `JSON` means `TRACE`), else `INFO`.
//!
//! Never log secrets: passwords, session ids, user-data or unattend content.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The timestamp format go-plugin parses (Go layout `2006-01-02T15:04:05.000000Z07:00`).
const TIMESTAMP_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// Output format of the stderr log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// hclog-style JSON lines, for a plugin started by Terraform.
    Hclog,
    /// Human-readable lines, for `--debug` runs in a terminal.
    Human,
}

/// Parses a Terraform log level name (`TF_LOG` values) into a level filter.
/// Unknown non-empty values mean TRACE, as in Terraform (any other value enables
/// full logging); empty means "not set".
pub fn parse_level(value: &str) -> Option<LevelFilter> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    Some(match v.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" => LevelFilter::ERROR,
        "OFF" => LevelFilter::OFF,
        _ => LevelFilter::TRACE,
    })
}

/// The level chosen from `TF_LOG_PROVIDER` and `TF_LOG` (given as values).
pub fn level_from(tf_log_provider: Option<&str>, tf_log: Option<&str>) -> LevelFilter {
    tf_log_provider
        .and_then(parse_level)
        .or_else(|| tf_log.and_then(parse_level))
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the global `tracing` subscriber writing to stderr. Returns false if
/// one was already installed (e.g. by a test harness).
pub fn init(format: LogFormat) -> bool {
    let level = level_from(
        std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
        std::env::var("TF_LOG").ok().as_deref(),
    );
    // Transport crates are chatty at TRACE/DEBUG; keep them at INFO unless the
    // user asked for TRACE.
    let quiet = if level == LevelFilter::TRACE {
        LevelFilter::TRACE
    } else {
        level.min(LevelFilter::INFO)
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("h2", quiet)
        .with_target("hyper", quiet)
        .with_target("hyper_util", quiet)
        .with_target("tower", quiet)
        .with_target("tonic", quiet)
        .with_target("rustls", quiet);
    let layer = StderrLayer {
        format,
        out: Mutex::new(Box::new(std::io::stderr())),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .is_ok()
}

/// A layer that writes one line per event, with the fields of the enclosing
/// spans, to a writer.
pub struct StderrLayer {
    format: LogFormat,
    out: Mutex<Box<dyn Write + Send>>,
}

impl StderrLayer {
    /// A layer writing to `out` (stderr in production; a buffer in tests).
    pub fn new(format: LogFormat, out: Box<dyn Write + Send>) -> Self {
        StderrLayer {
            format,
            out: Mutex::new(out),
        }
    }
}

/// Span fields kept in the span's extensions.
struct SpanFields(Map<String, Json>);

#[derive(Default)]
struct JsonVisitor {
    message: Option<String>,
    fields: Map<String, Json>,
}

impl Visit for JsonVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, Json::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Json::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Json::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Json::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Json::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, Json::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, Json::String(value.to_string()));
    }
}

impl JsonVisitor {
    fn insert(&mut self, field: &Field, value: Json) {
        if field.name() == "message" {
            self.message = Some(match value {
                Json::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

fn hclog_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Formats one hclog JSON line (without the newline).
pub fn hclog_line(
    level: &Level,
    module: &str,
    message: &str,
    timestamp: time::OffsetDateTime,
    fields: Map<String, Json>,
) -> String {
    let mut obj = Map::new();
    obj.insert("@level".into(), Json::String(hclog_level(level).into()));
    obj.insert("@message".into(), Json::String(message.into()));
    obj.insert("@module".into(), Json::String(module.into()));
    let ts = timestamp
        .to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .unwrap_or_default();
    obj.insert("@timestamp".into(), Json::String(ts));
    for (k, v) in fields {
        // Keys starting with '@' are reserved for hclog's own fields.
        let key = if k.starts_with('@') {
            format!("field{k}")
        } else {
            k
        };
        obj.entry(key).or_insert(v);
    }
    Json::Object(obj).to_string()
}

impl<S> Layer<S> for StderrLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = JsonVisitor::default();
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(visitor.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut visitor = JsonVisitor::default();
        values.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<SpanFields>() {
                fields.0.extend(visitor.fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &f.0 {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        fields.extend(visitor.fields);
        let meta = event.metadata();
        let message = visitor.message.unwrap_or_default();
        let line = match self.format {
            LogFormat::Hclog => hclog_line(
                meta.level(),
                meta.target(),
                &message,
                time::OffsetDateTime::now_utc(),
                fields,
            ),
            LogFormat::Human => {
                let mut s = format!("[{}] {}: {}", meta.level(), meta.target(), message);
                for (k, v) in fields {
                    s.push_str(&format!(" {k}={v}"));
                }
                s
            }
        };
        if let Ok(mut out) = self.out.lock() {
            // A failed write to stderr has nowhere to be reported.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn levels_follow_terraform_names_and_precedence() {
        assert_eq!(level_from(None, None), LevelFilter::INFO);
        assert_eq!(level_from(None, Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level_from(Some("WARN"), Some("trace")), LevelFilter::WARN);
        assert_eq!(level_from(Some(""), Some("ERROR")), LevelFilter::ERROR);
        assert_eq!(level_from(None, Some("JSON")), LevelFilter::TRACE);
        assert_eq!(level_from(None, Some("off")), LevelFilter::OFF);
        assert_eq!(level_from(None, Some("1")), LevelFilter::TRACE);
    }

    #[test]
    fn hclog_line_has_the_fields_go_plugin_parses() {
        let ts =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let mut fields = Map::new();
        fields.insert("rpc".into(), Json::String("PlanResourceChange".into()));
        fields.insert("@level".into(), Json::String("spoof".into()));
        let line = hclog_line(&Level::WARN, "xenapi", "hello", ts, fields);
        let v: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "hello");
        assert_eq!(v["@module"], "xenapi");
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["rpc"], "PlanResourceChange");
        assert_eq!(v["field@level"], "spoof");
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_carry_span_fields_one_json_object_per_line() {
        let buf = Buf::default();
        let layer = StderrLayer::new(LogFormat::Hclog, Box::new(buf.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("rpc", rpc = "ReadResource", type_name = "xenapi_vm");
            let _g = span.enter();
            tracing::debug!(attempt = 2, "reading {}", "vm");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let v: Json = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "reading vm");
        assert_eq!(v["rpc"], "ReadResource");
        assert_eq!(v["type_name"], "xenapi_vm");
        assert_eq!(v["attempt"], 2);
    }
}
