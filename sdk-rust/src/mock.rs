//! A native stand-in for the Larder host, so `cargo test` runs plugin logic without Wasm.
//!
//! Requests go through the same encoding and glue code the Wasm exports use; only the raw
//! memory hand-off is skipped. Capabilities are granted per test with [`grant`].

use crate::batch::{Batch, BatchBuilder};
use crate::json::quote;
use crate::online::{FeatureValue, OnlineStore, ReadRequest, Table, UpdateRequest, WriteRequest};
use crate::status::{Error, Status};
use crate::transform::Transformation;
use crate::types::{FieldStatus, Type};
use crate::{json, LogLevel};
use crate::redis::MemoryRedis;
use std::cell::RefCell;
use std::rc::Rc;

/// Handles capability operations in tests: `(op, request) -> response`.
pub type Handler = Box<dyn FnMut(u32, &[u8]) -> Result<Vec<u8>, Error>>;

#[derive(Default)]
struct State {
    grants: Vec<(String, String, Option<Handler>)>,
    pending: Vec<u8>,
    logs: Vec<(LogLevel, String)>,
    now: Option<i64>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Grants capability `name` of `kind` to code running on this thread, served by `handler`.
pub fn grant(kind: &str, name: &str, handler: Handler) {
    STATE.with(|s| s.borrow_mut().grants.push((kind.to_string(), name.to_string(), Some(handler))));
}

/// Grants the `redis` capability `name`, served by a fresh in-memory server that the test
/// can inspect or make fail through the returned handle.
pub fn grant_redis(name: &str) -> Rc<RefCell<MemoryRedis>> {
    let server = Rc::new(RefCell::new(MemoryRedis::default()));
    let s = server.clone();
    grant(crate::redis::KIND, name, Box::new(move |op, req| s.borrow_mut().handle(op, req)));
    server
}

/// Removes every grant and log line, and unfreezes the clock.
pub fn reset() {
    STATE.with(|s| *s.borrow_mut() = State::default());
}

/// Log lines written so far on this thread.
pub fn logs() -> Vec<(LogLevel, String)> {
    STATE.with(|s| s.borrow().logs.clone())
}

/// Freezes the clock at `micros` since the epoch.
pub fn set_now(micros: i64) {
    STATE.with(|s| s.borrow_mut().now = Some(micros));
}

/// The same host functions the Wasm build imports, served in process.
pub mod host {
    use super::*;

    pub fn cap_open(kind: &str, name: &str) -> i32 {
        STATE.with(|s| {
            s.borrow()
                .grants
                .iter()
                .position(|(k, n, _)| k == kind && n == name)
                .map_or(-(Status::PermissionDenied as i32), |i| i as i32)
        })
    }

    pub fn cap_call(handle: u32, op: u32, req: &[u8]) -> i64 {
        // Take the handler out while it runs so it may log without a double borrow.
        let handler = STATE.with(|s| s.borrow_mut().grants.get_mut(handle as usize).and_then(|g| g.2.take()));
        let mut handler = match handler {
            Some(h) => h,
            None => {
                STATE.with(|s| s.borrow_mut().pending = b"bad capability handle".to_vec());
                return -(Status::BadArgument as i64);
            }
        };
        let r = handler(op, req);
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.grants[handle as usize].2 = Some(handler);
            match r {
                Ok(out) => {
                    let n = out.len() as i64;
                    s.pending = out;
                    n
                }
                Err(e) => {
                    s.pending = e.message.into_bytes();
                    -(e.status as i64)
                }
            }
        })
    }

    pub fn cap_take_all(n: usize) -> Vec<u8> {
        STATE.with(|s| {
            let mut p = std::mem::take(&mut s.borrow_mut().pending);
            p.truncate(n);
            p
        })
    }

    pub fn log(level: u32, msg: &str) {
        let level = match level {
            0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        };
        STATE.with(|s| s.borrow_mut().logs.push((level, msg.to_string())));
    }

    pub fn now_unix_micros() -> i64 {
        STATE.with(|s| s.borrow().now).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64)
        })
    }

    pub fn deadline_remaining_micros() -> i64 {
        -1
    }
}

/// Runs transformation `T` (a fresh instance) on `input` as the host would: with metadata naming
/// `function` and the declared `outputs`, and the same output checks.
pub fn transform<T: Transformation>(input: &BatchBuilder, function: &str, outputs: &[(&str, Type)]) -> Result<Batch, Error> {
    let mut t = T::default();
    t.init(&json::Value::Object(Vec::new()))?;
    transform_with(&mut t, input, function, outputs)
}

/// Like [`transform`] on an existing instance (to test state across calls, or a configured one).
pub fn transform_with<T: Transformation>(
    t: &mut T,
    input: &BatchBuilder,
    function: &str,
    outputs: &[(&str, Type)],
) -> Result<Batch, Error> {
    let outs: Vec<String> = outputs
        .iter()
        .map(|(n, ty)| format!("{{\"name\":{},\"type\":{}}}", quote(n), quote(ty.name())))
        .collect();
    let meta = format!("{{\"odfv\":\"test\",\"function\":{},\"outputs\":[{}]}}", quote(function), outs.join(","));
    let bytes = input.encode(Some(&meta))?;
    let out = crate::__private::transform_bytes(t, &bytes)?;
    let batch = Batch::decode(out)?;
    for (name, ty) in outputs {
        let c = batch.column(name).map_err(|_| Error::internal(format!("output column {:?} missing", name)))?;
        if c.ty() != *ty {
            return Err(Error::internal(format!("output column {:?} is {}, declared {}", name, c.ty().name(), ty.name())));
        }
    }
    Ok(batch)
}

/// Drives an online store through the same request encodings the host sends.
pub struct Store<T: OnlineStore> {
    pub store: T,
}

fn tables_json(ts: &[Table]) -> String {
    let items: Vec<String> = ts
        .iter()
        .map(|t| {
            let list = |v: &[String]| v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(",");
            format!(
                "{{\"name\":{},\"features\":[{}],\"join_keys\":[{}]}}",
                quote(&t.name),
                list(&t.features),
                list(&t.join_keys)
            )
        })
        .collect();
    items.join(",")
}

impl<T: OnlineStore> Store<T> {
    /// A fresh store initialised with `config` (a JSON object).
    pub fn new(config: &str) -> Result<Store<T>, Error> {
        let mut store = T::default();
        store.init(&crate::__private::parse_config(config.as_bytes())?)?;
        Ok(Store { store })
    }

    fn update_json(req: &UpdateRequest) -> String {
        format!(
            "{{\"project\":{},\"tables_to_keep\":[{}],\"tables_to_delete\":[{}]}}",
            quote(&req.project),
            tables_json(&req.tables_to_keep),
            tables_json(&req.tables_to_delete)
        )
    }

    pub fn update(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        let parsed = crate::__private::parse_update(Self::update_json(req).as_bytes())?;
        self.store.update(&parsed)
    }

    pub fn teardown(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        let parsed = crate::__private::parse_update(Self::update_json(req).as_bytes())?;
        self.store.teardown(&parsed)
    }

    pub fn write(&mut self, req: &WriteRequest) -> Result<(), Error> {
        let mut b = BatchBuilder::new();
        for r in &req.rows {
            b.column("__entity_key", Type::Bytes)?.push_bytes(&r.entity_key)?;
            b.column("__event_ts", Type::UnixTimestamp)?.push_timestamp(r.event_ts)?;
            let c = b.column("__created_ts", Type::UnixTimestamp)?;
            match r.created_ts {
                Some(t) => c.push_timestamp(t)?,
                None => c.push_null(),
            }
            for (f, v) in req.features.iter().zip(&r.values) {
                let c = b.column(f, Type::Bytes)?;
                match v {
                    Some(v) => c.push_bytes(v)?,
                    None => c.push_null(),
                }
            }
        }
        let feats: Vec<String> = req.features.iter().map(|f| quote(f)).collect();
        let meta = format!(
            "{{\"project\":{},\"view\":{},\"features\":[{}]}}",
            quote(&req.project),
            quote(&req.view),
            feats.join(",")
        );
        let parsed = crate::__private::parse_write(&b.encode(Some(&meta))?)?;
        self.store.write(&parsed)
    }

    /// Reads as the host does and decodes the response back into per-view values.
    pub fn read(&mut self, req: &ReadRequest) -> Result<Vec<Vec<FeatureValue>>, Error> {
        let mut b = BatchBuilder::new();
        b.column("__view", Type::Int32)?;
        b.column("__entity_key", Type::Bytes)?;
        let mut views = Vec::new();
        for (i, v) in req.views.iter().enumerate() {
            for k in &v.entity_keys {
                b.column("__view", Type::Int32)?.push_i32(i as i32)?;
                b.column("__entity_key", Type::Bytes)?.push_bytes(k)?;
            }
            let feats: Vec<String> = v.features.iter().map(|f| quote(f)).collect();
            views.push(format!("{{\"name\":{},\"features\":[{}]}}", quote(&v.name), feats.join(",")));
        }
        let meta = format!("{{\"project\":{},\"views\":[{}]}}", quote(&req.project), views.join(","));
        let out = Batch::decode(crate::__private::read_bytes(&mut self.store, &b.encode(Some(&meta))?)?)?;
        let (value, ts, status) = (out.column("value")?, out.column("__event_ts")?, out.column("__status")?);
        let mut row = 0;
        let mut result = Vec::new();
        for v in &req.views {
            let mut vals = Vec::new();
            for _ in 0..v.entity_keys.len() * v.features.len() {
                let st = status.status(row)?;
                vals.push(if st == FieldStatus::Present {
                    FeatureValue::present(value.bytes(row)?.to_vec(), ts.timestamp(row)?)
                } else {
                    FeatureValue { value: None, event_ts: None, status: st }
                });
                row += 1;
            }
            result.push(vals);
        }
        Ok(result)
    }
}
