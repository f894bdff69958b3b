//! The questions the adapters pass on, in words both share: a graph's focus, the
//! events limits, query strings (`?pid=812&filter=ssh%20d`, percent-decoded by
//! `form_urlencoded`), and the time now.

use std::collections::HashMap;

/// Default `limit` of an events query.
pub const DEFAULT_EVENTS_LIMIT: usize = 1000;
/// Largest `limit` honoured.
pub const MAX_EVENTS_LIMIT: usize = 10_000;

/// The node graph's focus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    /// All processes.
    Overview,
    /// One process and its neighbourhood.
    Pid(u32),
    /// A host or data node was clicked: the overview, with a notice.
    NotAProcess(String),
}

impl Focus {
    /// The pid to draw around, `None` for the overview.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Focus::Pid(pid) => Some(*pid),
            Focus::Overview | Focus::NotAProcess(_) => None,
        }
    }
}

/// `pid` as text, e.g. from `?pid=` or a data link: empty or `0` is the overview, a
/// node id that is not a pid (`host:…`, `data:…`) the overview with a notice.
pub fn focus_text(text: &str) -> Result<Focus, String> {
    if text.is_empty() || text == "0" {
        return Ok(Focus::Overview);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u32>().map(Focus::Pid).map_err(|_| format!("{text} is not a process id"));
    }
    if text.starts_with("host:") || text.starts_with("data:") {
        return Ok(Focus::NotAProcess(text.to_owned()));
    }
    Err(format!("{text:?} is not a process id"))
}

/// A request's query string, percent-decoded; the first of repeated keys wins.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Decodes `a=1&b=x%20y` (no leading `?`); `None` is an empty query.
    pub fn parse(query: Option<&str>) -> Params {
        let mut map = HashMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.entry(key.into_owned()).or_insert_with(|| value.into_owned());
        }
        Params(map)
    }

    /// A parameter, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A parameter parsed as a number, or a message naming it.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| format!("{name}: {v:?} is not a number")),
        }
    }

    /// `pid` as a graph focus.
    pub fn focus(&self) -> Result<Focus, String> {
        focus_text(self.text("pid").unwrap_or_default()).map_err(|e| format!("pid: {e}"))
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded() {
        let p = Params::parse(Some("pid=%20812&filter=ssh%20d+x&pid=9&empty=&n=abc"));
        assert_eq!(p.text("pid"), Some("812"));
        assert_eq!(p.text("filter"), Some("ssh d x"));
        assert_eq!(p.text("empty"), None);
        assert_eq!(p.number::<u32>("pid"), Ok(Some(812)));
        assert_eq!(p.number::<u32>("missing"), Ok(None));
        assert_eq!(p.number::<u32>("n").unwrap_err(), "n: \"abc\" is not a number");
        assert_eq!(p.focus(), Ok(Focus::Pid(812)));
        assert_eq!(Params::parse(None).focus(), Ok(Focus::Overview));
        assert!(Params::parse(Some("pid=12ab")).focus().unwrap_err().starts_with("pid: "));
        assert_eq!(Params::parse(Some("pid=host:10.0.0.9")).focus(), Ok(Focus::NotAProcess("host:10.0.0.9".into())));
        // Undecodable bytes are replaced, never a panic.
        assert_eq!(Params::parse(Some("x=%ff%fe")).text("x"), Some("\u{fffd}\u{fffd}"));
    }
}
