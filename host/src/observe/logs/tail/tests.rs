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
        self.tailer_with(TailOptions::default())
    }

    fn tailer_with(&self, options: TailOptions) -> Tailer {
        let pattern = format!("{}/*.log", self.dir.path().display());
        let state = StateFile::new(Some(self.state.path()), "offsets.json");
        Tailer::new(vec![pattern], options, state, Clock::with_zone(jiff::tz::TimeZone::UTC))
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

/// The (message, truncated) pairs of one poll.
fn poll_marked(tailer: &mut Tailer) -> Vec<(String, bool)> {
    let mut got = Vec::new();
    assert!(tailer.poll(false, &mut |e: TimedEvent| {
        let Event::Log(log) = e.event else { panic!("not a log event") };
        got.push((log.message, log.truncated));
        true
    }));
    got
}

#[test]
fn a_long_line_is_one_truncated_event_and_the_rest_is_skipped() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer_with(TailOptions { max_line_bytes: 100, ..TailOptions::default() });
    poll(&mut tailer);
    // Longer than one read (64 KiB) and than MAX_READ: skipped over several polls.
    rig.append("app.log", &"x".repeat(3 << 20));
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(poll_marked(&mut tailer));
    }
    assert_eq!(got, [("x".repeat(100), true)]);
    rig.append("app.log", "yyy\nshort\n");
    assert_eq!(poll_marked(&mut tailer), [("short".to_owned(), false)]);
    // Whole lines too long, and one exactly at the bound.
    let at_bound = "b".repeat(100);
    rig.append("app.log", &format!("{}\n{at_bound}\n", "a".repeat(250)));
    assert_eq!(poll_marked(&mut tailer), [("a".repeat(100), true), (at_bound, false)]);
    // A line held partially, then completed past the bound.
    rig.append("app.log", &"c".repeat(60));
    assert_eq!(poll_marked(&mut tailer), []);
    rig.append("app.log", &format!("{}\nnext\n", "c".repeat(60)));
    assert_eq!(poll_marked(&mut tailer), [("c".repeat(100), true), ("next".to_owned(), false)]);
    // The default bound is 64 KiB.
    assert_eq!(TailOptions::default().max_line_bytes, 64 * 1024);
}

#[test]
fn a_cut_is_made_at_a_character_boundary() {
    assert_eq!(cut_point("aé".as_bytes(), 2), 1);
    assert_eq!(cut_point("aé".as_bytes(), 3), 3);
    assert_eq!(cut_point("€€".as_bytes(), 4), 3);
    assert_eq!(cut_point(&[0x80; 10], 4), 4, "not UTF-8 at all: cut where asked");
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer_with(TailOptions { max_line_bytes: 64, ..TailOptions::default() });
    poll(&mut tailer);
    rig.append("app.log", &format!("{}\n", "é".repeat(40)));
    assert_eq!(poll_marked(&mut tailer), [("é".repeat(32), true)]);
}

#[test]
fn a_restart_inside_a_cut_line_keeps_skipping_it() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let options = TailOptions { max_line_bytes: 100, ..TailOptions::default() };
    let mut tailer = rig.tailer_with(options);
    poll(&mut tailer);
    rig.append("app.log", &"z".repeat(1000));
    assert_eq!(poll_marked(&mut tailer).len(), 1);
    tailer.save();
    drop(tailer);
    rig.append("app.log", "zzz\nafter\n");
    let mut tailer = rig.tailer_with(options);
    assert_eq!(poll_marked(&mut tailer), [("after".to_owned(), false)]);
}

#[test]
fn a_fifo_does_not_block_and_other_files_go_on() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let fifo = rig.path("x.log");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut tailer = rig.tailer();
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    rig.append("app.log", "still here\n");
    assert_eq!(poll(&mut tailer), ["still here"]);
    assert_eq!(tailer.file_count(), 1);
    // A FIFO that appears later, too (a rescan).
    std::fs::remove_file(&fifo).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    tailer.poll(true, &mut |_| true);
    rig.append("app.log", "and here\n");
    assert_eq!(poll(&mut tailer), ["and here"]);
    assert_eq!(tailer.take_errors(), 0, "a refusal is not an error");
}

#[test]
fn a_link_out_of_the_glob_dir_is_not_followed_unless_allowed() {
    let rig = Rig::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), rig.path("evil.log")).unwrap();
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    let mut f = std::fs::OpenOptions::new().append(true).open(outside.path().join("secret.txt")).unwrap();
    f.write_all(b"TOPSECRET\n").unwrap();
    assert_eq!(poll(&mut tailer), Vec::<String>::new());
    assert_eq!(tailer.file_count(), 0);
    let mut follow = rig.tailer_with(TailOptions { follow_symlinks: true, ..TailOptions::default() });
    poll(&mut follow);
    assert_eq!(follow.file_count(), 1);
}

#[test]
fn unreadable_files_are_reported_once() {
    let rig = Rig::new();
    rig.append("app.log", "");
    let mut tailer = rig.tailer();
    poll(&mut tailer);
    // A directory that matches the glob is not a file: skipped without an error.
    std::fs::create_dir(rig.path("dir.log")).unwrap();
    tailer.poll(true, &mut |_| true);
    tailer.poll(true, &mut |_| true);
    assert_eq!((tailer.file_count(), tailer.take_errors()), (1, 0));
    assert_eq!(tailer.failed.get(&rig.path("dir.log")).map(String::as_str), Some("type:directory"));
}
