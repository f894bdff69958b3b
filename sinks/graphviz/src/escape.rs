//! Escaping for DOT strings, XML/HTML text and attributes, and JavaScript strings.

use std::fmt::Write;

/// A quoted DOT string for a label or tooltip (Graphviz "escString"), quotes included.
///
/// - `"` → `\"`, so no data can close the string;
/// - `\` → `\\` followed by a WORD JOINER (U+2060, invisible), so that a backslash is
///   never followed by a letter or another backslash, nor ends the string: Graphviz 2.43
///   processes tooltips twice (`\\N` would show the node's DOT id, `\\\\` one
///   backslash), and versions differ on which `\x` they expand where;
/// - a line break (`\n`, `\r\n`, `\r`) → `\n`, which Graphviz draws as a new line;
/// - other control characters → U+FFFD;
/// - `&` → `&amp;`, since Graphviz decodes HTML entities in labels and passes
///   entity-looking text through to the SVG as is. When the `&` starts something that
///   looks like an entity (`&lt;` in a file name), a WORD JOINER (U+2060, invisible)
///   follows it, so that no Graphviz version turns the name into `<`.
///
/// `<`, `>` and `"` need nothing more: Graphviz escapes them in the SVG.
pub fn dot_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    push_dot(&mut out, s);
    out.push('"');
    out
}

/// [`dot_string`] without the quotes, appended to `out`.
pub(crate) fn push_dot(out: &mut String, s: &str) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push_str("\\\\\u{2060}");
            }
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n")
            }
            '&' => {
                out.push_str("&amp;");
                if chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') {
                    out.push('\u{2060}');
                }
            }
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// XML/HTML text or attribute value: `& < > " '` as entities, control characters other
/// than tab and newline → U+FFFD (they are not allowed in XML 1.0).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_xml(&mut out, s);
    out
}

pub(crate) fn push_xml(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A JavaScript string literal, quotes included, safe inside an HTML `<script>`
/// (no `<`, `>`, `&` or line terminators appear literally).
pub fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' | '>' | '&' | '\'' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot() {
        assert_eq!(dot_string(r#"a"b\c"#), "\"a\\\"b\\\\\u{2060}c\"");
        assert_eq!(dot_string(r"\\"), "\"\\\\\u{2060}\\\\\u{2060}\"");
        assert_eq!(dot_string("l1\nl2\r\nl3\rl4"), r#""l1\nl2\nl3\nl4""#);
        assert_eq!(dot_string("\\N\\l\\1"), "\"\\\\\u{2060}N\\\\\u{2060}l\\\\\u{2060}1\"");
        assert_eq!(dot_string("a & b"), "\"a &amp; b\"");
        assert_eq!(dot_string("a&lt;b &#60;"), "\"a&amp;\u{2060}lt;b &amp;\u{2060}#60;\"");
        assert_eq!(dot_string("bell\u{7}"), "\"bell\u{FFFD}\"");
        assert_eq!(dot_string("<b>→"), "\"<b>→\"");
        assert_eq!(dot_string("trailing\\"), "\"trailing\\\\\u{2060}\"");
    }

    #[test]
    fn xml_text() {
        assert_eq!(xml(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(xml("a\u{0}b\r\nc"), "a\u{FFFD}b\nc");
    }

    #[test]
    fn js() {
        assert_eq!(js_string("/gomon/svg"), r#""/gomon/svg""#);
        assert_eq!(js_string("</script><!--\"\\\n"), r#""\u003c/script\u003e\u003c!--\"\\\u000a""#);
    }
}
