//! /proc/<pid>/cmdline: the argument vector, each argument NUL-terminated.
//!
//! ```text
//! sleep\0600\0          -> ["sleep", "600"]
//! a b\0\0c\0            -> ["a b", "", "c"]      (spaces and empty arguments kept)
//! nginx: worker\0\0\0   -> ["nginx: worker"]    (setproctitle padding dropped)
//! ```
//!
//! Every byte of every argument is kept (the original gomon dropped the
//! last character of its `args`). Trailing NULs are dropped, so a final
//! empty argument is lost: a process that rewrote its title pads the area
//! with NULs, and those must not become arguments. Kernel threads and
//! zombies have an empty command line.

/// Splits a command line on NUL. Invalid UTF-8 is replaced (U+FFFD).
pub fn split_cmdline(text: &[u8]) -> Vec<String> {
    let end = text.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    if end == 0 {
        return Vec::new();
    }
    text[..end].split(|&b| b == 0).map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLEEP: &[u8] = include_bytes!("../../tests/fixtures/proc/4242/cmdline");

    #[test]
    fn arguments_keep_every_byte() {
        assert_eq!(split_cmdline(b"sleep\x00600\x00"), ["sleep", "600"]);
        assert_eq!(split_cmdline(b"a b\x00\x00c\x00"), ["a b", "", "c"]);
        assert_eq!(split_cmdline(b"x"), ["x"], "no terminator (a rewritten title)");
        assert_eq!(split_cmdline(b"nginx: worker\x00\x00\x00"), ["nginx: worker"]);
        assert_eq!(split_cmdline(b"\xffa\x00"), ["\u{fffd}a"]);
        assert!(split_cmdline(b"").is_empty());
        assert!(split_cmdline(b"\x00\x00").is_empty());
    }

    #[test]
    fn captured_sleep() {
        assert_eq!(split_cmdline(SLEEP), ["sleep", "600"]);
    }
}
