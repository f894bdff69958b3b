use super::*;
use crate::observe::model::LogLevel;
use std::io::Write;

struct Rig {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        Rig { dir: tempfile::tempdir().unwrap(), state: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tailer(&self) -> Tailer {
        let pattern = format!("{}/*.log", self.dir.path().display());
        let state = StateFile::new(Some(self.state.path()), "offsets.json");
        Tailer::new(vec![pattern], state, Clock::with_zone(jiff::tz::TimeZone::UTC))
    }

    fn append(&self, name: &str, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.path(name)).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
}

/// The messages of one poll.
fn poll(tailer: &mut Tailer) -> Vec<String> {
    let mut got = Vec::new();
    assert!(tailer.poll(false, &mut |e: TimedEvent| {
        let Event::Log(log) = e.event else { panic!("not a log event") };
        got.push(log.message);
        true
    }));
    got
}

#[test]
fn starts_at_the_end_then_follows_appends_and_partial_lines() {
    let rig = Rig::new();
    rig.append("app.log", "history 1\nhistory 2\n");
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    assert_eq!(tailer.file_count(), 1);
    rig.append("app.log", "one\ntwo\npar");
    assert_eq!(poll(&mut tailer), ["one", "two"]);
    rig.append("app.log", "tial");
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    rig.append("app.log", "\r\n\n  \nlast\n");
    assert_eq!(poll(&mut tailer), ["partial", "last"]);
}

#[test]
fn lines_are_parsed_and_carry_their_file() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "2024-01-15T10:00:00Z web1 sshd[812]: error: bad\n");
    let mut events = Vec::new();
    tailer.poll(false, &mut |e| {
        events.push(e);
        true
    });
    let [event] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(event.time_nanos, 1_705_312_800_000_000_000);
    let Event::Log(log) = &event.event else { panic!() };
    assert_eq!(log.origin, rig.path("app.log").to_string_lossy());
    assert_eq!((log.level, log.process.as_str(), log.pid), (LogLevel::Error, "sshd", Some(812)));
}

#[test]
fn a_file_that_appears_later_is_read_from_its_start() {
    let rig = Rig::new();
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    rig.append("new.log", "first\nsecond\n");
    rig.append("other.txt", "not matched\n");
    let mut got = Vec::new();
    tailer.poll(true, &mut |e| {
        let Event::Log(log) = e.event else { panic!() };
        got.push(log.message);
        true
    });
    assert_eq!(got, ["first", "second"]);
}

#[test]
fn rotation_finishes_the_old_file_then_reads_the_new_one() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "before\nold-tail-no-newline");
    std::fs::rename(rig.path("app.log"), rig.path("app.log.1")).unwrap();
    rig.append("app.log", "new 1\n");
    // The old file's held partial line waits for the writer (which may
    // still have it open) and is let go when the drain ends.
    assert_eq!(poll(&mut tailer), ["before", "new 1"]);
    rig.append("app.log.1", " done\n");
    rig.append("app.log", "new 2\n");
    assert_eq!(poll(&mut tailer), ["old-tail-no-newline done", "new 2"]);
    assert_eq!(tailer.file_count(), 2);
}

#[test]
fn a_rotated_file_renamed_to_a_matching_name_is_not_read_twice() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "a\n");
    std::fs::rename(rig.path("app.log"), rig.path("app-old.log")).unwrap();
    assert_eq!(poll(&mut tailer), ["a"]);
    rig.append("app-old.log", "b\n");
    // The next poll looks for it, and follows it under its new name.
    assert_eq!(poll(&mut tailer), ["b"]);
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    assert_eq!(tailer.file_count(), 1);
}

#[test]
fn truncation_reads_again_from_the_start() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "aaaaaaaa\nbbbbbbbb\n");
    assert_eq!(poll(&mut tailer), ["aaaaaaaa", "bbbbbbbb"]);
    // copytruncate: the file is emptied in place, then written again.
    std::fs::OpenOptions::new().write(true).open(rig.path("app.log")).unwrap().set_len(0).unwrap();
    rig.append("app.log", "c\n");
    assert_eq!(poll(&mut tailer), ["c"]);
}

#[test]
fn a_restart_resumes_where_it_stopped() {
    let rig = Rig::new();
    rig.append("app.log", "old\n");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "one\npart");
    assert_eq!(poll(&mut tailer), ["one"]);
    tailer.save();
    drop(tailer);
    // Written while gomon was down.
    rig.append("app.log", "ial\ntwo\n");
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), ["partial", "two"]);
}

#[test]
fn a_restart_after_rotation_reads_the_new_file_from_its_start() {
    let rig = Rig::new();
    rig.append("app.log", "old\n");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    tailer.save();
    drop(tailer);
    std::fs::rename(rig.path("app.log"), rig.path("app.log.1")).unwrap();
    rig.append("app.log", "new\n");
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), ["new"]);
}

#[test]
fn lines_not_queued_before_a_stop_are_read_after_the_restart() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    rig.append("app.log", "1\n2\n3\n");
    let mut got = Vec::new();
    let going = tailer.poll(false, &mut |e| {
        let Event::Log(log) = e.event else { panic!() };
        got.push(log.message);
        got.len() < 2 // the sink takes "1", then refuses "2"
    });
    assert!(!going);
    assert_eq!(got, ["1", "2"]);
    tailer.save();
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), ["2", "3"]);
}

#[test]
fn long_lines_are_cut_and_unreadable_files_are_reported_once() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    let long = "x".repeat(MAX_LINE + 10);
    rig.append("app.log", &format!("{long}\n"));
    let got = poll(&mut tailer);
    assert_eq!(got.iter().map(String::len).collect::<Vec<_>>(), [MAX_LINE, 10]);
    assert_eq!(tailer.take_errors(), 0);
    // A directory that matches the glob is not a file: skipped without an error.
    std::fs::create_dir(rig.path("dir.log")).unwrap();
    tailer.poll(true, &mut |_| true);
    assert_eq!((tailer.file_count(), tailer.take_errors()), (1, 0));
}
