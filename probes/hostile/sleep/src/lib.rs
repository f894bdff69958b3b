//! Hostile test probe `hostile-sleep`: loads fine, then blocks in `measure`
//! inside a WASI call for 30 s. The epoch deadline cannot stop it (no guest
//! code runs while the host waits); the host's bounded WASI must.
//!
//! Settings: `how` is `poll` (the default: `monotonic-clock.subscribe-duration`
//! then `wasi:io/poll.poll`), `block` (the same pollable's `block`) or
//! `sleep` (`std::thread::sleep`, whatever the standard library makes of
//! it); `seconds` is how long (default 30).

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};

mod wasi {
    //! The two WASI interfaces this probe calls directly.
    wit_bindgen::generate!({
        inline: r#"
            package hostile:sleep;

            world imports {
                import wasi:io/poll@0.2.0;
                import wasi:clocks/monotonic-clock@0.2.0;
            }

            package wasi:io@0.2.0 {
                interface poll {
                    resource pollable {
                        ready: func() -> bool;
                        block: func();
                    }
                    poll: func(in: list<borrow<pollable>>) -> list<u32>;
                }
            }

            package wasi:clocks@0.2.0 {
                interface monotonic-clock {
                    use wasi:io/poll@0.2.0.{pollable};
                    type instant = u64;
                    type duration = u64;
                    now: func() -> instant;
                    resolution: func() -> duration;
                    subscribe-instant: func(when: instant) -> pollable;
                    subscribe-duration: func(when: duration) -> pollable;
                }
            }
        "#,
        world: "imports",
        generate_all,
    });
}

/// How to block.
#[derive(Clone, Copy)]
enum How {
    Poll,
    Block,
    Sleep,
}

/// The probe: how and how long to block.
struct Sleep {
    how: How,
    seconds: u64,
}

impl Default for Sleep {
    fn default() -> Self {
        Sleep { how: How::Poll, seconds: 30 }
    }
}

impl Probe for Sleep {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-sleep",
            env!("CARGO_PKG_VERSION"),
            "Blocks in a WASI call for 30 s.",
            [Capability::System],
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["how", "seconds"])?;
        self.how = match gomon_probe::setting(settings, "how").unwrap_or("poll") {
            "poll" => How::Poll,
            "block" => How::Block,
            "sleep" => How::Sleep,
            other => return Err(format!("setting `how` = {other:?}: want poll, block or sleep")),
        };
        if let Some(s) = gomon_probe::setting(settings, "seconds") {
            self.seconds = s.parse().map_err(|e| format!("setting `seconds` = {s:?}: {e}"))?;
        }
        Ok(())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let nanos = self.seconds.saturating_mul(1_000_000_000);
        match self.how {
            How::Poll => {
                let pollable = wasi::wasi::clocks::monotonic_clock::subscribe_duration(nanos);
                wasi::wasi::io::poll::poll(&[&pollable]);
            }
            How::Block => {
                wasi::wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
            }
            How::Sleep => std::thread::sleep(std::time::Duration::from_nanos(nanos)),
        }
        // Reached only if the host let it sleep.
        Ok(vec![Family::gauge("hostile_sleep_woke", "The probe slept and woke up.").value(1.0)])
    }
}

gomon_probe::export_probe!(Sleep);
