//! Choosing the exposition format and compression from the scrape's headers.
//!
//! Prometheus 2.42 sends
//! `Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`
//! and `Accept-Encoding: gzip`, which gets OpenMetrics, gzipped.
//!
//! Rules of [`Format::from_accept`]:
//! - OpenMetrics is served when an `application/openmetrics-text` range with
//!   `version` 1.0.0, 0.0.1 or none has a q above 0 and at least the q of text. The q
//!   of text is that of the most specific range matching `text/plain` (`text/plain`,
//!   else `text/*`, else `*/*`), or 0. Ties go to OpenMetrics.
//! - A request for `version=0.0.1` (what Prometheus before 2.43 preferred) gets the
//!   1.0.0 body and content type: 0.0.1 was the draft of the same format, and every
//!   Prometheus that asks for it parses 1.0.0 (its parser keys on the media type
//!   alone). Other OpenMetrics versions (say, a future 2.0.0) are not served.
//! - Everything else, a missing or unparseable header included, gets text 0.0.4.
//! - Media types and parameter names are matched case-insensitively; a range with an
//!   unparseable q or a q outside 0..=1 is ignored. Quoted parameter values are
//!   unquoted but may not contain `,` or `;`.

use crate::model::MetricFamily;
use crate::{encode_openmetrics, encode_text};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text format.
    OpenMetrics,
}

impl Format {
    /// The format to serve for this `Accept` header; see the module docs.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut openmetrics_q: Option<f64> = None;
        // Best q per specificity: text/plain, text/*, */*.
        let mut text_q: [Option<f64>; 3] = [None; 3];
        for range in accept.split(',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            let slot = if range.is("application/openmetrics-text") {
                if !matches!(range.version, None | Some("1.0.0") | Some("0.0.1")) {
                    continue;
                }
                &mut openmetrics_q
            } else if range.is("text/plain") {
                &mut text_q[0]
            } else if range.is("text/*") {
                &mut text_q[1]
            } else if range.is("*/*") {
                &mut text_q[2]
            } else {
                continue;
            };
            *slot = Some(slot.map_or(range.q, |q| q.max(range.q)));
        }
        let text_q = text_q.into_iter().flatten().next().unwrap_or(0.0);
        match openmetrics_q {
            Some(q) if q > 0.0 && q >= text_q => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Appends the exposition of `families` in this format to `out`.
    pub fn encode<'a>(self, families: impl IntoIterator<Item = &'a MetricFamily>, out: &mut Vec<u8>) {
        match self {
            Format::Text => encode_text(families, out),
            Format::OpenMetrics => encode_openmetrics(families, out),
        }
    }
}

/// Appends the exposition of `families` in `format` to `out`; the same as
/// [`Format::encode`].
pub fn encode<'a>(format: Format, families: impl IntoIterator<Item = &'a MetricFamily>, out: &mut Vec<u8>) {
    format.encode(families, out);
}

/// Whether to gzip the response for this `Accept-Encoding` header: yes when `gzip`
/// (or `x-gzip`) is listed with a q above 0, or, if neither is listed, when `*` is.
/// `gzip;q=0` refuses it.
pub fn wants_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut gzip_q: Option<f64> = None;
    let mut any_q: Option<f64> = None;
    for coding in header.split(',') {
        let Some(coding) = MediaRange::parse(coding) else {
            continue;
        };
        let slot = if coding.is("gzip") || coding.is("x-gzip") {
            &mut gzip_q
        } else if coding.is("*") {
            &mut any_q
        } else {
            continue;
        };
        *slot = Some(slot.map_or(coding.q, |q| q.max(coding.q)));
    }
    gzip_q.or(any_q).is_some_and(|q| q > 0.0)
}

/// One element of an `Accept` or `Accept-Encoding` list.
struct MediaRange<'a> {
    name: &'a str,
    version: Option<&'a str>,
    q: f64,
}

impl<'a> MediaRange<'a> {
    /// `None` for an empty element or a bad q.
    fn parse(element: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = element.split(';');
        let name = parts.next()?.trim();
        if name.is_empty() {
            return None;
        }
        let mut range = MediaRange { name, version: None, q: 1.0 };
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            match key.trim() {
                k if k.eq_ignore_ascii_case("q") => {
                    range.q = value.parse::<f64>().ok().filter(|q| (0.0..=1.0).contains(q))?;
                }
                k if k.eq_ignore_ascii_case("version") => range.version = Some(value),
                _ => {}
            }
        }
        Some(range)
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn accept() {
        let cases: &[(Option<&str>, Format)] = &[
            (Some(PROMETHEUS_2_42), Format::OpenMetrics),
            // Prometheus 2.5–2.42 with OpenMetrics 0.0.1 only.
            (
                Some("application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                Format::OpenMetrics,
            ),
            // Prometheus 3 defaults.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                ),
                Format::OpenMetrics,
            ),
            // Prometheus 3 with `scrape_protocols: [PrometheusText0.0.4]`.
            (Some("text/plain;version=0.0.4;q=0.9,*/*;q=0.1"), Format::Text),
            (None, Format::Text),
            (Some(""), Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("application/json"), Format::Text),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (Some("APPLICATION/OpenMetrics-Text; Version=\"1.0.0\""), Format::OpenMetrics),
            (Some("application/openmetrics-text;q=0"), Format::Text),
            (Some("application/openmetrics-text;q=0.5,text/plain"), Format::Text),
            (Some("application/openmetrics-text;q=0.5,text/plain;q=0.5"), Format::OpenMetrics),
            (Some("application/openmetrics-text;q=0.5,*/*"), Format::Text),
            (Some("application/openmetrics-text;q=0.5,text/*;q=0.4,*/*"), Format::OpenMetrics),
            (Some("application/openmetrics-text;q=0.5,text/plain;q=0.1,*/*"), Format::OpenMetrics),
            (Some("application/openmetrics-text;version=2.0.0"), Format::Text),
            (Some("application/openmetrics-text;q=bogus,text/plain;q=0.1"), Format::Text),
            (Some("application/openmetrics-text;q=1.5"), Format::Text),
            (Some(" , ;;, application/openmetrics-text ; q = 0.3 ,"), Format::OpenMetrics),
        ];
        for &(header, want) in cases {
            assert_eq!(Format::from_accept(header), want, "Accept: {header:?}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::Text.content_type(), "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(Format::OpenMetrics.content_type(), "application/openmetrics-text; version=1.0.0; charset=utf-8");
    }

    #[test]
    fn gzip() {
        let cases: &[(Option<&str>, bool)] = &[
            (Some("gzip"), true),
            (Some("gzip, deflate, br"), true),
            (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), true),
            (Some("GZip"), true),
            (Some("x-gzip"), true),
            (Some("gzip;q=0"), false),
            (Some("gzip;q=0.0, deflate"), false),
            (Some("gzip;q=0, *"), false),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("identity"), false),
            (Some("deflate, br"), false),
            (Some(""), false),
            (None, false),
            (Some("gzip;q=nope"), false),
        ];
        for &(header, want) in cases {
            assert_eq!(wants_gzip(header), want, "Accept-Encoding: {header:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]
        /// Any header text picks a format and a compression without panicking.
        #[test]
        fn any_header_is_safe(header in "\\PC{0,200}") {
            let _ = Format::from_accept(Some(&header));
            let _ = wants_gzip(Some(&header));
        }

        /// Headers built from the grammar's own pieces: q values outside 0..=1 or
        /// unparseable are ignored, a lone OpenMetrics range with a q above 0 wins.
        #[test]
        fn grammar_shaped_headers(
            ranges in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["application/openmetrics-text", "text/plain", "text/*", "*/*", "gzip", "*", "x/y"]),
                    proptest::option::of(proptest::sample::select(vec!["1.0.0", "0.0.1", "0.0.4", "2.0.0", "\"1.0.0\""])),
                    proptest::option::of(proptest::sample::select(vec!["0", "0.5", "1", "1.5", "-1", "x", "NaN", "inf"])),
                ),
                0..6,
            ),
        ) {
            let header = ranges
                .iter()
                .map(|(name, version, q)| {
                    let mut r = name.to_string();
                    if let Some(v) = version { r.push_str(&format!(";version={v}")); }
                    if let Some(q) = q { r.push_str(&format!("; q={q}")); }
                    r
                })
                .collect::<Vec<_>>()
                .join(", ");
            let format = Format::from_accept(Some(&header));
            let _ = wants_gzip(Some(&header));
            if ranges.len() == 1 && ranges[0].0 == "application/openmetrics-text" {
                let version_ok = matches!(ranges[0].1, None | Some("1.0.0") | Some("0.0.1") | Some("\"1.0.0\""));
                let q_ok = matches!(ranges[0].2, None | Some("0.5") | Some("1"));
                proptest::prop_assert_eq!(format == Format::OpenMetrics, version_ok && q_ok, "{}", header);
            }
        }
    }
}
