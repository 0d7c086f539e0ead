package offlineengine

import (
	"fmt"
	"time"

	"github.com/larder-dev/larder/abi"
)

// Words names an engine's types in the errors of RowBatcher, so that a bad value reads in
// the terms of the database that returned it (a BLOB for DuckDB, bytea for PostgreSQL).
type Words struct {
	Engine    string // who returned the value: "engine", "PostgreSQL"
	Timestamp string // the timestamp type, with an article
	Bytes     string // the binary type
	List      string // the list type, with an article
	Element   string // one item of a list: "list element"
}

// DuckDBWords are the words of this package's own engine.
var DuckDBWords = Words{Engine: "engine", Timestamp: "a TIMESTAMP", Bytes: "a BLOB", List: "a LIST", Element: "list element"}

// RowBatcher turns the rows a driver returns into Batches of the documented Go values and
// hands each full one to a callback. Both engines use it, so that a plan's result reaches
// the caller in the same shape whichever database ran it.
type RowBatcher struct {
	b     *Batch
	store []any // backing array for every row slice of the batch
	size  int
	ncol  int
	words Words
	fn    func(*Batch) error
	n     int64
}

// NewRowBatcher starts batches of size rows (DefaultBatchSize if size <= 0) of schema.
func NewRowBatcher(schema []Column, size int, words Words, fn func(*Batch) error) *RowBatcher {
	if size <= 0 {
		size = DefaultBatchSize
	}
	ncol := len(schema)
	return &RowBatcher{
		b:     &Batch{Schema: schema, Rows: make([][]any, 0, size), Total: -1},
		store: make([]any, size*ncol),
		size:  size, ncol: ncol, words: words, fn: fn,
	}
}

// Rows is the number of rows added so far.
func (r *RowBatcher) Rows() int64 { return r.n }

// SetTotal sets the result's total row count carried by the batches.
func (r *RowBatcher) SetTotal(t int64) { r.b.Total = t }

// Add normalises one row, value(j) being column j of the schema as the driver returned
// it, and passes the batch on when it is full. The callback's error is returned as is.
func (r *RowBatcher) Add(value func(j int) any) error {
	k := len(r.b.Rows)
	row := r.store[k*r.ncol : (k+1)*r.ncol : (k+1)*r.ncol]
	for j, c := range r.b.Schema {
		v, err := normalize(value(j), c.Type, &r.words)
		if err != nil {
			return fmt.Errorf("row %d of the plan's result, column %q: %w", r.n+1, c.Name, err)
		}
		row[j] = v
	}
	r.b.Rows = append(r.b.Rows, row)
	r.n++
	if len(r.b.Rows) == r.size {
		if err := r.fn(r.b); err != nil {
			return err
		}
		r.b.Rows = r.b.Rows[:0]
	}
	return nil
}

// Flush passes on the last, partly filled batch, if any.
func (r *RowBatcher) Flush() error {
	if len(r.b.Rows) > 0 {
		return r.fn(r.b)
	}
	return nil
}

// normalize turns a driver value of a column already checked to be of type t into the Go
// value documented on Batch. Only lists need work: drivers return them as []any.
func normalize(v any, t abi.Type, w *Words) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case abi.TypeUnixTimestamp:
		ts, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%s returned %T for %s", w.Engine, v, w.Timestamp)
		}
		return ts.UTC(), nil
	case abi.TypeBytes:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("%s returned %T for %s", w.Engine, v, w.Bytes)
		}
		return append([]byte(nil), b...), nil
	}
	if !t.IsList() {
		if !scalarIs(v, t) {
			return nil, fmt.Errorf("%s returned %T for %s", w.Engine, v, t)
		}
		return v, nil
	}
	elems, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s returned %T for %s", w.Engine, v, w.List)
	}
	for i, e := range elems {
		if e == nil {
			return nil, fmt.Errorf("%s %d is NULL; Feast list values cannot hold nulls", w.Element, i)
		}
	}
	switch t {
	case abi.TypeBytesList:
		return listOf(elems, w, func(e any) ([]byte, bool) { b, ok := e.([]byte); return append([]byte(nil), b...), ok })
	case abi.TypeStringList:
		return listOf(elems, w, func(e any) (string, bool) { s, ok := e.(string); return s, ok })
	case abi.TypeInt32List:
		return listOf(elems, w, func(e any) (int32, bool) { x, ok := e.(int32); return x, ok })
	case abi.TypeInt64List:
		return listOf(elems, w, func(e any) (int64, bool) { x, ok := e.(int64); return x, ok })
	case abi.TypeDoubleList:
		return listOf(elems, w, func(e any) (float64, bool) { x, ok := e.(float64); return x, ok })
	case abi.TypeFloatList:
		return listOf(elems, w, func(e any) (float32, bool) { x, ok := e.(float32); return x, ok })
	case abi.TypeBoolList:
		return listOf(elems, w, func(e any) (bool, bool) { x, ok := e.(bool); return x, ok })
	case abi.TypeUnixTimestampList:
		return listOf(elems, w, func(e any) (time.Time, bool) { x, ok := e.(time.Time); return x.UTC(), ok })
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

func listOf[T any](elems []any, w *Words, conv func(any) (T, bool)) ([]T, error) {
	out := make([]T, len(elems))
	for i, e := range elems {
		x, ok := conv(e)
		if !ok {
			return nil, fmt.Errorf("%s %d is %T, not %T", w.Element, i, e, x)
		}
		out[i] = x
	}
	return out, nil
}

// scalarIs reports whether v is the Go type drivers return for t.
func scalarIs(v any, t abi.Type) bool {
	switch v.(type) {
	case string:
		return t == abi.TypeString
	case int32:
		return t == abi.TypeInt32
	case int64:
		return t == abi.TypeInt64
	case float64:
		return t == abi.TypeDouble
	case float32:
		return t == abi.TypeFloat
	case bool:
		return t == abi.TypeBool
	}
	return false
}
