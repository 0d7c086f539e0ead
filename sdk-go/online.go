package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/larder-dev/larder/abi"
)

// OnlineStore is what an online store plugin implements: Feast's OnlineStore contract
// (spec §8). Entity keys and values arrive already serialized by the host (Feast entity-key
// serialization and feast.types.Value), so a plugin stores and returns bytes unchanged.
//
// Methods return errors made with Errorf to choose the status the host sees; any other
// error is INTERNAL. An instance is never called concurrently.
type OnlineStore interface {
	// Init receives the operator's plugin config, a JSON object ("{}" when none).
	Init(config []byte) error
	// Update creates what TablesToKeep need and drops TablesToDelete. Idempotent.
	Update(req UpdateRequest) error
	// Teardown removes everything the store created for the tables. Idempotent.
	Teardown(req UpdateRequest) error
	// Write stores the batch's rows, last write wins.
	Write(batch *WriteBatch) error
	// Read looks up every (view, entity key) row of the batch and records what it finds
	// in resp; anything not recorded is reported NOT_FOUND.
	Read(batch *ReadBatch, resp *ReadResponse) error
}

// Table is one feature view's table (spec §8.1).
type Table struct {
	Name     string   `json:"name"`
	Features []string `json:"features"`
	JoinKeys []string `json:"join_keys"`
}

// UpdateRequest is the input of Update and Teardown (spec §8.1).
type UpdateRequest struct {
	Project        string  `json:"project"`
	TablesToKeep   []Table `json:"tables_to_keep"`
	TablesToDelete []Table `json:"tables_to_delete"`
}

// WriteBatch is a read-only view of a write request (spec §8.2): rows of one feature view,
// one serialized Value per (row, feature) or none. Its slices alias the input and are valid
// only during the Write call.
type WriteBatch struct {
	Project  string
	View     string
	Features []string

	rows    int
	keys    *abi.Column
	events  *abi.Column
	created *abi.Column // nil = no created timestamps
	values  []*abi.Column
}

// Len returns the number of rows.
func (w *WriteBatch) Len() int { return w.rows }

// EntityKey returns the serialized entity key of row i.
func (w *WriteBatch) EntityKey(i int) []byte { return w.keys.Bytes(i) }

// EventTime returns the event timestamp of row i in microseconds since the Unix epoch.
func (w *WriteBatch) EventTime(i int) int64 { return w.events.Timestamp(i) }

// CreatedTime returns the created timestamp of row i in microseconds, if it has one.
func (w *WriteBatch) CreatedTime(i int) (int64, bool) {
	if w.created == nil || w.created.IsNull(i) {
		return 0, false
	}
	return w.created.Timestamp(i), true
}

// EntityKeyColumn returns the serialized entity keys as a BYTES column (no nulls).
func (w *WriteBatch) EntityKeyColumn() *abi.Column { return w.keys }

// EventTimeColumn returns the event timestamps as a UNIX_TIMESTAMP column (no nulls).
func (w *WriteBatch) EventTimeColumn() *abi.Column { return w.events }

// CreatedTimeColumn returns the created timestamps as a nullable UNIX_TIMESTAMP column, or
// nil when the request has none.
func (w *WriteBatch) CreatedTimeColumn() *abi.Column { return w.created }

// ValueColumn returns the serialized Values of feature f as a nullable BYTES column
// (null = nothing written for that row).
func (w *WriteBatch) ValueColumn(f int) *abi.Column { return w.values[f] }

// Value returns the serialized Value of feature f (an index into Features) in row i;
// false means the row writes nothing for that feature.
func (w *WriteBatch) Value(i, f int) ([]byte, bool) {
	c := w.values[f]
	if c.IsNull(i) {
		return nil, false
	}
	return c.Bytes(i), true
}

// ReadView is one feature view of a read request.
type ReadView struct {
	Name     string   `json:"name"`
	Features []string `json:"features"`
}

// ReadBatch is a read-only view of a read request (spec §8.3): one row per (view, entity
// key) pair. Its slices alias the input and are valid only during the Read call.
type ReadBatch struct {
	Project string
	Views   []ReadView

	rows  int
	views *abi.Column
	keys  *abi.Column
	runs  []ReadRun
}

// Len returns the number of rows.
func (r *ReadBatch) Len() int { return r.rows }

// View returns the index into Views of row i.
func (r *ReadBatch) View(i int) int { return int(r.views.Int32(i)) }

// EntityKey returns the serialized entity key of row i.
func (r *ReadBatch) EntityKey(i int) []byte { return r.keys.Bytes(i) }

// ReadRun is a maximal run of consecutive request rows [Start, End) that read the same view.
type ReadRun struct {
	View       int
	Start, End int
}

// Runs splits the request rows into runs of one view, in request order. A host sends each
// view's rows together, so usually there is one run per view. Reading run by run and
// appending each run's results with ReadResponse.Append produces the response in order.
func (r *ReadBatch) Runs() []ReadRun {
	r.runs = r.runs[:0]
	for i := 0; i < r.rows; i++ {
		v := r.View(i)
		if n := len(r.runs); n > 0 && r.runs[n-1].View == v {
			r.runs[n-1].End = i + 1
			continue
		}
		r.runs = append(r.runs, ReadRun{View: v, Start: i, End: i + 1})
	}
	return r.runs
}

// ReadResponse collects what Read found. The response has one row per (request row,
// feature of the row's view), request-row-major; anything not recorded is NOT_FOUND.
//
// Fill it one of two ways, not both:
//   - Set records single values in any order;
//   - Append adds whole columns of rows already in response order, copying nothing until
//     the response is encoded: the fast path for backends that can return rows in that
//     order, such as a SQL query over a numbered list of keys.
//
// The SDK encodes the response after Read returns, so slices and columns passed in (e.g.
// from query results) only need to live until then.
type ReadResponse struct {
	batch *ReadBatch
	rows  int // response rows
	mode  uint8

	first []int32 // Set mode: first slot of each request row, plus an end marker
	slots []readSlot

	segs     []segment // Append mode
	appended int
}

const (
	modeNone uint8 = iota
	modeSet
	modeAppend
)

type readSlot struct {
	value []byte
	ts    int64
	set   bool
}

// segment is one Append call: rows of a BYTES column and a UNIX_TIMESTAMP column.
type segment struct {
	rows           int
	values, events *abi.Column
	nulls          int
}

// Rows returns the number of rows the response has: the sum over request rows of their
// views' feature counts.
func (r *ReadResponse) Rows() int { return r.rows }

// Set records the value of feature f (an index into the row's view's Features) for request
// row, with its event timestamp in microseconds since the Unix epoch. Status PRESENT.
func (r *ReadResponse) Set(row, f int, value []byte, eventMicros int64) {
	if r.mode != modeSet {
		r.startSet()
	}
	first := r.first[row]
	if uint(f) >= uint(r.first[row+1]-first) {
		r.badFeature(row, f)
	}
	r.slots[int(first)+f] = readSlot{value: value, ts: eventMicros, set: true}
}

// startSet switches an empty response to Set mode, sizing its slots.
//
//go:noinline
func (r *ReadResponse) startSet() {
	if r.mode == modeAppend {
		panic("sdk: ReadResponse.Set after Append: fill a response one way or the other")
	}
	r.mode = modeSet
	r.first = r.first[:0]
	n := int32(0)
	for i := 0; i < r.batch.rows; i++ {
		r.first = append(r.first, n)
		n += int32(len(r.batch.Views[r.batch.View(i)].Features))
	}
	r.first = append(r.first, n)
	if cap(r.slots) < int(n) {
		r.slots = make([]readSlot, n)
	} else {
		r.slots = r.slots[:n]
		clear(r.slots)
	}
}

// badFeature is out of line so Set stays small enough to inline into plugin loops.
//
//go:noinline
func (r *ReadResponse) badFeature(row, f int) {
	panic(fmt.Sprintf("sdk: ReadResponse.Set: feature index %d out of range for row %d (its view has %d features)",
		f, row, r.first[row+1]-r.first[row]))
}

// Found reports whether feature f of request row has been Set.
func (r *ReadResponse) Found(row, f int) bool {
	return r.mode == modeSet && r.slots[int(r.first[row])+f].set
}

// Append adds the next rows of the response, in response order: rows values of values
// (BYTES: a serialized Value, null = not found) and events (UNIX_TIMESTAMP: the event time
// of each found value; null or absent reads as the epoch). Both columns must have at least
// rows rows, e.g. two columns of a query result with rows = its Rows.
func (r *ReadResponse) Append(rows int, values, events *abi.Column) error {
	if r.mode == modeSet {
		return Errorf(abi.ErrInternal, "ReadResponse.Append after Set: fill a response one way or the other")
	}
	r.mode = modeAppend
	if rows == 0 {
		return nil
	}
	switch {
	case values.Type != abi.TypeBytes:
		return Errorf(abi.ErrInternal, "ReadResponse.Append: values column %q is %s, want BYTES", values.Name, values.Type)
	case events.Type != abi.TypeUnixTimestamp:
		return Errorf(abi.ErrInternal, "ReadResponse.Append: events column %q is %s, want UNIX_TIMESTAMP", events.Name, events.Type)
	case rows < 0 || len(values.Offsets) < (rows+1)*4 || len(events.Values) < rows*8:
		return Errorf(abi.ErrInternal, "ReadResponse.Append: the columns have fewer than %d rows", rows)
	case r.appended+rows > r.rows:
		return Errorf(abi.ErrInternal, "ReadResponse.Append: %d rows after %d exceed the response's %d rows", rows, r.appended, r.rows)
	}
	nulls := 0
	if values.Validity != nil && values.NullCount > 0 {
		nulls = rows - onesInBitmap(values.Validity, rows)
	}
	r.segs = append(r.segs, segment{rows: rows, values: values, events: events, nulls: nulls})
	r.appended += rows
	return nil
}

// reset prepares the response for batch, dropping earlier values but keeping capacity.
func (r *ReadResponse) reset(b *ReadBatch) {
	r.batch, r.mode, r.appended = b, modeNone, 0
	clear(r.segs) // drop references to the previous call's columns
	r.segs = r.segs[:0]
	n := 0
	for _, run := range b.Runs() {
		n += (run.End - run.Start) * len(b.Views[run.View].Features)
	}
	r.rows = n
}

// encode appends the response batch to dst[:0].
func (r *ReadResponse) encode(dst []byte) []byte {
	if r.mode == modeSet {
		return appendReadResponse(dst, r.slots)
	}
	out := appendSegments(dst, r.rows, r.segs)
	clear(r.segs)
	r.segs = r.segs[:0]
	return out
}

// writeMeta and readMeta are the metadata objects of write and read requests.
type writeMeta struct {
	Project  string   `json:"project"`
	View     string   `json:"view"`
	Features []string `json:"features"`
}

type readMeta struct {
	Project string     `json:"project"`
	Views   []ReadView `json:"views"`
}

// parseWrite fills w from a decoded write batch. meta is the already parsed metadata.
func parseWrite(w *WriteBatch, b *abi.Batch, m *writeMeta) error {
	*w = WriteBatch{Project: m.Project, View: m.View, Features: m.Features, rows: b.Rows, values: w.values[:0]}
	if m.View == "" {
		return Errorf(abi.ErrBadArgument, "write request: metadata has no view")
	}
	var err error
	if w.keys, err = column(b, abi.ColEntityKey, abi.TypeBytes, false); err != nil {
		return err
	}
	if w.events, err = column(b, abi.ColEventTS, abi.TypeUnixTimestamp, false); err != nil {
		return err
	}
	if c := b.Column(abi.ColCreatedTS); c != nil {
		if w.created, err = column(b, abi.ColCreatedTS, abi.TypeUnixTimestamp, true); err != nil {
			return err
		}
	}
	for _, f := range m.Features {
		c, err := column(b, f, abi.TypeBytes, true)
		if err != nil {
			return err
		}
		w.values = append(w.values, c)
	}
	return nil
}

// parseRead fills r from a decoded read batch.
func parseRead(r *ReadBatch, b *abi.Batch, m *readMeta) error {
	*r = ReadBatch{Project: m.Project, Views: m.Views, rows: b.Rows, runs: r.runs[:0]}
	var err error
	if r.views, err = column(b, abi.ColView, abi.TypeInt32, false); err != nil {
		return err
	}
	if r.keys, err = column(b, abi.ColEntityKey, abi.TypeBytes, false); err != nil {
		return err
	}
	for i := 0; i < b.Rows; i++ {
		if v := r.views.Int32(i); v < 0 || int(v) >= len(m.Views) {
			return Errorf(abi.ErrBadArgument, "read request: row %d names view %d, but metadata lists %d views", i, v, len(m.Views))
		}
	}
	return nil
}

// column finds a required column and checks its type and, unless nullable, that it has no nulls.
func column(b *abi.Batch, name string, t abi.Type, nullable bool) (*abi.Column, error) {
	c := b.Column(name)
	if c == nil {
		return nil, Errorf(abi.ErrBadArgument, "request batch has no column %q", name)
	}
	if c.Type != t {
		return nil, Errorf(abi.ErrBadArgument, "request column %q is %s, want %s", name, c.Type, t)
	}
	if !nullable && c.NullCount > 0 {
		return nil, Errorf(abi.ErrBadArgument, "request column %q has %d nulls", name, c.NullCount)
	}
	return c, nil
}

// metaCache keeps the last parsed metadata: a server sends the same few metadata objects
// over and over, and skipping encoding/json on the hot path matters in Wasm.
type metaCache[T any] struct {
	raw []byte
	val T
	ok  bool
}

func (c *metaCache[T]) get(raw []byte, what string) (*T, error) {
	if c.ok && string(c.raw) == string(raw) {
		return &c.val, nil
	}
	c.ok = false
	var v T
	if len(raw) == 0 {
		return nil, Errorf(abi.ErrBadArgument, "%s request has no metadata", what)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, Errorf(abi.ErrBadArgument, "%s request metadata: %v", what, err)
	}
	c.raw = append(c.raw[:0], raw...)
	c.val, c.ok = v, true
	return &c.val, nil
}
