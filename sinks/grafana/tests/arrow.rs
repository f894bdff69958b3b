//! Frames decoded back with arrow-ipc's own reader: schema and field metadata, types,
//! nullability and values survive; the node-graph, time-series and logs frames have the
//! golden field lists below.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use arrow_array::{Array, BinaryArray, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_ipc::reader::FileReader;
use arrow_schema::{DataType, Schema, TimeUnit};
use gomon_sink_grafana::*;

fn decode(frame: &Frame) -> (Schema, Vec<RecordBatch>) {
    let bytes = to_arrow(frame).expect("encodes");
    assert!(bytes.starts_with(b"ARROW1"), "an IPC file starts with the magic");
    assert!(bytes.ends_with(b"ARROW1"), "an IPC file ends with the magic");
    let reader = FileReader::try_new(Cursor::new(bytes), None).expect("arrow-ipc reads it back");
    let schema = reader.schema().as_ref().clone();
    let batches = reader.collect::<Result<Vec<_>, _>>().expect("batches decode");
    (schema, batches)
}

/// (name, Arrow type, nullable) of each field.
fn field_list(schema: &Schema) -> Vec<(String, DataType, bool)> {
    schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable())).collect()
}

fn meta(schema: &Schema) -> serde_json::Value {
    serde_json::from_str(schema.metadata().get("meta").expect("meta in schema metadata")).expect("meta is JSON")
}

fn graph() -> NodeGraph {
    NodeGraph {
        nodes: vec![
            GraphNode {
                id: "host:203.0.113.5".into(),
                kind: NodeKind::Host,
                title: "203.0.113.5".into(),
                subtitle: "203.0.113.5".into(),
                main_stat: "TCP:443".into(),
                secondary_stat: "1 connection".into(),
                arcs: vec![Arc { name: "host".into(), fraction: 1.0 }],
                details: vec![("address".into(), "203.0.113.5".into())],
                depth: 0,
            },
            GraphNode {
                id: "812".into(),
                kind: NodeKind::Process,
                title: "nginx".into(),
                subtitle: "812".into(),
                main_stat: "12.0 MiB".into(),
                secondary_stat: "812".into(),
                arcs: vec![Arc { name: "process".into(), fraction: 1.0 }],
                details: vec![("pid".into(), "812".into()), ("command line".into(), "nginx -g daemon off;".into())],
                depth: 1,
            },
            GraphNode {
                id: "data:unix:99".into(),
                kind: NodeKind::Data,
                title: "/run/x.sock".into(),
                arcs: vec![Arc { name: "socket".into(), fraction: 0.5 }, Arc { name: "custom".into(), fraction: 0.5 }],
                ..Default::default()
            },
        ],
        edges: vec![
            GraphEdge {
                id: "host:203.0.113.5->812".into(),
                source: "host:203.0.113.5".into(),
                target: "812".into(),
                main_stat: "TCP:443".into(),
                secondary_stat: "nginx[812]".into(),
                details: vec!["tcp:203.0.113.5:443 → nginx[812]".into()],
            },
            GraphEdge {
                id: "812->data:unix:99".into(),
                source: "812".into(),
                target: "data:unix:99".into(),
                details: (0..12).map(|i| format!("line {i}")).collect(),
                ..Default::default()
            },
        ],
    }
}

fn utf8() -> DataType {
    DataType::Utf8
}

#[test]
fn node_graph_frames_have_the_golden_fields() {
    let link = DrillDown { datasource_uid: "P1".into(), datasource_name: "gomon".into(), scope: None };
    let [nodes, edges] = node_graph_frames(&graph(), "A", Some(&link), vec![Notice::warning("degraded")]);

    let (schema, batches) = decode(&nodes);
    let f64t = DataType::Float64;
    assert_eq!(
        field_list(&schema),
        vec![
            ("id".into(), utf8(), false),
            ("title".into(), utf8(), false),
            ("subtitle".into(), utf8(), false),
            ("mainstat".into(), utf8(), false),
            ("secondarystat".into(), utf8(), false),
            ("arc__process".into(), f64t.clone(), false),
            ("arc__host".into(), f64t.clone(), false),
            ("arc__data".into(), f64t.clone(), false),
            ("arc__socket".into(), f64t.clone(), false),
            ("arc__kernel".into(), f64t.clone(), false),
            ("arc__custom".into(), f64t.clone(), false),
            ("detail__address".into(), utf8(), true),
            ("detail__pid".into(), utf8(), true),
            ("detail__command_line".into(), utf8(), true),
        ]
    );
    assert_eq!(schema.metadata().get("name").map(String::as_str), Some("nodes"));
    assert_eq!(schema.metadata().get("refId").map(String::as_str), Some("A"));
    let meta = meta(&schema);
    assert_eq!(meta["preferredVisualisationType"], "nodeGraph");
    assert_eq!(meta["notices"][0]["severity"], "warning");
    assert_eq!(meta["stats"][0]["value"], 3.0);

    // Every field names itself; the id field carries the drill-down link to Explore.
    for field in schema.fields() {
        assert_eq!(field.metadata().get("name"), Some(field.name()));
    }
    let id_config: serde_json::Value =
        serde_json::from_str(&schema.field(0).metadata()["config"]).expect("id config is JSON");
    let link = &id_config["links"][0];
    assert_eq!(link["internal"]["datasourceUid"], "P1");
    assert_eq!(link["internal"]["query"]["queryType"], "nodegraph");
    assert_eq!(link["internal"]["query"]["pid"], "${__value.raw}");
    let arc_config: serde_json::Value =
        serde_json::from_str(&schema.field_with_name("arc__host").unwrap().metadata()["config"]).unwrap();
    assert_eq!(arc_config["color"], serde_json::json!({"mode": "fixed", "fixedColor": "#F2495C"}));

    // Values: ids as strings, arcs summing to 1 per node, missing details null.
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let ids = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(ids.iter().flatten().collect::<Vec<_>>(), ["host:203.0.113.5", "812", "data:unix:99"]);
    for row in 0..batch.num_rows() {
        let sum: f64 =
            (5..11).map(|c| batch.column(c).as_any().downcast_ref::<Float64Array>().unwrap().value(row)).sum();
        assert!((sum - 1.0).abs() < 1e-12, "row {row}: arcs sum to {sum}");
    }
    let pid = batch.column(12).as_any().downcast_ref::<StringArray>().unwrap();
    assert!(pid.is_null(0) && pid.value(1) == "812" && pid.is_null(2));

    let (schema, batches) = decode(&edges);
    let mut expected: Vec<(String, DataType, bool)> = ["id", "source", "target", "mainstat", "secondarystat"]
        .iter()
        .map(|n| ((*n).to_owned(), utf8(), false))
        .collect();
    expected.extend((1..=MAX_EDGE_DETAIL_COLUMNS).map(|i| (format!("detail__connection_{i}"), utf8(), true)));
    assert_eq!(field_list(&schema), expected);
    assert_eq!(schema.metadata().get("name").map(String::as_str), Some("edges"));
    let last = batches[0].column(4 + MAX_EDGE_DETAIL_COLUMNS).as_any().downcast_ref::<StringArray>().unwrap();
    assert!(last.is_null(0));
    assert_eq!(last.value(1), "… and 5 more", "7 lines shown, 5 summarised");
}

#[test]
fn labels_and_config_are_both_kept() {
    let labels = BTreeMap::from([("cpu".to_owned(), "0".to_owned()), ("mode".to_owned(), "user".to_owned())]);
    let series = Series {
        name: "gomon_cpu_seconds_total".into(),
        labels: labels.clone(),
        unit: "percentunit".into(),
        display_name: "rate(gomon_cpu_seconds_total)".into(),
        points: vec![(1_700_000_000_000, 0.25), (1_700_000_001_000, 0.5)],
    };
    let frames = time_series_frames(&[series], "B", vec![]);
    assert_eq!(frames.len(), 1);
    let (schema, batches) = decode(&frames[0]);
    assert_eq!(
        field_list(&schema),
        vec![
            ("time".into(), DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            ("value".into(), DataType::Float64, false)
        ]
    );
    assert_eq!(meta(&schema)["type"], "timeseries-multi");
    let value = schema.field(1).metadata();
    let decoded: BTreeMap<String, String> = serde_json::from_str(&value["labels"]).unwrap();
    assert_eq!(decoded, labels);
    let config: serde_json::Value = serde_json::from_str(&value["config"]).unwrap();
    assert_eq!(config["unit"], "percentunit");
    assert_eq!(config["displayNameFromDS"], "rate(gomon_cpu_seconds_total)");
    let times = batches[0].column(0).as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
    assert_eq!(times.value(1), 1_700_000_001_000_000_000);
}

#[test]
fn logs_frame_has_the_golden_fields_and_json_labels() {
    let rows = vec![LogRow {
        time_nanos: 1_700_000_000_123_456_789,
        body: "exec sshd[42]".into(),
        severity: "info".into(),
        labels: BTreeMap::from([("source".to_owned(), "process".to_owned())]),
    }];
    let frame = logs_frame(&rows, "C", vec![Notice::info("empty")]);
    let (schema, batches) = decode(&frame);
    assert_eq!(
        field_list(&schema),
        vec![
            ("timestamp".into(), DataType::Timestamp(TimeUnit::Nanosecond, None), false),
            ("body".into(), utf8(), false),
            ("severity".into(), utf8(), false),
            ("id".into(), utf8(), false),
            ("labels".into(), DataType::Binary, false),
        ]
    );
    let meta = meta(&schema);
    assert_eq!((meta["type"].as_str(), meta["preferredVisualisationType"].as_str()), (Some("log-lines"), Some("logs")));
    let labels = batches[0].column(4).as_any().downcast_ref::<BinaryArray>().unwrap();
    let decoded: HashMap<String, String> = serde_json::from_slice(labels.value(0)).unwrap();
    assert_eq!(decoded["source"], "process");
    let times = batches[0].column(0).as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
    assert_eq!(times.value(0), 1_700_000_000_123_456_789, "nanoseconds survive");
}

#[test]
fn a_frame_without_fields_is_a_schema_only_file() {
    let (schema, batches) = decode(&Frame::new("empty", "Z"));
    assert!(schema.fields().is_empty());
    assert!(batches.is_empty());
    assert_eq!(schema.metadata().get("refId").map(String::as_str), Some("Z"));
}

#[test]
fn ragged_frames_are_refused_with_their_names() {
    let frame = Frame::new("bad", "A")
        .with_field(Field::new("a", Values::Int64(vec![1, 2])))
        .with_field(Field::new("b", Values::Bool(vec![true])));
    let error = to_arrow(&frame).unwrap_err().to_string();
    assert!(error.contains("\"bad\"") && error.contains("\"b\"") && error.contains("1 values"), "{error}");
    assert!(to_json(&frame).is_err());
}
