//! Logs in plugin mode: hclog JSON lines on stderr, which go-plugin (inside Grafana)
//! parses and re-logs under the plugin's name.
//!
//! ```json
//! {"@level":"info","@message":"Serving the plugin protocol.","@timestamp":"2025-01-02T15:04:05.123456+00:00","@module":"gomon.plugin","addr":"127.0.0.1:41234"}
//! ```
//!
//! `@timestamp` must match Go's layout `2006-01-02T15:04:05.000000Z07:00` — exactly six
//! fractional digits — or go-plugin treats the line as plain text. `@module` is the
//! event's target with `::` turned into `.`; every other field becomes a key.

use std::fmt;
use std::io::Write;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// A tracing layer that writes each event as one hclog JSON line.
pub struct HclogLayer<W> {
    make_writer: W,
}

impl<W> HclogLayer<W>
where
    W: Fn() -> Box<dyn Write> + Send + Sync + 'static,
{
    /// A layer writing through `make_writer` (called once per line).
    pub fn new(make_writer: W) -> Self {
        HclogLayer { make_writer }
    }
}

/// A layer that writes to stderr.
pub fn stderr_layer() -> HclogLayer<impl Fn() -> Box<dyn Write> + Send + Sync + 'static> {
    HclogLayer::new(|| Box::new(std::io::stderr()) as Box<dyn Write>)
}

/// Installs the stderr layer with a level filter (`RUST_LOG` wins over `level`).
pub fn init(level: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry().with(filter).with(stderr_layer()).try_init();
}

impl<S, W> Layer<S> for HclogLayer<W>
where
    S: Subscriber,
    W: Fn() -> Box<dyn Write> + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_line(event.metadata().level(), event.metadata().target(), SystemTime::now(), |visitor| {
            event.record(visitor)
        });
        // One write per line, so lines from two threads never interleave.
        let _ = (self.make_writer)().write_all(line.as_bytes());
    }
}

/// hclog's level names.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `2006-01-02T15:04:05.000000+00:00` (UTC).
pub fn timestamp(at: SystemTime) -> String {
    let micros = humantime::format_rfc3339_micros(at).to_string();
    match micros.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => micros,
    }
}

/// The JSON line of one event, newline included.
fn format_line(level: &Level, target: &str, at: SystemTime, record: impl FnOnce(&mut Fields)) -> String {
    let mut fields = Fields::default();
    record(&mut fields);
    let mut object = Map::new();
    object.insert("@level".into(), level_name(level).into());
    object.insert("@message".into(), fields.message.unwrap_or_default().into());
    object.insert("@timestamp".into(), timestamp(at).into());
    object.insert("@module".into(), target.replace("::", ".").into());
    for (key, value) in fields.others {
        // A field named like a reserved key must not replace it.
        let key = if key.starts_with('@') { format!("field{key}") } else { key };
        object.insert(key, value);
    }
    let mut line = Value::Object(object).to_string();
    line.push('\n');
    line
}

/// An event's fields: the message and the rest.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    others: Vec<(String, Value)>,
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.others.push((field.name().to_owned(), Value::from(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.others.push((field.name().to_owned(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.others.push((field.name().to_owned(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.others.push((field.name().to_owned(), value.into()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.others.push((field.name().to_owned(), value.into()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.others.push((field.name().to_owned(), text.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use tracing_subscriber::prelude::*;

    use super::*;

    #[test]
    fn timestamps_have_six_fractional_digits_and_an_offset() {
        let at = UNIX_EPOCH + Duration::from_nanos(1_735_830_245_123_456_789);
        assert_eq!(timestamp(at), "2025-01-02T15:04:05.123456+00:00");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1)), "1970-01-01T00:00:01.000000+00:00");
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_become_hclog_json_lines() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let layer = HclogLayer::new(move || Box::new(writer.clone()) as Box<dyn Write>);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(port = 41234_u64, addr = %"127.0.0.1", "Serving \"quoted\".");
            tracing::debug!(target: "gomon::plugin::services", ok = true, "second");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["@level"], "warn");
        assert_eq!(lines[0]["@message"], "Serving \"quoted\".");
        assert_eq!(lines[0]["port"], 41234);
        assert_eq!(lines[0]["addr"], "127.0.0.1");
        assert_eq!(lines[0]["@module"], "gomon.plugin.hclog.tests");
        assert_eq!(lines[1]["@module"], "gomon.plugin.services");
        assert_eq!(lines[1]["ok"], true);
        let stamp = lines[0]["@timestamp"].as_str().unwrap();
        assert_eq!(stamp.len(), "2025-01-02T15:04:05.123456+00:00".len(), "{stamp}");
    }
}
