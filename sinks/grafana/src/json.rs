//! Frames as data-frame JSON, the encoding of stream packets (`StreamPacket.data`) — what
//! the Go SDK's `data.FrameToJSON(frame, IncludeAll)` writes:
//!
//! ```json
//! {"schema":{"name":"gomon_load_average","refId":"A","meta":{…},
//!            "fields":[{"name":"time","type":"time","typeInfo":{"frame":"time.Time"}},
//!                      {"name":"value","type":"number","typeInfo":{"frame":"float64"},
//!                       "labels":{"window":"1m"},"config":{"unit":"short"}}]},
//!  "data":{"values":[[1700000000000,1700000001000],[0.5,null]],
//!          "entities":[null,{"NaN":[1]}]}}
//! ```
//!
//! Times are milliseconds since the epoch; JSON has no NaN or infinities, so those are
//! written as `null` and listed by index in `entities` (`NaN`, `Inf`, `NegInf`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::FrameError;
use crate::arrow::check_lengths;
use crate::frame::{Frame, Values};

/// Encodes a frame as data-frame JSON (schema and data).
pub fn to_json(frame: &Frame) -> Result<Vec<u8>, FrameError> {
    check_lengths(frame)?;
    let fields: Vec<Value> = frame
        .fields
        .iter()
        .map(|f| {
            let mut type_info = Map::new();
            type_info.insert("frame".into(), f.values.go_type().into());
            if f.values.nullable() {
                type_info.insert("nullable".into(), true.into());
            }
            let mut field = Map::new();
            field.insert("name".into(), f.name.clone().into());
            field.insert("type".into(), f.values.simple_type().into());
            field.insert("typeInfo".into(), type_info.into());
            if !f.labels.is_empty() {
                field.insert("labels".into(), json!(f.labels));
            }
            if let Some(config) = &f.config {
                field.insert("config".into(), to_value(frame, config)?);
            }
            Ok(Value::Object(field))
        })
        .collect::<Result<_, FrameError>>()?;
    let mut schema = Map::new();
    if !frame.name.is_empty() {
        schema.insert("name".into(), frame.name.clone().into());
    }
    if !frame.ref_id.is_empty() {
        schema.insert("refId".into(), frame.ref_id.clone().into());
    }
    if let Some(meta) = &frame.meta {
        schema.insert("meta".into(), to_value(frame, meta)?);
    }
    schema.insert("fields".into(), fields.into());

    let mut entities = Vec::with_capacity(frame.fields.len());
    let values: Vec<Value> = frame.fields.iter().map(|f| column(&f.values, &mut entities)).collect();
    let mut data = Map::new();
    data.insert("values".into(), values.into());
    if entities.iter().any(|e| !e.is_null()) {
        data.insert("entities".into(), entities.into());
    }
    let document = json!({ "schema": schema, "data": data });
    serde_json::to_vec(&document).map_err(|e| FrameError::Json { frame: frame.name.clone(), source: e })
}

fn to_value<T: Serialize>(frame: &Frame, value: &T) -> Result<Value, FrameError> {
    serde_json::to_value(value).map_err(|e| FrameError::Json { frame: frame.name.clone(), source: e })
}

/// One column's JSON values; pushes its entities (or `null`) onto `entities`.
fn column(values: &Values, entities: &mut Vec<Value>) -> Value {
    let mut special = Entities::default();
    let column = match values {
        Values::Time(v) => v.iter().map(|ns| Value::from(ns.div_euclid(1_000_000))).collect(),
        Values::Float64(v) => v.iter().enumerate().map(|(i, x)| special.float(i, Some(*x))).collect(),
        Values::NullableFloat64(v) => v.iter().enumerate().map(|(i, x)| special.float(i, *x)).collect(),
        Values::Int64(v) => v.iter().map(|x| Value::from(*x)).collect(),
        Values::UInt64(v) => v.iter().map(|x| Value::from(*x)).collect(),
        Values::Bool(v) => v.iter().map(|x| Value::from(*x)).collect(),
        Values::String(v) => v.iter().map(|x| Value::from(x.as_str())).collect(),
        Values::NullableString(v) => v.iter().map(|x| x.as_deref().map_or(Value::Null, Value::from)).collect(),
        Values::Json(v) => v.clone(),
    };
    entities.push(special.into_value());
    Value::Array(column)
}

/// Indexes of the values JSON cannot hold.
#[derive(Default)]
struct Entities {
    nan: Vec<usize>,
    inf: Vec<usize>,
    neg_inf: Vec<usize>,
}

impl Entities {
    fn float(&mut self, index: usize, x: Option<f64>) -> Value {
        match x {
            None => Value::Null,
            Some(x) if x.is_nan() => {
                self.nan.push(index);
                Value::Null
            }
            Some(x) if x == f64::INFINITY => {
                self.inf.push(index);
                Value::Null
            }
            Some(x) if x == f64::NEG_INFINITY => {
                self.neg_inf.push(index);
                Value::Null
            }
            Some(x) => Value::from(x),
        }
    }

    fn into_value(self) -> Value {
        if self.nan.is_empty() && self.inf.is_empty() && self.neg_inf.is_empty() {
            return Value::Null;
        }
        let mut map = Map::new();
        for (key, list) in [("NaN", self.nan), ("Inf", self.inf), ("NegInf", self.neg_inf)] {
            if !list.is_empty() {
                map.insert(key.into(), list.into());
            }
        }
        Value::Object(map)
    }
}
