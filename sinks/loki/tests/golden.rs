//! Golden tests of the push bodies. The expected protobuf bytes are written out
//! here field by field from Loki's `push.proto` field table (not produced by
//! the encoder), the JSON body is a checked-in file written by hand.

use std::io::Read as _;

use gomon_sink_loki::encode;
use gomon_sink_loki::{Batch, Entry, Format, Labels};

/// Two streams, entries pushed out of time order, metadata on one entry, a
/// line that needs JSON escaping.
fn batch() -> Batch {
    let process = Labels::new([("source", "process"), ("host", "h1"), ("event", "exec")]).unwrap();
    let file = Labels::new([("host", "h1"), ("source", "file")]).unwrap();
    let mut batch = Batch::new();
    batch.add(
        &process,
        Entry::new(1_700_000_000_123_456_789, "exec sshd").with_metadata("pid", "42").with_metadata("comm", "sshd"),
    );
    batch.add(&file, Entry::new(5, "x\"y\n"));
    batch.add(&process, Entry::new(1_700_000_000_000_000_000, "earlier"));
    batch.sort();
    batch
}

/// A length-delimited field: key byte (field << 3 | 2), varint length, bytes.
fn ld(key: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128, "one-byte lengths only in this test");
    let mut out = vec![key, content.len() as u8];
    out.extend_from_slice(content);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn expected_protobuf() -> Vec<u8> {
    // Varints worked out by hand: 1 700 000 000 = 0x6553_F100 → 80 e2 cf aa 06;
    // 123 456 789 = 0x075B_CD15 → 95 9a ef 3a.
    let seconds: &[u8] = &[0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06];
    let nanos: &[u8] = &[0x10, 0x95, 0x9a, 0xef, 0x3a];
    // EntryAdapter { timestamp = 1, line = 2, structuredMetadata = 3 }
    let earlier = cat(&[&ld(0x0a, seconds), &ld(0x12, b"earlier")]);
    let exec = cat(&[
        &ld(0x0a, &cat(&[seconds, nanos])),
        &ld(0x12, b"exec sshd"),
        &ld(0x1a, &cat(&[&ld(0x0a, b"pid"), &ld(0x12, b"42")])),
        &ld(0x1a, &cat(&[&ld(0x0a, b"comm"), &ld(0x12, b"sshd")])),
    ]);
    // Timestamp { seconds: 0 (omitted), nanos: 5 }
    let five = cat(&[&ld(0x0a, &[0x10, 0x05]), &ld(0x12, b"x\"y\n")]);
    // StreamAdapter { labels = 1, entries = 2 }, streams in label order.
    let process =
        cat(&[&ld(0x0a, br#"{event="exec", host="h1", source="process"}"#), &ld(0x12, &earlier), &ld(0x12, &exec)]);
    let file = cat(&[&ld(0x0a, br#"{host="h1", source="file"}"#), &ld(0x12, &five)]);
    // PushRequest { streams = 1 }
    cat(&[&ld(0x0a, &process), &ld(0x0a, &file)])
}

#[test]
fn protobuf_bytes_match_the_field_table() {
    assert_eq!(encode::protobuf(&batch()), expected_protobuf());
}

#[test]
fn snappy_is_raw_block_format_of_the_protobuf() {
    let body = encode::protobuf_snappy(&batch());
    // The frame format starts with a stream identifier chunk: ff 06 00 00 "sNaPpY".
    assert_ne!(body.first(), Some(&0xff), "framed snappy, Loki wants raw");
    // Raw snappy starts with the uncompressed length as a varint.
    let raw = expected_protobuf();
    assert_eq!(body[0] as usize | ((body[1] as usize & 0x7f) << 7), raw.len());
    assert_eq!(snap::raw::Decoder::new().decompress_vec(&body).unwrap(), raw);
}

#[test]
fn snappy_of_a_tiny_body_is_one_literal() {
    // A 5-byte input is stored as: length 5, literal tag (5-1)<<2, the bytes.
    let labels = Labels::new([("a", "b")]).unwrap();
    let mut batch = Batch::new();
    batch.add(&labels, Entry::new(0, ""));
    let raw = encode::protobuf(&batch);
    let mut expected = vec![raw.len() as u8, ((raw.len() - 1) << 2) as u8];
    expected.extend_from_slice(&raw);
    assert_eq!(encode::protobuf_snappy(&batch), expected);
}

#[test]
fn json_matches_the_golden_file() {
    let golden = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/push.json")).unwrap();
    let body = encode::json(&batch(), false);
    assert_eq!(String::from_utf8(body).unwrap(), golden);
}

#[test]
fn json_gzip_decompresses_to_the_same() {
    let golden = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/push.json")).unwrap();
    let body = encode::json(&batch(), true);
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut text).unwrap();
    assert_eq!(text, golden);
    assert_eq!(Format::JsonGzip.encode(&batch()).len(), body.len());
}
