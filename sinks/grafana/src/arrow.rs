//! Frames as Arrow IPC *files*, the encoding of `DataResponse.frames` in the plugin
//! protocol (what the Go SDK's `Frame.MarshalArrow` writes):
//!
//! ```text
//! "ARROW1" · schema · one record batch · footer · "ARROW1"
//! schema metadata:  name = <frame name>, refId = <refId>, meta = <FrameMeta JSON> (when set)
//! field metadata:   name = <field name>, labels = <labels JSON> (when not empty),
//!                   config = <FieldConfig JSON> (when set) — labels and config together
//! types:            Time → Timestamp(ns), Float64, Int64, UInt64, Boolean, Utf8,
//!                   Json → Binary (JSON text); nullable per variant
//! ```
//!
//! A frame without fields is a schema and no record batch.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field as ArrowField, Schema, TimeUnit};

use crate::FrameError;
use crate::frame::{Field, Frame, Values};

/// Encodes a frame as an Arrow IPC file.
pub fn to_arrow(frame: &Frame) -> Result<Vec<u8>, FrameError> {
    let rows = check_lengths(frame)?;
    let mut metadata =
        HashMap::from([("name".to_owned(), frame.name.clone()), ("refId".to_owned(), frame.ref_id.clone())]);
    if let Some(meta) = &frame.meta {
        metadata.insert("meta".to_owned(), json(frame, meta)?);
    }
    let fields = frame.fields.iter().map(|f| arrow_field(frame, f)).collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let arrow_error = |e| FrameError::Arrow { frame: frame.name.clone(), source: e };

    let mut writer = FileWriter::try_new(Vec::with_capacity(1024), &schema).map_err(arrow_error)?;
    if !frame.fields.is_empty() {
        let columns: Vec<ArrayRef> = frame.fields.iter().map(|f| column(&f.values)).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(arrow_error)?;
        writer.write(&batch).map_err(arrow_error)?;
    }
    writer.finish().map_err(arrow_error)?;
    writer.into_inner().map_err(arrow_error)
}

/// All fields must have the first field's length.
pub(crate) fn check_lengths(frame: &Frame) -> Result<usize, FrameError> {
    let rows = frame.rows();
    for field in &frame.fields {
        if field.values.len() != rows {
            return Err(FrameError::Length {
                frame: frame.name.clone(),
                field: field.name.clone(),
                found: field.values.len(),
                expected: rows,
            });
        }
    }
    Ok(rows)
}

fn json<T: serde::Serialize>(frame: &Frame, value: &T) -> Result<String, FrameError> {
    serde_json::to_string(value).map_err(|e| FrameError::Json { frame: frame.name.clone(), source: e })
}

fn arrow_field(frame: &Frame, field: &Field) -> Result<ArrowField, FrameError> {
    let data_type = match &field.values {
        Values::Time(_) => DataType::Timestamp(TimeUnit::Nanosecond, None),
        Values::Float64(_) | Values::NullableFloat64(_) => DataType::Float64,
        Values::Int64(_) => DataType::Int64,
        Values::UInt64(_) => DataType::UInt64,
        Values::Bool(_) => DataType::Boolean,
        Values::String(_) | Values::NullableString(_) => DataType::Utf8,
        Values::Json(_) => DataType::Binary,
    };
    let mut metadata = HashMap::from([("name".to_owned(), field.name.clone())]);
    if !field.labels.is_empty() {
        metadata.insert("labels".to_owned(), json(frame, &field.labels)?);
    }
    if let Some(config) = &field.config {
        metadata.insert("config".to_owned(), json(frame, config)?);
    }
    Ok(ArrowField::new(&field.name, data_type, field.values.nullable()).with_metadata(metadata))
}

fn column(values: &Values) -> ArrayRef {
    match values {
        Values::Time(v) => Arc::new(TimestampNanosecondArray::from(v.clone())),
        Values::Float64(v) => Arc::new(Float64Array::from(v.clone())),
        Values::NullableFloat64(v) => Arc::new(Float64Array::from(v.clone())),
        Values::Int64(v) => Arc::new(Int64Array::from(v.clone())),
        Values::UInt64(v) => Arc::new(UInt64Array::from(v.clone())),
        Values::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        Values::String(v) => Arc::new(StringArray::from_iter_values(v)),
        Values::NullableString(v) => Arc::new(v.iter().map(Option::as_deref).collect::<StringArray>()),
        Values::Json(v) => {
            Arc::new(BinaryArray::from_iter_values(v.iter().map(|doc| serde_json::to_vec(doc).unwrap_or_default())))
        }
    }
}
