//! Escaping and label sets, shared by both encoders.
//!
//! | where | escaped |
//! |---|---|
//! | label values (both formats), OpenMetrics HELP | `\` → `\\`, `"` → `\"`, newline → `\n` |
//! | text 0.0.4 HELP | `\` → `\\`, newline → `\n` (quotes stay as they are) |
//!
//! Every other character, control characters included, is written as it is: both
//! grammars allow any UTF-8 except a raw newline (and, unescaped, `"` and `\`).

use crate::number::write_go_g;

/// Writes `s` with `\`, newline and, if `quotes`, `"` escaped.
fn write_escaped(out: &mut Vec<u8>, s: &str, quotes: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quotes => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A label value (both formats) or an OpenMetrics HELP text.
pub(crate) fn write_label_value(out: &mut Vec<u8>, s: &str) {
    write_escaped(out, s, true);
}

/// A text 0.0.4 HELP text.
pub(crate) fn write_text_help(out: &mut Vec<u8>, s: &str) {
    write_escaped(out, s, false);
}

/// The `le` label of a histogram bucket: its bound and whether to render it in the
/// OpenMetrics canonical form (`1.0`) rather than Go's `%g` (`1`).
#[derive(Clone, Copy)]
pub(crate) struct Le {
    pub(crate) bound: f64,
    pub(crate) openmetrics: bool,
}

/// Writes `{a="x",b="y"}`, with `le="<le>"` last if given, or nothing when there are
/// no labels at all. Names and values are paired up to the shorter of the two.
pub(crate) fn write_labels(out: &mut Vec<u8>, names: &[String], values: &[String], le: Option<Le>) {
    if names.is_empty() && le.is_none() {
        return;
    }
    out.push(b'{');
    let mut first = true;
    for (name, value) in names.iter().zip(values) {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, value);
        out.push(b'"');
    }
    if let Some(le) = le {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"le=\"");
        write_go_g(out, le.bound, le.openmetrics);
        out.push(b'"');
    }
    out.push(b'}');
}

/// Writes one sample line: `<name><suffix>{labels} <value>\n`.
pub(crate) fn write_sample(
    out: &mut Vec<u8>,
    name: &[u8],
    suffix: &[u8],
    (names, values): (&[String], &[String]),
    le: Option<Le>,
    value: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(name);
    out.extend_from_slice(suffix);
    write_labels(out, names, values, le);
    out.push(b' ');
    value(out);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, quotes: bool) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, s, quotes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("plain", true), "plain");
        assert_eq!(esc(r#"a\b"c"#, true), r#"a\\b\"c"#);
        assert_eq!(esc(r#"a\b"c"#, false), r#"a\\b"c"#);
        assert_eq!(esc("line1\nline2\n", true), r"line1\nline2\n");
        assert_eq!(esc("tab\tcr\r nul\0 ünï", true), "tab\tcr\r nul\0 ünï");
        assert_eq!(esc("\\n", true), r"\\n");
        assert_eq!(esc("", true), "");
    }

    #[test]
    fn label_sets() {
        let names = ["a".to_string(), "b".to_string()];
        let values = ["x".to_string(), "\"y\"".to_string()];
        let mut out = Vec::new();
        write_labels(&mut out, &names, &values, None);
        assert_eq!(out, br#"{a="x",b="\"y\""}"#);
        out.clear();
        write_labels(&mut out, &names, &values, Some(Le { bound: 0.5, openmetrics: true }));
        assert_eq!(out, br#"{a="x",b="\"y\"",le="0.5"}"#);
        out.clear();
        write_labels(&mut out, &[], &[], Some(Le { bound: f64::INFINITY, openmetrics: true }));
        assert_eq!(out, br#"{le="+Inf"}"#);
        out.clear();
        write_labels(&mut out, &[], &[], None);
        assert!(out.is_empty());
        write_labels(&mut out, &names[..1], &values[..1], Some(Le { bound: 1.0, openmetrics: false }));
        assert_eq!(out, br#"{a="x",le="1"}"#);
    }
}
