//! LBF1 batches (spec §5): a validating reader and a builder.

use crate::status::Error;
use crate::types::{FieldStatus, Type};

const MAGIC: &[u8; 4] = b"LBF1";
const HEADER: usize = 32;
const DESC: usize = 64;
const FLAG_VALIDITY: u16 = 1;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn bit(b: &[u8], i: usize) -> bool {
    b[i >> 3] & (1 << (i & 7)) != 0
}
fn bitmap_len(n: usize) -> usize {
    (n + 7) / 8
}
fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

fn malformed(msg: String) -> Error {
    Error::serialization(format!("malformed LBF1 batch: {}", msg))
}

#[derive(Clone, Copy, Debug, Default)]
struct Span {
    off: usize,
    len: usize,
}

impl Span {
    fn present(&self) -> bool {
        self.len > 0
    }
}

#[derive(Clone, Debug)]
struct Desc {
    name: String,
    ty: Type,
    has_validity: bool,
    null_count: usize,
    validity: Span,
    offsets: Span,
    values: Span,
    child_validity: Span,
    child_offsets: Span,
}

/// A decoded, validated batch. It owns its bytes.
#[derive(Clone, Debug)]
pub struct Batch {
    buf: Vec<u8>,
    rows: usize,
    metadata: Span,
    cols: Vec<Desc>,
}

/// A column of a [`Batch`]. Accessors check the column's type and the row index.
#[derive(Clone, Copy)]
pub struct Column<'a> {
    buf: &'a [u8],
    d: &'a Desc,
    rows: usize,
}

impl Batch {
    /// Validates `bytes` as an LBF1 region (spec §5.6) and takes ownership of them.
    pub fn decode(bytes: Vec<u8>) -> Result<Batch, Error> {
        let b = &bytes[..];
        if b.len() < HEADER {
            return Err(malformed(format!("{} bytes is shorter than the header", b.len())));
        }
        if &b[0..4] != MAGIC {
            return Err(malformed("bad magic".into()));
        }
        if u16_at(b, 4) != 1 {
            return Err(malformed(format!("layout version {}", u16_at(b, 4))));
        }
        if u32_at(b, 8) as usize != b.len() {
            return Err(malformed(format!("header says {} bytes, region has {}", u32_at(b, 8), b.len())));
        }
        let rows = u32_at(b, 12) as usize;
        let ncols = u32_at(b, 16) as usize;
        if rows > i32::MAX as usize {
            return Err(malformed(format!("{} rows exceeds the int32 limit", rows)));
        }
        if ncols.saturating_mul(DESC) > b.len() {
            return Err(malformed(format!("{} columns cannot fit", ncols)));
        }
        let metadata = span(b, u32_at(b, 20), u32_at(b, 24), "metadata")?;
        let table = u32_at(b, 28) as usize;
        if ncols > 0 && (table < HEADER || table % 8 != 0 || table + ncols * DESC > b.len()) {
            return Err(malformed(format!("column table at {} is out of range or misaligned", table)));
        }
        let mut cols: Vec<Desc> = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let o = table + i * DESC;
            let name_span = span(b, u32_at(b, o), u32_at(b, o + 4), "name")?;
            let name = std::str::from_utf8(&b[name_span.off..name_span.off + name_span.len])
                .map_err(|_| malformed(format!("column {}: name is not UTF-8", i)))?;
            if name.is_empty() {
                return Err(malformed(format!("column {}: empty name", i)));
            }
            if cols.iter().any(|c| c.name == name) {
                return Err(malformed(format!("duplicate column name {:?}", name)));
            }
            let ty = Type::from_id(u16_at(b, o + 8))
                .ok_or_else(|| malformed(format!("column {:?}: unknown type id {}", name, u16_at(b, o + 8))))?;
            let flags = u16_at(b, o + 10);
            if flags & !FLAG_VALIDITY != 0 {
                return Err(malformed(format!("column {:?}: unknown flags", name)));
            }
            if u64_at(b, o + 56) != 0 {
                return Err(malformed(format!("column {:?}: reserved field is not zero", name)));
            }
            let mut spans = [Span::default(); 5];
            for (k, s) in spans.iter_mut().enumerate() {
                *s = span(b, u32_at(b, o + 16 + k * 8), u32_at(b, o + 20 + k * 8), name)?;
            }
            let d = Desc {
                name: name.to_string(),
                ty,
                has_validity: flags & FLAG_VALIDITY != 0,
                null_count: u32_at(b, o + 12) as usize,
                validity: spans[0],
                offsets: spans[1],
                values: spans[2],
                child_validity: spans[3],
                child_offsets: spans[4],
            };
            check(b, &d, rows).map_err(|e| e.context(&format!("column {:?}", d.name)))?;
            cols.push(d);
        }
        Ok(Batch { buf: bytes, rows, metadata, cols })
    }

    /// The encoded bytes of this batch.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The metadata JSON text, or "" when absent.
    pub fn metadata(&self) -> &str {
        std::str::from_utf8(&self.buf[self.metadata.off..self.metadata.off + self.metadata.len]).unwrap_or("")
    }

    pub fn num_columns(&self) -> usize {
        self.cols.len()
    }

    /// The column called `name`, or a BAD_ARGUMENT error naming it.
    pub fn column(&self, name: &str) -> Result<Column<'_>, Error> {
        self.cols
            .iter()
            .find(|d| d.name == name)
            .map(|d| Column { buf: &self.buf, d, rows: self.rows })
            .ok_or_else(|| Error::bad_argument(format!("batch has no column {:?}", name)))
    }

    /// The column at position `i`.
    pub fn column_at(&self, i: usize) -> Option<Column<'_>> {
        self.cols.get(i).map(|d| Column { buf: &self.buf, d, rows: self.rows })
    }
}

fn span(b: &[u8], off: u32, len: u32, what: &str) -> Result<Span, Error> {
    let (off, len) = (off as usize, len as usize);
    if len == 0 {
        if off != 0 {
            return Err(malformed(format!("empty {} buffer with offset {}", what, off)));
        }
        return Ok(Span::default());
    }
    if off < HEADER || off.checked_add(len).map_or(true, |e| e > b.len()) || off % 8 != 0 {
        return Err(malformed(format!("{} buffer at {}+{} is out of range or misaligned", what, off, len)));
    }
    Ok(Span { off, len })
}

fn off_at(b: &[u8], s: Span, i: usize) -> usize {
    u32_at(b, s.off + i * 4) as i32 as isize as usize
}

fn check_offsets(b: &[u8], s: Span, n: usize, limit: usize, what: &str) -> Result<(), Error> {
    if !s.present() && n == 0 && limit == 0 {
        return Ok(());
    }
    if s.len != (n + 1) * 4 {
        return Err(malformed(format!("{}: {} bytes for {} entries", what, s.len, n)));
    }
    let mut prev = u32_at(b, s.off) as i32;
    if prev != 0 {
        return Err(malformed(format!("{}: first offset {}", what, prev)));
    }
    for i in 1..=n {
        let o = u32_at(b, s.off + i * 4) as i32;
        if o < prev {
            return Err(malformed(format!("{}: offset {} decreases", what, i)));
        }
        prev = o;
    }
    if prev as usize != limit {
        return Err(malformed(format!("{}: last offset {} does not match {}", what, prev, limit)));
    }
    Ok(())
}

fn need(s: Span, want: usize, what: &str) -> Result<(), Error> {
    if s.len != want {
        return Err(malformed(format!("{}: {} bytes, want {}", what, s.len, want)));
    }
    Ok(())
}

fn check_utf8(b: &[u8], values: Span, offsets: Span, n: usize) -> Result<(), Error> {
    for i in 0..n {
        let (s, e) = (off_at(b, offsets, i), off_at(b, offsets, i + 1));
        if std::str::from_utf8(&b[values.off + s..values.off + e]).is_err() {
            return Err(malformed(format!("string {} is not UTF-8", i)));
        }
    }
    Ok(())
}

fn check(b: &[u8], d: &Desc, rows: usize) -> Result<(), Error> {
    if d.has_validity {
        if rows > 0 {
            need(d.validity, bitmap_len(rows), "validity")?;
        }
        let valid = (0..rows).filter(|&i| bit(&b[d.validity.off..], i)).count();
        if rows - valid != d.null_count {
            return Err(malformed(format!("null count {} disagrees with the bitmap", d.null_count)));
        }
    } else if d.validity.present() {
        return Err(malformed("bitmap without the validity flag".into()));
    } else if d.null_count != 0 && d.ty != Type::Null {
        return Err(malformed("null count without a bitmap".into()));
    }
    match d.ty {
        Type::Null => {
            if d.offsets.present() || d.values.present() || d.child_offsets.present() || d.child_validity.present() {
                return Err(malformed("NULL column carries buffers".into()));
            }
            Ok(())
        }
        Type::Bool => need(d.values, bitmap_len(rows), "values"),
        Type::Bytes | Type::String => {
            check_offsets(b, d.offsets, rows, d.values.len, "offsets")?;
            if d.ty == Type::String && d.offsets.present() {
                check_utf8(b, d.values, d.offsets, rows)?;
            }
            Ok(())
        }
        t if !t.is_list() => need(d.values, rows * t.width(), "values"),
        t => {
            let elems = if rows == 0 && !d.offsets.present() {
                0
            } else {
                need(d.offsets, (rows + 1) * 4, "offsets")?;
                let e = u32_at(b, d.offsets.off + rows * 4) as i32;
                if e < 0 {
                    return Err(malformed("negative element count".into()));
                }
                check_offsets(b, d.offsets, rows, e as usize, "offsets")?;
                e as usize
            };
            if d.child_validity.present() {
                need(d.child_validity, bitmap_len(elems), "child validity")?;
            }
            if t.var_width() {
                check_offsets(b, d.child_offsets, elems, d.values.len, "child offsets")?;
                if t == Type::StringList && d.child_offsets.present() {
                    check_utf8(b, d.values, d.child_offsets, elems)?;
                }
                Ok(())
            } else if d.child_offsets.present() {
                Err(malformed("fixed-width list carries child offsets".into()))
            } else if t == Type::BoolList {
                need(d.values, bitmap_len(elems), "values")
            } else {
                need(d.values, elems * t.width(), "values")
            }
        }
    }
}

impl<'a> Column<'a> {
    pub fn name(&self) -> &'a str {
        &self.d.name
    }
    pub fn ty(&self) -> Type {
        self.d.ty
    }
    pub fn null_count(&self) -> usize {
        self.d.null_count
    }

    fn row(&self, row: usize) -> Result<(), Error> {
        if row >= self.rows {
            return Err(Error::bad_argument(format!("row {} out of range ({} rows) in column {:?}", row, self.rows, self.d.name)));
        }
        Ok(())
    }

    fn want(&self, t: Type) -> Result<(), Error> {
        if self.d.ty != t {
            return Err(Error::bad_argument(format!(
                "column {:?} is {}, read as {}",
                self.d.name,
                self.d.ty.name(),
                t.name()
            )));
        }
        Ok(())
    }

    fn values(&self) -> &'a [u8] {
        &self.buf[self.d.values.off..self.d.values.off + self.d.values.len]
    }

    /// Whether `row` is null.
    pub fn is_null(&self, row: usize) -> bool {
        if self.d.ty == Type::Null {
            return true;
        }
        self.d.has_validity && row < self.rows && !bit(&self.buf[self.d.validity.off..], row)
    }

    fn fixed(&self, t: Type, row: usize) -> Result<&'a [u8], Error> {
        self.want(t)?;
        self.row(row)?;
        let w = t.width();
        Ok(&self.values()[row * w..row * w + w])
    }

    pub fn i32(&self, row: usize) -> Result<i32, Error> {
        let v = self.fixed(Type::Int32, row)?;
        Ok(i32::from_le_bytes([v[0], v[1], v[2], v[3]]))
    }
    pub fn i64(&self, row: usize) -> Result<i64, Error> {
        let v = self.fixed(Type::Int64, row)?;
        Ok(u64_at(v, 0) as i64)
    }
    pub fn f32(&self, row: usize) -> Result<f32, Error> {
        let v = self.fixed(Type::Float, row)?;
        Ok(f32::from_bits(u32_at(v, 0)))
    }
    pub fn f64(&self, row: usize) -> Result<f64, Error> {
        let v = self.fixed(Type::Double, row)?;
        Ok(f64::from_bits(u64_at(v, 0)))
    }
    /// Microseconds since the Unix epoch.
    pub fn timestamp(&self, row: usize) -> Result<i64, Error> {
        let v = self.fixed(Type::UnixTimestamp, row)?;
        Ok(u64_at(v, 0) as i64)
    }
    pub fn status(&self, row: usize) -> Result<FieldStatus, Error> {
        Ok(FieldStatus::from_u8(self.fixed(Type::Status, row)?[0]))
    }
    pub fn bool(&self, row: usize) -> Result<bool, Error> {
        self.want(Type::Bool)?;
        self.row(row)?;
        Ok(bit(self.values(), row))
    }
    /// Row `row` of a BYTES or STRING column.
    pub fn bytes(&self, row: usize) -> Result<&'a [u8], Error> {
        if self.d.ty != Type::String {
            self.want(Type::Bytes)?;
        }
        self.row(row)?;
        let (s, e) = (off_at(self.buf, self.d.offsets, row), off_at(self.buf, self.d.offsets, row + 1));
        Ok(&self.values()[s..e])
    }
    pub fn str(&self, row: usize) -> Result<&'a str, Error> {
        self.want(Type::String)?;
        let b = self.bytes(row)?;
        std::str::from_utf8(b).map_err(|_| Error::serialization("invalid UTF-8"))
    }

    fn list(&self, t: Type, row: usize) -> Result<(usize, usize), Error> {
        self.want(t)?;
        self.row(row)?;
        Ok((off_at(self.buf, self.d.offsets, row), off_at(self.buf, self.d.offsets, row + 1)))
    }
    fn fixed_list(&self, t: Type, row: usize) -> Result<&'a [u8], Error> {
        let (s, e) = self.list(t, row)?;
        let w = t.width();
        Ok(&self.values()[s * w..e * w])
    }
    pub fn i32_list(&self, row: usize) -> Result<Vec<i32>, Error> {
        Ok(self.fixed_list(Type::Int32List, row)?.chunks(4).map(|c| u32_at(c, 0) as i32).collect())
    }
    pub fn i64_list(&self, row: usize) -> Result<Vec<i64>, Error> {
        Ok(self.fixed_list(Type::Int64List, row)?.chunks(8).map(|c| u64_at(c, 0) as i64).collect())
    }
    pub fn timestamp_list(&self, row: usize) -> Result<Vec<i64>, Error> {
        Ok(self.fixed_list(Type::UnixTimestampList, row)?.chunks(8).map(|c| u64_at(c, 0) as i64).collect())
    }
    pub fn f32_list(&self, row: usize) -> Result<Vec<f32>, Error> {
        Ok(self.fixed_list(Type::FloatList, row)?.chunks(4).map(|c| f32::from_bits(u32_at(c, 0))).collect())
    }
    pub fn f64_list(&self, row: usize) -> Result<Vec<f64>, Error> {
        Ok(self.fixed_list(Type::DoubleList, row)?.chunks(8).map(|c| f64::from_bits(u64_at(c, 0))).collect())
    }
    pub fn bool_list(&self, row: usize) -> Result<Vec<bool>, Error> {
        let (s, e) = self.list(Type::BoolList, row)?;
        let v = self.values();
        Ok((s..e).map(|j| bit(v, j)).collect())
    }
    fn var_list(&self, t: Type, row: usize) -> Result<Vec<&'a [u8]>, Error> {
        let (s, e) = self.list(t, row)?;
        let v = self.values();
        Ok((s..e)
            .map(|j| &v[off_at(self.buf, self.d.child_offsets, j)..off_at(self.buf, self.d.child_offsets, j + 1)])
            .collect())
    }
    pub fn bytes_list(&self, row: usize) -> Result<Vec<&'a [u8]>, Error> {
        self.var_list(Type::BytesList, row)
    }
    pub fn str_list(&self, row: usize) -> Result<Vec<&'a str>, Error> {
        self.var_list(Type::StringList, row)?
            .into_iter()
            .map(|b| std::str::from_utf8(b).map_err(|_| Error::serialization("invalid UTF-8")))
            .collect()
    }
}

/// Builds one column. Pushing a value of another type than the column's is a BAD_ARGUMENT error.
#[derive(Clone, Debug)]
pub struct ColumnBuilder {
    name: String,
    ty: Type,
    rows: usize,
    nulls: usize,
    validity: Vec<u8>, // empty until the first null
    offsets: Vec<u8>,
    values: Vec<u8>,
    child_offsets: Vec<u8>,
    elems: usize,
    bits: usize,
}

fn set_bit(v: &mut Vec<u8>, i: usize, on: bool) {
    while v.len() <= i >> 3 {
        v.push(0);
    }
    if on {
        v[i >> 3] |= 1 << (i & 7);
    } else {
        v[i >> 3] &= !(1 << (i & 7));
    }
}

impl ColumnBuilder {
    pub fn new(name: &str, ty: Type) -> ColumnBuilder {
        let zero = || 0u32.to_le_bytes().to_vec();
        ColumnBuilder {
            name: name.to_string(),
            ty,
            rows: 0,
            nulls: 0,
            validity: Vec::new(),
            offsets: if ty == Type::Bytes || ty == Type::String || ty.is_list() { zero() } else { Vec::new() },
            values: Vec::new(),
            child_offsets: if ty.is_list() && ty.var_width() { zero() } else { Vec::new() },
            elems: 0,
            bits: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
    pub fn ty(&self) -> Type {
        self.ty
    }

    /// Reserves room for `rows` more rows holding `bytes` more value bytes in total (for a
    /// fixed-width type, `bytes` is ignored: the width decides): a builder that knows its
    /// size up front grows its buffers once instead of doubling them.
    pub fn reserve(&mut self, rows: usize, bytes: usize) {
        if !self.offsets.is_empty() {
            self.offsets.reserve(4 * rows);
        }
        match self.ty {
            Type::Bytes | Type::String => self.values.reserve(bytes),
            t if !t.is_list() && t != Type::Bool && t != Type::Null => self.values.reserve(t.width() * rows),
            _ => {}
        }
    }

    #[inline]
    fn mark(&mut self, valid: bool) {
        if !valid && self.nulls == 0 && self.validity.is_empty() {
            for i in 0..self.rows {
                set_bit(&mut self.validity, i, true);
            }
        }
        if !valid || self.nulls > 0 || !self.validity.is_empty() {
            set_bit(&mut self.validity, self.rows, valid);
        }
        if !valid {
            self.nulls += 1;
        }
        self.rows += 1;
    }

    #[inline]
    fn want(&self, t: Type) -> Result<(), Error> {
        if self.ty != t {
            return Err(Error::bad_argument(format!(
                "pushing {} into {} column {:?}",
                t.name(),
                self.ty.name(),
                self.name
            )));
        }
        Ok(())
    }

    #[inline]
    pub fn push_null(&mut self) {
        match self.ty {
            Type::Null => {
                self.rows += 1;
                self.nulls += 1;
                return;
            }
            Type::Bool => {
                set_bit(&mut self.values, self.bits, false);
                self.bits += 1;
            }
            Type::Bytes | Type::String => {
                let n = self.values.len() as u32;
                self.offsets.extend_from_slice(&n.to_le_bytes());
            }
            t if t.is_list() => {
                let n = self.elems as u32;
                self.offsets.extend_from_slice(&n.to_le_bytes());
            }
            t => self.values.extend(std::iter::repeat(0).take(t.width())),
        }
        self.mark(false);
    }

    pub fn push_i32(&mut self, v: i32) -> Result<(), Error> {
        self.want(Type::Int32)?;
        self.values.extend_from_slice(&v.to_le_bytes());
        self.mark(true);
        Ok(())
    }
    pub fn push_i64(&mut self, v: i64) -> Result<(), Error> {
        self.want(Type::Int64)?;
        self.values.extend_from_slice(&v.to_le_bytes());
        self.mark(true);
        Ok(())
    }
    pub fn push_f32(&mut self, v: f32) -> Result<(), Error> {
        self.want(Type::Float)?;
        self.values.extend_from_slice(&v.to_bits().to_le_bytes());
        self.mark(true);
        Ok(())
    }
    pub fn push_f64(&mut self, v: f64) -> Result<(), Error> {
        self.want(Type::Double)?;
        self.values.extend_from_slice(&v.to_bits().to_le_bytes());
        self.mark(true);
        Ok(())
    }
    /// Microseconds since the Unix epoch.
    #[inline]
    pub fn push_timestamp(&mut self, micros: i64) -> Result<(), Error> {
        self.want(Type::UnixTimestamp)?;
        self.values.extend_from_slice(&micros.to_le_bytes());
        self.mark(true);
        Ok(())
    }
    #[inline]
    pub fn push_status(&mut self, s: FieldStatus) -> Result<(), Error> {
        self.want(Type::Status)?;
        self.values.push(s as u8);
        self.mark(true);
        Ok(())
    }
    pub fn push_bool(&mut self, v: bool) -> Result<(), Error> {
        self.want(Type::Bool)?;
        set_bit(&mut self.values, self.bits, v);
        self.bits += 1;
        self.mark(true);
        Ok(())
    }
    /// Pushes to a BYTES column (or a STRING column, if `v` is UTF-8).
    #[inline]
    pub fn push_bytes(&mut self, v: &[u8]) -> Result<(), Error> {
        if self.ty == Type::String {
            std::str::from_utf8(v).map_err(|_| Error::bad_argument("pushing non-UTF-8 bytes into a STRING column"))?;
        } else {
            self.want(Type::Bytes)?;
        }
        self.values.extend_from_slice(v);
        let n = self.values.len() as u32;
        self.offsets.extend_from_slice(&n.to_le_bytes());
        self.mark(true);
        Ok(())
    }
    pub fn push_str(&mut self, v: &str) -> Result<(), Error> {
        if self.ty != Type::Bytes {
            self.want(Type::String)?;
        }
        self.values.extend_from_slice(v.as_bytes());
        let n = self.values.len() as u32;
        self.offsets.extend_from_slice(&n.to_le_bytes());
        self.mark(true);
        Ok(())
    }

    fn end_list(&mut self, n: usize) {
        self.elems += n;
        let e = self.elems as u32;
        self.offsets.extend_from_slice(&e.to_le_bytes());
        self.mark(true);
    }
    pub fn push_i32_list(&mut self, v: &[i32]) -> Result<(), Error> {
        self.want(Type::Int32List)?;
        v.iter().for_each(|x| self.values.extend_from_slice(&x.to_le_bytes()));
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_i64_list(&mut self, v: &[i64]) -> Result<(), Error> {
        self.want(Type::Int64List)?;
        v.iter().for_each(|x| self.values.extend_from_slice(&x.to_le_bytes()));
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_timestamp_list(&mut self, v: &[i64]) -> Result<(), Error> {
        self.want(Type::UnixTimestampList)?;
        v.iter().for_each(|x| self.values.extend_from_slice(&x.to_le_bytes()));
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_f32_list(&mut self, v: &[f32]) -> Result<(), Error> {
        self.want(Type::FloatList)?;
        v.iter().for_each(|x| self.values.extend_from_slice(&x.to_bits().to_le_bytes()));
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_f64_list(&mut self, v: &[f64]) -> Result<(), Error> {
        self.want(Type::DoubleList)?;
        v.iter().for_each(|x| self.values.extend_from_slice(&x.to_bits().to_le_bytes()));
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_bool_list(&mut self, v: &[bool]) -> Result<(), Error> {
        self.want(Type::BoolList)?;
        for &x in v {
            set_bit(&mut self.values, self.bits, x);
            self.bits += 1;
        }
        self.end_list(v.len());
        Ok(())
    }
    fn push_var_list<T: AsRef<[u8]>>(&mut self, t: Type, v: &[T]) -> Result<(), Error> {
        self.want(t)?;
        for x in v {
            self.values.extend_from_slice(x.as_ref());
            let n = self.values.len() as u32;
            self.child_offsets.extend_from_slice(&n.to_le_bytes());
        }
        self.end_list(v.len());
        Ok(())
    }
    pub fn push_bytes_list<T: AsRef<[u8]>>(&mut self, v: &[T]) -> Result<(), Error> {
        self.push_var_list(Type::BytesList, v)
    }
    pub fn push_str_list<T: AsRef<str>>(&mut self, v: &[T]) -> Result<(), Error> {
        let bytes: Vec<&[u8]> = v.iter().map(|s| s.as_ref().as_bytes()).collect();
        self.push_var_list(Type::StringList, &bytes)
    }

    /// The buffers as they go on the wire: (validity, offsets, values, child offsets).
    fn buffers(&self) -> [&[u8]; 4] {
        let validity: &[u8] = if self.nulls > 0 && self.ty != Type::Null { &self.validity } else { &[] };
        let offsets: &[u8] = if self.rows > 0 { &self.offsets } else { &[] };
        let child: &[u8] = if self.rows > 0 { &self.child_offsets } else { &[] };
        [validity, offsets, &self.values, child]
    }
}

/// Builds a batch column by column; every column must end with the same number of rows.
#[derive(Clone, Debug, Default)]
pub struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::default()
    }

    /// A builder over columns built elsewhere (names must be distinct and non-empty).
    pub(crate) fn from_columns(columns: Vec<ColumnBuilder>) -> BatchBuilder {
        BatchBuilder { columns }
    }

    /// Adds a column (or returns the existing one of that name if its type matches).
    pub fn column(&mut self, name: &str, ty: Type) -> Result<&mut ColumnBuilder, Error> {
        if name.is_empty() {
            return Err(Error::bad_argument("column names must not be empty"));
        }
        if let Some(i) = self.columns.iter().position(|c| c.name == name) {
            if self.columns[i].ty != ty {
                return Err(Error::bad_argument(format!(
                    "column {:?} exists as {}, asked for {}",
                    name,
                    self.columns[i].ty.name(),
                    ty.name()
                )));
            }
            return Ok(&mut self.columns[i]);
        }
        self.columns.push(ColumnBuilder::new(name, ty));
        Ok(self.columns.last_mut().expect("just pushed"))
    }

    /// Number of rows, checking that all columns agree.
    pub fn rows(&self) -> Result<usize, Error> {
        let rows = self.columns.first().map_or(0, |c| c.rows);
        if let Some(c) = self.columns.iter().find(|c| c.rows != rows) {
            return Err(Error::bad_argument(format!(
                "column {:?} has {} rows, column {:?} has {}",
                c.name, c.rows, self.columns[0].name, rows
            )));
        }
        Ok(rows)
    }

    /// Encodes the batch as an LBF1 region.
    pub fn encode(&self, metadata: Option<&str>) -> Result<Vec<u8>, Error> {
        let rows = self.rows()?;
        self.encode_rows(rows, metadata)
    }

    pub(crate) fn encode_rows(&self, rows: usize, metadata: Option<&str>) -> Result<Vec<u8>, Error> {
        let meta = metadata.unwrap_or("").as_bytes();
        let mut size = HEADER + pad8(meta.len()) + self.columns.len() * DESC;
        for c in &self.columns {
            size += pad8(c.name.len()) + c.buffers().iter().map(|b| pad8(b.len())).sum::<usize>();
        }
        if size > u32::MAX as usize {
            return Err(Error::new(crate::Status::ResourceExhausted, "batch exceeds 4 GiB"));
        }
        // resize, not vec![0; size]: zeroing through calloc calls compiler-builtins' memset
        // loop in a wasm32 guest, where this fill becomes one memory.fill.
        let mut out = Vec::with_capacity(size);
        out.resize(size, 0u8);
        out[0..4].copy_from_slice(MAGIC);
        out[4..6].copy_from_slice(&1u16.to_le_bytes());
        out[8..12].copy_from_slice(&(size as u32).to_le_bytes());
        out[12..16].copy_from_slice(&(rows as u32).to_le_bytes());
        out[16..20].copy_from_slice(&(self.columns.len() as u32).to_le_bytes());
        let table = HEADER + pad8(meta.len());
        if !meta.is_empty() {
            out[HEADER..HEADER + meta.len()].copy_from_slice(meta);
            out[20..24].copy_from_slice(&(HEADER as u32).to_le_bytes());
            out[24..28].copy_from_slice(&(meta.len() as u32).to_le_bytes());
        }
        out[28..32].copy_from_slice(&(table as u32).to_le_bytes());
        let mut pos = table + self.columns.len() * DESC;
        for (i, c) in self.columns.iter().enumerate() {
            let d = table + i * DESC;
            let mut place = |out: &mut Vec<u8>, data: &[u8], at: usize| {
                let (o, n) = if data.is_empty() {
                    (0u32, 0u32)
                } else {
                    let o = pos;
                    out[o..o + data.len()].copy_from_slice(data);
                    pos += pad8(data.len());
                    (o as u32, data.len() as u32)
                };
                out[at..at + 4].copy_from_slice(&o.to_le_bytes());
                out[at + 4..at + 8].copy_from_slice(&n.to_le_bytes());
            };
            place(&mut out, c.name.as_bytes(), d);
            out[d + 8..d + 10].copy_from_slice(&(c.ty as u16).to_le_bytes());
            let [validity, offsets, values, child] = c.buffers();
            if !validity.is_empty() {
                out[d + 10..d + 12].copy_from_slice(&FLAG_VALIDITY.to_le_bytes());
            }
            let nulls = if c.ty == Type::Null { c.rows } else { c.nulls };
            out[d + 12..d + 16].copy_from_slice(&(nulls as u32).to_le_bytes());
            place(&mut out, validity, d + 16);
            place(&mut out, offsets, d + 24);
            place(&mut out, values, d + 32);
            place(&mut out, &[], d + 40);
            place(&mut out, child, d + 48);
        }
        Ok(out)
    }

    /// Encodes and decodes again, for tests and the mock host.
    pub fn finish(&self, metadata: Option<&str>) -> Result<Batch, Error> {
        Batch::decode(self.encode(metadata)?)
    }
}
