//! An example observe probe, `redact`: drops observations of noisy
//! processes and redacts secrets from the lines that go to Loki.
//!
//! Observe probes form a chain after the built-in `observe` probe (which
//! formats the lines), so this one sees formatted lines and the typed events.
//!
//! Settings (`[probe.redact] settings = { … }`; every value is text):
//!
//! | key       | default | meaning |
//! |-----------|---------|---------|
//! | `drop`    | (none)  | comma-separated process names whose observations are dropped: log lines they wrote and their own process events |
//! | `secrets` | `password,passwd,token,secret,api_key` | comma-separated keys; `key=value` and `key: value` have the value replaced by `[REDACTED]` in lines and metadata |
//!
//! An operator grants it what it reads:
//!
//! ```toml
//! [probe.redact]
//! grants = ["observations"]
//! settings = { drop = "CRON,systemd-timesyncd" }
//! ```
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 --manifest-path probes/Cargo.toml -p example-redact
//! # → probes/target/wasm32-wasip2/release/example_redact.wasm
//! ```

use gomon_probe::{
    Capability, Event, Observation, ObserveProbe, ProbeInfo, check_settings, setting,
};

/// The probe: process names to drop and secret keys to redact.
pub struct Redact {
    drop: Vec<String>,
    secrets: Vec<String>,
}

impl Default for Redact {
    fn default() -> Self {
        Redact { drop: Vec::new(), secrets: list("password,passwd,token,secret,api_key") }
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl ObserveProbe for Redact {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "redact",
            env!("CARGO_PKG_VERSION"),
            "Drops observations of noisy processes; redacts secrets in lines.",
            [Capability::Observations],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        check_settings(settings, &["drop", "secrets"])?;
        if let Some(drop) = setting(settings, "drop") {
            self.drop = list(drop);
        }
        if let Some(secrets) = setting(settings, "secrets") {
            self.secrets = list(secrets);
        }
        Ok(())
    }

    fn observe(&mut self, mut batch: Vec<Observation>) -> Result<Vec<Observation>, String> {
        batch.retain(|o| !self.drop.iter().any(|name| name == process_of(o)));
        for o in &mut batch {
            o.line = redact(&o.line, &self.secrets);
            for (_, value) in &mut o.metadata {
                *value = redact(value, &self.secrets);
            }
        }
        Ok(batch)
    }
}

/// The process an observation is about: a log line's writer or the process
/// of a process event; empty for file events.
fn process_of(o: &Observation) -> &str {
    match &o.event {
        Event::Log(log) => &log.process,
        Event::Process(p) => &p.name,
        Event::File(_) => "",
    }
}

/// Replaces the value after `key=` or `key: ` (up to the next space) with
/// `[REDACTED]`, for every key, case-insensitively.
fn redact(line: &str, keys: &[String]) -> String {
    let mut out = line.to_owned();
    for key in keys {
        let mut from = 0;
        while let Some(found) = out[from..].to_ascii_lowercase().find(&key.to_ascii_lowercase()) {
            let start = from + found + key.len();
            let rest = &out[start..];
            let sep = if rest.starts_with('=') {
                1
            } else if rest.starts_with(": ") {
                2
            } else {
                from = start;
                continue;
            };
            let value_start = start + sep;
            let value_end =
                out[value_start..].find(char::is_whitespace).map_or(out.len(), |i| value_start + i);
            out.replace_range(value_start..value_end, "[REDACTED]");
            from = value_start + "[REDACTED]".len();
        }
    }
    out
}

gomon_probe::export_observe_probe!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use gomon_probe::{LogEvent, ObservationSource, Severity};

    fn log(process: &str, line: &str) -> Observation {
        Observation {
            time_nanos: 1,
            source: ObservationSource::Logs,
            event_name: "info".into(),
            line: line.into(),
            metadata: vec![("note".into(), line.into())],
            event: Event::Log(LogEvent {
                origin: "kmsg".into(),
                level: Severity::Info,
                process: process.into(),
                pid: None,
                message: line.into(),
            }),
        }
    }

    #[test]
    fn drops_listed_processes_and_redacts_secrets() {
        let mut p = Redact::default();
        p.configure(&[("drop".into(), "CRON, noisy".into())]).unwrap();
        let out = p
            .observe(vec![
                log("CRON", "session opened"),
                log("app", "login user=bob Password=hunter2 ok"),
                log("app", "token: abc123"),
                log("app", "passwords are fine"),
            ])
            .unwrap();
        let lines: Vec<&str> = out.iter().map(|o| o.line.as_str()).collect();
        assert_eq!(
            lines,
            ["login user=bob Password=[REDACTED] ok", "token: [REDACTED]", "passwords are fine"]
        );
        assert_eq!(out[0].metadata[0].1, "login user=bob Password=[REDACTED] ok");
    }

    #[test]
    fn refuses_unknown_settings() {
        assert!(
            Redact::default()
                .configure(&[("dorp".into(), "x".into())])
                .unwrap_err()
                .contains("dorp")
        );
    }
}
