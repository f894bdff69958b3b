//! StrictModes on real files: modes set with chmod, owners with chown (the
//! tests run as root, as `./run-tests` does), and a directory created by
//! `runuser -u nobody`.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use super::*;

/// The uid the checks run as in most tests: neither root nor `nobody`, so
/// root-owned paths are trusted (root) and `nobody`'s are not.
const GOMON_UID: u32 = 4242;
const NOBODY: u32 = 65534;

fn checker() -> Checker {
    Checker::new(GOMON_UID)
}

/// A private (0700, root-owned) scratch directory under /tmp.
fn scratch() -> tempfile::TempDir {
    assert_eq!(effective_uid(), 0, "these tests chown files: run them as root (./run-tests does)");
    let dir = tempfile::tempdir().expect("temporary directory");
    chmod(dir.path(), 0o700);
    dir
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), None).expect("chown");
}

fn file(path: &Path, mode: u32) {
    std::fs::write(path, b"\0asm").expect("write");
    chmod(path, mode);
}

fn dir(path: &Path, mode: u32) {
    std::fs::create_dir(path).expect("mkdir");
    chmod(path, mode);
}

#[test]
fn a_root_owned_file_in_private_directories_is_trusted() {
    let tmp = scratch();
    dir(&tmp.path().join("probes"), 0o755);
    file(&tmp.path().join("probes/a.wasm"), 0o644);
    checker().check(&tmp.path().join("probes/a.wasm"), Kind::File).unwrap();
    checker().check(&tmp.path().join("probes"), Kind::Directory).unwrap();
    // And as the real effective user (root) through the public API.
    check_file(&tmp.path().join("probes/a.wasm")).unwrap();
    check_dir(&tmp.path().join("probes")).unwrap();
}

#[test]
fn a_group_writable_file_is_refused_with_the_fix() {
    let tmp = scratch();
    let path = tmp.path().join("a.wasm");
    file(&path, 0o664);
    let err = checker().check(&path, Kind::File).unwrap_err();
    assert!(matches!(err, TrustError::Writable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("mode 0664") && text.contains("owner root"), "{text}");
    assert!(text.contains(&format!("chmod go-w {}", path.display())), "{text}");
    assert!(text.contains("its group"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn a_world_writable_directory_is_refused_itself_and_as_an_ancestor() {
    let tmp = scratch();
    let probes = tmp.path().join("probes");
    dir(&probes, 0o777);
    file(&probes.join("a.wasm"), 0o644);
    let err = checker().check(&probes, Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Writable { .. }), "{err:?}");
    assert!(err.to_string().contains("group and others"), "{err}");
    // The file is fine, but anyone may replace it: refused, naming the directory.
    let err = checker().check(&probes.join("a.wasm"), Kind::File).unwrap_err();
    assert_eq!(err.path(), probes, "{err}");
    assert!(err.to_string().contains(&format!("chmod go-w {}", probes.display())), "{err}");
}

#[test]
fn a_file_owned_by_another_user_is_refused_with_the_fix() {
    let tmp = scratch();
    let path = tmp.path().join("a.wasm");
    file(&path, 0o644);
    chown(&path, NOBODY);
    let err = checker().check(&path, Kind::File).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is owned by nobody") && text.contains("mode 0644"), "{text}");
    assert!(text.contains(&format!("chown {GOMON_UID} {}", path.display())), "{text}");
    // Root's own view: the same refusal, naming root as the fix.
    let text = check_file(&path).unwrap_err().to_string();
    assert!(text.contains(&format!("chown root {}", path.display())), "{text}");
}

#[test]
fn files_of_the_effective_user_are_trusted() {
    let tmp = scratch();
    let path = tmp.path().join("a.wasm");
    file(&path, 0o600);
    chown(&path, GOMON_UID);
    checker().check(&path, Kind::File).unwrap();
}

#[test]
fn an_ancestor_owned_by_another_user_is_refused() {
    let tmp = scratch();
    let theirs = tmp.path().join("theirs");
    dir(&theirs, 0o755);
    dir(&theirs.join("probes"), 0o755);
    chown(&theirs, NOBODY);
    let err = checker().check(&theirs.join("probes"), Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    assert_eq!(err.path(), theirs);
}

#[test]
fn a_sticky_ancestor_is_accepted_but_what_others_put_in_it_is_not() {
    let tmp = scratch();
    let shared = tmp.path().join("shared");
    dir(&shared, 0o1777);
    dir(&shared.join("mine"), 0o700);
    checker().check(&shared.join("mine"), Kind::Directory).unwrap();
    dir(&shared.join("planted"), 0o700);
    chown(&shared.join("planted"), NOBODY);
    let err = checker().check(&shared.join("planted"), Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    // The sticky directory itself is no place for gomon's files.
    let err = checker().check(&shared, Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Writable { .. }), "{err:?}");
}

#[test]
fn links_are_followed_when_their_owner_is_trusted() {
    let tmp = scratch();
    dir(&tmp.path().join("real"), 0o755);
    file(&tmp.path().join("real/a.wasm"), 0o644);
    symlink("real", tmp.path().join("link")).unwrap();
    checker().check(&tmp.path().join("link/a.wasm"), Kind::File).unwrap();
    symlink(tmp.path().join("real/a.wasm"), tmp.path().join("a.wasm")).unwrap();
    let resolved = checker().check(&tmp.path().join("a.wasm"), Kind::File).unwrap();
    assert_eq!(resolved, tmp.path().canonicalize().unwrap().join("real/a.wasm"));
    // `..` after a link is taken physically, as the kernel does.
    checker().check(&tmp.path().join("link/../real/a.wasm"), Kind::File).unwrap();
}

#[test]
fn a_link_owned_by_another_user_is_refused() {
    let tmp = scratch();
    dir(&tmp.path().join("real"), 0o755);
    let link = tmp.path().join("link");
    symlink("real", &link).unwrap();
    chown(&link, NOBODY);
    let err = checker().check(&link, Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    assert_eq!(err.path(), link);
}

#[test]
fn a_link_to_an_untrusted_place_is_refused_naming_the_target() {
    let tmp = scratch();
    dir(&tmp.path().join("open"), 0o777);
    symlink("open", tmp.path().join("link")).unwrap();
    let err = checker().check(&tmp.path().join("link"), Kind::Directory).unwrap_err();
    assert!(matches!(err, TrustError::Writable { .. }), "{err:?}");
    assert_eq!(err.path(), tmp.path().join("open"));
}

#[test]
fn link_loops_end() {
    let tmp = scratch();
    symlink("b", tmp.path().join("a")).unwrap();
    symlink("a", tmp.path().join("b")).unwrap();
    let err = checker().check(&tmp.path().join("a"), Kind::File).unwrap_err();
    assert!(matches!(err, TrustError::TooManyLinks { .. }), "{err:?}");
}

#[test]
fn fifos_and_directories_are_not_files() {
    let tmp = scratch();
    let fifo = tmp.path().join("fifo.wasm");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = checker().check(&fifo, Kind::File).unwrap_err();
    assert!(err.to_string().contains("is a FIFO, not a regular file"), "{err}");
    let err = checker().check(tmp.path(), Kind::File).unwrap_err();
    assert!(matches!(err, TrustError::WrongType { .. }), "{err:?}");
    let err = checker().check(&tmp.path().join("missing"), Kind::File).unwrap_err();
    assert!(matches!(err, TrustError::Io { .. }), "{err:?}");
}

#[test]
fn create_private_dir_creates_0700_directories() {
    let tmp = scratch();
    let path = tmp.path().join("state/cache/probes");
    create_private_dir(&path).unwrap();
    for p in [tmp.path().join("state"), tmp.path().join("state/cache"), path.clone()] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}", p.display());
    }
    // Again: it exists and is fine.
    create_private_dir(&path).unwrap();
}

#[test]
fn create_private_dir_refuses_a_directory_with_group_or_other_bits() {
    let tmp = scratch();
    let path = tmp.path().join("state");
    dir(&path, 0o750);
    let err = create_private_dir(&path).unwrap_err();
    assert!(matches!(err, TrustError::NotPrivate { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("chmod go-rwx {}", path.display())), "{err}");
}

/// The plugin-mode attack: another local user creates the directory gomon
/// would use (in a shared, sticky place) before gomon does, with a probe in it.
#[test]
fn create_private_dir_refuses_a_directory_another_user_created_first() {
    let tmp = scratch();
    // Others may pass through (not write) the scratch directory, as through /tmp's parent.
    chmod(tmp.path(), 0o711);
    let shared = tmp.path().join("shared");
    dir(&shared, 0o1777);
    let planted = shared.join("gomon-plugin-0");
    let status = Command::new("runuser")
        .args(["-u", "nobody", "--", "sh", "-c"])
        .arg(format!("umask 077 && mkdir {0} && echo x > {0}/probe.wasm", planted.display()))
        .status()
        .expect("runuser");
    assert!(status.success(), "runuser -u nobody mkdir failed: {status}");
    let err = create_private_dir(&planted).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    assert!(err.to_string().contains("is owned by nobody"), "{err}");

    // A link planted the same way, to a directory gomon would otherwise accept.
    dir(&tmp.path().join("elsewhere"), 0o700);
    let link = shared.join("gomon-plugin-1");
    let status = Command::new("runuser")
        .args(["-u", "nobody", "--", "ln", "-s"])
        .arg(tmp.path().join("elsewhere"))
        .arg(&link)
        .status()
        .expect("runuser");
    assert!(status.success());
    let err = create_private_dir(&link).unwrap_err();
    assert!(matches!(err, TrustError::Owner { .. }), "{err:?}");
    assert_eq!(err.path(), link);
}

#[test]
fn check_private_file_wants_no_group_or_other_permission() {
    let tmp = scratch();
    let key = tmp.path().join("key");
    file(&key, 0o600);
    check_private_file(&key).unwrap();
    chmod(&key, 0o640);
    let err = check_private_file(&key).unwrap_err();
    assert!(matches!(err, TrustError::NotPrivate { .. }), "{err:?}");
}

#[test]
fn relative_paths_are_checked_from_the_current_directory() {
    // The current directory of `cargo test` is the package (host/), root-owned here.
    let err = checker().check(Path::new("no-such-dir/x"), Kind::File).unwrap_err();
    assert!(err.path().is_absolute(), "{err}");
}
