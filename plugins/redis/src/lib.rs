//! Larder's Redis online store: Feast's Redis layout byte for byte (see [`layout`]), over
//! the host's `redis` capability, so data materialized by Feast is served by Larder and the
//! other way round.
//!
//! - read: every (view, entity) of a request is one HMGET in ONE pipeline;
//! - write: HMGET `_ts:{view}` for the batch's keys, then HSET only the rows strictly newer
//!   (nanoseconds) than what is stored and than earlier rows of the batch, plus EXPIRE when
//!   `key_ttl_seconds` is set; `skip_dedup: true` writes in one pipeline without the check;
//! - update (deleted views) and teardown: SCAN `{join-key prefix}*{project}` and remove the
//!   view's fields, or the whole key when that view was the only one in it.
//!
//! Config (`larder_init`, Feast's keys; connection keys never reach the plugin, the host
//! binds them to the capability): `key_ttl_seconds`, `skip_dedup`, `full_scan_for_deletion`
//! (default true), `entity_key_serialization_version` (default 3).

pub mod layout;


use larder_sdk::json;
use larder_sdk::online::{FeatureValue, ReadOutput, ReadRequest, UpdateRequest, WriteRequest};
use larder_sdk::redis::{Args, Command, Pipeline, Redis, ReplyStream};
use larder_sdk::{log, Error, LogLevel, OnlineStore};
use std::collections::HashMap;

/// Name of the capability the operator grants.
pub const CAPABILITY: &str = "online";

/// Feast's entity-less views use this join key.
const DUMMY_JOIN_KEY: &str = "__dummy_id";

/// SCAN COUNT per call during update/teardown.
const SCAN_COUNT: i64 = 1000;

/// Rows per write pipeline pair (timestamps read, then written): bounds the plugin's
/// memory and stays far below the capability's per-pipeline command limit.
const WRITE_CHUNK: usize = 4096;

/// (view, entity) reads per pipeline.
const READ_CHUNK: usize = 8192;

#[derive(Default)]
pub struct RedisStore {
    redis: Option<Redis>,
    key_ttl_seconds: Option<i64>,
    skip_dedup: bool,
    no_full_scan: bool,
    ek_version: u32,
    key: Vec<u8>,
}

impl RedisStore {
    fn redis(&mut self) -> Result<Redis, Error> {
        if let Some(r) = self.redis {
            return Ok(r);
        }
        let r = Redis::open(CAPABILITY)?;
        self.redis = Some(r);
        Ok(r)
    }

    /// Deletes a view's data: for every key of the project with the view's join keys, DEL it
    /// if the view is its only one, else HDEL the view's fields (Feast's delete_table).
    /// `whole_keys` deletes every matching key outright (Feast's teardown).
    fn delete_view(&mut self, project: &str, view: &str, features: &[String], join_keys: &[String], whole_keys: bool) -> Result<(), Error> {
        let redis = self.redis()?;
        let jk: Vec<String> = if join_keys.is_empty() { vec![DUMMY_JOIN_KEY.to_string()] } else { join_keys.to_vec() };
        let prefix = layout::entity_key_prefix(&jk, self.ek_version);
        let ts = layout::ts_field(view);
        let mut fields: Vec<Vec<u8>> = features.iter().map(|f| layout::feature_field(view, f).to_vec()).collect();
        fields.push(ts.clone());
        let mut cursor = 0u64;
        loop {
            let mut p = Pipeline::new();
            p.scan(cursor, SCAN_COUNT, &prefix, project.as_bytes());
            let resp = redis.exec(&p)?;
            let replies = resp.replies()?;
            let a = replies[0].array().map_err(|e| e.context("SCAN"))?;
            cursor = a[0].int()? as u64;
            let keys: Vec<&[u8]> = a[1..].iter().filter_map(|r| r.bulk().ok().flatten()).collect();
            if !keys.is_empty() {
                self.delete_keys(redis, &keys, &ts, &fields, whole_keys)?;
            }
            if cursor == 0 {
                return Ok(());
            }
        }
    }

    fn delete_keys(&self, redis: Redis, keys: &[&[u8]], ts: &[u8], fields: &[Vec<u8>], whole_keys: bool) -> Result<(), Error> {
        let mut del = Pipeline::new();
        if whole_keys {
            for k in keys {
                del.del(k);
            }
        } else {
            let mut get = Pipeline::new();
            for k in keys {
                get.hgetall(k);
            }
            let resp = redis.exec(&get)?;
            for (k, r) in keys.iter().zip(resp.replies()?) {
                let all = r.array().map_err(|e| e.context("HGETALL"))?;
                let mut views = 0;
                let mut ours = false;
                for pair in all.chunks(2) {
                    if let Some(f) = pair[0].bulk()? {
                        if f.starts_with(b"_ts:") {
                            views += 1;
                            ours |= f == ts;
                        }
                    }
                }
                if !ours {
                    continue;
                }
                if views == 1 {
                    del.del(k);
                } else {
                    del.hdel(k, fields);
                }
            }
        }
        redis.exec(&del)?;
        Ok(())
    }
}

impl OnlineStore for RedisStore {
    fn init(&mut self, config: &json::Value) -> Result<(), Error> {
        self.ek_version = 3;
        if let json::Value::Object(m) = config {
            for (k, v) in m {
                match (k.as_str(), v) {
                    (_, json::Value::Null) => {}
                    ("key_ttl_seconds", _) => {
                        let t = v.as_i64().filter(|t| *t >= 0).ok_or_else(|| {
                            Error::bad_argument(format!("online_store.key_ttl_seconds: want a non-negative whole number of seconds, got {:?}", v))
                        })?;
                        self.key_ttl_seconds = if t > 0 { Some(t) } else { None };
                    }
                    ("skip_dedup", _) => {
                        self.skip_dedup = v.as_bool().ok_or_else(|| Error::bad_argument("online_store.skip_dedup: want true or false"))?
                    }
                    ("full_scan_for_deletion", _) => {
                        self.no_full_scan = !v.as_bool().ok_or_else(|| Error::bad_argument("online_store.full_scan_for_deletion: want true or false"))?
                    }
                    ("entity_key_serialization_version", _) => {
                        self.ek_version = v.as_i64().filter(|x| (1..=3).contains(x)).ok_or_else(|| {
                            Error::bad_argument("entity_key_serialization_version: want 1, 2 or 3")
                        })? as u32
                    }
                    // Feast keys for the client that the host binds (or that Larder has no use for).
                    ("connection_string" | "redis_type" | "sentinel_master" | "client" | "max_pipeline_commands" | "type", _) => {}
                    (other, _) => log(LogLevel::Warn, &format!("redis online store: ignoring unknown config key {:?}", other)),
                }
            }
        }
        Ok(())
    }

    fn update(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        if self.no_full_scan {
            return Ok(());
        }
        for t in &req.tables_to_delete {
            self.delete_view(&req.project, &t.name, &t.features, &t.join_keys, false)
                .map_err(|e| e.context(&format!("deleting feature view {:?} from redis", t.name)))?;
        }
        Ok(())
    }

    fn teardown(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        // Feast deletes every key of the project with each torn-down view's join keys.
        let mut seen: Vec<Vec<String>> = Vec::new();
        for t in &req.tables_to_delete {
            let mut jk = t.join_keys.clone();
            jk.sort();
            if seen.contains(&jk) {
                continue;
            }
            seen.push(jk);
            self.delete_view(&req.project, &t.name, &t.features, &t.join_keys, true)
                .map_err(|e| e.context(&format!("tearing down feature view {:?} in redis", t.name)))?;
        }
        Ok(())
    }

    fn write(&mut self, req: &WriteRequest) -> Result<(), Error> {
        let redis = self.redis()?;
        let ts_field = layout::ts_field(&req.view);
        let fields: Vec<[u8; 4]> = req.features.iter().map(|f| layout::feature_field(&req.view, f)).collect();
        // Latest event time known per entity: stored (read first), then raised by earlier
        // rows of this batch, so that among rows of one entity the newest wins whatever
        // the order. Keyed by the entity key borrowed from the request (the project is fixed).
        let mut latest: HashMap<&[u8], i128> = HashMap::new();
        for chunk in req.rows.chunks(WRITE_CHUNK) {
            if !self.skip_dedup {
                let mut get = Pipeline::new();
                let mut order: Vec<&[u8]> = Vec::new();
                for r in chunk {
                    if !latest.contains_key(r.entity_key.as_slice()) {
                        latest.insert(&r.entity_key, 0);
                        order.push(&r.entity_key);
                        layout::redis_key(&mut self.key, &r.entity_key, &req.project);
                        get.hmget(&self.key, &[&ts_field]);
                    }
                }
                let resp = redis.exec(&get).map_err(|e| e.context("reading stored event timestamps"))?;
                for (k, r) in order.iter().zip(resp.replies()?) {
                    if let Some(b) = r.array()?.first().map(|x| x.bulk()).transpose()?.flatten() {
                        let n = layout::decode_timestamp_nanos(b).map_err(|e| {
                            Error::serialization(format!(
                                "stored {} of a key in project {:?} is not a protobuf Timestamp: {}",
                                String::from_utf8_lossy(&ts_field),
                                req.project,
                                e
                            ))
                        })?;
                        latest.insert(k, n);
                    }
                }
            }
            let mut set = Pipeline::new();
            for r in chunk {
                let new = r.event_ts as i128 * 1000;
                if !self.skip_dedup {
                    let seen = latest.get_mut(r.entity_key.as_slice()).expect("every key was read");
                    if *seen != 0 && new <= *seen {
                        continue; // not newer: keep what is stored (Feast does the same)
                    }
                    *seen = new;
                }
                layout::redis_key(&mut self.key, &r.entity_key, &req.project);
                let ts = layout::encode_timestamp(r.event_ts);
                let mut w = set.start(Command::Hset, &self.key);
                w.push_arg(&ts_field);
                w.push_arg(&ts);
                for (f, v) in fields.iter().zip(&r.values) {
                    if let Some(v) = v {
                        w.push_arg(f);
                        w.push_arg(v);
                    }
                }
                w.finish();
                if let Some(ttl) = self.key_ttl_seconds {
                    set.expire(&self.key, ttl);
                }
            }
            redis.exec(&set).map_err(|e| e.context("writing features"))?;
        }
        Ok(())
    }

    fn read(&mut self, req: &ReadRequest) -> Result<Vec<Vec<FeatureValue>>, Error> {
        let rows: Vec<(usize, usize)> =
            req.views.iter().enumerate().flat_map(|(vi, v)| (0..v.entity_keys.len()).map(move |ki| (vi, ki))).collect();
        let mut out = Owned(req.views.iter().map(|v| Vec::with_capacity(v.entity_keys.len() * v.features.len())).collect());
        self.hmget_rows(req, &rows, &mut out)?;
        Ok(out.0)
    }

    fn read_into(&mut self, req: &ReadRequest, rows: &[(usize, usize)], out: &mut ReadOutput) -> Result<(), Error> {
        let values = rows.iter().map(|&(vi, _)| req.views[vi].features.len()).sum();
        self.hmget_rows(req, rows, &mut IntoBatch { out, values, reserved: false })
    }
}

/// Where [`RedisStore::hmget_rows`] puts what it reads.
trait Sink {
    /// A pipeline's response of `bytes` bytes arrived; its rows follow.
    fn sized(&mut self, _bytes: usize) {}
    /// One row of view `vi` whose event time is `ts`: read that view's feature values from
    /// `values` (one [`ReplyStream::bulk`] per feature, in order).
    fn row(&mut self, vi: usize, nf: usize, ts: i64, values: &mut ReplyStream<'_>) -> Result<(), Error>;
}

/// Owned values per view, for [`OnlineStore::read`].
struct Owned(Vec<Vec<FeatureValue>>);

impl Sink for Owned {
    fn row(&mut self, vi: usize, nf: usize, ts: i64, values: &mut ReplyStream<'_>) -> Result<(), Error> {
        for _ in 0..nf {
            self.0[vi].push(match values.bulk()? {
                Some(b) => FeatureValue::present(b.to_vec(), ts),
                None => FeatureValue::not_found(),
            });
        }
        Ok(())
    }
}

/// Straight into the response batch, for [`OnlineStore::read_into`].
struct IntoBatch<'a> {
    out: &'a mut ReadOutput,
    values: usize,
    reserved: bool,
}

impl Sink for IntoBatch<'_> {
    fn sized(&mut self, bytes: usize) {
        // The response bounds the value bytes: grow the columns once, not by doubling.
        if !self.reserved {
            self.out.reserve(self.values, bytes);
            self.reserved = true;
        }
    }
    fn row(&mut self, _vi: usize, nf: usize, ts: i64, values: &mut ReplyStream<'_>) -> Result<(), Error> {
        for _ in 0..nf {
            match values.bulk()? {
                Some(b) => self.out.push_present(b, ts)?,
                None => self.out.push_not_found()?,
            }
        }
        Ok(())
    }
}

impl RedisStore {
    /// Reads `rows` (view, entity) with one HMGET each — all in one pipeline unless there are
    /// more than READ_CHUNK. The HMGET asks for the view's `_ts:` field first, then its
    /// features, so the sink gets each row's event time before it reads the row's feature
    /// values (None = missing) straight from the reply, in row order.
    fn hmget_rows(&mut self, req: &ReadRequest, rows: &[(usize, usize)], sink: &mut dyn Sink) -> Result<(), Error> {
        let redis = self.redis()?;
        // Each view's fields are encoded once and copied into every HMGET of that view.
        let view_fields: Vec<Args> = req
            .views
            .iter()
            .map(|v| {
                let mut a = Args::default();
                a.push(&layout::ts_field(&v.name));
                for f in &v.features {
                    a.push(&layout::feature_field(&v.name, f));
                }
                a
            })
            .collect();
        for chunk in rows.chunks(READ_CHUNK) {
            let size: usize = chunk
                .iter()
                .map(|&(vi, ki)| 8 + req.views[vi].entity_keys[ki].len() + req.project.len() + view_fields[vi].encoded_len())
                .sum();
            let mut p = Pipeline::with_capacity(8 + size);
            for &(vi, ki) in chunk {
                layout::redis_key(&mut self.key, &req.views[vi].entity_keys[ki], &req.project);
                p.hmget_args(&self.key, &view_fields[vi]);
            }
            let resp = redis.exec(&p).map_err(|e| e.context("reading features"))?;
            sink.sized(resp.bytes().len());
            let mut replies = resp.stream()?;
            // Rows of a request usually share one event time: decode each distinct one once.
            let mut last_ts: (&[u8], i64) = (&[], 0);
            for &(vi, _) in chunk {
                let v = &req.views[vi];
                let nf = v.features.len();
                let n = replies.array().map_err(|e| e.context(&format!("HMGET for view {:?}", v.name)))?;
                if n != nf + 1 {
                    return Err(Error::internal(format!("HMGET returned {} values for {} fields", n, nf + 1)));
                }
                let ts = match replies.bulk()? {
                    Some(b) if b == last_ts.0 && !b.is_empty() => last_ts.1,
                    Some(b) => {
                        let t = layout::nanos_to_micros(layout::decode_timestamp_nanos(b).map_err(|e| {
                            Error::serialization(format!("_ts:{} of an entity in project {:?} is not a protobuf Timestamp: {}", v.name, req.project, e))
                        })?);
                        last_ts = (b, t);
                        t
                    }
                    None => 0,
                };
                sink.row(vi, nf, ts, &mut replies)?;
            }
            replies.finish()?;
        }
        Ok(())
    }
}

larder_sdk::export_online_store!(RedisStore, id = "redis", version = "0.1.0",
    capabilities = [("redis", "online", ["serve", "apply", "teardown"])]);
