//! Number rendering shared by both encoders, without allocation.
//!
//! Three renderings of an `f64`, all from the shortest digit string that parses back
//! to the same value (Rust's own shortest round-trip formatting, read through `{:e}`):
//!
//! | function | for | integral values | other values | exponent form when |
//! |---|---|---|---|---|
//! | [`write_text_value`] | 0.0.4 sample values | `16709685248` | `0.25` | exp < -4 or ≥ 16: `1e+21`, `1.5e-07` |
//! | [`write_om_value`] | OpenMetrics sample values | `16709685248.0` | `0.25` | same |
//! | [`write_go_g`] | `le` label values | `1` / `1.0` (OpenMetrics) | `0.005` | exp < -4 or ≥ 6: `1e+06` |
//!
//! Non-finite values are `NaN`, `+Inf` and `-Inf` everywhere; negative zero is
//! written as zero. Exponents are Go style: a sign and at least two digits.
//! [`write_go_g`] is Go's `strconv.FormatFloat(v, 'g', -1, 64)`, the rendering
//! client_golang uses for `le` in 0.0.4 and, with `.0` appended when there is neither
//! a point nor an exponent, the OpenMetrics 1.0 "canonical number" for `le`.

use std::fmt::Write as _;

/// Values with |v| below this that are integral are written as plain integers: every
/// such integer prints exactly (no padding zeros standing in for lost digits).
const PLAIN_LIMIT: f64 = 1e16;

/// Writes `n` in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Writes a non-finite value; returns false for a finite one.
fn write_non_finite(out: &mut Vec<u8>, v: f64) -> bool {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        return false;
    }
    true
}

/// An integral `v` small enough to print exactly as an integer.
fn as_plain_integer(v: f64) -> Option<i64> {
    // The range check keeps the cast exact (|v| < 1e16 < 2^63).
    (v.trunc() == v && v.abs() < PLAIN_LIMIT).then_some(v as i64)
}

/// Sample value in text 0.0.4.
pub(crate) fn write_text_value(out: &mut Vec<u8>, v: f64) {
    if write_non_finite(out, v) {
        return;
    }
    if let Some(i) = as_plain_integer(v) {
        write_i64(out, i);
        return;
    }
    let d = Decimal::of(v);
    if d.exp < -4 || d.exp >= 16 {
        d.write_exponent(out);
    } else {
        d.write_plain(out);
    }
}

/// Sample value in OpenMetrics: as in text 0.0.4, but a float always has a point or
/// an exponent ("Floating point numbers MUST be represented either with a decimal
/// point or using scientific notation").
pub(crate) fn write_om_value(out: &mut Vec<u8>, v: f64) {
    if let Some(i) = as_plain_integer(v) {
        write_i64(out, i);
        out.extend_from_slice(b".0");
    } else {
        write_text_value(out, v);
    }
}

/// Go's `%g` with shortest precision; `point_zero` appends `.0` to a rendering that
/// has neither a point nor an exponent (the OpenMetrics canonical form).
pub(crate) fn write_go_g(out: &mut Vec<u8>, v: f64, point_zero: bool) {
    if write_non_finite(out, v) {
        return;
    }
    if let Some(i) = as_plain_integer(v)
        && i.unsigned_abs() < 1_000_000
    {
        write_i64(out, i);
        if point_zero {
            out.extend_from_slice(b".0");
        }
        return;
    }
    let d = Decimal::of(v);
    if d.exp < -4 || d.exp >= 6 {
        d.write_exponent(out);
    } else {
        // exp < 6 and v not an integer below 1e6: there are fractional digits.
        d.write_plain(out);
    }
}

/// A finite non-zero `f64` as `±d.ddd × 10^exp` with the shortest digits.
struct Decimal {
    negative: bool,
    /// ASCII digits, no leading or trailing zeros (17 at most for an f64).
    digits: [u8; 17],
    len: usize,
    exp: i32,
}

impl Decimal {
    fn of(v: f64) -> Decimal {
        let mut buf = StackBuf::default();
        // `{:e}` is the shortest round-trip rendering in scientific form, e.g.
        // `-1.6709685248e10`, `5e-324`. Writing to a StackBuf cannot fail for f64
        // (at most 24 bytes); a failure would only truncate the digits below.
        let _ = write!(buf, "{v:e}");
        let text = &buf.bytes[..buf.len];
        let mut d = Decimal { negative: false, digits: [b'0'; 17], len: 0, exp: 0 };
        let mut i = 0;
        if text.first() == Some(&b'-') {
            d.negative = true;
            i = 1;
        }
        while let Some(&c) = text.get(i) {
            i += 1;
            match c {
                b'0'..=b'9' if d.len < d.digits.len() => {
                    d.digits[d.len] = c;
                    d.len += 1;
                }
                b'e' => break,
                _ => {}
            }
        }
        let mut exp_negative = false;
        if text.get(i) == Some(&b'-') {
            exp_negative = true;
            i += 1;
        }
        for &c in text.get(i..).unwrap_or_default() {
            d.exp = d.exp * 10 + i32::from(c.wrapping_sub(b'0') % 10);
        }
        if exp_negative {
            d.exp = -d.exp;
        }
        if d.len == 0 {
            d.len = 1; // "0e0": keep one zero digit
        }
        d
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// `d.ddde+XX`.
    fn write_exponent(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        if self.negative {
            out.push(b'-');
        }
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if self.exp < 0 { b'-' } else { b'+' });
        let e = self.exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(e));
    }

    /// Positional notation, e.g. `1234.5`, `0.00012`, `120`.
    fn write_plain(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        if self.negative {
            out.push(b'-');
        }
        if self.exp < 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-self.exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
            return;
        }
        let int_len = self.exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            for _ in digits.len()..int_len {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

/// A fixed buffer for one formatted float.
#[derive(Default)]
struct StackBuf {
    bytes: [u8; 32],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: f64) -> String {
        let mut out = Vec::new();
        write_text_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn om(v: f64) -> String {
        let mut out = Vec::new();
        write_om_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn go(v: f64, point_zero: bool) -> String {
        let mut out = Vec::new();
        write_go_g(&mut out, v, point_zero);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_values() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1024.0, "1024"),
            (16709685248.0, "16709685248"),
            (9007199254740993.0, "9007199254740992"),
            (9999999999999998.0, "9999999999999998"),
            (1e16, "1e+16"),
            (1e21, "1e+21"),
            (-1.5e300, "-1.5e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.25, "0.25"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1234.5678, "1234.5678"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (-2.5, "-2.5"),
            (123456789012.5, "123456789012.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(text(v), want, "text rendering of {v:e}");
        }
    }

    #[test]
    fn om_values_always_look_like_floats() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "1.0"),
            (16709685248.0, "16709685248.0"),
            (0.25, "0.25"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(om(v), want, "OpenMetrics rendering of {v:e}");
        }
    }

    /// The OpenMetrics 1.0 "Canonical Numbers" examples, and Go's `%g` without `.0`.
    #[test]
    fn canonical_le() {
        let cases: &[(f64, &str, &str)] = &[
            (0.0, "0.0", "0"),
            (0.001, "0.001", "0.001"),
            (0.002, "0.002", "0.002"),
            (0.005, "0.005", "0.005"),
            (0.01, "0.01", "0.01"),
            (0.1, "0.1", "0.1"),
            (0.9, "0.9", "0.9"),
            (0.95, "0.95", "0.95"),
            (0.99, "0.99", "0.99"),
            (0.999, "0.999", "0.999"),
            (1.0, "1.0", "1"),
            (1.7, "1.7", "1.7"),
            (2.5, "2.5", "2.5"),
            (10.0, "10.0", "10"),
            (1e-10, "1e-10", "1e-10"),
            (1e-9, "1e-09", "1e-09"),
            (1e-5, "1e-05", "1e-05"),
            (0.0001, "0.0001", "0.0001"),
            (100000.0, "100000.0", "100000"),
            (1e6, "1e+06", "1e+06"),
            (1234567.0, "1.234567e+06", "1.234567e+06"),
            (1e10, "1e+10", "1e+10"),
            (123456.5, "123456.5", "123456.5"),
            (-1.0, "-1.0", "-1"),
            (-0.5, "-0.5", "-0.5"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ];
        for &(v, canonical, go_g) in cases {
            assert_eq!(go(v, true), canonical, "canonical rendering of {v:e}");
            assert_eq!(go(v, false), go_g, "%g rendering of {v:e}");
        }
    }

    /// Every rendering parses back to the same f64.
    #[test]
    fn round_trip() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            // xorshift over raw bit patterns: covers subnormals, huge and tiny values.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            for s in [text(v), om(v), go(v, true), go(v, false)] {
                let back: f64 = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
                assert!(back == v, "{v:e} rendered as {s} parses to {back:e}");
            }
        }
    }

    #[test]
    fn integers() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
