//! Stream labels: a validated, sorted label set and its Loki selector text.
//!
//! A Loki stream is identified by its label set. Loki answers 400 to a push
//! whose labels break its rules, which would lose the whole batch, so every set
//! is checked here before an entry is accepted:
//!
//! - at least one label (`missing_labels`), at most [`MAX_LABELS`] (15 in Loki 3.x);
//! - names match `[a-zA-Z_][a-zA-Z0-9_]*`, do not start with `__` (reserved), are at
//!   most [`MAX_NAME_BYTES`] long and appear once;
//! - values are at most [`MAX_VALUE_BYTES`] long.
//!
//! One repair is made instead of an error: a label with an empty value is left
//! out, as Loki and Prometheus treat it as absent.
//!
//! The selector text (protobuf `StreamAdapter.labels`) is the Prometheus form with
//! names sorted and values quoted Go-style, which Loki's parser reads back:
//!
//! ```text
//! {event="exec", host="h1", source="process"}
//! ```

use std::fmt::Write as _;

/// Most labels in one stream (Loki 3.x `max_label_names_per_series`).
pub const MAX_LABELS: usize = 15;
/// Longest label name, in bytes (Loki `max_label_name_length`).
pub const MAX_NAME_BYTES: usize = 1024;
/// Longest label value, in bytes (Loki `max_label_value_length`).
pub const MAX_VALUE_BYTES: usize = 2048;

/// Why a label set would be refused by Loki. The message names the label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// The name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("label name `{0}` is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName(String),
    /// The name starts with `__`.
    #[error("label name `{0}` is reserved: names starting with `__` are Loki's own")]
    ReservedName(String),
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("label name `{name}…` is {len} bytes long, more than Loki's {MAX_NAME_BYTES}")]
    NameTooLong {
        /// The first 64 characters of the name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The value is longer than [`MAX_VALUE_BYTES`].
    #[error("label `{name}` has a value of {len} bytes, more than Loki's {MAX_VALUE_BYTES}")]
    ValueTooLong {
        /// The label's name.
        name: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// The same name twice.
    #[error("label `{0}` is given twice")]
    Duplicate(String),
    /// More than [`MAX_LABELS`] labels.
    #[error("{count} labels ({names}) are more than Loki's {MAX_LABELS} per stream")]
    TooMany {
        /// How many.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// No label with a value.
    #[error("a stream needs at least one label with a non-empty value")]
    Empty,
}

/// A validated label set, sorted by name. Equal sets compare equal whatever the
/// order they were given in, so a `Labels` is the key of a stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Validates `pairs` (any order) into a label set; see the module docs for the
    /// rules. Pairs with an empty value are left out.
    pub fn new<I, K, V>(pairs: I) -> Result<Labels, LabelError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<(String, String)> =
            pairs.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| !v.is_empty()).collect();
        for (name, value) in &labels {
            check_name(name)?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(LabelError::ValueTooLong { name: name.clone(), len: value.len() });
            }
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelError::Duplicate(pair[0].0.clone()));
        }
        if labels.is_empty() {
            return Err(LabelError::Empty);
        }
        if labels.len() > MAX_LABELS {
            let names = labels.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
            return Err(LabelError::TooMany { count: labels.len(), names });
        }
        Ok(Labels(labels))
    }

    /// These labels plus those of `defaults` that they do not name (a stream's own
    /// label wins over a configured static one), validated again.
    pub fn with_defaults(&self, defaults: &[(String, String)]) -> Result<Labels, LabelError> {
        if defaults.is_empty() {
            return Ok(self.clone());
        }
        let extra = defaults.iter().filter(|(name, _)| self.get(name).is_none()).cloned();
        Labels::new(self.0.iter().cloned().chain(extra))
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| self.0[i].1.as_str())
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a validated set; here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The selector text Loki expects in `StreamAdapter.labels`:
    /// `{a="1", b="x\"y"}`, names sorted, values quoted.
    pub fn selector(&self) -> String {
        let mut out = String::with_capacity(2 + self.0.iter().map(|(n, v)| n.len() + v.len() + 5).sum::<usize>());
        out.push('{');
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str("=\"");
            escape_value(value, &mut out);
            out.push('"');
        }
        out.push('}');
        out
    }
}

/// Checks one label name against Loki's rules.
pub(crate) fn check_name(name: &str) -> Result<(), LabelError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(LabelError::NameTooLong { name: name.chars().take(64).collect(), len: name.len() });
    }
    if !is_valid_name(name) {
        return Err(LabelError::InvalidName(name.to_owned()));
    }
    if name.starts_with("__") {
        return Err(LabelError::ReservedName(name.to_owned()));
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A name made valid by replacing every character outside `[a-zA-Z0-9_]` with `_`
/// (and prefixing `_` to a leading digit or an empty name). Used for structured
/// metadata names, which are repaired rather than refused.
pub(crate) fn sanitize_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// Appends `value` quoted Go-style (without the quotes): `\` `"` and control
/// characters are escaped, everything else is kept as is.
fn escape_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_selector_quoted() {
        let labels = Labels::new([("source", "process"), ("host", "h1"), ("event", "say \"hi\"\\\n\u{1}")]).unwrap();
        assert_eq!(labels.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["event", "host", "source"]);
        assert_eq!(labels.selector(), r#"{event="say \"hi\"\\\n\u0001", host="h1", source="process"}"#);
        assert_eq!(labels.get("host"), Some("h1"));
        assert_eq!(labels.get("nope"), None);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = Labels::new([("a", "1"), ("b", "2")]).unwrap();
        let b = Labels::new([("b", "2"), ("a", "1")]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn empty_values_are_left_out() {
        let labels = Labels::new([("a", "1"), ("b", "")]).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(Labels::new([("b", "")]), Err(LabelError::Empty));
        assert_eq!(Labels::new(Vec::<(String, String)>::new()), Err(LabelError::Empty));
    }

    #[test]
    fn bad_names_are_named() {
        for bad in ["1abc", "a-b", "", "é", "a b"] {
            let err = Labels::new([(bad, "v")]).unwrap_err();
            assert_eq!(err, LabelError::InvalidName(bad.to_owned()), "{bad}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        assert_eq!(Labels::new([("__name__", "v")]), Err(LabelError::ReservedName("__name__".into())));
        assert!(Labels::new([("_ok", "v"), ("A9_z", "v")]).is_ok());
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert!(matches!(Labels::new([(long.as_str(), "v")]), Err(LabelError::NameTooLong { len, .. }) if len == 1025));
    }

    #[test]
    fn limits() {
        let value = "x".repeat(MAX_VALUE_BYTES);
        assert!(Labels::new([("a", value.as_str())]).is_ok());
        let value = "x".repeat(MAX_VALUE_BYTES + 1);
        let err = Labels::new([("big", value.as_str())]).unwrap_err();
        assert_eq!(err, LabelError::ValueTooLong { name: "big".into(), len: 2049 });
        assert!(err.to_string().contains("`big`"));

        let names: Vec<String> = (0..MAX_LABELS).map(|i| format!("l{i:02}")).collect();
        assert!(Labels::new(names.iter().map(|n| (n.as_str(), "v"))).is_ok());
        let names: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i:02}")).collect();
        assert!(matches!(
            Labels::new(names.iter().map(|n| (n.as_str(), "v"))),
            Err(LabelError::TooMany { count: 16, .. })
        ));

        assert_eq!(Labels::new([("a", "1"), ("a", "2")]), Err(LabelError::Duplicate("a".into())));
    }

    #[test]
    fn defaults_fill_in_but_do_not_override() {
        let own = Labels::new([("host", "h1"), ("source", "file")]).unwrap();
        let defaults = vec![("host".to_owned(), "other".to_owned()), ("job".to_owned(), "gomon".to_owned())];
        let merged = own.with_defaults(&defaults).unwrap();
        assert_eq!(merged.selector(), r#"{host="h1", job="gomon", source="file"}"#);
        let bad = vec![("bad-name".to_owned(), "x".to_owned())];
        assert_eq!(own.with_defaults(&bad), Err(LabelError::InvalidName("bad-name".into())));
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_name("pid"), "pid");
        assert_eq!(sanitize_name("exe.path"), "exe_path");
        assert_eq!(sanitize_name("9lives"), "_9lives");
        assert_eq!(sanitize_name(""), "_");
        assert!(is_valid_name(&sanitize_name("ünïcode-name")));
    }
}
