//! The online store kind (spec §8), mirroring Feast's OnlineStore. Entity keys arrive
//! serialized by the host (Feast entity-key serialization) and values as serialized
//! `feast.types.Value` messages: a store keeps and returns those bytes unchanged.

use crate::json;
use crate::status::Error;
use crate::types::FieldStatus;

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
}
