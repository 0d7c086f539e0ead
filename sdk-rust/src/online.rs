//! The online store kind (spec §8), mirroring Feast's OnlineStore. Entity keys arrive
//! serialized by the host (Feast entity-key serialization) and values as serialized
//! `feast.types.Value` messages: a store keeps and returns those bytes unchanged.

use crate::batch::{BatchBuilder, ColumnBuilder};
use crate::json;
use crate::status::Error;
use crate::types::{FieldStatus, Type};

/// Kind name in the manifest.
pub const KIND: &str = "online_store";

/// A feature view's table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub features: Vec<String>,
    pub join_keys: Vec<String>,
}

/// Input of `update` and `teardown` (spec §8.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateRequest {
    pub project: String,
    pub tables_to_keep: Vec<Table>,
    pub tables_to_delete: Vec<Table>,
}

/// One entity's values; `values[i]` belongs to `features[i]`, `None` = not written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteRow {
    pub entity_key: Vec<u8>,
    pub event_ts: i64,
    pub created_ts: Option<i64>,
    pub values: Vec<Option<Vec<u8>>>,
}

/// Rows of one feature view to store (spec §8.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteRequest {
    pub project: String,
    pub view: String,
    pub features: Vec<String>,
    pub rows: Vec<WriteRow>,
}

/// A view to read: its features and the entity keys to read them for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadView {
    pub name: String,
    pub features: Vec<String>,
    pub entity_keys: Vec<Vec<u8>>,
}

/// Input of `read` (spec §8.3), grouped by view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadRequest {
    pub project: String,
    pub views: Vec<ReadView>,
}

/// One stored value, or a miss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureValue {
    pub value: Option<Vec<u8>>,
    pub event_ts: Option<i64>,
    pub status: FieldStatus,
}

impl FeatureValue {
    pub fn present(value: Vec<u8>, event_ts: i64) -> FeatureValue {
        FeatureValue { value: Some(value), event_ts: Some(event_ts), status: FieldStatus::Present }
    }
    pub fn not_found() -> FeatureValue {
        FeatureValue { value: None, event_ts: None, status: FieldStatus::NotFound }
    }
}

/// The response of a read under construction: one value per (request row, feature of that
/// row's view), in request-row order. Values go straight into the response batch, so a
/// store that reads borrowed bytes (a Redis reply, say) copies each value once. The three
/// columns are held directly (no lookup by name per value): a 100 × 50 read pushes 5 000
/// values, and in the sandbox every per-value cost shows.
pub struct ReadOutput {
    value: ColumnBuilder,
    event_ts: ColumnBuilder,
    status: ColumnBuilder,
}

impl ReadOutput {
    pub(crate) fn new() -> ReadOutput {
        ReadOutput {
            value: ColumnBuilder::new("value", Type::Bytes),
            event_ts: ColumnBuilder::new("__event_ts", Type::UnixTimestamp),
            status: ColumnBuilder::new("__status", Type::Status),
        }
    }
    /// Reserves room for `values` more values holding `bytes` value bytes in total, so that
    /// a store that knows the size of what it read (a pipeline response, say) grows the
    /// buffers once.
    pub fn reserve(&mut self, values: usize, bytes: usize) {
        self.value.reserve(values, bytes);
        self.event_ts.reserve(values, 0);
        self.status.reserve(values, 0);
    }
    /// Appends a stored value and its event time (microseconds since the epoch).
    #[inline]
    pub fn push_present(&mut self, value: &[u8], event_ts: i64) -> Result<(), Error> {
        self.value.push_bytes(value)?;
        self.event_ts.push_timestamp(event_ts)?;
        self.status.push_status(FieldStatus::Present)
    }
    /// Appends a miss.
    #[inline]
    pub fn push_not_found(&mut self) -> Result<(), Error> {
        self.value.push_null();
        self.event_ts.push_null();
        self.status.push_status(FieldStatus::NotFound)
    }
    /// Appends a value as [`OnlineStore::read`] returns it.
    pub fn push(&mut self, v: &FeatureValue) -> Result<(), Error> {
        match (&v.value, v.event_ts) {
            (Some(b), Some(t)) if v.status == FieldStatus::Present => self.push_present(b, t),
            _ => self.push_not_found(),
        }
    }
    /// Values appended so far.
    pub fn len(&self) -> usize {
        self.status.len()
    }
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }
    pub(crate) fn encode(self) -> Result<Vec<u8>, Error> {
        let rows = self.len();
        BatchBuilder::from_columns(vec![self.value, self.event_ts, self.status]).encode_rows(rows, None)
    }
}

/// An online store. `read` returns, per view of the request, one value per (entity key,
/// feature), entity-major: `result[v][k * features.len() + f]`.
pub trait OnlineStore: Default {
    fn init(&mut self, _config: &json::Value) -> Result<(), Error> {
        Ok(())
    }
    fn update(&mut self, req: &UpdateRequest) -> Result<(), Error>;
    fn teardown(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        self.update(&UpdateRequest {
            project: req.project.clone(),
            tables_to_keep: Vec::new(),
            tables_to_delete: req.tables_to_delete.clone(),
        })
    }
    fn write(&mut self, req: &WriteRequest) -> Result<(), Error>;
    fn read(&mut self, req: &ReadRequest) -> Result<Vec<Vec<FeatureValue>>, Error>;
    /// Reads straight into the response: for each request row `(view, key)` of `rows`, in
    /// order, one value per feature of that view (`req.views[view].entity_keys[key]`). The
    /// default calls [`OnlineStore::read`]; a store overrides it to skip the owned
    /// intermediate values.
    fn read_into(&mut self, req: &ReadRequest, rows: &[(usize, usize)], out: &mut ReadOutput) -> Result<(), Error> {
        let result = self.read(req)?;
        if result.len() != req.views.len() {
            return Err(Error::internal(format!("read returned {} views for {}", result.len(), req.views.len())));
        }
        for &(v, k) in rows {
            let nf = req.views[v].features.len();
            let vals = &result[v];
            if vals.len() != nf * req.views[v].entity_keys.len() {
                return Err(Error::internal(format!("read returned {} values for view {:?}", vals.len(), req.views[v].name)));
            }
            for fv in &vals[k * nf..(k + 1) * nf] {
                out.push(fv)?;
            }
        }
        Ok(())
    }
}
