package sdk

import (
	"encoding/json"

	"github.com/larder-dev/larder/abi"
)

// Transformation is what a transformation plugin implements (spec §10): an on-demand
// feature view computed by Wasm. The same module runs online, at write time and in
// historical retrieval, so training and serving compute the same values.
//
// Transform reads the input (one column per source feature or request field the ODFV
// declares, named by the bare name) and appends exactly one value (or null) per input row
// to every declared output. It must be deterministic: equal input, equal output, on any
// instance, so no clock, no randomness and no state that outlives a call may affect it.
// A transformation gets no capabilities.
//
// Errors made with Errorf choose the status the host sees (a column of an unexpected type
// is abi.ErrBadArgument); any other error is INTERNAL.
type Transformation interface {
	Transform(function string, in *TransformInput, out *TransformOutput) error
}

// TransformFunc lets a plain function be a Transformation.
type TransformFunc func(function string, in *TransformInput, out *TransformOutput) error

// Transform calls f.
func (f TransformFunc) Transform(function string, in *TransformInput, out *TransformOutput) error {
	return f(function, in, out)
}

// Initializer is implemented by a Transformation that reads the operator's plugin config
// (a JSON object, "{}" when none) once per instance.
type Initializer interface {
	Init(config []byte) error
}

// RegisterTransformation registers the plugin as a transformation. Call it exactly once,
// from an init function; newT is called once per plugin instance. A transformation may
// not request capabilities: the host grants it none.
func RegisterTransformation(p Plugin, newT func() Transformation) {
	switch {
	case newT == nil:
		register(p, abi.KindTransformation, Errorf(abi.ErrInternal, "RegisterTransformation: newT is nil"))
		return
	case len(p.Capabilities) > 0:
		register(p, abi.KindTransformation, Errorf(abi.ErrInternal,
			"RegisterTransformation: plugin %q requests capabilities; transformations get none (spec §10.2)", p.ID))
		return
	}
	register(p, abi.KindTransformation, nil)
	registration.newTransform = newT
}

// Field is a declared output: a name and its type.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"` // a type name of spec §5.3, e.g. "DOUBLE"
}

type transformMeta struct {
	ODFV     string  `json:"odfv"`
	Function string  `json:"function"`
	Outputs  []Field `json:"outputs"`
}

// transformState is an instance's reusable transformation buffers.
type transformState struct {
	t       Transformation
	meta    transformMeta
	metaRaw []byte
	ready   bool
	types   []abi.Type
	out     TransformOutput
	in      TransformInput
	cols    []abi.Column
}

// callTransform runs larder_transform.
func (in *instance) callTransform(input []byte) error {
	st := in.transform
	if st == nil || st.t == nil {
		return Errorf(abi.ErrUnimplemented, "%s: this plugin is a %s, not a transformation", abi.ExportTransform, registration.kind)
	}
	b, err := abi.Decode(input)
	if err != nil {
		return Errorf(abi.ErrSerializationFailure, "%s: %v", abi.ExportTransform, err)
	}
	if !st.ready || string(b.Metadata) != string(st.metaRaw) {
		// A server sends the same metadata call after call: parse it (and size the
		// builders) only when it changes.
		st.ready = false
		if err := st.parseMeta(b.Metadata, b.Rows); err != nil {
			return err
		}
		st.metaRaw = append(st.metaRaw[:0], b.Metadata...)
		st.ready = true
	} else {
		st.out.clear(b.Rows)
	}
	m := &st.meta
	st.in = TransformInput{ODFV: m.ODFV, Function: m.Function, Rows: b.Rows, batch: b}
	if err := st.t.Transform(m.Function, &st.in, &st.out); err != nil {
		return err
	}
	st.cols = st.cols[:0]
	for i, cb := range st.out.builders {
		if cb.Len() != b.Rows {
			return Errorf(abi.ErrInternal, "output %q has %d values for %d input rows", st.out.names[i], cb.Len(), b.Rows)
		}
		st.cols = append(st.cols, cb.Column())
	}
	res := abi.Batch{Rows: b.Rows, Columns: st.cols}
	out, err := res.Encode(in.result[:0])
	if err != nil {
		return Errorf(abi.ErrInternal, "encoding the transformation output: %v", err)
	}
	in.result = out
	st.in = TransformInput{}
	return nil
}

func (st *transformState) parseMeta(raw []byte, rows int) error {
	if len(raw) == 0 {
		return Errorf(abi.ErrBadArgument, "transform request has no metadata")
	}
	st.meta = transformMeta{}
	if err := json.Unmarshal(raw, &st.meta); err != nil {
		return Errorf(abi.ErrBadArgument, "transform request metadata: %v", err)
	}
	st.types = st.types[:0]
	for _, o := range st.meta.Outputs {
		t, ok := abi.ParseType(o.Type)
		if !ok {
			return Errorf(abi.ErrBadArgument, "output %q has unknown type %q", o.Name, o.Type)
		}
		st.types = append(st.types, t)
	}
	st.out.reset(st.meta.Outputs, st.types, rows)
	return nil
}

// initTransform creates the instance's transformation and passes it the config.
func (in *instance) initTransform(config []byte) error {
	if in.transform == nil {
		in.transform = &transformState{t: registration.newTransform()}
	}
	if i, ok := in.transform.t.(Initializer); ok {
		return i.Init(config)
	}
	return nil
}

// ---- input ----

// TransformInput is the input batch of one call. Its readers alias the host's input
// buffer: values read from them are valid only during Transform (copy strings and lists
// that must outlive it, which a deterministic transformation never needs).
type TransformInput struct {
	ODFV     string // the on-demand feature view being computed
	Function string // the function the ODFV names; one module may implement several
	Rows     int
	batch    *abi.Batch
}

// Column returns the raw column called name (see abi.Column for accessors), or an
// error naming it.
func (in *TransformInput) Column(name string) (*abi.Column, error) {
	if c := in.batch.Column(name); c != nil {
		return c, nil
	}
	names := make([]string, len(in.batch.Columns))
	for i := range in.batch.Columns {
		names[i] = in.batch.Columns[i].Name
	}
	return nil, Errorf(abi.ErrBadArgument, "input column %q is missing (input columns: %v)", name, names)
}

// Has reports whether the input has a column called name.
func (in *TransformInput) Has(name string) bool { return in.batch.Column(name) != nil }

// Reader reads the values of one input column as T.
type Reader[T any] struct {
	c  *abi.Column
	at func(*abi.Column, int) T
}

// Null reports whether row i is null (its value is then the zero T).
func (r Reader[T]) Null(i int) bool { return r.c.IsNull(i) }

// At returns row i.
func (r Reader[T]) At(i int) T {
	if r.c.IsNull(i) {
		var zero T
		return zero
	}
	return r.at(r.c, i)
}

// Type is the column's declared type.
func (r Reader[T]) Type() abi.Type { return r.c.Type }

func reader[T any](in *TransformInput, name, want string, pick func(abi.Type) func(*abi.Column, int) T) (Reader[T], error) {
	c, err := in.Column(name)
	if err != nil {
		return Reader[T]{}, err
	}
	at := pick(c.Type)
	if c.Type == abi.TypeNull {
		at = func(*abi.Column, int) T { var z T; return z }
	}
	if at == nil {
		return Reader[T]{}, Errorf(abi.ErrBadArgument, "input column %q is %s, want %s", name, c.Type, want)
	}
	return Reader[T]{c: c, at: at}, nil
}

// Float64s reads a numeric column (DOUBLE, FLOAT, INT32 or INT64) as float64, the way
// Feast's pandas arithmetic widens them.
func (in *TransformInput) Float64s(name string) (Reader[float64], error) {
	return reader(in, name, "a number (DOUBLE, FLOAT, INT32 or INT64)", func(t abi.Type) func(*abi.Column, int) float64 {
		switch t {
		case abi.TypeDouble:
			return (*abi.Column).Float64
		case abi.TypeFloat:
			return func(c *abi.Column, i int) float64 { return float64(c.Float32(i)) }
		case abi.TypeInt32:
			return func(c *abi.Column, i int) float64 { return float64(c.Int32(i)) }
		case abi.TypeInt64:
			return func(c *abi.Column, i int) float64 { return float64(c.Int64(i)) }
		}
		return nil
	})
}

// Int64s reads an INT32, INT64 or UNIX_TIMESTAMP (microseconds) column as int64.
func (in *TransformInput) Int64s(name string) (Reader[int64], error) {
	return reader(in, name, "an integer (INT32, INT64 or UNIX_TIMESTAMP)", func(t abi.Type) func(*abi.Column, int) int64 {
		switch t {
		case abi.TypeInt64, abi.TypeUnixTimestamp:
			return (*abi.Column).Int64
		case abi.TypeInt32:
			return func(c *abi.Column, i int) int64 { return int64(c.Int32(i)) }
		}
		return nil
	})
}

// Strings reads a STRING (or BYTES) column.
func (in *TransformInput) Strings(name string) (Reader[string], error) {
	return reader(in, name, "STRING or BYTES", func(t abi.Type) func(*abi.Column, int) string {
		if t == abi.TypeString || t == abi.TypeBytes {
			return (*abi.Column).String
		}
		return nil
	})
}

// Bytes reads a BYTES (or STRING) column; the slices alias the input.
func (in *TransformInput) Bytes(name string) (Reader[[]byte], error) {
	return reader(in, name, "BYTES or STRING", func(t abi.Type) func(*abi.Column, int) []byte {
		if t == abi.TypeString || t == abi.TypeBytes {
			return (*abi.Column).Bytes
		}
		return nil
	})
}

// Bools reads a BOOL column.
func (in *TransformInput) Bools(name string) (Reader[bool], error) {
	return reader(in, name, "BOOL", func(t abi.Type) func(*abi.Column, int) bool {
		if t == abi.TypeBool {
			return (*abi.Column).Bool
		}
		return nil
	})
}

// ListReader reads a list column element by element, without allocating.
type ListReader[T any] struct {
	c  *abi.Column
	at func(*abi.Column, int) T
}

// Null reports whether row i is null.
func (r ListReader[T]) Null(i int) bool { return r.c.IsNull(i) }

// Len returns the number of elements of row i (0 when null).
func (r ListReader[T]) Len(i int) int {
	if r.c.Type == abi.TypeNull || r.c.IsNull(i) {
		return 0
	}
	s, e := r.c.ListRange(i)
	return e - s
}

// At returns element j of row i.
func (r ListReader[T]) At(i, j int) T {
	s, _ := r.c.ListRange(i)
	return r.at(r.c, s+j)
}

// Append appends the elements of row i to dst.
func (r ListReader[T]) Append(dst []T, i int) []T {
	if r.c.Type == abi.TypeNull || r.c.IsNull(i) {
		return dst
	}
	s, e := r.c.ListRange(i)
	for j := s; j < e; j++ {
		dst = append(dst, r.at(r.c, j))
	}
	return dst
}

func listReader[T any](in *TransformInput, name, want string, pick func(abi.Type) func(*abi.Column, int) T) (ListReader[T], error) {
	c, err := in.Column(name)
	if err != nil {
		return ListReader[T]{}, err
	}
	at := pick(c.Type)
	if at == nil && c.Type != abi.TypeNull {
		return ListReader[T]{}, Errorf(abi.ErrBadArgument, "input column %q is %s, want %s", name, c.Type, want)
	}
	return ListReader[T]{c: c, at: at}, nil
}

// Int64Lists reads an INT32_LIST, INT64_LIST or UNIX_TIMESTAMP_LIST column.
func (in *TransformInput) Int64Lists(name string) (ListReader[int64], error) {
	return listReader(in, name, "INT32_LIST, INT64_LIST or UNIX_TIMESTAMP_LIST", func(t abi.Type) func(*abi.Column, int) int64 {
		switch t {
		case abi.TypeInt64List, abi.TypeUnixTimestampList:
			return (*abi.Column).ElemInt64
		case abi.TypeInt32List:
			return func(c *abi.Column, j int) int64 { return int64(c.ElemInt32(j)) }
		}
		return nil
	})
}

// Float64Lists reads a numeric list column (DOUBLE_LIST, FLOAT_LIST, INT32_LIST, INT64_LIST).
func (in *TransformInput) Float64Lists(name string) (ListReader[float64], error) {
	return listReader(in, name, "a numeric list", func(t abi.Type) func(*abi.Column, int) float64 {
		switch t {
		case abi.TypeDoubleList:
			return (*abi.Column).ElemFloat64
		case abi.TypeFloatList:
			return func(c *abi.Column, j int) float64 { return float64(c.ElemFloat32(j)) }
		case abi.TypeInt32List:
			return func(c *abi.Column, j int) float64 { return float64(c.ElemInt32(j)) }
		case abi.TypeInt64List:
			return func(c *abi.Column, j int) float64 { return float64(c.ElemInt64(j)) }
		}
		return nil
	})
}

// StringLists reads a STRING_LIST (or BYTES_LIST) column.
func (in *TransformInput) StringLists(name string) (ListReader[string], error) {
	return listReader(in, name, "STRING_LIST or BYTES_LIST", func(t abi.Type) func(*abi.Column, int) string {
		if t == abi.TypeStringList || t == abi.TypeBytesList {
			return (*abi.Column).ElemString
		}
		return nil
	})
}

// BoolLists reads a BOOL_LIST column.
func (in *TransformInput) BoolLists(name string) (ListReader[bool], error) {
	return listReader(in, name, "BOOL_LIST", func(t abi.Type) func(*abi.Column, int) bool {
		if t == abi.TypeBoolList {
			return (*abi.Column).ElemBool
		}
		return nil
	})
}

// ---- output ----

// TransformOutput holds the declared output columns of one call.
type TransformOutput struct {
	Rows     int // the number of input rows: every output needs exactly this many values
	names    []string
	types    []abi.Type
	builders []*abi.ColumnBuilder
}

func (o *TransformOutput) reset(fields []Field, types []abi.Type, rows int) {
	o.Rows = rows
	o.names = o.names[:0]
	o.types = append(o.types[:0], types...)
	o.builders = o.builders[:0]
	for i, f := range fields {
		o.names = append(o.names, f.Name)
		o.builders = append(o.builders, abi.NewColumnBuilder(f.Name, types[i], rows))
	}
}

func (o *TransformOutput) clear(rows int) {
	o.Rows = rows
	for _, cb := range o.builders {
		cb.Reset()
	}
}

// Fields returns the declared outputs.
func (o *TransformOutput) Fields() []Field {
	fs := make([]Field, len(o.names))
	for i := range o.names {
		fs[i] = Field{Name: o.names[i], Type: o.types[i].String()}
	}
	return fs
}

// Column returns the builder of the declared output called name, typed as declared
// (appending a value of another type panics: use the typed accessors to get an error).
func (o *TransformOutput) Column(name string) (*abi.ColumnBuilder, error) {
	for i, n := range o.names {
		if n == name {
			return o.builders[i], nil
		}
	}
	return nil, Errorf(abi.ErrBadArgument, "%q is not a declared output (declared: %v)", name, o.names)
}

// Builder appends values of type T to one output column.
type Builder[T any] struct {
	cb  *abi.ColumnBuilder
	app func(*abi.ColumnBuilder, T)
}

// Append appends v.
func (b Builder[T]) Append(v T) { b.app(b.cb, v) }

// AppendNull appends a null.
func (b Builder[T]) AppendNull() { b.cb.AppendNull() }

// Len is the number of values appended so far.
func (b Builder[T]) Len() int { return b.cb.Len() }

func builder[T any](o *TransformOutput, name string, want abi.Type, app func(*abi.ColumnBuilder, T)) (Builder[T], error) {
	cb, err := o.Column(name)
	if err != nil {
		return Builder[T]{}, err
	}
	if cb.Type() != want {
		return Builder[T]{}, Errorf(abi.ErrBadArgument, "output %q is declared %s, the plugin builds %s", name, cb.Type(), want)
	}
	return Builder[T]{cb: cb, app: app}, nil
}

// Float64s returns the builder of a DOUBLE output.
func (o *TransformOutput) Float64s(name string) (Builder[float64], error) {
	return builder(o, name, abi.TypeDouble, (*abi.ColumnBuilder).AppendFloat64)
}

// Float32s returns the builder of a FLOAT output.
func (o *TransformOutput) Float32s(name string) (Builder[float32], error) {
	return builder(o, name, abi.TypeFloat, (*abi.ColumnBuilder).AppendFloat32)
}

// Int64s returns the builder of an INT64 output.
func (o *TransformOutput) Int64s(name string) (Builder[int64], error) {
	return builder(o, name, abi.TypeInt64, (*abi.ColumnBuilder).AppendInt64)
}

// Int32s returns the builder of an INT32 output.
func (o *TransformOutput) Int32s(name string) (Builder[int32], error) {
	return builder(o, name, abi.TypeInt32, (*abi.ColumnBuilder).AppendInt32)
}

// Timestamps returns the builder of a UNIX_TIMESTAMP output (microseconds since the epoch).
func (o *TransformOutput) Timestamps(name string) (Builder[int64], error) {
	return builder(o, name, abi.TypeUnixTimestamp, (*abi.ColumnBuilder).AppendTimestamp)
}

// Strings returns the builder of a STRING output.
func (o *TransformOutput) Strings(name string) (Builder[string], error) {
	return builder(o, name, abi.TypeString, (*abi.ColumnBuilder).AppendString)
}

// Bytes returns the builder of a BYTES output.
func (o *TransformOutput) Bytes(name string) (Builder[[]byte], error) {
	return builder(o, name, abi.TypeBytes, (*abi.ColumnBuilder).AppendBytes)
}

// Bools returns the builder of a BOOL output.
func (o *TransformOutput) Bools(name string) (Builder[bool], error) {
	return builder(o, name, abi.TypeBool, (*abi.ColumnBuilder).AppendBool)
}

// Int64Lists returns the builder of an INT64_LIST output.
func (o *TransformOutput) Int64Lists(name string) (Builder[[]int64], error) {
	return builder(o, name, abi.TypeInt64List, (*abi.ColumnBuilder).AppendInt64List)
}

// Int32Lists returns the builder of an INT32_LIST output.
func (o *TransformOutput) Int32Lists(name string) (Builder[[]int32], error) {
	return builder(o, name, abi.TypeInt32List, (*abi.ColumnBuilder).AppendInt32List)
}

// Float64Lists returns the builder of a DOUBLE_LIST output.
func (o *TransformOutput) Float64Lists(name string) (Builder[[]float64], error) {
	return builder(o, name, abi.TypeDoubleList, (*abi.ColumnBuilder).AppendFloat64List)
}

// Float32Lists returns the builder of a FLOAT_LIST output.
func (o *TransformOutput) Float32Lists(name string) (Builder[[]float32], error) {
	return builder(o, name, abi.TypeFloatList, (*abi.ColumnBuilder).AppendFloat32List)
}

// StringLists returns the builder of a STRING_LIST output.
func (o *TransformOutput) StringLists(name string) (Builder[[]string], error) {
	return builder(o, name, abi.TypeStringList, (*abi.ColumnBuilder).AppendStringList)
}

// BytesLists returns the builder of a BYTES_LIST output.
func (o *TransformOutput) BytesLists(name string) (Builder[[][]byte], error) {
	return builder(o, name, abi.TypeBytesList, (*abi.ColumnBuilder).AppendBytesList)
}

// BoolLists returns the builder of a BOOL_LIST output.
func (o *TransformOutput) BoolLists(name string) (Builder[[]bool], error) {
	return builder(o, name, abi.TypeBoolList, (*abi.ColumnBuilder).AppendBoolList)
}

// TimestampLists returns the builder of a UNIX_TIMESTAMP_LIST output (microseconds).
func (o *TransformOutput) TimestampLists(name string) (Builder[[]int64], error) {
	return builder(o, name, abi.TypeUnixTimestampList, (*abi.ColumnBuilder).AppendTimestampList)
}
