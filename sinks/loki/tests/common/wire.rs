//! A protobuf wire-format reader for Loki's `logproto.PushRequest`, written for the
//! tests from the protobuf encoding spec (varints, tags, length-delimited fields) and
//! Loki's `pkg/push/push.proto` field numbers. It shares nothing with the sink: not its
//! `proto` module, not `prost`, so a wrong field number or wire type in the sink's
//! message definitions cannot be mirrored here and go unnoticed.
//!
//! | message | field | number | wire type |
//! |---|---|---|---|
//! | PushRequest | streams | 1 | length-delimited (StreamAdapter), repeated |
//! | PushRequest | format | 2 | length-delimited (string; server-side, a client never sends it) |
//! | StreamAdapter | labels | 1 | length-delimited (string) |
//! | StreamAdapter | entries | 2 | length-delimited (EntryAdapter), repeated |
//! | StreamAdapter | hash | 3 | varint (uint64; server-internal, never sent) |
//! | EntryAdapter | timestamp | 1 | length-delimited (google.protobuf.Timestamp) |
//! | EntryAdapter | line | 2 | length-delimited (string) |
//! | EntryAdapter | structuredMetadata | 3 | length-delimited (LabelPairAdapter), repeated |
//! | EntryAdapter | parsed | 4 | length-delimited (query responses only, never sent) |
//! | LabelPairAdapter | name, value | 1, 2 | length-delimited (string) |
//! | Timestamp | seconds, nanos | 1, 2 | varint (int64, int32) |
//!
//! Stricter than a protobuf library: the fields a client must never send, a known field
//! with the wrong wire type, groups, invalid UTF-8, a timestamp out of range and trailing
//! garbage are errors. Unknown field numbers are skipped, as the spec says.

#![allow(dead_code)]

/// A decoded `PushRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushRequest {
    pub streams: Vec<Stream>,
}

/// A decoded `StreamAdapter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub labels: String,
    pub entries: Vec<Entry>,
}

/// A decoded `EntryAdapter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// `None` when the entry has no timestamp field.
    pub timestamp: Option<Timestamp>,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// A decoded `google.protobuf.Timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: i32,
}

impl Timestamp {
    /// Nanoseconds since the Unix epoch; `None` before the epoch or past u64.
    pub fn unix_nanos(self) -> Option<u64> {
        let seconds = u64::try_from(self.seconds).ok()?;
        seconds.checked_mul(1_000_000_000)?.checked_add(u64::try_from(self.nanos).ok()?)
    }
}

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "fixed64",
            Value::Bytes(_) => "length-delimited",
            Value::Fixed32(_) => "fixed32",
        }
    }
}

/// Reads the fields of one message, in order.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// A base-128 varint, least significant group first, at most 10 bytes.
    fn varint(&mut self) -> Result<u64, String> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(format!("varint at byte {start} overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint at byte {start} is longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| {
            format!("field of {n} bytes at byte {} runs past the end ({} bytes)", self.pos, self.buf.len())
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(format!("invalid field number {number} at byte {at}"));
        }
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| format!("length {len} at byte {at}"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            3 | 4 => return Err(format!("field {number} at byte {at}: groups (wire types 3, 4) are not proto3")),
            other => return Err(format!("field {number} at byte {at}: unknown wire type {other}")),
        };
        Ok(Some((number, value)))
    }
}

fn bytes<'a>(message: &str, number: u64, value: Value<'a>) -> Result<&'a [u8], String> {
    match value {
        Value::Bytes(b) => Ok(b),
        other => Err(format!("{message} field {number}: {} where the spec has length-delimited", other.kind())),
    }
}

fn string(message: &str, number: u64, value: Value<'_>) -> Result<String, String> {
    let b = bytes(message, number, value)?;
    String::from_utf8(b.to_vec()).map_err(|e| format!("{message} field {number}: invalid UTF-8: {e}"))
}

fn varint(message: &str, number: u64, value: Value<'_>) -> Result<u64, String> {
    match value {
        Value::Varint(v) => Ok(v),
        other => Err(format!("{message} field {number}: {} where the spec has varint", other.kind())),
    }
}

/// Decodes a `logproto.PushRequest` (the body after raw snappy).
pub fn decode_push(buf: &[u8]) -> Result<PushRequest, String> {
    let mut push = PushRequest::default();
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => push.streams.push(decode_stream(bytes("PushRequest", 1, value)?)?),
            2 => return Err("PushRequest.format (2) is set: it is server-side, a client never sends it".into()),
            _ => {}
        }
    }
    Ok(push)
}

fn decode_stream(buf: &[u8]) -> Result<Stream, String> {
    let mut stream = Stream::default();
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => stream.labels = string("StreamAdapter", 1, value)?,
            2 => stream.entries.push(decode_entry(bytes("StreamAdapter", 2, value)?)?),
            3 => return Err("StreamAdapter.hash (3) is set: it is server-internal, never sent".into()),
            _ => {}
        }
    }
    Ok(stream)
}

fn decode_entry(buf: &[u8]) -> Result<Entry, String> {
    let mut entry = Entry::default();
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => entry.timestamp = Some(decode_timestamp(bytes("EntryAdapter", 1, value)?)?),
            2 => entry.line = string("EntryAdapter", 2, value)?,
            3 => entry.metadata.push(decode_pair(bytes("EntryAdapter", 3, value)?)?),
            4 => return Err("EntryAdapter.parsed (4) is set: query responses only, never pushed".into()),
            _ => {}
        }
    }
    Ok(entry)
}

fn decode_pair(buf: &[u8]) -> Result<(String, String), String> {
    let (mut name, mut value_out) = (String::new(), String::new());
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => name = string("LabelPairAdapter", 1, value)?,
            2 => value_out = string("LabelPairAdapter", 2, value)?,
            _ => {}
        }
    }
    Ok((name, value_out))
}

fn decode_timestamp(buf: &[u8]) -> Result<Timestamp, String> {
    let mut ts = Timestamp::default();
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            // int64: the varint is the two's-complement bit pattern.
            1 => ts.seconds = varint("Timestamp", 1, value)? as i64,
            // int32: sign-extended to 64 bits on the wire, so a valid one fits in i32.
            2 => {
                let raw = varint("Timestamp", 2, value)? as i64;
                ts.nanos = i32::try_from(raw).map_err(|_| format!("Timestamp.nanos {raw} does not fit int32"))?;
            }
            _ => {}
        }
    }
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(format!("Timestamp.nanos {} is outside 0..=999999999", ts.nanos));
    }
    Ok(ts)
}
