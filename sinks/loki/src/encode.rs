//! Push bodies: protobuf + raw snappy (the default) and JSON (optionally gzip).
//!
//! **Protobuf** — `Content-Type: application/x-protobuf`, no `Content-Encoding`;
//! the body is the *raw (block)* snappy compression of a serialized
//! `logproto.PushRequest` ([`crate::proto`]), not the snappy frame format.
//!
//! **JSON** — `Content-Type: application/json`, plus `Content-Encoding: gzip`
//! for [`Format::JsonGzip`]. Timestamps are strings of Unix nanoseconds; the
//! third element of a value, present only when the entry has structured
//! metadata, is a flat string→string object:
//!
//! ```text
//! {"streams":[{"stream":{"event":"exec","host":"h1","source":"process"},
//!              "values":[["1700000000000000000","a line"],
//!                        ["1700000000000000001","with metadata",{"pid":"42","comm":"sshd"}]]}]}
//! ```
//!
//! Both encoders take the batch as it is: call [`Batch::sort`] first.

use std::io::Write as _;

use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use crate::batch::Batch;
use crate::entry::Entry;
use crate::labels::Labels;
use crate::proto;

/// Body format of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Protobuf `PushRequest`, raw snappy (Loki's native format).
    #[default]
    Protobuf,
    /// JSON, uncompressed.
    Json,
    /// JSON, gzip-compressed.
    JsonGzip,
}

impl Format {
    /// Its name in the configuration and in spool segment headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Protobuf => "protobuf",
            Format::Json => "json",
            Format::JsonGzip => "json-gzip",
        }
    }

    /// The format named `name` (see [`Format::as_str`]).
    pub fn from_name(name: &str) -> Option<Format> {
        [Format::Protobuf, Format::Json, Format::JsonGzip].into_iter().find(|f| f.as_str() == name)
    }

    /// The `Content-Type` header of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json | Format::JsonGzip => "application/json",
        }
    }

    /// The `Content-Encoding` header, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Format::JsonGzip => Some("gzip"),
            Format::Protobuf | Format::Json => None,
        }
    }

    /// The body of `batch` in this format.
    pub fn encode(self, batch: &Batch) -> Vec<u8> {
        match self {
            Format::Protobuf => protobuf_snappy(batch),
            Format::Json => json(batch, false),
            Format::JsonGzip => json(batch, true),
        }
    }
}

/// The `PushRequest` message of `batch` (uncompressed protobuf).
pub fn push_request(batch: &Batch) -> proto::PushRequest {
    proto::PushRequest {
        streams: batch
            .streams()
            .map(|(labels, entries)| proto::StreamAdapter {
                labels: labels.selector(),
                entries: entries
                    .iter()
                    .map(|e| proto::EntryAdapter {
                        timestamp: Some(proto::Timestamp::from_nanos(e.time_nanos)),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(name, value)| proto::LabelPairAdapter { name: name.clone(), value: value.clone() })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `batch` as a serialized `PushRequest`, without compression.
pub fn protobuf(batch: &Batch) -> Vec<u8> {
    prost::Message::encode_to_vec(&push_request(batch))
}

/// `batch` as a serialized `PushRequest` compressed with raw (block) snappy: the
/// default push body.
pub fn protobuf_snappy(batch: &Batch) -> Vec<u8> {
    let raw = protobuf(batch);
    // Compression only fails for inputs over ~4 GiB; batches are megabytes.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

/// `batch` as a JSON push body, gzip-compressed when `gzip` is set.
pub fn json(batch: &Batch, gzip: bool) -> Vec<u8> {
    // Serializing strings into a Vec cannot fail.
    let text = serde_json::to_vec(&JsonPush(batch)).unwrap_or_default();
    if !gzip {
        return text;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(text.len() / 4), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&text);
    encoder.finish().unwrap_or_default()
}

/// `{"streams":[...]}`.
struct JsonPush<'a>(&'a Batch);

impl Serialize for JsonPush<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut push = s.serialize_struct("Push", 1)?;
        push.serialize_field("streams", &JsonStreams(self.0))?;
        push.end()
    }
}

struct JsonStreams<'a>(&'a Batch);

impl Serialize for JsonStreams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.stream_count()))?;
        for (labels, entries) in self.0.streams() {
            seq.serialize_element(&JsonStream { labels, entries })?;
        }
        seq.end()
    }
}

/// `{"stream":{...},"values":[...]}`.
struct JsonStream<'a> {
    labels: &'a Labels,
    entries: &'a [Entry],
}

impl Serialize for JsonStream<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut stream = s.serialize_struct("Stream", 2)?;
        stream.serialize_field("stream", &Pairs(self.labels.iter()))?;
        stream.serialize_field("values", &JsonValues(self.entries))?;
        stream.end()
    }
}

struct JsonValues<'a>(&'a [Entry]);

impl Serialize for JsonValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(&JsonValue(entry))?;
        }
        seq.end()
    }
}

/// `["<unix nanos>", "<line>"]` or `["<unix nanos>", "<line>", {metadata}]`.
struct JsonValue<'a>(&'a Entry);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entry = self.0;
        let with_metadata = !entry.metadata.is_empty();
        let mut seq = s.serialize_seq(Some(if with_metadata { 3 } else { 2 }))?;
        seq.serialize_element(&entry.time_nanos.to_string())?;
        seq.serialize_element(&entry.line)?;
        if with_metadata {
            seq.serialize_element(&Pairs(entry.metadata.iter().map(|(n, v)| (n.as_str(), v.as_str()))))?;
        }
        seq.end()
    }
}

/// A flat object from name/value pairs (serialized once, so the iterator is cloned).
struct Pairs<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> Serialize for Pairs<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in self.0.clone() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in [Format::Protobuf, Format::Json, Format::JsonGzip] {
            assert_eq!(Format::from_name(f.as_str()), Some(f));
        }
        assert_eq!(Format::from_name("xml"), None);
        assert_eq!(Format::JsonGzip.content_encoding(), Some("gzip"));
        assert_eq!(Format::Protobuf.content_encoding(), None);
    }

    #[test]
    fn empty_batch() {
        assert_eq!(json(&Batch::new(), false), br#"{"streams":[]}"#);
        assert!(protobuf(&Batch::new()).is_empty());
    }
}
