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
}

// Len returns the number of rows.
func (r *ReadBatch) Len() int { return r.rows }

// View returns the index into Views of row i.
func (r *ReadBatch) View(i int) int { return int(r.views.Int32(i)) }

// EntityKey returns the serialized entity key of row i.
func (r *ReadBatch) EntityKey(i int) []byte { return r.keys.Bytes(i) }

// ReadResponse collects what Read found: for each request row, one slot per feature of the
// row's view. Unset slots are NOT_FOUND. The SDK encodes it after Read returns, so value
// slices passed to Set (e.g. from query results) only need to live until then.
type ReadResponse struct {
	first []int32 // first slot of each request row, plus a final end marker
	slots []readSlot
}

type readSlot struct {
	value []byte
	ts    int64
	set   bool
}

// Set records the value of feature f (an index into the row's view's Features) for request
// row, with its event timestamp in microseconds since the Unix epoch. Status PRESENT.
func (r *ReadResponse) Set(row, f int, value []byte, eventMicros int64) {
	s := int(r.first[row]) + f
	if f < 0 || s >= int(r.first[row+1]) {
		panic(fmt.Sprintf("sdk: ReadResponse.Set: feature index %d out of range for row %d (view has %d features)",
			f, row, r.first[row+1]-r.first[row]))
	}
	r.slots[s] = readSlot{value: value, ts: eventMicros, set: true}
}

// Found reports whether feature f of request row has been Set.
func (r *ReadResponse) Found(row, f int) bool { return r.slots[int(r.first[row])+f].set }

// reset sizes the response for batch, dropping earlier values but keeping capacity.
func (r *ReadResponse) reset(b *ReadBatch) {
	r.first = r.first[:0]
	n := int32(0)
	for i := 0; i < b.rows; i++ {
		r.first = append(r.first, n)
		n += int32(len(b.Views[b.View(i)].Features))
	}
	r.first = append(r.first, n)
	if cap(r.slots) < int(n) {
		r.slots = make([]readSlot, n)
	} else {
		r.slots = r.slots[:n]
		clear(r.slots)
	}
}

// responseEncoder turns a ReadResponse into the LBF1 response batch, reusing its builders.
type responseEncoder struct {
	value, ts, status *abi.ColumnBuilder
	cols              [3]abi.Column
}

func (e *responseEncoder) encode(r *ReadResponse, dst []byte) ([]byte, error) {
	if e.value == nil {
		e.value = abi.NewColumnBuilder(abi.ColValue, abi.TypeBytes, len(r.slots))
		e.ts = abi.NewColumnBuilder(abi.ColEventTS, abi.TypeUnixTimestamp, len(r.slots))
		e.status = abi.NewColumnBuilder(abi.ColStatus, abi.TypeStatus, len(r.slots))
	}
	e.value.Reset()
	e.ts.Reset()
	e.status.Reset()
	for i := range r.slots {
		s := &r.slots[i]
		if s.set {
			e.value.AppendBytes(s.value)
			e.ts.AppendTimestamp(s.ts)
			e.status.AppendStatus(abi.FieldPresent)
		} else {
			e.value.AppendNull()
			e.ts.AppendNull()
			e.status.AppendStatus(abi.FieldNotFound)
		}
		s.value = nil // do not keep the caller's buffers reachable
	}
	e.cols[0], e.cols[1], e.cols[2] = e.value.Column(), e.ts.Column(), e.status.Column()
	b := abi.Batch{Rows: len(r.slots), Columns: e.cols[:]}
	return b.Encode(dst)
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
	*r = ReadBatch{Project: m.Project, Views: m.Views, rows: b.Rows}
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
