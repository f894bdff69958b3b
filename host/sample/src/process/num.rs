//! Decimal numbers in byte slices, without going through `str`.

/// Parses an unsigned decimal (`0`–`9` only, at least one digit, no sign),
/// or `None` when it is not one or does not fit.
pub(crate) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Parses a decimal with an optional leading `-`.
pub(crate) fn parse_i64(text: &[u8]) -> Option<i64> {
    match text.split_first() {
        Some((b'-', digits)) => {
            let magnitude = parse_u64(digits)?;
            if magnitude == 1 << 63 { Some(i64::MIN) } else { i64::try_from(magnitude).ok().map(|m| -m) }
        }
        _ => i64::try_from(parse_u64(text)?).ok(),
    }
}

/// The text for an error message: lossy UTF-8, at most 40 bytes.
pub(crate) fn show(text: &[u8]) -> String {
    let cut = &text[..text.len().min(40)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < text.len() {
        s.push('…');
    }
    s
}

/// Splits on ASCII whitespace, skipping empty pieces.
pub(crate) fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty())
}

/// The `key:\tvalue` lines of status and io: yields (1-based line number,
/// key, value with surrounding whitespace removed). Lines without a colon
/// are yielded with an empty key.
pub(crate) fn key_values(text: &[u8]) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
    text.split(|&b| b == b'\n').enumerate().filter(|(_, line)| !line.is_empty()).map(|(i, line)| {
        match line.iter().position(|&b| b == b':') {
            Some(colon) => (i + 1, &line[..colon], line[colon + 1..].trim_ascii()),
            None => (i + 1, &line[..0], line.trim_ascii()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b" 1"), None);
    }

    #[test]
    fn signed() {
        assert_eq!(parse_i64(b"-20"), Some(-20));
        assert_eq!(parse_i64(b"19"), Some(19));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"--1"), None);
    }

    #[test]
    fn key_value_lines() {
        let kv: Vec<_> = key_values(b"Name:\tcat\nUid:\t1\t2\n\nodd line\n").collect();
        assert_eq!(
            kv,
            [(1, &b"Name"[..], &b"cat"[..]), (2, &b"Uid"[..], &b"1\t2"[..]), (4, &b""[..], &b"odd line"[..])]
        );
    }

    #[test]
    fn shown_text_is_bounded() {
        assert_eq!(show(b"abc"), "abc");
        assert_eq!(show(&[b'x'; 50]).chars().count(), 41);
    }
}
