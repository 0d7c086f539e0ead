package host

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/larder-dev/larder/host/internal/wasm"
)

// WasmOnlineStore is an OnlineStore implemented by an online_store-kind Wasm plugin
// (spec §8). It is safe for concurrent use; calls run on a pool of instances.
type WasmOnlineStore struct {
	*Plugin
}

var _ OnlineStore = (*WasmOnlineStore)(nil)

// LoadOnlineStore loads an online_store plugin: the module must declare a supported ABI
// version, export the online-store functions and describe itself as online_store.
func LoadOnlineStore(ctx context.Context, cfg PluginConfig) (*WasmOnlineStore, error) {
	p, err := loadPlugin(ctx, cfg, abi.KindOnlineStore)
	if err != nil {
		return nil, err
	}
	return &WasmOnlineStore{Plugin: p}, nil
}

// Update creates and drops the store's tables for feature views (spec §8.1). It runs in
// the apply phase, the only one besides teardown in which plugins may change schema.
func (s *WasmOnlineStore) Update(ctx context.Context, req UpdateRequest) error {
	return s.updateCall(ctx, wasm.ExpOnlineUpdate, caps.PhaseApply, req)
}

// Teardown removes everything the store holds for the given tables.
func (s *WasmOnlineStore) Teardown(ctx context.Context, req UpdateRequest) error {
	return s.updateCall(ctx, wasm.ExpOnlineTeardown, caps.PhaseTeardown, req)
}

func (s *WasmOnlineStore) updateCall(ctx context.Context, e wasm.Export, ph caps.Phase, req UpdateRequest) error {
	// Plugins must see [] rather than null for empty lists.
	if req.TablesToKeep == nil {
		req.TablesToKeep = []Table{}
	}
	if req.TablesToDelete == nil {
		req.TablesToDelete = []Table{}
	}
	for _, ts := range [][]Table{req.TablesToKeep, req.TablesToDelete} {
		for i := range ts {
			if ts[i].Features == nil {
				ts[i].Features = []string{}
			}
			if ts[i].JoinKeys == nil {
				ts[i].JoinKeys = []string{}
			}
		}
	}
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", e.Name(), err)
	}
	return s.w.Call(ctx, e, ph, in, nil)
}

// encoder holds reusable buffers for building requests; pooled because the online
// path builds one per call.
type encoder struct {
	meta  []byte
	out   []byte
	cols  []*abi.ColumnBuilder
	names []string // name of each builder in cols: a reused builder keeps its name
}

var encoders = sync.Pool{New: func() any { return &encoder{} }}

func (enc *encoder) builder(i int, name string, t abi.Type, rows int) *abi.ColumnBuilder {
	for len(enc.cols) <= i {
		enc.cols = append(enc.cols, nil)
		enc.names = append(enc.names, "")
	}
	cb := enc.cols[i]
	if cb == nil || cb.Type() != t || enc.names[i] != name {
		cb = abi.NewColumnBuilder(name, t, rows)
		enc.cols[i], enc.names[i] = cb, name
	} else {
		cb.Reset()
	}
	return cb
}

func (enc *encoder) release() {
	if cap(enc.out) > 4<<20 { // don't keep huge write buffers alive
		enc.out = nil
	}
	encoders.Put(enc)
}

// Write stores rows of one feature view (spec §8.2).
// Write chunk limits: a guest decodes a whole request in its own linear memory (64 MiB by
// default, and a Go guest needs several times the encoded size while decoding), and each
// call must finish within its deadline, so large writes go in several calls.
const (
	writeChunkRows  = 8192
	writeChunkBytes = 4 << 20
)

// Write stores rows of one feature view, in as many plugin calls as the chunk limits need.
// Chunks are applied in order; if one fails, the earlier ones stay written. Online writes
// are upserts, so retrying the whole request is safe.
func (s *WasmOnlineStore) Write(ctx context.Context, req WriteRequest) error {
	rows := req.Rows
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < writeChunkRows && (n == 0 || size < writeChunkBytes) {
			size += len(rows[n].EntityKey) + 24
			for _, v := range rows[n].Values {
				size += len(v) + 4
			}
			n++
		}
		chunk := req
		chunk.Rows = rows[:n]
		if err := s.writeChunk(ctx, chunk); err != nil {
			if n < len(req.Rows) {
				done := len(req.Rows) - len(rows)
				return fmt.Errorf("rows %d..%d of %d: %w", done, done+n-1, len(req.Rows), err)
			}
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (s *WasmOnlineStore) writeChunk(ctx context.Context, req WriteRequest) error {
	if len(req.Rows) == 0 {
		return nil
	}
	enc := encoders.Get().(*encoder)
	defer enc.release()
	n := len(req.Rows)
	ek := enc.builder(0, abi.ColEntityKey, abi.TypeBytes, n)
	ev := enc.builder(1, abi.ColEventTS, abi.TypeUnixTimestamp, n)
	cr := enc.builder(2, abi.ColCreatedTS, abi.TypeUnixTimestamp, n)
	feats := make([]*abi.ColumnBuilder, len(req.Features))
	seen := make(map[string]bool, len(req.Features))
	for i, f := range req.Features {
		if f == "" || seen[f] || f == abi.ColEntityKey || f == abi.ColEventTS || f == abi.ColCreatedTS {
			return fmt.Errorf("writing %s: feature name %q is empty, repeated or reserved", req.View, f)
		}
		seen[f] = true
		feats[i] = enc.builder(3+i, f, abi.TypeBytes, n)
	}
	for r, row := range req.Rows {
		if len(row.Values) != len(req.Features) {
			return fmt.Errorf("writing %s: row %d has %d values for %d features", req.View, r, len(row.Values), len(req.Features))
		}
		ek.AppendBytes(row.EntityKey)
		ev.AppendTimestamp(row.EventTS.UnixMicro())
		if row.CreatedTS.IsZero() {
			cr.AppendNull()
		} else {
			cr.AppendTimestamp(row.CreatedTS.UnixMicro())
		}
		for i, v := range row.Values {
			if v == nil {
				feats[i].AppendNull()
			} else {
				feats[i].AppendBytes(v)
			}
		}
	}
	meta := append(enc.meta[:0], `{"project":`...)
	meta = appendJSONString(meta, req.Project)
	meta = append(meta, `,"view":`...)
	meta = appendJSONString(meta, req.View)
	meta = append(meta, `,"features":`...)
	meta = appendJSONStrings(meta, req.Features)
	meta = append(meta, '}')
	enc.meta = meta
	b := abi.Batch{Rows: n, Metadata: meta, Columns: make([]abi.Column, 3+len(feats))}
	for i := range b.Columns {
		b.Columns[i] = enc.cols[i].Column()
	}
	out, err := b.Encode(enc.out[:0])
	if err != nil {
		return fmt.Errorf("encoding write of %s: %w", req.View, err)
	}
	enc.out = out
	return s.w.Call(ctx, wasm.ExpOnlineWrite, caps.PhaseServe, out, nil)
}

// Read reads features of several views in one plugin call (spec §8.3) and checks the
// response's shape: a response with the wrong row count, columns or statuses is a
// bad_output fault.
func (s *WasmOnlineStore) Read(ctx context.Context, req ReadRequest) (*ReadResult, error) {
	res := &ReadResult{Views: make([][]FeatureValue, len(req.Views))}
	rows, want := 0, 0
	for _, v := range req.Views {
		rows += len(v.EntityKeys)
		want += len(v.EntityKeys) * len(v.Features)
	}
	if want == 0 { // nothing to ask the plugin
		for i := range res.Views {
			res.Views[i] = []FeatureValue{}
		}
		return res, nil
	}
	enc := encoders.Get().(*encoder)
	defer enc.release()
	vc := enc.builder(0, abi.ColView, abi.TypeInt32, rows)
	ek := enc.builder(1, abi.ColEntityKey, abi.TypeBytes, rows)
	meta := append(enc.meta[:0], `{"project":`...)
	meta = appendJSONString(meta, req.Project)
	meta = append(meta, `,"views":[`...)
	for i, v := range req.Views {
		if i > 0 {
			meta = append(meta, ',')
		}
		meta = append(meta, `{"name":`...)
		meta = appendJSONString(meta, v.Name)
		meta = append(meta, `,"features":`...)
		meta = appendJSONStrings(meta, v.Features)
		meta = append(meta, '}')
		for _, k := range v.EntityKeys {
			vc.AppendInt32(int32(i))
			ek.AppendBytes(k)
		}
	}
	meta = append(meta, "]}"...)
	enc.meta = meta
	b := abi.Batch{Rows: rows, Metadata: meta, Columns: []abi.Column{vc.Column(), ek.Column()}}
	in, err := b.Encode(enc.out[:0])
	if err != nil {
		return nil, fmt.Errorf("encoding read request: %w", err)
	}
	enc.out = in
	err = s.w.Call(ctx, wasm.ExpOnlineRead, caps.PhaseServe, in, func(out []byte) error {
		return decodeRead(out, req, want, res)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// decodeRead validates a read response and copies it into res (the input aliases guest
// memory, which is reused by the next call).
func decodeRead(out []byte, req ReadRequest, want int, res *ReadResult) error {
	if len(out) == 0 {
		return fault.Output("larder_result is empty, want an LBF1 batch of %d rows", want)
	}
	b, err := abi.Decode(out)
	if err != nil {
		return fault.Output("%v", err)
	}
	if b.Rows != want {
		return fault.Output("response has %d rows, want %d (one per requested entity key and feature)", b.Rows, want)
	}
	val, ts, st := b.Column(abi.ColValue), b.Column(abi.ColEventTS), b.Column(abi.ColStatus)
	for _, c := range []struct {
		col  *abi.Column
		name string
		typ  abi.Type
	}{{val, abi.ColValue, abi.TypeBytes}, {ts, abi.ColEventTS, abi.TypeUnixTimestamp}, {st, abi.ColStatus, abi.TypeStatus}} {
		if c.col == nil {
			return fault.Output("response lacks column %s", c.name)
		}
		if c.col.Type != c.typ {
			return fault.Output("response column %s has type %s, want %s", c.name, c.col.Type, c.typ)
		}
	}
	// One slab holds every value: one allocation instead of one per value.
	slab := append([]byte(nil), val.Values...)
	all := make([]FeatureValue, want)
	row := 0
	for vi, v := range req.Views {
		n := len(v.EntityKeys) * len(v.Features)
		res.Views[vi] = all[row : row+n : row+n]
		for i := 0; i < n; i, row = i+1, row+1 {
			fv := &all[row]
			switch status := st.Status(row); status {
			case abi.FieldPresent:
				if val.IsNull(row) || ts.IsNull(row) {
					return fault.Output("row %d is PRESENT but its value or __event_ts is null", row)
				}
				s, e := val.ListRange(row) // BYTES offsets: the value's byte range
				fv.Value = slab[s:e:e]
				fv.EventTS = time.UnixMicro(ts.Timestamp(row)).UTC()
				fv.Status = abi.FieldPresent
			case abi.FieldNotFound:
				fv.Status = abi.FieldNotFound
			default:
				return fault.Output("row %d has status %s, want PRESENT or NOT_FOUND", row, status)
			}
		}
	}
	return nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as with
// encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, `\u00`...)
				dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func appendJSONStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}
