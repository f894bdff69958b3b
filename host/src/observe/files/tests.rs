use super::*;
use std::io::Write;

use crate::observe::stop::Stop;
use std::process::Command;

/// A watcher on a temporary root, and what it reported.
struct Rig {
    root: tempfile::TempDir,
    watcher: Watcher,
    events: Vec<FileEvent>,
    stop: Stop,
}

impl Rig {
    fn new(exclude: &[&str], hidden: bool) -> Rig {
        let root = tempfile::tempdir().unwrap();
        Rig::on(root, exclude, hidden)
    }

    fn on(root: tempfile::TempDir, exclude: &[&str], hidden: bool) -> Rig {
        let base = std::fs::canonicalize(root.path()).unwrap();
        let exclude = exclude.iter().map(|e| e.replace("{root}", &base.to_string_lossy())).collect();
        let config = FilesConfig {
            enabled: true,
            roots: vec![root.path().to_owned()],
            exclude,
            hidden,
            ..FilesConfig::default()
        };
        let watcher = Watcher::new(&config).unwrap();
        Rig { root, watcher, events: Vec::new(), stop: Stop::new().unwrap() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        std::fs::canonicalize(self.root.path()).unwrap().join(rel)
    }

    /// Reads events until `done` holds for what was reported (10 s at most).
    fn until(&mut self, done: impl Fn(&[(FileEventKind, String, Option<String>, bool)]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if done(&self.seen()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out; saw {:#?}", self.seen());
            let timeout = self.watcher.next_due().unwrap_or(Duration::from_millis(100)).max(Duration::from_millis(1));
            self.stop.poll(self.watcher.fd(), timeout).unwrap();
            let events = &mut self.events;
            assert!(self.watcher.process(&mut |e| {
                events.push(e);
                true
            }));
        }
    }

    /// The events so far, paths relative to the root.
    fn seen(&self) -> Vec<(FileEventKind, String, Option<String>, bool)> {
        let base = self.path("");
        let rel = |p: &str| Path::new(p).strip_prefix(&base).map(|r| r.display().to_string()).unwrap_or(p.to_owned());
        self.events.iter().map(|e| (e.kind, rel(&e.path), e.old_path.as_deref().map(rel), e.directory)).collect()
    }
}

use FileEventKind::{Create, Delete, Rename, Update};

fn has(seen: &[(FileEventKind, String, Option<String>, bool)], kind: FileEventKind, path: &str) -> bool {
    seen.iter().any(|(k, p, _, _)| *k == kind && p == path)
}

#[test]
fn nothing_is_reported_for_what_was_there_at_start() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("a/b")).unwrap();
    std::fs::write(root.path().join("a/b/old"), "x").unwrap();
    let mut rig = Rig::on(root, &[], false);
    assert_eq!(rig.watcher.watches(), 3);
    std::fs::write(rig.path("a/b/sentinel"), "").unwrap();
    rig.until(|s| has(s, Update, "a/b/sentinel"));
    assert_eq!(
        rig.seen(),
        [(Create, "a/b/sentinel".into(), None, false), (Update, "a/b/sentinel".into(), None, false)]
    );
}

#[test]
fn create_update_delete() {
    let mut rig = Rig::new(&[], false);
    std::fs::write(rig.path("f"), "one").unwrap();
    rig.until(|s| has(s, Update, "f"));
    // Kept open and appended to: one debounced update, not one per write.
    let mut open = std::fs::OpenOptions::new().append(true).open(rig.path("f")).unwrap();
    for _ in 0..5 {
        open.write_all(b"more").unwrap();
    }
    rig.until(|s| s.iter().filter(|e| e.0 == Update).count() == 2);
    std::fs::remove_file(rig.path("f")).unwrap();
    rig.until(|s| has(s, Delete, "f"));
    drop(open);
    assert_eq!(
        rig.seen(),
        [
            (Create, "f".into(), None, false),
            (Update, "f".into(), None, false),
            (Update, "f".into(), None, false),
            (Delete, "f".into(), None, false),
        ]
    );
}

#[test]
fn renames_pair_by_cookie_and_moves_across_the_root_are_creates_and_deletes() {
    let outside = tempfile::tempdir().unwrap();
    let mut rig = Rig::new(&[], false);
    std::fs::write(rig.path("x"), "").unwrap();
    rig.until(|s| has(s, Update, "x"));
    std::fs::rename(rig.path("x"), rig.path("y")).unwrap();
    rig.until(|s| has(s, Rename, "y"));
    std::fs::rename(rig.path("y"), outside.path().join("y")).unwrap();
    rig.until(|s| has(s, Delete, "y"));
    std::fs::write(outside.path().join("z"), "").unwrap();
    std::fs::rename(outside.path().join("z"), rig.path("z")).unwrap();
    rig.until(|s| has(s, Create, "z"));
    assert_eq!(
        rig.seen(),
        [
            (Create, "x".into(), None, false),
            (Update, "x".into(), None, false),
            (Rename, "y".into(), Some("x".into()), false),
            (Delete, "y".into(), None, false),
            (Create, "z".into(), None, false),
        ]
    );
}

#[test]
fn new_directories_are_watched_and_their_early_files_reported() {
    let mut rig = Rig::new(&[], false);
    // Created in one go, before the watcher can add a watch to a or a/b.
    std::fs::create_dir_all(rig.path("a/b")).unwrap();
    std::fs::write(rig.path("a/b/early"), "").unwrap();
    rig.until(|s| has(s, Create, "a/b/early"));
    assert_eq!(rig.watcher.watches(), 3);
    std::fs::write(rig.path("a/b/late"), "").unwrap();
    rig.until(|s| has(s, Update, "a/b/late"));
    let seen = rig.seen();
    for (kind, path, dir) in
        [(Create, "a", true), (Create, "a/b", true), (Create, "a/b/early", false), (Create, "a/b/late", false)]
    {
        let n = seen.iter().filter(|e| e.0 == kind && e.1 == path && e.3 == dir).count();
        assert_eq!(n, 1, "{kind:?} {path}: {seen:#?}");
    }
}

#[test]
fn a_renamed_directory_reports_under_its_new_name_and_a_deleted_tree_file_by_file() {
    let mut rig = Rig::new(&[], false);
    std::fs::create_dir(rig.path("d")).unwrap();
    rig.until(|s| has(s, Create, "d"));
    std::fs::rename(rig.path("d"), rig.path("e")).unwrap();
    rig.until(|s| has(s, Rename, "e"));
    std::fs::create_dir(rig.path("e/sub")).unwrap();
    std::fs::write(rig.path("e/sub/f"), "").unwrap();
    // Found by the scan of the new directory (then its write came before
    // the watch: no update) or by the watch.
    rig.until(|s| has(s, Create, "e/sub/f"));
    std::fs::remove_dir_all(rig.path("e")).unwrap();
    rig.until(|s| has(s, Delete, "e"));
    let seen = rig.seen();
    assert!(seen.contains(&(Rename, "e".into(), Some("d".into()), true)), "{seen:#?}");
    let deletes: Vec<_> = seen.iter().filter(|e| e.0 == Delete).map(|e| (e.1.as_str(), e.3)).collect();
    assert_eq!(deletes, [("e/sub/f", false), ("e/sub", true), ("e", true)]);
    // The watches of the deleted tree are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.watcher.watches() != 1 {
        assert!(Instant::now() < deadline, "{} watches left", rig.watcher.watches());
        rig.stop.poll(rig.watcher.fd(), Duration::from_millis(100)).unwrap();
        rig.watcher.process(&mut |_| true);
    }
}

#[test]
fn excluded_and_hidden_paths_are_not_reported() {
    let mut rig = Rig::new(&["*.swp", "{root}/skip", "{root}/logs/*.gz"], false);
    std::fs::create_dir(rig.path("skip")).unwrap();
    std::fs::create_dir(rig.path("logs")).unwrap();
    rig.until(|s| has(s, Create, "logs"));
    std::fs::write(rig.path("skip/f"), "").unwrap();
    std::fs::write(rig.path("edit.swp"), "").unwrap();
    std::fs::write(rig.path(".hidden"), "").unwrap();
    std::fs::write(rig.path("logs/old.gz"), "").unwrap();
    std::fs::write(rig.path("logs/new.log"), "").unwrap();
    std::fs::write(rig.path("sentinel"), "").unwrap();
    rig.until(|s| has(s, Update, "sentinel"));
    let paths: Vec<String> = rig.seen().into_iter().map(|e| e.1).collect();
    assert_eq!(paths, ["logs", "logs/new.log", "logs/new.log", "sentinel", "sentinel"]);
    // The excluded directory was never watched: root and logs only.
    assert_eq!(rig.watcher.watches(), 2);
}

#[test]
fn hidden_names_are_reported_when_asked() {
    let mut rig = Rig::new(&[], true);
    std::fs::write(rig.path(".hidden"), "").unwrap();
    rig.until(|s| has(s, Update, ".hidden"));
}

#[test]
fn pseudo_filesystems_are_recognised_and_the_kernel_trees_always_excluded() {
    assert!(is_pseudo_filesystem(Path::new("/proc")));
    assert!(is_pseudo_filesystem(Path::new("/sys")));
    assert!(!is_pseudo_filesystem(Path::new("/")));
    let e = Exclusions::new(&[], false);
    for excluded in ["/proc/1", "/sys", "/dev/shm/x", "/etc/.hidden"] {
        assert!(e.excluded(Path::new(excluded)), "{excluded}");
    }
    for kept in ["/etc/hosts", "/procedures", "/devices/x"] {
        assert!(!e.excluded(Path::new(kept)), "{kept}");
    }
    // A root under /proc is refused.
    let config = FilesConfig { roots: vec!["/proc/self".into()], ..FilesConfig::default() };
    assert_eq!(Watcher::new(&config).unwrap().watches(), 0);
}

#[test]
fn a_pseudo_filesystem_mounted_under_a_root_is_not_descended_into() {
    let root = tempfile::tempdir().unwrap();
    let mount = root.path().join("p");
    std::fs::create_dir(&mount).unwrap();
    let status = std::process::Command::new("mount").args(["-t", "proc", "proc"]).arg(&mount).status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mount a procfs here (not root, or no mount privilege)");
        return;
    }
    let rig = Rig::on(root, &[], false);
    let watches = rig.watcher.watches();
    let _ = std::process::Command::new("umount").arg(&mount).status();
    // The root only: not the mount, nor anything in it.
    assert_eq!(watches, 1);
}

/// Run by `running_out_of_watches_is_one_error` in a user namespace whose
/// inotify watch limit is 5; does nothing elsewhere.
#[test]
fn out_of_watches_child() {
    if std::env::var_os("GOMON_TEST_OUT_OF_WATCHES").is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("a/b/c/d/e/f/g")).unwrap();
    std::fs::create_dir_all(root.path().join("x/y")).unwrap();
    let rig = Rig::on(root, &[], false);
    let mut watcher = rig.watcher;
    assert_eq!(watcher.watches(), 5);
    assert!(watcher.out_of_watches);
    // One error, however many directories did not get a watch.
    assert_eq!(watcher.take_counts(), (0, 1));
    println!("out-of-watches child passed");
}

#[test]
fn running_out_of_watches_is_one_error() {
    let exe = std::env::current_exe().unwrap();
    let script = "echo 5 > /proc/sys/user/max_inotify_watches && exec \"$0\" --exact observe::files::tests::out_of_watches_child --nocapture --test-threads=1";
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", script])
        .arg(&exe)
        .env("GOMON_TEST_OUT_OF_WATCHES", "1")
        .output();
    let output = match output {
        Ok(o) if o.status.success() || String::from_utf8_lossy(&o.stdout).contains("out_of_watches_child") => o,
        other => {
            eprintln!("skipped: cannot make a user namespace here: {other:?}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("out-of-watches child passed"), "{stdout}");
}

#[test]
fn the_watch_cap_holds_and_counts_what_it_leaves_out() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..10 {
        std::fs::create_dir_all(root.path().join(format!("d{i}/sub"))).unwrap();
    }
    // The root and 20 directories, 5 watches.
    let config = FilesConfig { roots: vec![root.path().to_owned()], max_watches: 5, ..FilesConfig::default() };
    let mut watcher = Watcher::new(&config).unwrap();
    assert_eq!(watcher.watches(), 5);
    // Found and not watched: what was reached when the cap was (their
    // subdirectories are not walked, so not counted).
    let first = watcher.unwatched();
    assert!(first >= 1, "{first}");
    // A new directory at the cap is left out too, and counted.
    let stop = Stop::new().unwrap();
    std::fs::create_dir(root.path().join("late")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher.unwatched() == first {
        assert!(Instant::now() < deadline, "the new directory was never seen");
        stop.poll(watcher.fd(), Duration::from_millis(100)).unwrap();
        assert!(watcher.process(&mut |_| true));
    }
    assert_eq!(watcher.watches(), 5);
    // Deleting a watched directory frees its watch for the next one.
    let base = std::fs::canonicalize(root.path()).unwrap();
    let watched = watcher.by_path.keys().find(|p| **p != base).cloned().unwrap();
    std::fs::remove_dir_all(&watched).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher.watches() == 5 {
        assert!(Instant::now() < deadline, "the deleted directory's watch was never released");
        stop.poll(watcher.fd(), Duration::from_millis(100)).unwrap();
        assert!(watcher.process(&mut |_| true));
    }
    std::fs::create_dir(root.path().join("later")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !watcher.by_path.contains_key(&base.join("later")) {
        assert!(Instant::now() < deadline, "the freed watch was never used");
        stop.poll(watcher.fd(), Duration::from_millis(100)).unwrap();
        assert!(watcher.process(&mut |_| true));
    }
    assert!(watcher.watches() <= 5);
}
