package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// NativeOnlineStore runs the online store registered by the test binary (the plugin
// package's own init) in-process, with sdktest as the host. It is closed at test cleanup.
func NativeOnlineStore(t testing.TB, opts Options) host.OnlineStore {
	t.Helper()
	h, err := newNativeHost(t, abi.KindOnlineStore, opts)
	if err != nil {
		t.Fatalf("sdktest: starting the native online store: %v", err)
	}
	s := &nativeOnline{h: h}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// nativeOnline encodes host.OnlineStore calls exactly as the host does (spec §8) and runs
// them through the plugin's exports.
type nativeOnline struct {
	h      *nativeHost
	closed bool
}

func (s *nativeOnline) Update(ctx context.Context, req host.UpdateRequest) error {
	return s.update(ctx, abi.PhaseApply, abi.ExportOnlineUpdate, req)
}

func (s *nativeOnline) Teardown(ctx context.Context, req host.UpdateRequest) error {
	return s.update(ctx, abi.PhaseTeardown, abi.ExportOnlineTeardown, req)
}

func (s *nativeOnline) update(ctx context.Context, phase, export string, req host.UpdateRequest) error {
	if req.TablesToKeep == nil {
		req.TablesToKeep = []host.Table{}
	}
	if req.TablesToDelete == nil {
		req.TablesToDelete = []host.Table{}
	}
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", export, err)
	}
	_, err = s.h.call(ctx, phase, export, in)
	return err
}

func (s *nativeOnline) Write(ctx context.Context, req host.WriteRequest) error {
	in, err := EncodeWrite(req)
	if err != nil {
		return err
	}
	_, err = s.h.call(ctx, abi.PhaseServe, abi.ExportOnlineWrite, in)
	return err
}

func (s *nativeOnline) Read(ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
	in, err := EncodeRead(req)
	if err != nil {
		return nil, err
	}
	out, err := s.h.call(ctx, abi.PhaseServe, abi.ExportOnlineRead, in)
	if err != nil {
		return nil, err
	}
	return DecodeReadResponse(req, out)
}

func (s *nativeOnline) Close(context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.h.close()
}

// EncodeWrite encodes a write request as the host sends it to larder_online_write (spec §8.2).
func EncodeWrite(req host.WriteRequest) ([]byte, error) {
	meta, err := json.Marshal(struct {
		Project  string   `json:"project"`
		View     string   `json:"view"`
		Features []string `json:"features"`
	}{req.Project, req.View, nonNil(req.Features)})
	if err != nil {
		return nil, fmt.Errorf("encoding write request metadata: %w", err)
	}
	n := len(req.Rows)
	keys := abi.NewColumnBuilder(abi.ColEntityKey, abi.TypeBytes, n)
	events := abi.NewColumnBuilder(abi.ColEventTS, abi.TypeUnixTimestamp, n)
	created := abi.NewColumnBuilder(abi.ColCreatedTS, abi.TypeUnixTimestamp, n)
	values := make([]*abi.ColumnBuilder, len(req.Features))
	for f, name := range req.Features {
		values[f] = abi.NewColumnBuilder(name, abi.TypeBytes, n)
	}
	for i, r := range req.Rows {
		if len(r.Values) != len(req.Features) {
			return nil, fmt.Errorf("write request for %q: row %d has %d values for %d features: %w",
				req.View, i, len(r.Values), len(req.Features), abi.ErrBadArgument)
		}
		keys.AppendBytes(r.EntityKey)
		events.AppendTimestamp(r.EventTS.UnixMicro())
		if r.CreatedTS.IsZero() {
			created.AppendNull()
		} else {
			created.AppendTimestamp(r.CreatedTS.UnixMicro())
		}
		for f, v := range r.Values {
			if v == nil {
				values[f].AppendNull()
			} else {
				values[f].AppendBytes(v)
			}
		}
	}
	cols := []abi.Column{keys.Column(), events.Column(), created.Column()}
	for _, v := range values {
		cols = append(cols, v.Column())
	}
	b := abi.Batch{Rows: n, Metadata: meta, Columns: cols}
	out, err := b.Encode(nil)
	if err != nil {
		return nil, fmt.Errorf("encoding write request for %q: %w", req.View, err)
	}
	return out, nil
}

// EncodeRead encodes a read request as the host sends it to larder_online_read (spec §8.3):
// one row per (view, entity key), views in order.
func EncodeRead(req host.ReadRequest) ([]byte, error) {
	type view struct {
		Name     string   `json:"name"`
		Features []string `json:"features"`
	}
	views := make([]view, len(req.Views))
	n := 0
	for i, v := range req.Views {
		views[i] = view{v.Name, nonNil(v.Features)}
		n += len(v.EntityKeys)
	}
	meta, err := json.Marshal(struct {
		Project string `json:"project"`
		Views   []view `json:"views"`
	}{req.Project, views})
	if err != nil {
		return nil, fmt.Errorf("encoding read request metadata: %w", err)
	}
	vcol := abi.NewColumnBuilder(abi.ColView, abi.TypeInt32, n)
	kcol := abi.NewColumnBuilder(abi.ColEntityKey, abi.TypeBytes, n)
	for i, v := range req.Views {
		for _, k := range v.EntityKeys {
			vcol.AppendInt32(int32(i))
			kcol.AppendBytes(k)
		}
	}
	b := abi.Batch{Rows: n, Metadata: meta, Columns: []abi.Column{vcol.Column(), kcol.Column()}}
	out, err := b.Encode(nil)
	if err != nil {
		return nil, fmt.Errorf("encoding read request: %w", err)
	}
	return out, nil
}

// DecodeReadResponse validates a larder_online_read response against its request and
// converts it to a host.ReadResult (values are copied out of out).
func DecodeReadResponse(req host.ReadRequest, out []byte) (*host.ReadResult, error) {
	b, err := abi.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	want := 0
	for _, v := range req.Views {
		want += len(v.EntityKeys) * len(v.Features)
	}
	if b.Rows != want {
		return nil, fmt.Errorf("read response has %d rows, want %d (one per requested entity and feature): %w",
			b.Rows, want, abi.ErrSerializationFailure)
	}
	values, events, status := b.Column(abi.ColValue), b.Column(abi.ColEventTS), b.Column(abi.ColStatus)
	switch {
	case values == nil || values.Type != abi.TypeBytes:
		return nil, fmt.Errorf("read response lacks a BYTES %q column: %w", abi.ColValue, abi.ErrSerializationFailure)
	case events == nil || events.Type != abi.TypeUnixTimestamp:
		return nil, fmt.Errorf("read response lacks a UNIX_TIMESTAMP %q column: %w", abi.ColEventTS, abi.ErrSerializationFailure)
	case status == nil || status.Type != abi.TypeStatus:
		return nil, fmt.Errorf("read response lacks a STATUS %q column: %w", abi.ColStatus, abi.ErrSerializationFailure)
	}
	res := &host.ReadResult{Views: make([][]host.FeatureValue, len(req.Views))}
	row := 0
	for v, view := range req.Views {
		fv := make([]host.FeatureValue, len(view.EntityKeys)*len(view.Features))
		for i := range fv {
			st := status.Status(row)
			switch st {
			case abi.FieldPresent:
				if values.IsNull(row) || events.IsNull(row) {
					return nil, fmt.Errorf("read response row %d is PRESENT without a value or timestamp: %w", row, abi.ErrSerializationFailure)
				}
				fv[i] = host.FeatureValue{
					Value:   append([]byte{}, values.Bytes(row)...),
					EventTS: time.UnixMicro(events.Timestamp(row)).UTC(),
					Status:  st,
				}
			case abi.FieldNotFound:
				fv[i] = host.FeatureValue{Status: st}
			default:
				return nil, fmt.Errorf("read response row %d has status %s, want PRESENT or NOT_FOUND: %w", row, st, abi.ErrSerializationFailure)
			}
			row++
		}
		res.Views[v] = fv
	}
	return res, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
