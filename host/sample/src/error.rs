//! Errors of the samplers.
//!
//! Parsers are pure and report a [`ParseError`] (a line number and a reason);
//! the IO layer adds the path it read and turns it into a [`SampleError`].

use std::path::PathBuf;

/// Why a parser rejected its input. `line` is 1-based; 0 means the file as a
/// whole (a required field is missing, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number, or 0 for the whole file.
    pub line: usize,
    /// What was wrong, in words.
    pub reason: String,
}

impl ParseError {
    /// A problem on one line (`line` is 1-based).
    pub fn at(line: usize, reason: impl Into<String>) -> Self {
        ParseError { line, reason: reason.into() }
    }

    /// A problem with the file as a whole.
    pub fn whole(reason: impl Into<String>) -> Self {
        ParseError { line: 0, reason: reason.into() }
    }
}

/// A failure of one sampler, naming the file it read.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The file could not be opened or read.
    #[error("{}: {source}", file.display())]
    Read {
        /// The path as read (under the configured proc or sys root).
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but a line (or the whole file) did not parse.
    #[error("{}{}: {reason}", file.display(), line_suffix(*line))]
    Parse {
        /// The path as read (under the configured proc or sys root).
        file: PathBuf,
        /// 1-based line number, or 0 for the file as a whole.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The file disagrees with another source (a stat line whose pid is
    /// not its directory's).
    #[error("{}: {reason}", file.display())]
    Mismatch {
        /// The path as read (under the configured proc or sys root).
        file: PathBuf,
        /// What disagreed.
        reason: String,
    },
    /// A system call failed (sysconf, getifaddrs, a netlink dump).
    #[error("{call}: {source}")]
    Syscall {
        /// The call, e.g. `getrlimit(RLIMIT_NOFILE)`.
        call: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn line_suffix(line: usize) -> String {
    if line == 0 { String::new() } else { format!(":{line}") }
}

impl SampleError {
    /// Attaches a path to a parser's error.
    pub fn parse(file: impl Into<PathBuf>, error: ParseError) -> Self {
        SampleError::Parse { file: file.into(), line: error.line, reason: error.reason }
    }

    /// A copy (`io::Error` is not `Clone`: the copy keeps its errno, or its
    /// kind and message).
    pub fn duplicate(&self) -> Self {
        let io = |e: &std::io::Error| match e.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(e.kind(), e.to_string()),
        };
        match self {
            SampleError::Read { file, source } => SampleError::Read { file: file.clone(), source: io(source) },
            SampleError::Parse { file, line, reason } => {
                SampleError::Parse { file: file.clone(), line: *line, reason: reason.clone() }
            }
            SampleError::Mismatch { file, reason } => {
                SampleError::Mismatch { file: file.clone(), reason: reason.clone() }
            }
            SampleError::Syscall { call, source } => SampleError::Syscall { call, source: io(source) },
        }
    }

    /// The file this error is about, if it is about a file.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            SampleError::Read { file, .. } | SampleError::Parse { file, .. } | SampleError::Mismatch { file, .. } => {
                Some(file)
            }
            SampleError::Syscall { .. } => None,
        }
    }
}

/// What a parser of a one-record-per-line file (diskstats, net/dev,
/// mountinfo) found: the good lines, and the lines it skipped with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// The records of the lines that parsed, in file order.
    pub items: Vec<T>,
    /// The lines that did not parse; each was skipped.
    pub skipped: Vec<ParseError>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed { items: Vec::new(), skipped: Vec::new() }
    }
}

/// Parses one whitespace-separated unsigned field, naming it on failure.
pub(crate) fn parse_u64(field: Option<&str>, line: usize, name: &str) -> Result<u64, ParseError> {
    match field {
        None => Err(ParseError::at(line, format!("missing field {name}"))),
        Some(text) => text
            .parse::<u64>()
            .map_err(|e| ParseError::at(line, format!("field {name}: {text:?} is not an unsigned integer ({e})"))),
    }
}

/// Parses one whitespace-separated decimal field, naming it on failure.
pub(crate) fn parse_f64(field: Option<&str>, line: usize, name: &str) -> Result<f64, ParseError> {
    match field {
        None => Err(ParseError::at(line, format!("missing field {name}"))),
        Some(text) => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(ParseError::at(line, format!("field {name}: {text:?} is not finite"))),
            Err(e) => Err(ParseError::at(line, format!("field {name}: {text:?} is not a number ({e})"))),
        },
    }
}

/// Parses an unsigned field that must fit in a `u32`.
pub(crate) fn parse_u32(field: Option<&str>, line: usize, name: &str) -> Result<u32, ParseError> {
    let v = parse_u64(field, line, name)?;
    u32::try_from(v).map_err(|_| ParseError::at(line, format!("field {name}: {v} does not fit in 32 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_error_names_file_and_line() {
        let e = SampleError::parse("/proc/stat", ParseError::at(3, "bad"));
        assert_eq!(e.to_string(), "/proc/stat:3: bad");
        let e = SampleError::parse("/proc/stat", ParseError::whole("no cpu line"));
        assert_eq!(e.to_string(), "/proc/stat: no cpu line");
    }

    #[test]
    fn field_parsers_name_the_field() {
        assert_eq!(parse_u64(Some("12"), 1, "x"), Ok(12));
        let e = parse_u64(Some("-1"), 4, "ctxt").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("ctxt"), "{e}");
        assert!(parse_u64(None, 1, "x").unwrap_err().reason.contains("missing field x"));
        assert!(parse_f64(Some("nan"), 1, "x").is_err());
        assert!(parse_u32(Some("4294967296"), 1, "x").is_err());
    }
}
