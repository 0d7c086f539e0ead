//! Larder's DynamoDB online store: Feast's DynamoDB layout (see [`layout`]) over the host's
//! `dynamodb` capability (spec §6.3), so tables written by Feast are served by Larder and
//! the other way round.
//!
//! - update: CREATE_TABLE for the views to keep (hash key `entity_id` S, on demand), DELETE_TABLE
//!   for the views to delete; teardown deletes every table of the request;
//! - write: one GET_ITEMS and one PUT_ITEMS per request; within a batch the row with the
//!   latest event time wins per entity (Feast's in-batch de-duplication); features the write
//!   leaves alone keep their stored values (Feast replaces the item; `skip_merge: true`
//!   does too, without the read);
//! - read: one GET_ITEMS per view (the host batches by 100 and retries unprocessed keys).
//!
//! Config (`larder_init`, Feast's keys): `table_name_template` (default
//! `{project}.{table_name}`), `consistent_reads`, `skip_merge`; connection keys (`region`, `endpoint_url`…)
//! are bound by the host and ignored here.

pub mod layout;

use larder_sdk::json::{self, quote};
use larder_sdk::online::{FeatureValue, ReadRequest, UpdateRequest, WriteRequest};
use larder_sdk::{log, murmur3, Capability, Error, LogLevel, OnlineStore};
use std::collections::HashMap;

/// Name of the capability the operator grants.
pub const CAPABILITY: &str = "online";
const KIND: &str = "dynamodb";

const OP_GET_ITEMS: u32 = 1;
const OP_PUT_ITEMS: u32 = 2;
const OP_CREATE_TABLE: u32 = 3;
const OP_DELETE_TABLE: u32 = 4;

const KEY: &str = "entity_id";

pub struct DynamoStore {
    cap: Option<Capability>,
    template: String,
    consistent: bool,
    skip_merge: bool,
}

impl Default for DynamoStore {
    fn default() -> DynamoStore {
        DynamoStore { cap: None, template: "{project}.{table_name}".to_string(), consistent: false, skip_merge: false }
    }
}

/// An item as read back: event time and feature → value bytes.
struct Item {
    event_ts: Option<i64>,
    values: HashMap<String, Vec<u8>>,
}

impl DynamoStore {
    fn cap(&mut self) -> Result<Capability, Error> {
        if let Some(c) = self.cap {
            return Ok(c);
        }
        let c = Capability::open(KIND, CAPABILITY)?;
        self.cap = Some(c);
        Ok(c)
    }

    fn call(&mut self, op: u32, req: &str) -> Result<json::Value, Error> {
        let out = self.cap()?.call(op, req.as_bytes())?;
        let text = std::str::from_utf8(&out).map_err(|_| Error::serialization("dynamodb response is not UTF-8"))?;
        json::parse(text).map_err(|e| e.context("dynamodb response"))
    }

    /// Reads the items of `ids` from `table`, in order.
    fn get(&mut self, table: &str, ids: &[String]) -> Result<Vec<Option<Item>>, Error> {
        let mut req = format!("{{\"table\":{},\"key\":\"{}\",\"consistent\":{},\"keys\":[", quote(table), KEY, self.consistent);
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                req.push(',');
            }
            req.push_str("{\"S\":\"");
            req.push_str(id); // lowercase hex: nothing to escape
            req.push_str("\"}");
        }
        req.push_str("]}");
        let resp = self.call(OP_GET_ITEMS, &req)?;
        let items = resp.get("items").map(|v| v.as_array()).unwrap_or(&[]);
        if items.len() != ids.len() {
            return Err(Error::internal(format!("GET_ITEMS returned {} items for {} keys", items.len(), ids.len())));
        }
        items.iter().map(|it| if *it == json::Value::Null { Ok(None) } else { parse_item(it, table).map(Some) }).collect()
    }
}

fn parse_item(it: &json::Value, table: &str) -> Result<Item, Error> {
    let bad = |what: &str| Error::serialization(format!("an item of table {:?}: {}", table, what));
    let event_ts = match it.get("event_ts").and_then(|v| v.get("S")).and_then(|v| v.as_str()) {
        Some(s) => Some(layout::parse_ts(s).ok_or_else(|| bad(&format!("event_ts {:?} is not a timestamp", s)))?),
        None => None,
    };
    let mut values = HashMap::new();
    if let Some(json::Value::Object(m)) = it.get("values").and_then(|v| v.get("M")) {
        for (f, v) in m {
            let b = v.get("B").and_then(|b| b.as_str()).ok_or_else(|| bad(&format!("values.{} is not B", f)))?;
            values.insert(f.clone(), layout::b64_decode(b).ok_or_else(|| bad(&format!("values.{} is not base64", f)))?);
        }
    }
    Ok(Item { event_ts, values })
}

impl OnlineStore for DynamoStore {
    fn init(&mut self, config: &json::Value) -> Result<(), Error> {
        if let json::Value::Object(m) = config {
            for (k, v) in m {
                match (k.as_str(), v) {
                    (_, json::Value::Null) => {}
                    ("table_name_template", _) => {
                        let t = v.as_str().ok_or_else(|| Error::bad_argument("online_store.table_name_template: want a string"))?;
                        if !t.contains("{table_name}") {
                            return Err(Error::bad_argument(format!("online_store.table_name_template {:?} lacks {{table_name}}", t)));
                        }
                        self.template = t.to_string();
                    }
                    ("consistent_reads", _) => {
                        self.consistent = v.as_bool().ok_or_else(|| Error::bad_argument("online_store.consistent_reads: want true or false"))?
                    }
                    ("skip_merge", _) => {
                        self.skip_merge = v.as_bool().ok_or_else(|| Error::bad_argument("online_store.skip_merge: want true or false"))?
                    }
                    ("region" | "endpoint_url" | "batch_size" | "max_pool_connections" | "keepalive_timeout" | "connect_timeout"
                    | "read_timeout" | "total_max_retry_attempts" | "retry_mode" | "tags" | "session_based_auth" | "type", _) => {}
                    (other, _) => log(LogLevel::Warn, &format!("dynamodb online store: ignoring unknown config key {:?}", other)),
                }
            }
        }
        Ok(())
    }

    fn update(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        for t in &req.tables_to_keep {
            let table = layout::table_name(&self.template, &req.project, &t.name);
            self.call(OP_CREATE_TABLE, &format!("{{\"table\":{},\"key\":\"{}\",\"key_type\":\"S\"}}", quote(&table), KEY))
                .map_err(|e| e.context(&format!("creating table {:?}", table)))?;
        }
        for t in &req.tables_to_delete {
            let table = layout::table_name(&self.template, &req.project, &t.name);
            self.call(OP_DELETE_TABLE, &format!("{{\"table\":{}}}", quote(&table))).map_err(|e| e.context(&format!("deleting table {:?}", table)))?;
        }
        Ok(())
    }

    fn teardown(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        for t in req.tables_to_keep.iter().chain(&req.tables_to_delete) {
            let table = layout::table_name(&self.template, &req.project, &t.name);
            self.call(OP_DELETE_TABLE, &format!("{{\"table\":{}}}", quote(&table))).map_err(|e| e.context(&format!("deleting table {:?}", table)))?;
        }
        Ok(())
    }

    fn write(&mut self, req: &WriteRequest) -> Result<(), Error> {
        if req.rows.is_empty() {
            return Ok(());
        }
        let table = layout::table_name(&self.template, &req.project, &req.view);
        // Latest row per entity (a later row wins a tie), in first-seen order.
        let mut order: Vec<String> = Vec::new();
        let mut latest: HashMap<String, usize> = HashMap::new();
        for (i, r) in req.rows.iter().enumerate() {
            let id = murmur3::entity_id_hex(&r.entity_key);
            match latest.get(&id) {
                Some(&j) if req.rows[j].event_ts > r.event_ts => {}
                Some(_) => {
                    latest.insert(id, i);
                }
                None => {
                    order.push(id.clone());
                    latest.insert(id, i);
                }
            }
        }
        // PutItem replaces the whole item, and a write may carry some of a view's features
        // only (a push, a null cell): read the stored items first and keep the features the
        // write leaves alone. Feast overwrites the item; skip_merge: true does the same.
        let mut stored: HashMap<String, Item> = HashMap::new();
        if !self.skip_merge {
            for (id, item) in order.iter().zip(self.get(&table, &order).map_err(|e| e.context("reading items to merge"))?) {
                if let Some(item) = item {
                    stored.insert(id.clone(), item);
                }
            }
        }
        let mut body = format!("{{\"table\":{},\"key\":\"{}\",\"items\":[", quote(&table), KEY);
        for (n, id) in order.iter().enumerate() {
            let r = &req.rows[latest[id]];
            if n > 0 {
                body.push(',');
            }
            body.push_str("{\"entity_id\":{\"S\":\"");
            body.push_str(id);
            body.push_str("\"},\"event_ts\":{\"S\":\"");
            body.push_str(&layout::format_ts(r.event_ts));
            body.push_str("\"},\"values\":{\"M\":{");
            let mut first = true;
            let mut put = |body: &mut String, f: &str, v: &[u8]| {
                if !first {
                    body.push(',');
                }
                first = false;
                body.push_str(&quote(f));
                body.push_str(":{\"B\":\"");
                layout::b64_encode(v, body);
                body.push_str("\"}");
            };
            for (f, v) in req.features.iter().zip(&r.values) {
                if let Some(v) = v {
                    put(&mut body, f, v);
                }
            }
            if let Some(old) = stored.get(id) {
                let mut kept: Vec<(&String, &Vec<u8>)> = old
                    .values
                    .iter()
                    .filter(|(f, _)| req.features.iter().zip(&r.values).all(|(g, v)| g != *f || v.is_none()))
                    .collect();
                kept.sort();
                for (f, v) in kept {
                    put(&mut body, f, v);
                }
            }
            body.push_str("}}}");
        }
        body.push_str("]}");
        self.call(OP_PUT_ITEMS, &body).map_err(|e| e.context(&format!("writing {} items to {:?}", order.len(), table)))?;
        Ok(())
    }

    fn read(&mut self, req: &ReadRequest) -> Result<Vec<Vec<FeatureValue>>, Error> {
        let mut out = Vec::with_capacity(req.views.len());
        for v in &req.views {
            let table = layout::table_name(&self.template, &req.project, &v.name);
            let ids: Vec<String> = v.entity_keys.iter().map(|k| murmur3::entity_id_hex(k)).collect();
            let items = self.get(&table, &ids).map_err(|e| e.context(&format!("reading feature view {:?}", v.name)))?;
            let mut vals = Vec::with_capacity(ids.len() * v.features.len());
            for item in &items {
                for f in &v.features {
                    vals.push(match item.as_ref().and_then(|it| it.values.get(f).map(|b| (b, it.event_ts))) {
                        Some((b, ts)) => FeatureValue::present(b.clone(), ts.unwrap_or(0)),
                        None => FeatureValue::not_found(),
                    });
                }
            }
            out.push(vals);
        }
        Ok(out)
    }
}

larder_sdk::export_online_store!(DynamoStore, id = "dynamodb", version = "0.1.0",
    capabilities = [("dynamodb", "online", ["serve", "apply", "teardown"])]);
