//! /proc/self/mountinfo: which filesystems are mounted where.
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//! ```
//!
//! (1) mount id, (2) parent id, (3) major:minor, (4) root within the
//! filesystem, (5) mount point, (6) per-mount options, (7) zero or more
//! optional fields, (8) a lone `-`, (9) fs type, (10) mount source,
//! (11) superblock options (proc(5)). Space, tab, newline and backslash in
//! paths are escaped as `\040`, `\011`, `\012`, `\134`.
//!
//! [`select_mounts`] then keeps what an operator would call a filesystem:
//! when several mounts share a mount point only the last (the one on top,
//! which is what statfs of that path sees) is kept, which also drops bind
//! mounts repeated on the same path; then types and mount points excluded by
//! the configuration are dropped.

use std::collections::HashSet;

use super::config::SampleConfig;
use super::error::{ParseError, Parsed, parse_u32};

/// One line of mountinfo, paths decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Field 1: the mount's id.
    pub mount_id: u32,
    /// Field 2: the parent mount's id.
    pub parent_id: u32,
    /// Field 3: major number of `st_dev`.
    pub major: u32,
    /// Field 3: minor number of `st_dev`.
    pub minor: u32,
    /// The directory of the filesystem mounted here (`/` unless a bind mount).
    pub root: String,
    /// Field 5: where it is mounted.
    pub mount_point: String,
    /// The field after `-`: the filesystem type.
    pub fs_type: String,
    /// The mount source: a device, `server:/export`, or a name like `tmpfs`.
    pub source: String,
    /// `ro` in the per-mount or the superblock options.
    pub read_only: bool,
}

/// Parses mountinfo; a malformed line is skipped and reported.
pub fn parse_mountinfo(text: &str) -> Parsed<MountEntry> {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, index + 1) {
            Ok(entry) => parsed.items.push(entry),
            Err(e) => parsed.skipped.push(e),
        }
    }
    parsed
}

fn parse_line(line: &str, n: usize) -> Result<MountEntry, ParseError> {
    // Fields are separated by single spaces; an empty mount source shows as
    // two spaces in a row, so split on ' ' rather than on runs of whitespace.
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .skip(6)
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or_else(|| ParseError::at(n, "no \" - \" separator after the optional fields"))?;
    let after = &fields[separator + 1..];
    if after.len() < 2 {
        return Err(ParseError::at(n, "missing fs type or mount source after \" - \""));
    }
    // mountinfo field 1: mount id.
    let mount_id = parse_u32(Some(fields[0]), n, "mount id")?;
    // mountinfo field 2: parent mount id.
    let parent_id = parse_u32(Some(fields[1]), n, "parent id")?;
    // mountinfo field 3: major:minor of st_dev.
    let (major, minor) =
        fields[2].split_once(':').ok_or_else(|| ParseError::at(n, format!("{:?} is not major:minor", fields[2])))?;
    let major = parse_u32(Some(major), n, "major")?;
    let minor = parse_u32(Some(minor), n, "minor")?;
    // mountinfo field 4: root of the mount within the filesystem.
    let root = decode_octal_escapes(fields[3]);
    // mountinfo field 5: mount point, relative to our root.
    let mount_point = decode_octal_escapes(fields[4]);
    if !mount_point.starts_with('/') {
        return Err(ParseError::at(n, format!("mount point {mount_point:?} is not absolute")));
    }
    // mountinfo field 6: per-mount options (ro/rw first).
    let mount_ro = has_option(fields[5], "ro");
    // mountinfo field after "-": filesystem type, e.g. ext4 or fuse.sshfs.
    let fs_type = decode_octal_escapes(after[0]);
    if fs_type.is_empty() {
        return Err(ParseError::at(n, "empty fs type"));
    }
    // mountinfo field after the type: mount source.
    let source = decode_octal_escapes(after[1]);
    // mountinfo last field: superblock options (ro/rw first).
    let super_ro = after.get(2).is_some_and(|o| has_option(o, "ro"));
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        fs_type,
        source,
        read_only: mount_ro || super_ro,
    })
}

fn has_option(options: &str, name: &str) -> bool {
    options.split(',').any(|o| o == name)
}

/// Decodes the kernel's `\ooo` octal escapes (`\040` space, `\011` tab,
/// `\012` newline, `\134` backslash). A backslash not followed by three octal
/// digits is kept as is. Bytes that are not UTF-8 become U+FFFD.
pub fn decode_octal_escapes(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(&[a, b, c]) = bytes.get(i + 1..i + 4)
            && [a, b, c].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = u32::from(a - b'0') * 64 + u32::from(b - b'0') * 8 + u32::from(c - b'0');
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when `mount_point` is `prefix` or lies beneath it.
pub fn is_under(mount_point: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true; // "/" covers everything
    }
    mount_point.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Keeps the topmost mount per mount point, then drops excluded types and
/// mount points. `include_fs_types` overrides `exclude_fs_types` only;
/// `exclude_mount_points` always applies. File order is kept.
pub fn select_mounts(entries: Vec<MountEntry>, config: &SampleConfig) -> Vec<MountEntry> {
    let mut seen = HashSet::new();
    let mut topmost: Vec<MountEntry> =
        entries.into_iter().rev().filter(|e| seen.insert(e.mount_point.clone())).collect();
    topmost.reverse();
    topmost.retain(|e| {
        let type_wanted = config.include_fs_types.contains(&e.fs_type) || !config.exclude_fs_types.contains(&e.fs_type);
        let point_wanted = !config.exclude_mount_points.iter().any(|p| is_under(&e.mount_point, p));
        type_wanted && point_wanted
    });
    topmost
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/fixtures/proc/self/mountinfo");
    const DESKTOP: &str = include_str!("../tests/fixtures/edge/mountinfo-desktop");

    fn points(entries: &[MountEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.mount_point.as_str()).collect()
    }

    #[test]
    fn parses_every_field() {
        let parsed = parse_mountinfo(DESKTOP);
        let nas = parsed.items.iter().find(|e| e.mount_point == "/mnt/nas").unwrap();
        assert_eq!(
            *nas,
            MountEntry {
                mount_id: 58,
                parent_id: 28,
                major: 0,
                minor: 40,
                root: "/".into(),
                mount_point: "/mnt/nas".into(),
                fs_type: "nfs4".into(),
                source: "nas.example.org:/export/data".into(),
                read_only: false,
            }
        );
        let shared = parsed.items.iter().find(|e| e.mount_point == "/srv/shared").unwrap();
        assert_eq!((shared.major, shared.minor), (259, 3));
        assert_eq!(shared.root, "/alice/shared");
    }

    #[test]
    fn octal_escapes_are_decoded() {
        let parsed = parse_mountinfo(DESKTOP);
        let music = parsed.items.iter().find(|e| e.mount_id == 57).unwrap();
        assert_eq!(music.mount_point, "/media/My Music");
        assert_eq!(music.root, "/alice/My Music");
        let odd = parsed.items.iter().find(|e| e.mount_id == 65).unwrap();
        assert_eq!(odd.mount_point, "/mnt/tab\tand\\backslash");
        assert_eq!(decode_octal_escapes(r"a\012b"), "a\nb");
        assert_eq!(decode_octal_escapes(r"keep\x\04"), r"keep\x\04");
        assert_eq!(decode_octal_escapes(r"\303\251t\303\251"), "été");
        assert_eq!(decode_octal_escapes(r"\777"), r"\777");
    }

    #[test]
    fn read_only_from_mount_or_superblock_options() {
        let parsed = parse_mountinfo(DESKTOP);
        let ro = |id| parsed.items.iter().find(|e| e.mount_id == id).unwrap().read_only;
        assert!(ro(50), "squashfs: ro in both");
        assert!(ro(62), "credentials: ro per mount only");
        assert!(ro(64), "ext4: ro in the superblock only");
        assert!(!ro(28));
    }

    #[test]
    fn malformed_lines_are_skipped_and_named() {
        let parsed = parse_mountinfo(DESKTOP);
        assert_eq!(parsed.items.len(), 26);
        let lines: Vec<_> = parsed.skipped.iter().map(|e| e.line).collect();
        assert_eq!(lines, [27, 28], "{:?}", parsed.skipped);
        assert!(parsed.skipped[1].reason.contains("separator"));
    }

    #[test]
    fn empty_mount_source_keeps_its_place() {
        let parsed = parse_mountinfo("30 1 0:50 / /mnt/x rw - tmpfs  rw,size=4k\n");
        assert_eq!(parsed.items[0].source, "");
        assert_eq!(parsed.items[0].fs_type, "tmpfs");
    }

    #[test]
    fn default_selection_on_a_desktop() {
        let selected = select_mounts(parse_mountinfo(DESKTOP).items, &SampleConfig::default());
        assert_eq!(
            points(&selected),
            [
                "/run",
                "/",
                "/boot/efi",
                "/home",
                "/srv/shared",
                "/media/My Music",
                "/mnt/nas",
                "/run/user/1000",
                "/mnt/remote",
                "/mnt/ro-super",
                "/mnt/tab\tand\\backslash",
                "/dev/shm",
                "/devel",
                "/var/lib/containers-not-storage",
            ]
        );
        // The stacked /dev/shm keeps the mount on top (66, 64 MiB), not the one beneath.
        let shm = selected.iter().find(|e| e.mount_point == "/dev/shm").unwrap();
        assert_eq!(shm.mount_id, 66);
    }

    #[test]
    fn include_overrides_type_exclusion_but_not_mount_points() {
        let config = SampleConfig {
            include_fs_types: vec!["squashfs".into(), "sysfs".into()],
            exclude_mount_points: vec!["/sys".into(), "/home/".into()],
            ..SampleConfig::default()
        };
        let selected = select_mounts(parse_mountinfo(DESKTOP).items, &config);
        let p = points(&selected);
        assert!(p.contains(&"/snap/core22/1380"));
        assert!(!p.contains(&"/sys"));
        assert!(!p.contains(&"/home"));
        assert!(p.contains(&"/var/lib/docker/overlay2/0123abcd/merged"));
    }

    #[test]
    fn prefixes_respect_path_components() {
        assert!(is_under("/sys", "/sys"));
        assert!(is_under("/sys/fs/cgroup", "/sys"));
        assert!(is_under("/sys/fs/cgroup", "/sys/"));
        assert!(!is_under("/sysroot", "/sys"));
        assert!(is_under("/anything", "/"));
    }

    #[test]
    fn real_capture_from_this_machine() {
        let parsed = parse_mountinfo(REAL);
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let selected = select_mounts(parsed.items, &SampleConfig::default());
        assert_eq!(points(&selected), ["/", "/dev/shm"]);
        assert_eq!(selected[0].source, "/dev/vda");
        assert_eq!(selected[0].fs_type, "ext4");
        assert_eq!((selected[0].major, selected[0].minor), (254, 0));
        // /dev/shm is mounted twice, one on top of the other; the top one (30) wins.
        assert_eq!(selected[1].mount_id, 30);
    }
}
