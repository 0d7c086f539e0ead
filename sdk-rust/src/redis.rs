//! A typed client for the `redis` capability (spec §6.2): build a [`Pipeline`] of commands,
//! run it with [`Redis::exec`] (one host call, one Redis round trip) and read the
//! [`Reply`]s, which borrow from the response without copying.
//!
//! Natively (`cargo test`), grant an in-memory server with [`crate::mock::grant_redis`].
//!
//! ```
//! use larder_sdk::redis::{Pipeline, Redis, Reply};
//! let server = larder_sdk::mock::grant_redis("online");
//! let redis = Redis::open("online").unwrap();
//! let mut p = Pipeline::new();
//! p.hset(b"user:1", &[(&b"name"[..], &b"ada"[..])]).hmget(b"user:1", &[&b"name"[..], &b"age"[..]]);
//! let resp = redis.exec(&p).unwrap();
//! let replies = resp.replies().unwrap();
//! assert_eq!(replies[0], Reply::Int(1));
//! assert_eq!(replies[1], Reply::Array(vec![Reply::Bulk(b"ada"), Reply::Nil]));
//! assert_eq!(server.borrow().hash(b"user:1").unwrap().len(), 1);
//! ```

use crate::capability::Capability;
use crate::status::{Error, Status};
use std::collections::BTreeMap;

/// Capability kind name.
pub const KIND: &str = "redis";
/// The PIPELINE operation.
pub const OP_PIPELINE: u32 = 1;

/// Command codes of the request format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Hmget = 1,
    Hgetall = 2,
    Hset = 3,
    Hdel = 4,
    Del = 5,
    Expire = 6,
    Pexpireat = 7,
    Exists = 8,
    Scan = 9,
}

impl Command {
    pub fn from_code(c: u8) -> Option<Command> {
        Some(match c {
            1 => Command::Hmget,
            2 => Command::Hgetall,
            3 => Command::Hset,
            4 => Command::Hdel,
            5 => Command::Del,
            6 => Command::Expire,
            7 => Command::Pexpireat,
            8 => Command::Exists,
            9 => Command::Scan,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Command::Hmget => "HMGET",
            Command::Hgetall => "HGETALL",
            Command::Hset => "HSET",
            Command::Hdel => "HDEL",
            Command::Del => "DEL",
            Command::Expire => "EXPIRE",
            Command::Pexpireat => "PEXPIREAT",
            Command::Exists => "EXISTS",
            Command::Scan => "SCAN",
        }
    }
}

/// A batch of commands, encoded as it is built (the `LRQ1` request).
#[derive(Clone, Debug)]
pub struct Pipeline {
    buf: Vec<u8>,
    n: u32,
}

impl Default for Pipeline {
    fn default() -> Pipeline {
        Pipeline::new()
    }
}

impl Pipeline {
    pub fn new() -> Pipeline {
        Pipeline::with_capacity(256)
    }

    /// A pipeline whose buffer holds `bytes` encoded bytes before it grows (a read of many
    /// keys knows its size: 8 bytes per command plus its key, plus
    /// [`Args::encoded_len`] of its fields).
    pub fn with_capacity(bytes: usize) -> Pipeline {
        let mut buf = Vec::with_capacity(bytes.max(8));
        buf.extend_from_slice(b"LRQ1\0\0\0\0");
        Pipeline { buf, n: 0 }
    }

    /// Number of commands queued.
    pub fn len(&self) -> usize {
        self.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Drops every command, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.truncate(8);
        self.n = 0;
    }

    /// The encoded request.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn begin(&mut self, c: Command) -> usize {
        self.n += 1;
        let n = self.n.to_le_bytes();
        self.buf[4..8].copy_from_slice(&n);
        self.buf.push(c as u8);
        self.buf.push(0);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        at
    }
    fn arg(&mut self, a: &[u8]) {
        self.buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(a);
    }
    fn int_arg(&mut self, v: i64) {
        self.buf.extend_from_slice(&8u32.to_le_bytes());
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn end(&mut self, at: usize, argc: usize) {
        let argc = argc as u16;
        self.buf[at..at + 2].copy_from_slice(&argc.to_le_bytes());
    }

    /// Starts a command whose arguments follow with [`Pipeline::push_arg`]; lets a caller
    /// stream fields without collecting them first. Finish it with [`Pipeline::finish`].
    pub fn start(&mut self, c: Command, key: &[u8]) -> CommandWriter<'_> {
        let at = self.begin(c);
        self.arg(key);
        CommandWriter { p: self, at, argc: 1 }
    }

    /// HMGET key field…: an ARRAY of BULK (present) or NIL (missing).
    pub fn hmget<F: AsRef<[u8]>>(&mut self, key: &[u8], fields: &[F]) -> &mut Self {
        let mut w = self.start(Command::Hmget, key);
        for f in fields {
            w.push_arg(f.as_ref());
        }
        w.finish();
        self
    }
    /// HMGET key with fields encoded once by [`Args::new`]: a read that asks every entity
    /// of a view for the same fields copies them as one block per command instead of
    /// encoding each field again.
    pub fn hmget_args(&mut self, key: &[u8], fields: &Args) -> &mut Self {
        let at = self.begin(Command::Hmget);
        self.arg(key);
        self.buf.extend_from_slice(&fields.buf);
        self.end(at, 1 + fields.n);
        self
    }
    /// HGETALL key: an ARRAY of field, value, …
    pub fn hgetall(&mut self, key: &[u8]) -> &mut Self {
        self.start(Command::Hgetall, key).finish();
        self
    }
    /// HSET key field value …: INT fields added.
    pub fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(&mut self, key: &[u8], pairs: &[(F, V)]) -> &mut Self {
        let mut w = self.start(Command::Hset, key);
        for (f, v) in pairs {
            w.push_arg(f.as_ref());
            w.push_arg(v.as_ref());
        }
        w.finish();
        self
    }
    /// HDEL key field…: INT fields removed.
    pub fn hdel<F: AsRef<[u8]>>(&mut self, key: &[u8], fields: &[F]) -> &mut Self {
        let mut w = self.start(Command::Hdel, key);
        for f in fields {
            w.push_arg(f.as_ref());
        }
        w.finish();
        self
    }
    /// DEL key: INT keys removed.
    pub fn del(&mut self, key: &[u8]) -> &mut Self {
        self.start(Command::Del, key).finish();
        self
    }
    /// EXPIRE key seconds: INT 1 when set.
    pub fn expire(&mut self, key: &[u8], seconds: i64) -> &mut Self {
        let at = self.begin(Command::Expire);
        self.arg(key);
        self.int_arg(seconds);
        self.end(at, 2);
        self
    }
    /// PEXPIREAT key unix_ms: INT 1 when set.
    pub fn pexpireat(&mut self, key: &[u8], unix_ms: i64) -> &mut Self {
        let at = self.begin(Command::Pexpireat);
        self.arg(key);
        self.int_arg(unix_ms);
        self.end(at, 2);
        self
    }
    /// EXISTS key: INT 1 or 0.
    pub fn exists(&mut self, key: &[u8]) -> &mut Self {
        self.start(Command::Exists, key).finish();
        self
    }
    /// SCAN for keys starting with `prefix` and ending with `suffix` (matched literally):
    /// an ARRAY whose first element is the next cursor (INT, 0 = done), then the keys. A
    /// pipeline holding SCAN may hold only SCAN commands.
    pub fn scan(&mut self, cursor: u64, count: i64, prefix: &[u8], suffix: &[u8]) -> &mut Self {
        let at = self.begin(Command::Scan);
        self.int_arg(cursor as i64);
        self.int_arg(count);
        self.arg(prefix);
        self.arg(suffix);
        self.end(at, 4);
        self
    }
}

/// Arguments encoded once (as they go on the wire) for reuse in many commands; see
/// [`Pipeline::hmget_args`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    buf: Vec<u8>,
    n: usize,
}

impl Args {
    pub fn new<F: AsRef<[u8]>>(args: &[F]) -> Args {
        let mut buf = Vec::with_capacity(args.iter().map(|a| 4 + a.as_ref().len()).sum());
        for a in args {
            let a = a.as_ref();
            buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
            buf.extend_from_slice(a);
        }
        Args { buf, n: args.len() }
    }
    /// Appends an argument.
    pub fn push(&mut self, a: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(a);
        self.n += 1;
        self
    }
    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Encoded size.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }
}

/// Writes the arguments of a command started with [`Pipeline::start`].
pub struct CommandWriter<'a> {
    p: &'a mut Pipeline,
    at: usize,
    argc: usize,
}

impl<'a> CommandWriter<'a> {
    pub fn push_arg(&mut self, a: &[u8]) {
        self.p.arg(a);
        self.argc += 1;
    }
    pub fn finish(self) {
        self.p.end(self.at, self.argc);
    }
}

/// One reply, borrowing from the [`Response`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Nil,
    Int(i64),
    Bulk(&'a [u8]),
    Array(Vec<Reply<'a>>),
    /// This command failed (e.g. WRONGTYPE); the other commands ran.
    Error(&'a str),
}

impl<'a> Reply<'a> {
    /// The reply as an integer, or a BAD_ARGUMENT error naming what it was.
    pub fn int(&self) -> Result<i64, Error> {
        match self {
            Reply::Int(v) => Ok(*v),
            other => Err(other.unexpected("an integer")),
        }
    }
    /// The reply as an array.
    pub fn array(&self) -> Result<&[Reply<'a>], Error> {
        match self {
            Reply::Array(v) => Ok(v),
            other => Err(other.unexpected("an array")),
        }
    }
    /// The reply as bytes; `None` for NIL.
    pub fn bulk(&self) -> Result<Option<&'a [u8]>, Error> {
        match self {
            Reply::Bulk(b) => Ok(Some(b)),
            Reply::Nil => Ok(None),
            other => Err(other.unexpected("bytes")),
        }
    }
    fn unexpected(&self, want: &str) -> Error {
        match self {
            Reply::Error(msg) => Error::new(Status::Internal, format!("redis: {}", msg)),
            other => Error::internal(format!("redis: expected {} reply, got {:?}", want, other)),
        }
    }
}

/// The raw response of a pipeline.
#[derive(Clone, Debug)]
pub struct Response {
    buf: Vec<u8>,
    n: usize,
}

impl Response {
    /// Wraps response bytes for `n` commands.
    pub fn new(buf: Vec<u8>, n: usize) -> Response {
        Response { buf, n }
    }
    /// The raw `LRR1` bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Decodes every reply, checking the structure (the response comes from the host, but a
    /// decoder never trusts its input).
    pub fn replies(&self) -> Result<Vec<Reply<'_>>, Error> {
        let (b, n) = self.header()?;
        let mut r = Reader { b, at: 8 };
        let mut out = Vec::with_capacity(n.min(b.len()));
        for i in 0..n {
            out.push(r.reply(true).map_err(|e| e.context(&format!("redis response reply {}", i)))?);
        }
        if r.at != b.len() {
            return Err(Error::serialization("redis response: bytes after the last reply"));
        }
        Ok(out)
    }

    fn header(&self) -> Result<(&[u8], usize), Error> {
        let b = &self.buf[..];
        if b.len() < 8 || &b[..4] != b"LRR1" {
            return Err(Error::serialization("redis response: missing the LRR1 header"));
        }
        let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if n != self.n {
            return Err(Error::serialization(format!("redis response: {} replies for {} commands", n, self.n)));
        }
        Ok((b, n))
    }

    /// Reads the replies in order without building them: no allocation per reply, for
    /// pipelines of thousands of HMGET fields. Checks the same structure as
    /// [`Response::replies`]; call [`ReplyStream::finish`] after the last reply.
    pub fn stream(&self) -> Result<ReplyStream<'_>, Error> {
        let (b, n) = self.header()?;
        Ok(ReplyStream { r: Reader { b, at: 8 }, replies: n, elems: 0 })
    }
}

/// Replies of a [`Response`] read one at a time: a top-level reply is read whole with
/// [`ReplyStream::next_reply`], or opened with [`ReplyStream::array`] and its elements read
/// with [`ReplyStream::bulk`].
pub struct ReplyStream<'a> {
    r: Reader<'a>,
    replies: usize, // top-level replies not yet started
    elems: usize,   // elements left in the open array
}

impl<'a> ReplyStream<'a> {
    fn start(&mut self) -> Result<(), Error> {
        if self.elems != 0 {
            return Err(Error::internal(format!("redis response: {} elements of the previous array were not read", self.elems)));
        }
        if self.replies == 0 {
            return Err(Error::serialization("redis response: no reply left"));
        }
        self.replies -= 1;
        Ok(())
    }

    /// The next reply, whole (arrays are built).
    pub fn next_reply(&mut self) -> Result<Reply<'a>, Error> {
        self.start()?;
        self.r.reply(true)
    }

    /// Opens the next reply, which must be an ARRAY, and returns its length; an ERROR reply
    /// is returned as an error, as [`Reply::array`] does.
    pub fn array(&mut self) -> Result<usize, Error> {
        self.start()?;
        let at = self.r.at;
        match self.r.take(1)?[0] {
            3 => {
                let n = self.r.u32()?;
                if n > self.r.b.len() - self.r.at {
                    return Err(Error::serialization(format!("array of {} in {} bytes", n, self.r.b.len() - self.r.at)));
                }
                self.elems = n;
                Ok(n)
            }
            _ => {
                self.r.at = at;
                let other = self.r.reply(true)?;
                other.array().map(|a| a.len())
            }
        }
    }

    /// The next element of the open array: BULK bytes, or `None` for NIL.
    #[inline]
    pub fn bulk(&mut self) -> Result<Option<&'a [u8]>, Error> {
        if self.elems == 0 {
            return Err(Error::internal("redis response: reading past the end of an array"));
        }
        self.elems -= 1;
        match self.r.take(1)?[0] {
            0 => Ok(None),
            2 => {
                let n = self.r.u32()?;
                Ok(Some(self.r.take(n)?))
            }
            1 => {
                self.r.take(8)?;
                Err(Error::internal("redis: expected bytes reply, got an integer"))
            }
            t => Err(Error::serialization(format!("unexpected reply tag {} in an array", t))),
        }
    }

    /// Checks that every reply was read and nothing follows the last one.
    pub fn finish(self) -> Result<(), Error> {
        if self.replies != 0 || self.elems != 0 {
            return Err(Error::internal(format!("redis response: {} replies were not read", self.replies + (self.elems > 0) as usize)));
        }
        if self.r.at != self.r.b.len() {
            return Err(Error::serialization("redis response: bytes after the last reply"));
        }
        Ok(())
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.b.len() - self.at < n {
            return Err(Error::serialization("truncated"));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    #[inline]
    fn u32(&mut self) -> Result<usize, Error> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn reply(&mut self, top: bool) -> Result<Reply<'a>, Error> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            0 => Reply::Nil,
            1 => {
                let s = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                Reply::Int(i64::from_le_bytes(a))
            }
            2 => {
                let n = self.u32()?;
                Reply::Bulk(self.take(n)?)
            }
            3 if top => {
                let n = self.u32()?;
                if n > self.b.len() - self.at {
                    return Err(Error::serialization(format!("array of {} in {} bytes", n, self.b.len() - self.at)));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.reply(false)?);
                }
                Reply::Array(v)
            }
            4 if top => {
                let n = self.u32()?;
                let s = self.take(n)?;
                Reply::Error(std::str::from_utf8(s).map_err(|_| Error::serialization("error reply is not UTF-8"))?)
            }
            t => return Err(Error::serialization(format!("unexpected reply tag {}", t))),
        })
    }
}

/// An opened `redis` capability.
#[derive(Clone, Copy, Debug)]
pub struct Redis {
    cap: Capability,
}

impl Redis {
    /// Opens the redis capability `name`; PERMISSION_DENIED unless the operator granted it.
    pub fn open(name: &str) -> Result<Redis, Error> {
        Ok(Redis { cap: Capability::open(KIND, name)? })
    }

    /// Runs the pipeline: one host call, one Redis round trip. An empty pipeline is not
    /// sent.
    pub fn exec(&self, p: &Pipeline) -> Result<Response, Error> {
        let n = p.len();
        if n == 0 {
            return Ok(Response::new(b"LRR1\0\0\0\0".to_vec(), 0));
        }
        let out = self.cap.call(OP_PIPELINE, p.bytes()).map_err(|e| e.context("redis pipeline"))?;
        Ok(Response::new(out, n))
    }
}

/// An in-memory Redis speaking the capability's format, for native tests: hashes with
/// optional expiry (on the mock host's clock, see [`crate::mock::set_now`]), and SCAN over
/// keys in sorted order.
#[derive(Debug, Default)]
pub struct MemoryRedis {
    data: BTreeMap<Vec<u8>, (BTreeMap<Vec<u8>, Vec<u8>>, Option<i64>)>,
    /// Number of pipelines served.
    pub calls: usize,
    /// Commands served, by name, in order.
    pub log: Vec<&'static str>,
    /// When set, every call fails with this status and message (e.g. UNAVAILABLE).
    pub fail: Option<(Status, String)>,
}

impl MemoryRedis {
    /// The fields of `key`, if it exists.
    pub fn hash(&self, key: &[u8]) -> Option<&BTreeMap<Vec<u8>, Vec<u8>>> {
        let now = now_ms();
        self.data.get(key).filter(|(_, exp)| exp.map_or(true, |e| e > now)).map(|(h, _)| h)
    }
    /// Every live key.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let now = now_ms();
        self.data.iter().filter(|(_, (_, exp))| exp.map_or(true, |e| e > now)).map(|(k, _)| k.clone()).collect()
    }
    /// The expiry of `key` in Unix milliseconds, if it has one.
    pub fn expiry(&self, key: &[u8]) -> Option<i64> {
        self.data.get(key).and_then(|(_, e)| *e)
    }

    fn purge(&mut self) {
        let now = now_ms();
        self.data.retain(|_, (_, exp)| exp.map_or(true, |e| e > now));
    }

    /// Serves one PIPELINE request.
    pub fn handle(&mut self, op: u32, req: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some((st, msg)) = &self.fail {
            return Err(Error::new(*st, msg.clone()));
        }
        if op != OP_PIPELINE {
            return Err(Error::bad_argument(format!("redis: unknown operation {}", op)));
        }
        self.calls += 1;
        self.purge();
        let cmds = decode_request(req)?;
        let scans = cmds.iter().filter(|c| c.0 == Command::Scan).count();
        if scans > 0 && scans != cmds.len() {
            return Err(Error::bad_argument("redis: a pipeline holding SCAN must hold only SCAN commands"));
        }
        let mut out = b"LRR1".to_vec();
        out.extend_from_slice(&(cmds.len() as u32).to_le_bytes());
        for (c, args) in cmds {
            self.log.push(c.name());
            self.run(c, &args, &mut out)?;
        }
        Ok(out)
    }

    fn run(&mut self, c: Command, a: &[&[u8]], out: &mut Vec<u8>) -> Result<(), Error> {
        fn int(out: &mut Vec<u8>, v: i64) {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        fn bulk(out: &mut Vec<u8>, b: &[u8]) {
            out.push(2);
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        fn array(out: &mut Vec<u8>, n: usize) {
            out.push(3);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        fn i64_of(b: &[u8]) -> i64 {
            let mut x = [0u8; 8];
            x.copy_from_slice(b);
            i64::from_le_bytes(x)
        }
        let key = a.first().copied().unwrap_or(&[]);
        match c {
            Command::Hmget => {
                array(out, a.len() - 1);
                for f in &a[1..] {
                    match self.data.get(key).and_then(|(h, _)| h.get(*f)) {
                        Some(v) => bulk(out, v),
                        None => out.push(0),
                    }
                }
            }
            Command::Hgetall => match self.data.get(key) {
                Some((h, _)) => {
                    array(out, 2 * h.len());
                    for (f, v) in h {
                        bulk(out, f);
                        bulk(out, v);
                    }
                }
                None => array(out, 0),
            },
            Command::Hset => {
                let (h, _) = self.data.entry(key.to_vec()).or_insert_with(|| (BTreeMap::new(), None));
                let mut added = 0;
                for pair in a[1..].chunks(2) {
                    if h.insert(pair[0].to_vec(), pair[1].to_vec()).is_none() {
                        added += 1;
                    }
                }
                int(out, added);
            }
            Command::Hdel => {
                let mut n = 0;
                if let Some((h, _)) = self.data.get_mut(key) {
                    for f in &a[1..] {
                        n += h.remove(*f).is_some() as i64;
                    }
                    if h.is_empty() {
                        self.data.remove(key);
                    }
                }
                int(out, n);
            }
            Command::Del => int(out, self.data.remove(key).is_some() as i64),
            Command::Exists => int(out, self.data.contains_key(key) as i64),
            Command::Expire | Command::Pexpireat => {
                let v = i64_of(a[1]);
                let at = if c == Command::Expire { now_ms() + v * 1000 } else { v };
                match self.data.get_mut(key) {
                    Some(e) => {
                        e.1 = Some(at);
                        int(out, 1)
                    }
                    None => int(out, 0),
                }
            }
            Command::Scan => {
                let (cursor, count) = (i64_of(a[0]) as usize, i64_of(a[1]).max(1) as usize);
                let (prefix, suffix) = (a[2], a[3]);
                let keys: Vec<&Vec<u8>> = self.data.keys().collect();
                let end = (cursor + count).min(keys.len());
                let hits: Vec<&Vec<u8>> = keys[cursor.min(keys.len())..end]
                    .iter()
                    .copied()
                    .filter(|k| k.len() >= prefix.len() + suffix.len() && k.starts_with(prefix) && k.ends_with(suffix))
                    .collect();
                array(out, hits.len() + 1);
                int(out, if end >= keys.len() { 0 } else { end as i64 });
                for k in hits {
                    bulk(out, k);
                }
            }
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    crate::capability::now_unix_micros() / 1000
}

/// Decodes an `LRQ1` request (for the in-memory server and tests).
pub fn decode_request(b: &[u8]) -> Result<Vec<(Command, Vec<&[u8]>)>, Error> {
    let bad = |m: String| Error::serialization(format!("redis request: {}", m));
    if b.len() < 8 || &b[..4] != b"LRQ1" {
        return Err(bad("missing the LRQ1 header".into()));
    }
    let n = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    let mut r = Reader { b, at: 8 };
    let mut out = Vec::new();
    for i in 0..n {
        let h = r.take(4).map_err(|_| bad(format!("command {} truncated", i)))?;
        let c = Command::from_code(h[0]).ok_or_else(|| bad(format!("command {}: unknown code {}", i, h[0])))?;
        let argc = u16::from_le_bytes([h[2], h[3]]) as usize;
        let mut args = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let l = r.u32().map_err(|_| bad(format!("command {} truncated", i)))?;
            args.push(r.take(l).map_err(|_| bad(format!("command {} truncated", i)))?);
        }
        let ok = match c {
            Command::Hmget | Command::Hdel => argc >= 2,
            Command::Hset => argc >= 3 && argc % 2 == 1,
            Command::Hgetall | Command::Del | Command::Exists => argc == 1,
            Command::Expire | Command::Pexpireat => argc == 2 && args[1].len() == 8,
            Command::Scan => argc == 4 && args[0].len() == 8 && args[1].len() == 8,
        };
        if !ok {
            return Err(Error::bad_argument(format!("redis request: command {}: wrong arguments for {}", i, c.name())));
        }
        out.push((c, args));
    }
    if r.at != b.len() {
        return Err(bad("bytes after the last command".into()));
    }
    Ok(out)
}
