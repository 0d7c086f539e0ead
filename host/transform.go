package host

import (
	"context"
	"fmt"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/fault"
	"github.com/larder-dev/larder/host/internal/wasm"
)

// OutputField is one output a transformation must produce (spec §10.1): an on-demand
// feature view's declared feature.
type OutputField struct {
	Name string
	Type abi.Type
}

// WasmTransformation is a transformation-kind plugin (spec §10): an on-demand feature
// view compiled to Wasm. It is safe for concurrent use; calls run on a pool of
// instances, under the plugin's limits, with no capabilities at all.
type WasmTransformation struct {
	*Plugin
}

// LoadTransformation loads a transformation plugin. Transformations are pure functions of
// their input (spec §10.2), so the host grants them nothing: a configuration that binds
// capabilities is refused rather than silently ignored, and a capability the manifest asks
// for stays ungranted (cap_open answers PERMISSION_DENIED).
func LoadTransformation(ctx context.Context, cfg PluginConfig) (*WasmTransformation, error) {
	if len(cfg.Grants) > 0 {
		return nil, fmt.Errorf("plugin %s: a transformation gets no capabilities (spec §10.2), but %d grant(s) are configured; remove them",
			cfg.Path, len(cfg.Grants))
	}
	p, err := loadPlugin(ctx, cfg, abi.KindTransformation)
	if err != nil {
		return nil, err
	}
	return &WasmTransformation{Plugin: p}, nil
}

// Transform runs function on the input batch and returns exactly the declared outputs,
// in the order of outputs, one row per input row. The input's metadata is replaced by
// the transformation metadata of spec §10.1; its columns are passed as they are.
//
// The plugin's output is checked against outputs: a missing or extra column, a column of
// another type or another row count is a bad_output fault naming the column (and the
// instance is discarded). The returned batch owns its memory.
func (t *WasmTransformation) Transform(ctx context.Context, function string, outputs []OutputField, in *abi.Batch) (*abi.Batch, error) {
	return t.TransformODFV(ctx, "", function, outputs, in)
}

// TransformODFV is Transform with the name of the on-demand feature view being computed,
// which the plugin receives in the metadata ("odfv") and which errors mention.
func (t *WasmTransformation) TransformODFV(ctx context.Context, odfv, function string, outputs []OutputField, in *abi.Batch) (*abi.Batch, error) {
	if err := checkOutputs(outputs); err != nil {
		return nil, fmt.Errorf("transformation %s: %w", t.info.Manifest.ID, err)
	}
	if in == nil {
		in = &abi.Batch{}
	}
	if in.Rows == 0 {
		// Nothing to compute: no plugin call, the declared columns with no rows.
		return emptyOutputs(outputs), nil
	}
	enc := encoders.Get().(*encoder)
	defer enc.release()
	enc.meta = appendTransformMeta(enc.meta[:0], odfv, function, outputs)
	req := abi.Batch{Rows: in.Rows, Metadata: enc.meta, Columns: in.Columns}
	b, err := req.Encode(enc.out[:0])
	if err != nil {
		return nil, fmt.Errorf("encoding the input of transformation %s: %w", t.info.Manifest.ID, err)
	}
	enc.out = b
	var res *abi.Batch
	err = t.w.Call(ctx, wasm.ExpTransform, caps.PhaseServe, b, func(out []byte) error {
		var derr error
		res, derr = decodeTransformOutput(out, outputs, in.Rows)
		return derr
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// EncodeTransformInput encodes the larder_transform input of spec §10.1: in's columns
// with the transformation metadata. For hosts other than this one (sdktest's native mock,
// the conformance suite's raw calls).
func EncodeTransformInput(odfv, function string, outputs []OutputField, in *abi.Batch) ([]byte, error) {
	if err := checkOutputs(outputs); err != nil {
		return nil, err
	}
	req := abi.Batch{Rows: in.Rows, Metadata: appendTransformMeta(nil, odfv, function, outputs), Columns: in.Columns}
	return req.Encode(nil)
}

func appendTransformMeta(meta []byte, odfv, function string, outputs []OutputField) []byte {
	meta = append(meta, `{"odfv":`...)
	meta = appendJSONString(meta, odfv)
	meta = append(meta, `,"function":`...)
	meta = appendJSONString(meta, function)
	meta = append(meta, `,"outputs":[`...)
	for i, o := range outputs {
		if i > 0 {
			meta = append(meta, ',')
		}
		meta = append(meta, `{"name":`...)
		meta = appendJSONString(meta, o.Name)
		meta = append(meta, `,"type":"`...)
		meta = append(meta, o.Type.String()...)
		meta = append(meta, `"}`...)
	}
	return append(meta, "]}"...)
}

// DecodeTransformOutput validates a larder_transform result against the declared outputs
// and input row count, as the host does (a violation wraps ErrBadOutput and names the
// column). The result is a copy: out may be reused afterwards.
func DecodeTransformOutput(out []byte, outputs []OutputField, rows int) (*abi.Batch, error) {
	return decodeTransformOutput(out, outputs, rows)
}

// checkOutputs rejects output declarations no plugin could satisfy.
func checkOutputs(outputs []OutputField) error {
	if len(outputs) == 0 {
		return fmt.Errorf("no outputs declared")
	}
	seen := make(map[string]bool, len(outputs))
	for i, o := range outputs {
		switch {
		case o.Name == "":
			return fmt.Errorf("output %d has no name", i)
		case seen[o.Name]:
			return fmt.Errorf("output %q is declared twice", o.Name)
		case !o.Type.Valid() || o.Type == abi.TypeStatus:
			return fmt.Errorf("output %q has type %s, which a transformation cannot produce", o.Name, o.Type)
		}
		seen[o.Name] = true
	}
	return nil
}

func emptyOutputs(outputs []OutputField) *abi.Batch {
	b := &abi.Batch{Columns: make([]abi.Column, len(outputs))}
	for i, o := range outputs {
		b.Columns[i] = abi.NewColumnBuilder(o.Name, o.Type, 0).Column()
	}
	return b
}

// decodeTransformOutput copies the plugin's result out of guest memory, validates it as
// an LBF1 batch and checks it against the declared outputs (spec §10.1).
func decodeTransformOutput(out []byte, outputs []OutputField, rows int) (*abi.Batch, error) {
	if len(out) == 0 {
		return nil, fault.Output("larder_result is empty, want an LBF1 batch with columns %s", describeOutputs(outputs))
	}
	b, err := abi.Decode(append([]byte(nil), out...))
	if err != nil {
		return nil, fault.Output("%v", err)
	}
	res := &abi.Batch{Rows: b.Rows, Columns: make([]abi.Column, len(outputs))}
	for i, o := range outputs {
		c := b.Column(o.Name)
		if c == nil {
			return nil, fault.Output("output column %q is missing (declared outputs: %s)", o.Name, describeOutputs(outputs))
		}
		if c.Type != o.Type {
			return nil, fault.Output("output column %q has type %s, declared %s", o.Name, c.Type, o.Type)
		}
		res.Columns[i] = *c
	}
	if len(b.Columns) != len(outputs) {
		for _, c := range b.Columns {
			if !declared(outputs, c.Name) {
				return nil, fault.Output("output column %q is not a declared output (declared outputs: %s)", c.Name, describeOutputs(outputs))
			}
		}
	}
	if b.Rows != rows {
		return nil, fault.Output("output has %d rows for %d input rows (every output column, e.g. %q, needs one value per input row)",
			b.Rows, rows, outputs[0].Name)
	}
	return res, nil
}

func declared(outputs []OutputField, name string) bool {
	for _, o := range outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

func describeOutputs(outputs []OutputField) string {
	names := make([]string, len(outputs))
	for i, o := range outputs {
		names[i] = o.Name + " " + o.Type.String()
	}
	return quoteList(names)
}

// TransformChunked runs a transformation over a batch of any size, in calls of at most
// chunkRows rows (rows are independent, spec §10.2), and concatenates the outputs. It is
// what historical retrieval uses so that a large frame never needs one huge guest buffer.
func (t *WasmTransformation) TransformChunked(ctx context.Context, odfv, function string, outputs []OutputField, in *abi.Batch, chunkRows int) (*abi.Batch, error) {
	if chunkRows <= 0 || in == nil || in.Rows <= chunkRows {
		return t.TransformODFV(ctx, odfv, function, outputs, in)
	}
	builders := make([]*abi.ColumnBuilder, len(outputs))
	for i, o := range outputs {
		builders[i] = abi.NewColumnBuilder(o.Name, o.Type, in.Rows)
	}
	for start := 0; start < in.Rows; start += chunkRows {
		end := min(start+chunkRows, in.Rows)
		part, err := SliceBatch(in, start, end)
		if err != nil {
			return nil, err
		}
		out, err := t.TransformODFV(ctx, odfv, function, outputs, part)
		if err != nil {
			return nil, fmt.Errorf("rows %d..%d: %w", start, end-1, err)
		}
		for i := range outputs {
			if err := AppendRows(builders[i], &out.Columns[i], 0, out.Rows); err != nil {
				return nil, err
			}
		}
	}
	res := &abi.Batch{Rows: in.Rows, Columns: make([]abi.Column, len(outputs))}
	for i, cb := range builders {
		res.Columns[i] = cb.Column()
	}
	return res, nil
}

// SliceBatch copies rows [from, to) of every column of b into a new batch (metadata dropped).
func SliceBatch(b *abi.Batch, from, to int) (*abi.Batch, error) {
	if from < 0 || to > b.Rows || from > to {
		return nil, fmt.Errorf("slicing a batch of %d rows: range [%d, %d) is out of bounds", b.Rows, from, to)
	}
	out := &abi.Batch{Rows: to - from, Columns: make([]abi.Column, len(b.Columns))}
	for i := range b.Columns {
		c := &b.Columns[i]
		cb := abi.NewColumnBuilder(c.Name, c.Type, to-from)
		if err := AppendRows(cb, c, from, to); err != nil {
			return nil, err
		}
		out.Columns[i] = cb.Column()
	}
	return out, nil
}

// AppendRows appends rows [from, to) of src to dst, which must have src's type.
func AppendRows(dst *abi.ColumnBuilder, src *abi.Column, from, to int) error {
	if dst.Type() != src.Type {
		return fmt.Errorf("appending column %q of type %s to a %s column", src.Name, src.Type, dst.Type())
	}
	var sc listScratch
	for r := from; r < to; r++ {
		if src.IsNull(r) {
			dst.AppendNull()
			continue
		}
		appendCell(dst, src, r, &sc)
	}
	return nil
}

// listScratch holds reusable element slices for copying list cells.
type listScratch struct {
	i32 []int32
	i64 []int64
	f32 []float32
	f64 []float64
	bl  []bool
	bs  [][]byte
	ss  []string
}

// appendCell appends the non-null row r of src to dst (same type).
func appendCell(dst *abi.ColumnBuilder, src *abi.Column, r int, sc *listScratch) {
	switch src.Type {
	case abi.TypeBytes:
		dst.AppendBytes(src.Bytes(r))
	case abi.TypeString:
		dst.AppendString(string(src.Bytes(r)))
	case abi.TypeInt32:
		dst.AppendInt32(src.Int32(r))
	case abi.TypeInt64:
		dst.AppendInt64(src.Int64(r))
	case abi.TypeDouble:
		dst.AppendFloat64(src.Float64(r))
	case abi.TypeFloat:
		dst.AppendFloat32(src.Float32(r))
	case abi.TypeBool:
		dst.AppendBool(src.Bool(r))
	case abi.TypeUnixTimestamp:
		dst.AppendTimestamp(src.Timestamp(r))
	case abi.TypeNull:
		dst.AppendNull()
	default:
		appendListCell(dst, src, r, sc)
	}
}

// appendListCell copies one list row. Element nulls are not representable through the
// builder's list appenders, so they become zero values; no transformation input built by
// the host has them (Feast's lists have no null elements).
func appendListCell(dst *abi.ColumnBuilder, src *abi.Column, r int, sc *listScratch) {
	s, e := src.ListRange(r)
	switch src.Type {
	case abi.TypeInt32List:
		sc.i32 = sc.i32[:0]
		for j := s; j < e; j++ {
			sc.i32 = append(sc.i32, src.ElemInt32(j))
		}
		dst.AppendInt32List(sc.i32)
	case abi.TypeInt64List, abi.TypeUnixTimestampList:
		sc.i64 = sc.i64[:0]
		for j := s; j < e; j++ {
			sc.i64 = append(sc.i64, src.ElemInt64(j))
		}
		if src.Type == abi.TypeInt64List {
			dst.AppendInt64List(sc.i64)
		} else {
			dst.AppendTimestampList(sc.i64)
		}
	case abi.TypeFloatList:
		sc.f32 = sc.f32[:0]
		for j := s; j < e; j++ {
			sc.f32 = append(sc.f32, src.ElemFloat32(j))
		}
		dst.AppendFloat32List(sc.f32)
	case abi.TypeDoubleList:
		sc.f64 = sc.f64[:0]
		for j := s; j < e; j++ {
			sc.f64 = append(sc.f64, src.ElemFloat64(j))
		}
		dst.AppendFloat64List(sc.f64)
	case abi.TypeBoolList:
		sc.bl = sc.bl[:0]
		for j := s; j < e; j++ {
			sc.bl = append(sc.bl, src.ElemBool(j))
		}
		dst.AppendBoolList(sc.bl)
	case abi.TypeBytesList:
		sc.bs = sc.bs[:0]
		for j := s; j < e; j++ {
			sc.bs = append(sc.bs, src.ElemBytes(j))
		}
		dst.AppendBytesList(sc.bs)
	case abi.TypeStringList:
		sc.ss = sc.ss[:0]
		for j := s; j < e; j++ {
			sc.ss = append(sc.ss, src.ElemString(j))
		}
		dst.AppendStringList(sc.ss)
	}
}
