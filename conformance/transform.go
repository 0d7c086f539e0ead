package conformance

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// Transformation conformance (spec §10). A transformation's semantics are its own, so the
// cases are driven by a TransformSpec: the input columns the plugin reads, the outputs it
// declares and, optionally, worked examples. Specs of the first-party examples are
// embedded (transforms/*.json, looked up by manifest id); a plugin author passes their own
// with `larder conformance --transform-spec spec.json plugin.wasm`.

//go:embed transforms/*.json
var transformFS embed.FS

// TransformSpec describes how to drive a transformation under test.
type TransformSpec struct {
	// ID is the manifest id the spec is for (embedded specs are found by it).
	ID string `json:"id"`
	// ODFV and Function are passed in the call metadata; Function defaults to "transform".
	ODFV     string `json:"odfv,omitempty"`
	Function string `json:"function,omitempty"`
	// Inputs are the columns every call carries; Outputs the declared outputs.
	Inputs  []FieldSpec `json:"inputs"`
	Outputs []FieldSpec `json:"outputs"`
	// Identity says each output equals the input of the same name (the echo fixture):
	// every generated batch is then checked cell by cell.
	Identity bool `json:"identity,omitempty"`
	// RowsDependent opts out of the "rows are independent" check (spec §10.2): a
	// transformation that documents that its rows depend on each other.
	RowsDependent bool `json:"rows_dependent,omitempty"`
	// Examples are inputs with the outputs they must give.
	Examples []TransformExample `json:"examples,omitempty"`
}

// FieldSpec is a named column with a §5.3 type name.
type FieldSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// TransformExample is one worked example: input columns (by name; typed by the spec's
// Inputs) and the expected output columns. Values are JSON: numbers (or "NaN", "Inf",
// "-Inf" for floats; strings for int64 extremes), strings, booleans, base64 strings for
// BYTES, microseconds for UNIX_TIMESTAMP, arrays for lists, null for a null row.
type TransformExample struct {
	Name   string                       `json:"name"`
	Input  map[string][]json.RawMessage `json:"input"`
	Output map[string][]json.RawMessage `json:"output"`
}

// LoadTransformSpec reads a spec file and checks it.
func LoadTransformSpec(path string) (TransformSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TransformSpec{}, fmt.Errorf("reading the transformation spec: %w", err)
	}
	return parseTransformSpec(b, path)
}

func parseTransformSpec(b []byte, name string) (TransformSpec, error) {
	var s TransformSpec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	if err := s.validate(); err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// KnownTransformSpec returns the embedded spec for a plugin id (the first-party examples
// and the xform fixture).
func KnownTransformSpec(id string) (TransformSpec, bool) {
	entries, err := transformFS.ReadDir("transforms")
	if err != nil {
		return TransformSpec{}, false
	}
	for _, e := range entries {
		b, err := transformFS.ReadFile("transforms/" + e.Name())
		if err != nil {
			continue
		}
		s, err := parseTransformSpec(b, e.Name())
		if err == nil && s.ID == id {
			return s, true
		}
	}
	return TransformSpec{}, false
}

// TransformSpecs returns every embedded spec (for tests of the specs themselves).
func TransformSpecs() ([]TransformSpec, error) {
	entries, err := transformFS.ReadDir("transforms")
	if err != nil {
		return nil, err
	}
	var out []TransformSpec
	for _, e := range entries {
		b, err := transformFS.ReadFile("transforms/" + e.Name())
		if err != nil {
			return nil, err
		}
		s, err := parseTransformSpec(b, "transforms/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *TransformSpec) validate() error {
	if s.Function == "" {
		s.Function = "transform"
	}
	if len(s.Inputs) == 0 || len(s.Outputs) == 0 {
		return errors.New("a transformation spec needs inputs and outputs")
	}
	for _, group := range [][]FieldSpec{s.Inputs, s.Outputs} {
		seen := map[string]bool{}
		for _, f := range group {
			if _, ok := abi.ParseType(f.Type); !ok || f.Name == "" || seen[f.Name] {
				return fmt.Errorf("field %q (%s): needs a unique name and a §5.3 type name", f.Name, f.Type)
			}
			seen[f.Name] = true
		}
	}
	for i, ex := range s.Examples {
		if _, err := s.exampleInput(ex); err != nil {
			return fmt.Errorf("examples[%d] (%s): %w", i, ex.Name, err)
		}
		if _, err := s.exampleOutput(ex); err != nil {
			return fmt.Errorf("examples[%d] (%s): %w", i, ex.Name, err)
		}
	}
	return nil
}

func (s *TransformSpec) outputs() []host.OutputField {
	out := make([]host.OutputField, len(s.Outputs))
	for i, f := range s.Outputs {
		t, _ := abi.ParseType(f.Type)
		out[i] = host.OutputField{Name: f.Name, Type: t}
	}
	return out
}

func (s *TransformSpec) exampleInput(ex TransformExample) (*abi.Batch, error) {
	return columnsFromJSON(s.Inputs, ex.Input, "input")
}

func (s *TransformSpec) exampleOutput(ex TransformExample) (*abi.Batch, error) {
	return columnsFromJSON(s.Outputs, ex.Output, "output")
}

func columnsFromJSON(fields []FieldSpec, vals map[string][]json.RawMessage, what string) (*abi.Batch, error) {
	b := &abi.Batch{Rows: -1}
	for name := range vals {
		if !hasField(fields, name) {
			return nil, fmt.Errorf("%s column %q is not in the spec's %ss", what, name, what)
		}
	}
	for _, f := range fields {
		raw, ok := vals[f.Name]
		if !ok {
			return nil, fmt.Errorf("%s column %q is missing", what, f.Name)
		}
		if b.Rows >= 0 && len(raw) != b.Rows {
			return nil, fmt.Errorf("%s column %q has %d values, others %d", what, f.Name, len(raw), b.Rows)
		}
		b.Rows = len(raw)
		t, _ := abi.ParseType(f.Type)
		cb := abi.NewColumnBuilder(f.Name, t, len(raw))
		for r, v := range raw {
			if err := appendJSONCell(cb, t, v); err != nil {
				return nil, fmt.Errorf("%s column %q row %d: %w", what, f.Name, r, err)
			}
		}
		b.Columns = append(b.Columns, cb.Column())
	}
	return b, nil
}

func hasField(fs []FieldSpec, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// appendJSONCell appends one JSON value of type t.
func appendJSONCell(cb *abi.ColumnBuilder, t abi.Type, raw json.RawMessage) error {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		cb.AppendNull()
		return nil
	}
	if t.IsList() {
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return fmt.Errorf("%s value must be an array: %w", t, err)
		}
		return appendJSONList(cb, t, elems)
	}
	switch t {
	case abi.TypeString:
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		cb.AppendString(v)
	case abi.TypeBytes:
		var v []byte // base64
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		cb.AppendBytes(v)
	case abi.TypeInt32, abi.TypeInt64, abi.TypeUnixTimestamp:
		n, err := parseInt(raw)
		if err != nil {
			return err
		}
		switch t {
		case abi.TypeInt32:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return fmt.Errorf("%d overflows INT32", n)
			}
			cb.AppendInt32(int32(n))
		case abi.TypeInt64:
			cb.AppendInt64(n)
		default:
			cb.AppendTimestamp(n)
		}
	case abi.TypeDouble, abi.TypeFloat:
		f, err := parseJSONFloat(raw)
		if err != nil {
			return err
		}
		if t == abi.TypeDouble {
			cb.AppendFloat64(f)
		} else {
			cb.AppendFloat32(float32(f))
		}
	case abi.TypeBool:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		cb.AppendBool(v)
	default:
		return fmt.Errorf("type %s cannot be written in a spec", t)
	}
	return nil
}

func appendJSONList(cb *abi.ColumnBuilder, t abi.Type, elems []json.RawMessage) error {
	var err error
	each := func(f func(json.RawMessage) error) {
		for _, e := range elems {
			if err == nil {
				err = f(e)
			}
		}
	}
	switch t {
	case abi.TypeStringList:
		v := make([]string, 0, len(elems))
		each(func(e json.RawMessage) error {
			var s string
			err := json.Unmarshal(e, &s)
			v = append(v, s)
			return err
		})
		cb.AppendStringList(v)
	case abi.TypeBytesList:
		v := make([][]byte, 0, len(elems))
		each(func(e json.RawMessage) error {
			var s []byte
			err := json.Unmarshal(e, &s)
			v = append(v, s)
			return err
		})
		cb.AppendBytesList(v)
	case abi.TypeInt32List:
		v := make([]int32, 0, len(elems))
		each(func(e json.RawMessage) error { n, err := parseInt(e); v = append(v, int32(n)); return err })
		cb.AppendInt32List(v)
	case abi.TypeInt64List, abi.TypeUnixTimestampList:
		v := make([]int64, 0, len(elems))
		each(func(e json.RawMessage) error { n, err := parseInt(e); v = append(v, n); return err })
		if t == abi.TypeInt64List {
			cb.AppendInt64List(v)
		} else {
			cb.AppendTimestampList(v)
		}
	case abi.TypeDoubleList:
		v := make([]float64, 0, len(elems))
		each(func(e json.RawMessage) error { f, err := parseJSONFloat(e); v = append(v, f); return err })
		cb.AppendFloat64List(v)
	case abi.TypeFloatList:
		v := make([]float32, 0, len(elems))
		each(func(e json.RawMessage) error { f, err := parseJSONFloat(e); v = append(v, float32(f)); return err })
		cb.AppendFloat32List(v)
	case abi.TypeBoolList:
		v := make([]bool, 0, len(elems))
		each(func(e json.RawMessage) error { var b bool; err := json.Unmarshal(e, &b); v = append(v, b); return err })
		cb.AppendBoolList(v)
	}
	return err
}

func parseJSONFloat(raw json.RawMessage) (float64, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Inf", "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		case "-0":
			return math.Copysign(0, -1), nil
		}
		return strconv.ParseFloat(s, 64)
	}
	var f float64
	err := json.Unmarshal(raw, &f)
	return f, err
}

// ---- targets ----

// Transformer is a loaded transformation (host.WasmTransformation is one).
type Transformer interface {
	TransformODFV(ctx context.Context, odfv, function string, outputs []host.OutputField, in *abi.Batch) (*abi.Batch, error)
	Close(ctx context.Context) error
}

// TransformTarget says how to load the transformation under test and how to drive it.
type TransformTarget struct {
	Name string
	// Open loads a fresh copy (its own instances): the determinism case opens two.
	Open func(ctx context.Context) (Transformer, error)
	Spec TransformSpec
	// Skip maps a case name to the reason it does not apply.
	Skip map[string]string
}

// WasmTransformTarget loads the module at path with host.LoadTransformation.
func WasmTransformTarget(path string, spec TransformSpec, o WasmOptions) TransformTarget {
	return TransformTarget{
		Name: path,
		Spec: spec,
		Open: func(ctx context.Context) (Transformer, error) {
			x, err := host.LoadTransformation(ctx, host.PluginConfig{Path: path, Config: o.Config, Limits: o.Limits,
				Pool: o.Pool, Breaker: o.Breaker, CacheDir: o.CacheDir})
			if err != nil {
				return nil, fmt.Errorf("loading transformation plugin %s: %w", path, err)
			}
			return x, nil
		},
	}
}

// transformCase is one check of the transformation suite.
type transformCase struct {
	group, name, description string
	run                      func(ctx context.Context, r *transformRun) error
	// slow cases are scaled down under Options.Short.
}

type transformRun struct {
	target TransformTarget
	opts   Options
	x      Transformer // opened once per case
}

// Batch sizes of the batch/sizes case (Short caps them at 10 000).
var transformBatchSizes = []int{1, 2, 100, 1024, 8192, 100_000}

var transformCases = []transformCase{
	{group: "examples", name: "worked-examples", description: "the spec's examples give exactly the expected outputs",
		run: func(ctx context.Context, r *transformRun) error { return r.examples(ctx) }},
	{group: "types", name: "every-declared-type", description: "generated values of every input type (edge values included: empty strings and lists, extremes, NaN, ±Inf, -0) give valid outputs of the declared types",
		run: func(ctx context.Context, r *transformRun) error {
			return r.generated(ctx, 257, genOptions{edges: true})
		}},
	{group: "nulls", name: "all-null", description: "a batch whose every input is null gives valid outputs",
		run: func(ctx context.Context, r *transformRun) error {
			return r.generated(ctx, 17, genOptions{nullEvery: 1})
		}},
	{group: "nulls", name: "some-null", description: "nulls in every column, at different rows, give valid outputs",
		run: func(ctx context.Context, r *transformRun) error {
			return r.generated(ctx, 301, genOptions{nullEvery: 3})
		}},
	{group: "batch", name: "sizes", description: "batches of 1, 2, 100, 1024, 8192 and 100 000 rows give one output row per input row",
		run: func(ctx context.Context, r *transformRun) error { return r.sizes(ctx) }},
	{group: "batch", name: "rows-independent", description: "a batch computed at once equals the same rows computed in chunks of 97 (spec §10.2)",
		run: func(ctx context.Context, r *transformRun) error { return r.independent(ctx) }},
	{group: "determinism", name: "across-instances", description: "equal input gives equal output on two separately loaded copies and on repeated calls (spec §10.2)",
		run: func(ctx context.Context, r *transformRun) error { return r.deterministic(ctx) }},
}

// RunTransformation runs the transformation cases against target, one subtest per case
// (t.Run("<group>/<name>")); with opts.Sandbox it also runs the hostile transformation
// fixture cases (RunTransformationSandbox).
func RunTransformation(t *testing.T, target TransformTarget, opts ...Options) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Short = o.Short || testing.Short()
	for _, c := range transformCases {
		t.Run(c.group+"/"+c.name, func(t *testing.T) {
			res := runTransformCase(context.Background(), target, o, c)
			switch res.Status {
			case Skip:
				t.Skip(res.Message)
			case Fail:
				t.Fatalf("%s\n  case: %s", res.Message, c.description)
			}
		})
	}
	if o.Sandbox != nil {
		RunTransformationSandbox(t, *o.Sandbox)
	}
}

// RunTransform runs the transformation cases (and, with opts.Sandbox, the hostile
// transformation fixtures) without a *testing.T; `larder conformance` prints the report.
func RunTransform(ctx context.Context, target TransformTarget, opts Options) Report {
	start := time.Now()
	rep := Report{Schema: ReportSchema, Target: target.Name, StartedAt: start.UTC(),
		Options: ReportOpts{Short: opts.Short, Cases: opts.Cases, Sandbox: opts.Sandbox != nil}}
	emit := func(c CaseResult) {
		rep.add(c)
		if opts.Progress != nil {
			opts.Progress(c)
		}
	}
	if target.Open != nil {
		for _, c := range transformCases {
			if len(opts.Cases) > 0 && !contains(opts.Cases, c.name) && !contains(opts.Cases, c.group) {
				continue
			}
			emit(runTransformCase(ctx, target, opts, c))
		}
	}
	if opts.Sandbox != nil {
		for _, c := range TransformSandbox(ctx, *opts.Sandbox) {
			emit(c)
		}
	}
	rep.DurationMS = ms(time.Since(start))
	return rep
}

func runTransformCase(ctx context.Context, target TransformTarget, opts Options, c transformCase) CaseResult {
	res := CaseResult{Suite: "transformation", Group: c.group, Name: c.name}
	if reason, ok := target.Skip[c.name]; ok {
		res.Status, res.Message = Skip, reason
		return res
	}
	if c.group == "examples" && len(target.Spec.Examples) == 0 {
		res.Status, res.Message = Skip, "the spec has no examples"
		return res
	}
	if c.name == "rows-independent" && target.Spec.RowsDependent {
		res.Status, res.Message = Skip, "the spec says rows depend on each other"
		return res
	}
	cctx, cancel := context.WithTimeout(ctx, opts.caseTimeout())
	defer cancel()
	start := time.Now()
	x, err := target.Open(cctx)
	if err != nil {
		res.Status, res.Message, res.Class = Fail, err.Error(), faultClass(err)
		return res
	}
	defer x.Close(context.WithoutCancel(ctx))
	r := &transformRun{target: target, opts: opts, x: x}
	err = c.run(cctx, r)
	res.Duration = ms(time.Since(start))
	if err != nil {
		res.Status, res.Message, res.Class = Fail, err.Error(), faultClass(err)
		return res
	}
	res.Status = Pass
	return res
}

func (r *transformRun) call(ctx context.Context, x Transformer, in *abi.Batch) (*abi.Batch, error) {
	s := &r.target.Spec
	out, err := x.TransformODFV(ctx, s.ODFV, s.Function, s.outputs(), in)
	if err != nil {
		return nil, fmt.Errorf("transforming %d rows: [%s] %w", in.Rows, orNone(faultClass(err)), err)
	}
	if out.Rows != in.Rows || len(out.Columns) != len(s.Outputs) {
		return nil, fmt.Errorf("transforming %d rows: the host returned %d rows, %d columns", in.Rows, out.Rows, len(out.Columns))
	}
	if s.Identity {
		for i, o := range s.Outputs {
			src := in.Column(o.Name)
			if src == nil {
				continue
			}
			if d := diffColumns(src, &out.Columns[i], in.Rows); d != "" {
				return nil, fmt.Errorf("output %q does not equal its input: %s", o.Name, d)
			}
		}
	}
	return out, nil
}

func (r *transformRun) examples(ctx context.Context) error {
	s := &r.target.Spec
	var problems []string
	for i, ex := range s.Examples {
		in, _ := s.exampleInput(ex)
		want, _ := s.exampleOutput(ex)
		got, err := r.call(ctx, r.x, in)
		if err != nil {
			return fmt.Errorf("example %d (%s): %w", i, ex.Name, err)
		}
		for c := range want.Columns {
			if d := diffColumns(&want.Columns[c], &got.Columns[c], in.Rows); d != "" {
				problems = append(problems, fmt.Sprintf("example %d (%s), output %q: %s", i, ex.Name, s.Outputs[c].Name, d))
			}
		}
	}
	if len(problems) > 0 {
		return problemsErr(problems)
	}
	return nil
}

func (r *transformRun) generated(ctx context.Context, rows int, g genOptions) error {
	in := genBatch(r.target.Spec.Inputs, rows, 1, g)
	_, err := r.call(ctx, r.x, in)
	return err
}

func (r *transformRun) sizes(ctx context.Context) error {
	for _, n := range transformBatchSizes {
		if r.opts.Short && n > 10_000 {
			n = 10_000
		}
		in := genBatch(r.target.Spec.Inputs, n, int64(n), genOptions{nullEvery: 11})
		if _, err := r.call(ctx, r.x, in); err != nil {
			return fmt.Errorf("batch of %d rows: %w", n, err)
		}
	}
	return nil
}

func (r *transformRun) independent(ctx context.Context) error {
	const n, chunk = 1000, 97
	in := genBatch(r.target.Spec.Inputs, n, 7, genOptions{nullEvery: 5})
	whole, err := r.call(ctx, r.x, in)
	if err != nil {
		return err
	}
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		part, err := host.SliceBatch(in, start, end)
		if err != nil {
			return err
		}
		got, err := r.call(ctx, r.x, part)
		if err != nil {
			return err
		}
		wantPart, _ := host.SliceBatch(whole, start, end)
		for c := range got.Columns {
			if d := diffColumns(&wantPart.Columns[c], &got.Columns[c], end-start); d != "" {
				return fmt.Errorf("output %q of rows %d..%d differs when computed in a chunk (first row = chunk row 0): %s",
					got.Columns[c].Name, start, end-1, d)
			}
		}
	}
	return nil
}

func (r *transformRun) deterministic(ctx context.Context) error {
	in := genBatch(r.target.Spec.Inputs, 513, 42, genOptions{nullEvery: 7, edges: true})
	first, err := r.call(ctx, r.x, in)
	if err != nil {
		return err
	}
	other, err := r.target.Open(ctx)
	if err != nil {
		return fmt.Errorf("loading a second copy: %w", err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	for round := 0; round < 3; round++ {
		for name, x := range map[string]Transformer{"the same copy": r.x, "a second copy": other} {
			got, err := r.call(ctx, x, in)
			if err != nil {
				return err
			}
			for c := range got.Columns {
				if d := diffColumns(&first.Columns[c], &got.Columns[c], in.Rows); d != "" {
					return fmt.Errorf("call %d on %s: output %q differs from the first call: %s", round+2, name, got.Columns[c].Name, d)
				}
			}
		}
	}
	return nil
}

// ---- generated input ----

type genOptions struct {
	nullEvery int  // row r of column c is null when (r+c) % nullEvery == 0; 0 = none
	edges     bool // mix edge values in
}

// rng is a small deterministic generator (splitmix64): the same seed gives the same batch
// on every machine.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

var edgeStrings = []string{"", "a", "ünïcödé ✓", "漢字", "🙂", strings.Repeat("x", 300), "with\x00nul"}

func genBatch(fields []FieldSpec, rows int, seed int64, g genOptions) *abi.Batch {
	b := &abi.Batch{Rows: rows}
	for ci, f := range fields {
		t, _ := abi.ParseType(f.Type)
		r := rng(uint64(seed)*1_000_003 + uint64(ci))
		cb := abi.NewColumnBuilder(f.Name, t, rows)
		for row := 0; row < rows; row++ {
			if g.nullEvery > 0 && (row+ci)%g.nullEvery == 0 {
				cb.AppendNull()
				continue
			}
			genCell(cb, t, &r, g.edges && row%5 == 0)
		}
		b.Columns = append(b.Columns, cb.Column())
	}
	return b
}

func genCell(cb *abi.ColumnBuilder, t abi.Type, r *rng, edge bool) {
	v := r.next()
	switch t {
	case abi.TypeString:
		if edge {
			cb.AppendString(edgeStrings[v%uint64(len(edgeStrings))])
		} else {
			cb.AppendString("s" + strconv.FormatUint(v%100000, 36))
		}
	case abi.TypeBytes:
		n := int(v % 17)
		if edge {
			n = 0
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.next())
		}
		cb.AppendBytes(p)
	case abi.TypeInt32:
		x := int32(v%20001) - 10000
		if edge {
			x = []int32{math.MinInt32, math.MaxInt32, 0, -1}[v%4]
		}
		cb.AppendInt32(x)
	case abi.TypeInt64:
		x := int64(v%2000001) - 1000000
		if edge {
			x = []int64{math.MinInt64, math.MaxInt64, 0, -1}[v%4]
		}
		cb.AppendInt64(x)
	case abi.TypeDouble:
		x := float64(int64(v%2000001)-1000000) / 1000
		if edge {
			x = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64}[v%6]
		}
		cb.AppendFloat64(x)
	case abi.TypeFloat:
		x := float32(int64(v%2000001)-1000000) / 1000
		if edge {
			x = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32}[v%5]
		}
		cb.AppendFloat32(x)
	case abi.TypeBool:
		cb.AppendBool(v&1 == 1)
	case abi.TypeUnixTimestamp:
		cb.AppendTimestamp(1_600_000_000_000_000 + int64(v%1_000_000_000_000))
	default:
		n := int(v % 6)
		if edge {
			n = 0
		}
		switch t {
		case abi.TypeStringList:
			l := make([]string, n)
			for i := range l {
				l[i] = "t" + strconv.FormatUint(r.next()%1000, 36)
			}
			if n > 0 && r.next()%4 == 0 {
				l[0] = edgeStrings[r.next()%uint64(len(edgeStrings))]
			}
			cb.AppendStringList(l)
		case abi.TypeBytesList:
			l := make([][]byte, n)
			for i := range l {
				l[i] = []byte(strconv.FormatUint(r.next()%1000, 10))
			}
			cb.AppendBytesList(l)
		case abi.TypeInt32List:
			l := make([]int32, n)
			for i := range l {
				l[i] = int32(r.next()%2001) - 1000
			}
			cb.AppendInt32List(l)
		case abi.TypeInt64List, abi.TypeUnixTimestampList:
			l := make([]int64, n)
			for i := range l {
				l[i] = int64(r.next()%2001) - 1000
			}
			if t == abi.TypeInt64List {
				cb.AppendInt64List(l)
			} else {
				cb.AppendTimestampList(l)
			}
		case abi.TypeDoubleList:
			l := make([]float64, n)
			for i := range l {
				l[i] = float64(int64(r.next()%2001)-1000) / 8
			}
			cb.AppendFloat64List(l)
		case abi.TypeFloatList:
			l := make([]float32, n)
			for i := range l {
				l[i] = float32(int64(r.next()%2001)-1000) / 8
			}
			cb.AppendFloat32List(l)
		case abi.TypeBoolList:
			l := make([]bool, n)
			for i := range l {
				l[i] = r.next()&1 == 1
			}
			cb.AppendBoolList(l)
		default:
			cb.AppendNull()
		}
	}
}

// ---- comparison ----

// diffColumns compares two columns of the same type row by row (floats bit for bit, so
// NaN equals NaN) and describes the first difference, or returns "".
func diffColumns(want, got *abi.Column, rows int) string {
	if want.Type != got.Type {
		return fmt.Sprintf("type %s, want %s", got.Type, want.Type)
	}
	for r := 0; r < rows; r++ {
		w, g := cellText(want, r), cellText(got, r)
		if w != g {
			return fmt.Sprintf("row %d is %s, want %s", r, g, w)
		}
	}
	return ""
}

// cellText renders a cell canonically (floats by their bits' shortest exact form).
func cellText(c *abi.Column, r int) string {
	if c.IsNull(r) {
		return "null"
	}
	f64 := func(f float64) string {
		if math.IsNaN(f) {
			return "NaN"
		}
		if f == 0 && math.Signbit(f) {
			return "-0"
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	f32 := func(f float32) string {
		if f != f {
			return "NaN"
		}
		if f == 0 && math.Signbit(float64(f)) {
			return "-0"
		}
		return strconv.FormatFloat(float64(f), 'g', -1, 32)
	}
	switch c.Type {
	case abi.TypeString:
		return strconv.Quote(c.String(r))
	case abi.TypeBytes:
		return fmt.Sprintf("%x", c.Bytes(r))
	case abi.TypeInt32:
		return strconv.Itoa(int(c.Int32(r)))
	case abi.TypeInt64, abi.TypeUnixTimestamp:
		return strconv.FormatInt(c.Int64(r), 10)
	case abi.TypeDouble:
		return f64(c.Float64(r))
	case abi.TypeFloat:
		return f32(c.Float32(r))
	case abi.TypeBool:
		return strconv.FormatBool(c.Bool(r))
	}
	if !c.Type.IsList() {
		return "?"
	}
	s, e := c.ListRange(r)
	parts := make([]string, 0, e-s)
	for j := s; j < e; j++ {
		switch c.Type {
		case abi.TypeStringList:
			parts = append(parts, strconv.Quote(c.ElemString(j)))
		case abi.TypeBytesList:
			parts = append(parts, fmt.Sprintf("%x", c.ElemBytes(j)))
		case abi.TypeInt32List:
			parts = append(parts, strconv.Itoa(int(c.ElemInt32(j))))
		case abi.TypeInt64List, abi.TypeUnixTimestampList:
			parts = append(parts, strconv.FormatInt(c.ElemInt64(j), 10))
		case abi.TypeDoubleList:
			parts = append(parts, f64(c.ElemFloat64(j)))
		case abi.TypeFloatList:
			parts = append(parts, f32(c.ElemFloat32(j)))
		case abi.TypeBoolList:
			parts = append(parts, strconv.FormatBool(c.ElemBool(j)))
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// ---- hostile transformation fixtures ----

// TransformFixture is a hostile behaviour of the xform fixture, chosen by the call's
// function name, with the fault class (or status) the host must report.
type TransformFixture struct {
	Function    string
	Expect      string // a host.FaultClass, or "permission_denied" for a refused capability
	Mention     string // the error must mention this (e.g. the offending column)
	Description string
}

// TransformFixtures are the hostile cases of the xform fixture (conformance/fixtures/xform).
var TransformFixtures = []TransformFixture{
	{"trap", host.FaultTrap, "", "panics in larder_transform"},
	{"loop", host.FaultDeadline, "", "never returns from larder_transform"},
	{"membomb", host.FaultMemoryLimit, "", "allocates without bound in larder_transform"},
	{"garbage", host.FaultBadOutput, "", "returns bytes that are not an LBF1 batch"},
	{"missing", host.FaultBadOutput, `"y_double" is missing`, "leaves out a declared output"},
	{"extra", host.FaultBadOutput, `"undeclared_extra" is not a declared output`, "adds an undeclared output column"},
	{"wrong_type", host.FaultBadOutput, `"y_double" has type STRING, declared DOUBLE`, "returns a declared output with another type"},
	{"short_rows", host.FaultBadOutput, "rows for 3 input rows", "returns one row fewer than the input"},
	{"cap_open", "permission_denied", "", "opens the sql capability its manifest asks for: a transformation gets none"},
}

// xformOutputs is what the hostile cases declare; xformInput what they send.
var xformOutputs = []host.OutputField{{Name: "y_double", Type: abi.TypeDouble}, {Name: "y_string", Type: abi.TypeString}}

func xformInput() *abi.Batch {
	d := abi.NewColumnBuilder("y_double", abi.TypeDouble, 3)
	s := abi.NewColumnBuilder("y_string", abi.TypeString, 3)
	for i := 0; i < 3; i++ {
		d.AppendFloat64(float64(i) + 0.5)
		s.AppendString(strconv.Itoa(i))
	}
	return &abi.Batch{Rows: 3, Columns: []abi.Column{d.Column(), s.Column()}}
}

// LoadTransformFixture loads the xform fixture with tight limits and the breaker off.
func LoadTransformFixture(ctx context.Context, path string, deadline time.Duration) (*host.WasmTransformation, error) {
	return host.LoadTransformation(ctx, host.PluginConfig{
		Path:    path,
		Limits:  host.Limits{MemoryBytes: 16 << 20, CallTimeout: deadline, MaxOutputBytes: fixtureOutput},
		Pool:    host.PoolConfig{Min: 1, Max: 2},
		Breaker: host.BreakerConfig{Faults: -1},
	})
}

// TransformSandbox runs the hostile transformation cases with the xform fixture in
// o.FixtureDir: every hostile call must end in its fault class within the deadline (plus
// slack), and the same plugin must then still compute correctly (the faulty instance was
// discarded, the pool replaced it). Loading it with grants must be refused.
func TransformSandbox(ctx context.Context, o SandboxOptions) []CaseResult {
	o.defaults()
	path := filepath.Join(o.FixtureDir, "xform.wasm")
	var out []CaseResult
	res := func(name, expect string) CaseResult {
		return CaseResult{Suite: "sandbox", Group: "transformation", Name: name, Expected: expect}
	}
	if _, err := os.Stat(path); err != nil {
		c := res("xform", "")
		c.Status, c.Message = Skip, fmt.Sprintf("fixture %s not built (make fixtures): %v", path, err)
		return append(out, c)
	}

	// Grants are refused at load time.
	c := res("grants-refused", "other")
	_, err := host.LoadTransformation(ctx, host.PluginConfig{Path: path, Grants: []host.Grant{
		{Kind: abi.CapSQL, Name: "online", SQL: &host.SQLGrant{Path: filepath.Join(os.TempDir(), "larder-xform-never.db")}}}})
	if err == nil || !strings.Contains(err.Error(), "no capabilities") {
		c.Status, c.Message = Fail, fmt.Sprintf("loading a transformation with a grant: err = %v, want a refusal", err)
	} else {
		c.Status, c.Class = Pass, faultClass(err)
	}
	out = append(out, c)

	x, err := LoadTransformFixture(ctx, path, o.CallDeadline)
	if err != nil {
		c := res("load", "")
		c.Status, c.Message, c.Class = Fail, err.Error(), faultClass(err)
		return append(out, c)
	}
	defer x.Close(context.WithoutCancel(ctx))
	healthy := func() error {
		got, err := x.TransformODFV(ctx, "xform", "echo", xformOutputs, xformInput())
		if err != nil {
			return fmt.Errorf("the echo call after it failed: [%s] %w", faultClass(err), err)
		}
		in := xformInput()
		for i := range xformOutputs {
			if d := diffColumns(&in.Columns[i], &got.Columns[i], 3); d != "" {
				return fmt.Errorf("the echo call after it returned a wrong %s: %s", xformOutputs[i].Name, d)
			}
		}
		return nil
	}
	if err := healthy(); err != nil {
		c := res("echo", "")
		c.Status, c.Message = Fail, err.Error()
		return append(out, c)
	}
	for _, f := range TransformFixtures {
		c := res(f.Function, f.Expect)
		start := time.Now()
		_, err := x.TransformODFV(ctx, "xform", f.Function, xformOutputs, xformInput())
		elapsed := time.Since(start)
		c.Duration = ms(elapsed)
		c.Class = faultClass(err)
		switch {
		case f.Expect == "permission_denied":
			if !errors.Is(err, abi.ErrPermissionDenied) {
				c.Status, c.Message = Fail, fmt.Sprintf("err = %v, want PERMISSION_DENIED from cap_open", err)
			}
		case c.Class != f.Expect:
			c.Status, c.Message = Fail, fmt.Sprintf("fault class %q, want %q: %v", orNone(c.Class), f.Expect, err)
		case f.Mention != "" && !strings.Contains(err.Error(), f.Mention):
			c.Status, c.Message = Fail, fmt.Sprintf("the error does not name the offending column (%s): %v", f.Mention, err)
		case elapsed > o.CallDeadline+o.Slack:
			c.Status, c.Message = Fail, fmt.Sprintf("returned after %v, past the %v deadline + %v slack", elapsed.Round(time.Millisecond), o.CallDeadline, o.Slack)
		}
		if c.Status == "" {
			if herr := healthy(); herr != nil {
				c.Status, c.Message = Fail, herr.Error()
			} else {
				c.Status, c.Message = Pass, f.Description
			}
		}
		out = append(out, c)
	}
	return out
}

// RunTransformationSandbox is TransformSandbox under go test, one subtest per case.
func RunTransformationSandbox(t *testing.T, o SandboxOptions) {
	t.Helper()
	for _, c := range TransformSandbox(context.Background(), o) {
		t.Run("sandbox/transformation/"+c.Name, func(t *testing.T) {
			switch c.Status {
			case Skip:
				t.Skip(c.Message)
			case Fail:
				t.Fatalf("[%s] %s", orNone(c.Class), c.Message)
			}
		})
	}
}
