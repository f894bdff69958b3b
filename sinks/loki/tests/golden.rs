//! Golden tests of the push bodies. The expected protobuf bytes are written out
//! here field by field from Loki's `push.proto` field table (not produced by
//! the encoder), the JSON body is a checked-in file written by hand. Bodies are
//! decoded with `common::receiver::wire`, a wire reader written for the tests
//! (not the sink's `proto` module); generated batches go through both encoders
//! and must decode, independently, to what was put in.

mod common;

use std::io::Read as _;

use common::receiver::wire;

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

// --------------------------------------------------------------------------- the independent reader

#[test]
fn wire_reader_decodes_the_hand_written_bytes() {
    let push = wire::decode_push(&expected_protobuf()).unwrap();
    let ts = |seconds, nanos| Some(wire::Timestamp { seconds, nanos });
    let entry = |timestamp, line: &str, metadata: &[(&str, &str)]| wire::Entry {
        timestamp,
        line: line.into(),
        metadata: metadata.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
    };
    assert_eq!(
        push,
        wire::PushRequest {
            streams: vec![
                wire::Stream {
                    labels: r#"{event="exec", host="h1", source="process"}"#.into(),
                    entries: vec![
                        entry(ts(1_700_000_000, 0), "earlier", &[]),
                        entry(ts(1_700_000_000, 123_456_789), "exec sshd", &[("pid", "42"), ("comm", "sshd")]),
                    ],
                },
                wire::Stream {
                    labels: r#"{host="h1", source="file"}"#.into(),
                    entries: vec![entry(ts(0, 5), "x\"y\n", &[])],
                },
            ],
        }
    );
}

#[test]
fn wire_reader_refuses_what_a_client_must_not_send() {
    let refused = |bytes: &[u8], want: &str| {
        let err = wire::decode_push(bytes).unwrap_err();
        assert!(err.contains(want), "{bytes:02x?}: {err:?} does not mention {want:?}");
    };
    // Truncated: a stream of 5 bytes with 2 present.
    refused(&[0x0a, 0x05, 0x0a, 0x00], "runs past the end");
    // PushRequest.format, StreamAdapter.hash, EntryAdapter.parsed.
    refused(&ld(0x12, b"loki"), "PushRequest.format");
    refused(&ld(0x0a, &[0x18, 0x01]), "StreamAdapter.hash");
    refused(&ld(0x0a, &ld(0x12, &ld(0x22, &[]))), "EntryAdapter.parsed");
    // streams as a varint; a stream's labels as a varint.
    refused(&[0x08, 0x01], "where the spec has length-delimited");
    refused(&ld(0x0a, &[0x08, 0x01]), "where the spec has length-delimited");
    // A group (wire type 3); wire type 7; field number 0.
    refused(&[0x0b], "groups");
    refused(&[0x0f], "unknown wire type");
    refused(&[0x02, 0x00], "invalid field number 0");
    // A varint of 11 bytes.
    refused(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "varint");
    // Invalid UTF-8 in a line.
    refused(&ld(0x0a, &ld(0x12, &ld(0x12, &[0xff, 0xfe]))), "invalid UTF-8");
    // Timestamp nanos of -1 (sign-extended: ten bytes) and of 1e9.
    let minus_one = [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    refused(&ld(0x0a, &ld(0x12, &ld(0x0a, &minus_one))), "outside");
    refused(&ld(0x0a, &ld(0x12, &ld(0x0a, &[0x10, 0x80, 0x94, 0xeb, 0xdc, 0x03]))), "outside");
    // Unknown fields are skipped, as the spec says: field 15 (varint) in a PushRequest.
    assert_eq!(wire::decode_push(&[0x78, 0x01]).unwrap(), wire::PushRequest::default());
}

/// Label values and names the generator draws from (validated by `Labels::new`).
const NAMES: [&str; 5] = ["host", "source", "event", "job", "level"];
const VALUES: [&str; 5] = ["h1", "process", "file", "exec sshd", "ünïcødé"];
/// Line and metadata text pieces: quotes, backslashes, control characters, emoji, empty.
const PIECES: [&str; 9] = ["", "a", "x\"y", "back\\slash", "tab\there", "new\nline", "\u{1F600}", "\u{0}", "é"];

fn text(rng: &mut fastrand::Rng) -> String {
    (0..rng.usize(0..5)).map(|_| PIECES[rng.usize(..PIECES.len())]).collect()
}

/// One entry as put in or decoded: (stream selector, time, line, metadata).
type Row = (String, u64, String, Vec<(String, String)>);

/// A random sorted batch and what it holds, one row per entry.
fn random_batch(rng: &mut fastrand::Rng) -> (Batch, Vec<Row>) {
    let mut batch = Batch::new();
    let mut expected = Vec::new();
    for _ in 0..rng.usize(1..5) {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for &name in &NAMES {
            if rng.bool() {
                pairs.push((name, VALUES[rng.usize(..VALUES.len())]));
            }
        }
        let Ok(labels) = Labels::new(pairs) else { continue };
        for _ in 0..rng.usize(1..6) {
            // Times across the whole u64 range, and some equal ones.
            let time = if rng.bool() { rng.u64(..) } else { rng.u64(0..3) };
            let mut entry = Entry::new(time, text(rng));
            // Distinct names: a JSON object cannot carry one name twice.
            for &name in &NAMES {
                if rng.u8(..4) == 0 {
                    entry = entry.with_metadata(name, text(rng));
                }
            }
            expected.push((labels.selector(), entry.time_nanos, entry.line.clone(), entry.metadata.clone()));
            batch.add(&labels, entry);
        }
    }
    batch.sort();
    (batch, expected)
}

fn cases() -> usize {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Generated batches (`PROPTEST_CASES`, default 256): the protobuf + snappy body, decoded by
/// the independent reader, and the JSON body, decoded by serde_json, both give back every
/// entry that went in, each stream in time order (metadata in order for protobuf; a JSON
/// object's member order is not kept by serde_json, so there it is compared as a set).
#[test]
fn generated_batches_decode_independently_to_what_went_in() {
    let mut rng = fastrand::Rng::with_seed(0x6c6f6b69);
    for case in 0..cases() {
        let (batch, expected) = random_batch(&mut rng);
        for format in [Format::Protobuf, Format::Json, Format::JsonGzip] {
            let ordered_metadata = format == Format::Protobuf;
            let norm = |mut m: Vec<(String, String)>| {
                if !ordered_metadata {
                    m.sort();
                }
                m
            };
            let mut want: Vec<_> =
                expected.iter().map(|(s, t, l, m)| (s.clone(), *t, l.clone(), norm(m.clone()))).collect();
            want.sort();
            let body = format.encode(&batch);
            let (streams, _) = common::receiver::decode(Some(format.content_type()), format.content_encoding(), &body)
                .unwrap_or_else(|e| panic!("case {case}, {}: {e}", format.as_str()));
            let mut got = Vec::new();
            for (selector, entries) in &streams {
                assert!(
                    entries.windows(2).all(|w| w[0].time_nanos <= w[1].time_nanos),
                    "case {case}, {}: stream {selector} out of time order",
                    format.as_str()
                );
                for e in entries {
                    got.push((selector.clone(), e.time_nanos, e.line.clone(), norm(e.metadata.clone())));
                }
            }
            got.sort();
            assert_eq!(got, want, "case {case}, {}: decoded entries differ from the batch", format.as_str());
        }
    }
}
