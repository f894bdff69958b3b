//! Log lines: tailed files ([`tail`]), kernel messages ([`kmsg`]) and the
//! systemd journal ([`journal`]), each on its own thread, each line parsed
//! by [`parse`] into time, level, process, pid and message.
//!
//! Every line is kept, whatever its shape (the original gomon dropped what
//! its one regex did not match), and there is no de-duplication.

pub mod journal;
pub mod kmsg;
pub mod open;
pub mod parse;
pub mod tail;

use std::path::PathBuf;
use std::time::Instant;

use super::queue::Emitter;
use super::state::StateFile;
use parse::Clock;
use tail::{POLL_EVERY, RESCAN_EVERY, TailOptions, Tailer};

/// The tail source's thread.
pub fn run_tail(patterns: Vec<String>, options: TailOptions, state: StateFile, emitter: Emitter) {
    let mut tailer = Tailer::new(patterns.clone(), options, state, Clock::system());
    tracing::info!("logs: tailing {}", patterns.join(", "));
    let mut last_rescan = Instant::now();
    let mut first = true;
    loop {
        let rescan = first || last_rescan.elapsed() >= RESCAN_EVERY;
        if rescan {
            last_rescan = Instant::now();
        }
        first = false;
        let going = tailer.poll(rescan, &mut |event| emitter.emit(event));
        for _ in 0..tailer.take_errors() {
            emitter.error();
        }
        emitter.stats().set_log_files(tailer.file_count() as u64);
        if !going || emitter.stop().wait(POLL_EVERY) {
            break;
        }
    }
    tailer.save();
}

/// Cuts `text` to at most `max` bytes, at a character boundary; whether it
/// was cut.
pub fn cut_to(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// Where the kmsg and journal sources read (tests point them elsewhere).
#[derive(Debug, Clone)]
pub struct LogSources {
    /// The kernel's message device (`/dev/kmsg`).
    pub kmsg_path: PathBuf,
    /// How journalctl is run (its `max_message_bytes` is replaced by
    /// `observe.logs.max_line_bytes`).
    pub journal: journal::JournalOptions,
    /// Whether journald is present (`None`: look).
    pub journald_present: Option<bool>,
}

impl Default for LogSources {
    fn default() -> Self {
        LogSources {
            kmsg_path: PathBuf::from("/dev/kmsg"),
            journal: journal::JournalOptions::default(),
            journald_present: None,
        }
    }
}
