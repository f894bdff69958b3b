//! Running Graphviz `dot -Tsvg` as a subprocess, with a deadline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The most of `dot`'s stderr kept in an error.
const STDERR_KEEP: usize = 4096;

/// Why `dot` gave no SVG. Every failure is an error: the caller falls back to
/// [`layout_svg`](crate::layout_svg), never serves an empty page.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The program does not exist (not on `PATH`, or no such file).
    #[error("Graphviz is not installed: no `{}` program found; install graphviz (the built-in layout is used meanwhile)", program.display())]
    NotInstalled {
        /// The program looked for.
        program: PathBuf,
    },
    /// It exists but could not be started (permissions, resources).
    #[error("cannot run `{}`: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error of spawning it.
        source: std::io::Error,
    },
    /// It ran past the deadline and was killed.
    #[error("`{}` did not finish within {timeout:?} and was killed", program.display())]
    Timeout {
        /// The program.
        program: PathBuf,
        /// How long it was given.
        timeout: Duration,
    },
    /// It exited unsuccessfully (or was killed by a signal).
    #[error("`{}` failed ({status}): {stderr}", program.display())]
    Failed {
        /// The program.
        program: PathBuf,
        /// How it exited.
        status: ExitStatus,
        /// Its stderr (the first 4 KiB, trimmed).
        stderr: String,
    },
    /// It exited successfully but printed no SVG (empty or not UTF-8 or no `<svg`).
    #[error("`{}` printed no SVG ({reason}); stderr: {stderr}", program.display())]
    BadOutput {
        /// The program.
        program: PathBuf,
        /// What was wrong with stdout.
        reason: &'static str,
        /// Its stderr (the first 4 KiB, trimmed).
        stderr: String,
    },
    /// Talking to it failed (waiting on the child).
    #[error("running `{}`: {source}", program.display())]
    Io {
        /// The program.
        program: PathBuf,
        /// The error of waiting on it.
        source: std::io::Error,
    },
}

/// [`render_svg_with`] the `dot` found on `PATH`.
pub fn render_svg(dot: &str, timeout: Duration) -> Result<String, RenderError> {
    render_svg_with(Path::new("dot"), dot, timeout)
}

/// Run `<program> -Tsvg` with the DOT text on stdin and return its SVG.
///
/// Blocking (call it from `spawn_blocking` in async code). After `timeout` the child is
/// killed and reaped and [`RenderError::Timeout`] returned. stdin, stdout and stderr are
/// served by helper threads, so a large graph cannot deadlock on a full pipe.
pub fn render_svg_with(program: &Path, dot: &str, timeout: Duration) -> Result<String, RenderError> {
    let deadline = Instant::now() + timeout;
    let prog = || program.to_path_buf();
    let mut child = Command::new(program)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RenderError::NotInstalled { program: prog() },
            _ => RenderError::Spawn { program: prog(), source },
        })?;

    // An early exit of the child shows up as EPIPE here; its status tells the story.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = dot.as_bytes().to_vec();
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = read_in_thread(child.stdout.take().expect("piped stdout"));
    let stderr = read_in_thread(child.stderr.take().expect("piped stderr"));

    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RenderError::Io { program: prog(), source });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RenderError::Timeout { program: prog(), timeout });
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    };

    // The pipes close when the child exits, unless it left a grandchild holding them:
    // wait no longer than the deadline for either.
    let remaining = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
    let out = stdout.recv_timeout(remaining()).map_err(|_| RenderError::Timeout { program: prog(), timeout })?;
    let err = stderr.recv_timeout(remaining()).unwrap_or_default();
    let err = String::from_utf8_lossy(&err[..err.len().min(STDERR_KEEP)]).trim().to_string();

    if !status.success() {
        return Err(RenderError::Failed { program: prog(), status, stderr: err });
    }
    let bad = |reason| RenderError::BadOutput { program: prog(), reason, stderr: err.clone() };
    if out.is_empty() {
        return Err(bad("empty output"));
    }
    let svg = String::from_utf8(out).map_err(|_| bad("not UTF-8"))?;
    if !svg.contains("<svg") {
        return Err(bad("no <svg> element"));
    }
    Ok(svg)
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}
