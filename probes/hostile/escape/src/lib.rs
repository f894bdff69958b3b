//! Hostile test probe `hostile-escape`: tries, on every `measure`, each way
//! out of the sandbox a probe might try, and reports each attempt:
//!
//! - `hostile_escape_succeeded{what}`: 1 if the attempt got anything, 0 if
//!   it was refused; a log line (through the host) per attempt says how;
//! - `hostile_escape_provided{what}`: what the sandbox does provide (random
//!   numbers, coarse clocks), for the record.
//!
//! Attempts: reading files (`/etc/passwd`, and each path in the setting
//! `paths`), listing directories (`/`, `.`), writing a file (the setting
//! `write`), the environment, arguments and working directory, TCP connect
//! (to the setting `connect`, `host:port`) and listen, UDP, a DNS lookup,
//! spawning a process, and clocks finer than 1 ms (the monotonic and wall
//! clocks' advertised resolution, and the smallest step seen). It also
//! writes a marker to stdout and stderr (the setting `marker`), which must
//! never reach gomon's own output.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use gomon_probe::{Capability, Family, MetricFamily, Probe, ProbeInfo, Snapshot};

mod wasi {
    //! The clock and random interfaces, called directly.
    wit_bindgen::generate!({
        inline: r#"
            package hostile:escape;

            world imports {
                import wasi:clocks/monotonic-clock@0.2.0;
                import wasi:clocks/wall-clock@0.2.0;
                import wasi:random/random@0.2.0;
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
                interface wall-clock {
                    record datetime { seconds: u64, nanoseconds: u32 }
                    now: func() -> datetime;
                    resolution: func() -> datetime;
                }
            }

            package wasi:random@0.2.0 {
                interface random {
                    get-random-bytes: func(len: u64) -> list<u8>;
                    get-random-u64: func() -> u64;
                }
            }
        "#,
        world: "imports",
        generate_all,
    });
}

use wasi::wasi::clocks::{monotonic_clock, wall_clock};

/// One millisecond, in nanoseconds: the sandbox's promised clock resolution.
const MILLISECOND: u64 = 1_000_000;

/// The probe: where to aim.
struct Escape {
    paths: Vec<String>,
    write: String,
    connect: String,
    marker: String,
}

impl Default for Escape {
    fn default() -> Self {
        Escape {
            paths: Vec::new(),
            write: "/tmp/hostile-escape-was-here".into(),
            connect: "127.0.0.1:22".into(),
            marker: "HOSTILE-ESCAPE-MARKER".into(),
        }
    }
}

/// The attempts' results.
#[derive(Default)]
struct Report {
    succeeded: Vec<(String, bool)>,
    provided: Vec<(String, bool)>,
}

impl Report {
    /// Records an attempt that should fail: `Ok(detail)` means it got through.
    fn attempt(&mut self, what: &str, result: Result<String, String>) {
        let got_through = result.is_ok();
        let detail = match &result {
            Ok(detail) => format!("SUCCEEDED: {detail}"),
            Err(e) => format!("refused: {e}"),
        };
        gomon_probe::log::write(
            if got_through {
                gomon_probe::log::Level::Error
            } else {
                gomon_probe::log::Level::Info
            },
            &format!("escape attempt {what}: {detail}"),
        );
        self.succeeded.push((what.to_owned(), got_through));
    }

    fn provided(&mut self, what: &str, works: bool, detail: String) {
        gomon_probe::log::info!("sandbox provides {what}: {detail}");
        self.provided.push((what.to_owned(), works));
    }
}

/// The smallest nonzero step of a clock seen within a few thousand reads.
fn smallest_step(read: impl Fn() -> u64) -> u64 {
    let mut smallest = u64::MAX;
    let mut last = read();
    for _ in 0..20_000 {
        let now = read();
        if now > last {
            smallest = smallest.min(now - last);
        }
        last = now;
    }
    smallest
}

impl Escape {
    fn attempts(&self) -> Report {
        let mut r = Report::default();
        // Files.
        for path in std::iter::once("/etc/passwd").chain(self.paths.iter().map(String::as_str)) {
            r.attempt(
                &format!("read {path}"),
                std::fs::read(path)
                    .map(|b| format!("{} bytes", b.len()))
                    .map_err(|e| e.to_string()),
            );
        }
        for dir in ["/", "."] {
            r.attempt(
                &format!("list {dir}"),
                std::fs::read_dir(dir)
                    .map(|d| format!("{} entries", d.count()))
                    .map_err(|e| e.to_string()),
            );
        }
        r.attempt(
            &format!("write {}", self.write),
            std::fs::write(&self.write, b"escaped")
                .map(|()| "written".into())
                .map_err(|e| e.to_string()),
        );
        // Environment.
        let vars: Vec<(String, String)> = std::env::vars().collect();
        r.attempt(
            "environment",
            if vars.is_empty() { Err("empty".into()) } else { Ok(format!("{vars:?}")) },
        );
        let args: Vec<String> = std::env::args().collect();
        r.attempt(
            "arguments",
            if args.is_empty() { Err("none".into()) } else { Ok(format!("{args:?}")) },
        );
        // wasi-libc answers `/` when the host gives no working directory.
        r.attempt(
            "working directory",
            match std::env::current_dir() {
                Ok(dir) if dir.as_os_str() != "/" => Ok(dir.display().to_string()),
                Ok(dir) => Err(format!("{} (the C library's default: none given)", dir.display())),
                Err(e) => Err(e.to_string()),
            },
        );
        // Network.
        r.attempt(
            &format!("tcp connect {}", self.connect),
            TcpStream::connect(&self.connect)
                .map(|s| format!("connected from {:?}", s.local_addr()))
                .map_err(|e| e.to_string()),
        );
        r.attempt(
            "tcp listen",
            TcpListener::bind("127.0.0.1:0")
                .map(|l| format!("listening on {:?}", l.local_addr()))
                .map_err(|e| e.to_string()),
        );
        r.attempt(
            "udp",
            UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.send_to(b"escaped", "127.0.0.1:9"))
                .map(|n| format!("sent {n} bytes"))
                .map_err(|e| e.to_string()),
        );
        r.attempt(
            "dns lookup",
            ("localhost", 80)
                .to_socket_addrs()
                .map(|a| format!("{:?}", a.collect::<Vec<_>>()))
                .map_err(|e| e.to_string()),
        );
        // Processes.
        r.attempt(
            "spawn",
            std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg("true")
                .status()
                .map(|s| format!("{s}"))
                .map_err(|e| e.to_string()),
        );
        // Clocks: finer than 1 ms would be a timing side channel.
        let mono_res = monotonic_clock::resolution();
        r.attempt(
            "monotonic clock resolution",
            if mono_res < MILLISECOND {
                Ok(format!("{mono_res} ns"))
            } else {
                Err(format!("{mono_res} ns"))
            },
        );
        let mono_step = smallest_step(monotonic_clock::now);
        r.attempt(
            "monotonic clock step",
            if mono_step < MILLISECOND {
                Ok(format!("{mono_step} ns"))
            } else {
                Err(format!("{mono_step} ns or more"))
            },
        );
        let wall = wall_clock::resolution();
        let wall_res =
            wall.seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(wall.nanoseconds));
        r.attempt(
            "wall clock resolution",
            if wall_res < MILLISECOND {
                Ok(format!("{wall_res} ns"))
            } else {
                Err(format!("{wall_res} ns"))
            },
        );
        let wall_step = smallest_step(|| {
            let t = wall_clock::now();
            t.seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(t.nanoseconds))
        });
        r.attempt(
            "wall clock step",
            if wall_step < MILLISECOND {
                Ok(format!("{wall_step} ns"))
            } else {
                Err(format!("{wall_step} ns or more"))
            },
        );
        // Stdio: gomon's stdout is plugin mode's handshake channel.
        let out = std::io::stdout()
            .write_all(format!("{}-stdout\n", self.marker).as_bytes())
            .and_then(|()| std::io::stdout().flush());
        let err = std::io::stderr().write_all(format!("{}-stderr\n", self.marker).as_bytes());
        gomon_probe::log::info!(
            "stdout write: {out:?}; stderr write: {err:?} (neither may reach gomon's output)"
        );
        let mut stdin = String::new();
        r.attempt(
            "stdin",
            match std::io::stdin().read_to_string(&mut stdin) {
                Ok(0) => Err("closed".into()),
                Ok(n) => Ok(format!("read {n} bytes")),
                Err(e) => Err(e.to_string()),
            },
        );
        // What the sandbox gives.
        let bytes = wasi::wasi::random::random::get_random_bytes(16);
        r.provided(
            "random",
            bytes.iter().any(|&b| b != 0),
            format!("{} random bytes", bytes.len()),
        );
        r.provided("monotonic clock", mono_res == MILLISECOND, format!("resolution {mono_res} ns"));
        r
    }
}

impl Probe for Escape {
    fn info() -> ProbeInfo {
        ProbeInfo::new(
            "hostile-escape",
            env!("CARGO_PKG_VERSION"),
            "Tries every way out of the sandbox and reports each.",
            Vec::<Capability>::new(),
        )
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        gomon_probe::check_settings(settings, &["paths", "write", "connect", "marker"])?;
        if let Some(paths) = gomon_probe::setting(settings, "paths") {
            self.paths = paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = gomon_probe::setting(settings, "write") {
            v.clone_into(&mut self.write);
        }
        if let Some(v) = gomon_probe::setting(settings, "connect") {
            v.clone_into(&mut self.connect);
        }
        if let Some(v) = gomon_probe::setting(settings, "marker") {
            v.clone_into(&mut self.marker);
        }
        Ok(())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        let report = self.attempts();
        let mut succeeded = Family::gauge(
            "hostile_escape_succeeded",
            "1 if an attempt to leave the sandbox got through.",
        )
        .labels(&["what"]);
        for (what, ok) in &report.succeeded {
            succeeded.push(&[what], if *ok { 1.0 } else { 0.0 });
        }
        let mut provided =
            Family::gauge("hostile_escape_provided", "What the sandbox provides, for the record.")
                .labels(&["what"]);
        for (what, ok) in &report.provided {
            provided.push(&[what], if *ok { 1.0 } else { 0.0 });
        }
        let mut summary = String::new();
        let through: Vec<&str> =
            report.succeeded.iter().filter(|(_, ok)| *ok).map(|(w, _)| w.as_str()).collect();
        let _ = write!(
            summary,
            "{} attempts, {} got through: {through:?}",
            report.succeeded.len(),
            through.len()
        );
        gomon_probe::log::info!("{summary}");
        Ok(vec![succeeded, provided])
    }
}

gomon_probe::export_probe!(Escape);
