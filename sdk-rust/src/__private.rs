//! Glue used by the export macros. Not part of the public API.

use crate::batch::{Batch, BatchBuilder};
use crate::json::{self, quote};
use crate::online::{OnlineStore, ReadOutput, ReadRequest, ReadView, Table, UpdateRequest, WriteRequest, WriteRow};
use crate::status::{Error, Status};
use crate::transform::Transformation;
use crate::types::Type;
use std::cell::RefCell;

/// Per-instance buffers: the last result and the last error message.
pub struct Exchange {
    pub result: Vec<u8>,
    pub error: Vec<u8>,
}

thread_local! {
    pub static EXCHANGE: RefCell<Exchange> = RefCell::new(Exchange { result: Vec::new(), error: Vec::new() });
}

/// Stores the outcome of a call and returns its status code.
pub fn finish(r: Result<Vec<u8>, Error>) -> i32 {
    EXCHANGE.with(|x| {
        let mut x = x.borrow_mut();
        match r {
            Ok(out) => {
                x.result = out;
                Status::Ok as i32
            }
            Err(e) => {
                x.result.clear();
                x.error = e.message.into_bytes();
                e.status as i32
            }
        }
    })
}

/// The manifest JSON (spec §3.2).
pub fn manifest(id: &str, kind: &str, version: &str, capabilities: &[(&str, &str, &[&str])]) -> String {
    let mut caps = String::new();
    for (i, (k, n, phases)) in capabilities.iter().enumerate() {
        if i > 0 {
            caps.push(',');
        }
        let ph: Vec<String> = phases.iter().map(|p| quote(p)).collect();
        caps.push_str(&format!("{{\"kind\":{},\"name\":{},\"phases\":[{}]}}", quote(k), quote(n), ph.join(",")));
    }
    format!(
        "{{\"id\":{},\"kind\":{},\"version\":{},\"sdk\":{},\"capabilities\":[{}]}}",
        quote(id),
        quote(kind),
        quote(version),
        quote(crate::SDK),
        caps
    )
}

pub fn parse_config(input: &[u8]) -> Result<json::Value, Error> {
    if input.is_empty() {
        return Ok(json::Value::Object(Vec::new()));
    }
    let text = std::str::from_utf8(input).map_err(|_| Error::bad_argument("config is not UTF-8"))?;
    json::parse(text).map_err(|e| e.context("parsing plugin config"))
}

// ---- transformation ----

pub fn transform_bytes<T: Transformation>(p: &mut T, input: &[u8]) -> Result<Vec<u8>, Error> {
    let batch = Batch::decode(input.to_vec()).map_err(|e| e.context("decoding transform input"))?;
    let meta = if batch.metadata().is_empty() {
        json::Value::Object(Vec::new())
    } else {
        json::parse(batch.metadata()).map_err(|e| e.context("transform metadata"))?
    };
    let function = meta.get("function").and_then(json::Value::as_str).unwrap_or("transform").to_string();
    let mut outputs = Vec::new();
    for o in meta.get("outputs").map_or(&[][..], json::Value::as_array) {
        let name = o.str_field("name")?;
        let ty = o.str_field("type")?;
        let ty = Type::from_name(ty).ok_or_else(|| Error::bad_argument(format!("output {:?}: unknown type {}", name, ty)))?;
        outputs.push((name.to_string(), ty));
    }
    let mut out = BatchBuilder::new();
    // Declared outputs exist up front, so a plugin that forgets one fails loudly below.
    for (name, ty) in &outputs {
        out.column(name, *ty)?;
    }
    p.transform(&function, &batch, &mut out)?;
    let rows = out.rows()?;
    if !outputs.is_empty() && rows != batch.rows() {
        return Err(Error::internal(format!("transform produced {} rows for {} input rows", rows, batch.rows())));
    }
    out.encode_rows(batch.rows(), None)
}

// ---- online store ----

fn tables(v: &json::Value, key: &str) -> Result<Vec<Table>, Error> {
    v.get(key)
        .map_or(&[][..], json::Value::as_array)
        .iter()
        .map(|t| {
            Ok(Table {
                name: t.str_field("name")?.to_string(),
                features: t.str_list("features")?,
                join_keys: t.str_list("join_keys")?,
            })
        })
        .collect()
}

pub fn parse_update(input: &[u8]) -> Result<UpdateRequest, Error> {
    let text = std::str::from_utf8(input).map_err(|_| Error::bad_argument("update request is not UTF-8"))?;
    let v = json::parse(text)?;
    Ok(UpdateRequest {
        project: v.str_field("project")?.to_string(),
        tables_to_keep: tables(&v, "tables_to_keep")?,
        tables_to_delete: tables(&v, "tables_to_delete")?,
    })
}

pub fn parse_write(input: &[u8]) -> Result<WriteRequest, Error> {
    let b = Batch::decode(input.to_vec())?;
    let meta = json::parse(b.metadata())?;
    let features = meta.str_list("features")?;
    let keys = b.column("__entity_key")?;
    let ev = b.column("__event_ts")?;
    let created = b.column("__created_ts").ok();
    let cols = features.iter().map(|f| b.column(f)).collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::with_capacity(b.rows());
    for r in 0..b.rows() {
        let created_ts = match created {
            Some(c) if !c.is_null(r) => Some(c.timestamp(r)?),
            _ => None,
        };
        let mut values = Vec::with_capacity(cols.len());
        for c in &cols {
            values.push(if c.is_null(r) { None } else { Some(c.bytes(r)?.to_vec()) });
        }
        rows.push(WriteRow { entity_key: keys.bytes(r)?.to_vec(), event_ts: ev.timestamp(r)?, created_ts, values });
    }
    Ok(WriteRequest {
        project: meta.str_field("project")?.to_string(),
        view: meta.str_field("view")?.to_string(),
        features,
        rows,
    })
}

/// Decodes a read request; also returns, per request row, its (view, key index).
pub fn parse_read(input: &[u8]) -> Result<(ReadRequest, Vec<(usize, usize)>), Error> {
    let b = Batch::decode(input.to_vec())?;
    let meta = json::parse(b.metadata())?;
    let mut views = Vec::new();
    for v in meta.get("views").map_or(&[][..], json::Value::as_array) {
        views.push(ReadView { name: v.str_field("name")?.to_string(), features: v.str_list("features")?, entity_keys: Vec::new() });
    }
    let vcol = b.column("__view")?;
    let kcol = b.column("__entity_key")?;
    let mut order = Vec::with_capacity(b.rows());
    for r in 0..b.rows() {
        let v = vcol.i32(r)?;
        let view = views
            .get_mut(v as usize)
            .ok_or_else(|| Error::bad_argument(format!("row {}: view index {} out of range", r, v)))?;
        order.push((v as usize, view.entity_keys.len()));
        view.entity_keys.push(kcol.bytes(r)?.to_vec());
    }
    Ok((ReadRequest { project: meta.str_field("project")?.to_string(), views }, order))
}

pub fn read_bytes<T: OnlineStore>(p: &mut T, input: &[u8]) -> Result<Vec<u8>, Error> {
    let (req, order) = parse_read(input)?;
    let want: usize = order.iter().map(|&(v, _)| req.views[v].features.len()).sum();
    let mut out = ReadOutput::new();
    p.read_into(&req, &order, &mut out)?;
    if out.len() != want {
        return Err(Error::internal(format!("read produced {} values, the request asks for {}", out.len(), want)));
    }
    out.encode()
}

/// Raw memory plumbing; the only `unsafe` in the SDK besides the host imports.
#[cfg(target_arch = "wasm32")]
pub mod wasm {
    use super::EXCHANGE;
    use std::alloc::{alloc as raw_alloc, dealloc, Layout};

    const ALIGN: usize = 8;

    pub fn alloc(size: u32) -> u32 {
        if size == 0 {
            return ALIGN as u32;
        }
        match Layout::from_size_align(size as usize, ALIGN) {
            Ok(l) => unsafe { raw_alloc(l) as u32 },
            Err(_) => 0,
        }
    }

    pub fn free(ptr: u32, size: u32) {
        if size == 0 || ptr == 0 {
            return;
        }
        if let Ok(l) = Layout::from_size_align(size as usize, ALIGN) {
            unsafe { dealloc(ptr as *mut u8, l) }
        }
    }

    /// Copies the host's input out of the buffer it obtained from `larder_alloc`, then frees it:
    /// the spec hands that buffer to the guest with the call.
    pub fn take_input(ptr: u32, len: u32) -> Vec<u8> {
        if len == 0 {
            return Vec::new();
        }
        let v = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) }.to_vec();
        free(ptr, len);
        v
    }

    fn pack(v: &[u8]) -> u64 {
        if v.is_empty() {
            return 0;
        }
        ((v.as_ptr() as u32 as u64) << 32) | v.len() as u64
    }

    pub fn result_region() -> u64 {
        EXCHANGE.with(|x| pack(&x.borrow().result))
    }

    pub fn error_region() -> u64 {
        EXCHANGE.with(|x| pack(&x.borrow().error))
    }
}
