//! The `logproto.PushRequest` messages of Loki's `pkg/push/push.proto`, derived
//! by hand with `prost` (only the fields a client sends).
//!
//! Written by hand rather than generated (prost-build + protox): five small,
//! frozen messages do not justify a build script, a vendored `.proto` and a
//! regenerate-and-diff test. The field numbers below are Loki's; the golden test
//! in `tests/golden.rs` pins the bytes, and the Python receiver of the e2e suite
//! decodes them with its own wire-format reader.
//!
//! | message | field | number | type |
//! |---|---|---|---|
//! | PushRequest | streams | 1 | repeated StreamAdapter |
//! | StreamAdapter | labels | 1 | string (selector text) |
//! | StreamAdapter | entries | 2 | repeated EntryAdapter |
//! | EntryAdapter | timestamp | 1 | google.protobuf.Timestamp |
//! | EntryAdapter | line | 2 | string |
//! | EntryAdapter | structuredMetadata | 3 | repeated LabelPairAdapter |
//! | LabelPairAdapter | name, value | 1, 2 | string |
//! | Timestamp | seconds, nanos | 1, 2 | int64, int32 |
//!
//! Never sent: `PushRequest.format` (2, server-side), `StreamAdapter.hash` (3,
//! server-internal), `EntryAdapter.parsed` (4, query responses only).

/// `logproto.PushRequest`: the body of a push, before snappy.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Prometheus selector text, `{host="h1", source="process"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries, in time order.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
}

/// `logproto.EntryAdapter`: one entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata (Loki 3.x, schema v13).
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`: one structured-metadata pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..=999 999 999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// From nanoseconds since the Unix epoch.
    pub fn from_nanos(nanos: u64) -> Timestamp {
        // Both casts are lossless: u64::MAX / 1e9 fits an i64 and the remainder an i32.
        Timestamp { seconds: (nanos / 1_000_000_000) as i64, nanos: (nanos % 1_000_000_000) as i32 }
    }

    /// Nanoseconds since the Unix epoch (negative times clamp to 0).
    pub fn to_nanos(self) -> u64 {
        (self.seconds.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(self.nanos.max(0) as u64)
    }
}
