//! Data-frame JSON as the Go SDK writes it for stream packets.

use std::collections::BTreeMap;

use gomon_sink_grafana::*;
use serde_json::{Value, json};

#[test]
fn schema_and_data_follow_the_go_sdk_layout() {
    let frame = Frame::new("gomon_load_average", "A")
        .with_meta(FrameMeta { frame_type: Some("timeseries-multi".into()), ..Default::default() })
        .with_field(Field::new("time", Values::Time(vec![1_700_000_000_123_456_789, 1_700_000_001_000_000_000])))
        .with_field(
            Field::new("value", Values::Float64(vec![f64::NAN, 0.5]))
                .with_labels(BTreeMap::from([("window".to_owned(), "1m".to_owned())]))
                .with_config(FieldConfig { unit: Some("short".into()), ..Default::default() }),
        )
        .with_field(Field::new("note", Values::NullableString(vec![None, Some("x".into())])))
        .with_field(Field::new("more", Values::NullableFloat64(vec![Some(f64::NEG_INFINITY), Some(f64::INFINITY)])));
    let doc: Value = serde_json::from_slice(&to_json(&frame).unwrap()).unwrap();

    let schema = &doc["schema"];
    assert_eq!(schema["name"], "gomon_load_average");
    assert_eq!(schema["refId"], "A");
    assert_eq!(schema["meta"]["type"], "timeseries-multi");
    let fields = schema["fields"].as_array().unwrap();
    assert_eq!(fields[0], json!({"name": "time", "type": "time", "typeInfo": {"frame": "time.Time"}}));
    assert_eq!(
        fields[1],
        json!({"name": "value", "type": "number", "typeInfo": {"frame": "float64"},
               "labels": {"window": "1m"}, "config": {"unit": "short"}})
    );
    assert_eq!(fields[2]["typeInfo"], json!({"frame": "string", "nullable": true}));

    let data = &doc["data"];
    assert_eq!(data["values"][0], json!([1_700_000_000_123_i64, 1_700_000_001_000_i64]), "times in milliseconds");
    assert_eq!(data["values"][1], json!([null, 0.5]));
    assert_eq!(data["values"][2], json!([null, "x"]));
    assert_eq!(data["values"][3], json!([null, null]));
    assert_eq!(data["entities"], json!([null, {"NaN": [0]}, null, {"NegInf": [0], "Inf": [1]}]));
}

#[test]
fn entities_are_left_out_when_every_number_is_finite() {
    let frame = Frame::new("f", "").with_field(Field::new("v", Values::Float64(vec![1.0])));
    let doc: Value = serde_json::from_slice(&to_json(&frame).unwrap()).unwrap();
    assert!(doc["data"].get("entities").is_none());
    assert!(doc["schema"].get("refId").is_none(), "empty refId omitted, as Go does");
}
