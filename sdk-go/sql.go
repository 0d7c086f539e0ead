package sdk

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/larder-dev/larder/abi"
)

// SQLClient talks to a granted sql capability (spec §6.1). Create one per instance, e.g. in
// the factory passed to RegisterOnlineStore; it opens the capability on first use.
//
// Results alias SDK buffers that are recycled when the current export call returns: read
// what you need before returning.
type SQLClient struct {
	name     string
	handle   int32
	openedOn any // the transport the handle belongs to (sdktest can swap hosts between calls)

	params Params
	exec   ExecArgs
	meta   []byte
	req    []byte
	cols   []abi.Column
}

// SQL returns a client for the sql capability the operator bound to name.
func SQL(name string) *SQLClient { return &SQLClient{name: name, handle: -1} }

// Query runs a SELECT with positional parameters (nil, []byte, string, bool, int, int32,
// int64, float32, float64) and returns the result rows, one column per result column, typed
// as resultTypes (every column nullable). The batch is valid until the export call returns.
func (c *SQLClient) Query(sql string, resultTypes []abi.Type, params ...any) (*abi.Batch, error) {
	c.params.Reset()
	for i, p := range params {
		if err := c.params.Any(p); err != nil {
			return nil, Errorf(abi.ErrBadArgument, "sql %q: query parameter %d: %v", c.name, i+1, err)
		}
	}
	return c.QueryParams(sql, resultTypes, &c.params)
}

// QueryParams is Query with parameters from a reusable Params, which avoids boxing each
// parameter in an interface: the form to use on hot paths.
func (c *SQLClient) QueryParams(sql string, resultTypes []abi.Type, p *Params) (*abi.Batch, error) {
	c.meta = appendQueryMeta(c.meta[:0], sql, resultTypes)
	return c.query(c.meta, resultTypes, p)
}

// Prepare returns a query to run many times. Nothing is sent to the host: the statement's
// request metadata is built once here instead of on every run, which matters on hot paths
// (the host keys its own prepared-statement cache by that metadata).
func (c *SQLClient) Prepare(sql string, resultTypes []abi.Type) *Stmt {
	return &Stmt{c: c, meta: appendQueryMeta(nil, sql, resultTypes), types: append([]abi.Type(nil), resultTypes...)}
}

// Stmt is a prepared query of a SQLClient.
type Stmt struct {
	c     *SQLClient
	meta  []byte
	types []abi.Type
}

// Query runs the statement with p's parameters; see SQLClient.Query for the result.
func (s *Stmt) Query(p *Params) (*abi.Batch, error) { return s.c.query(s.meta, s.types, p) }

func appendQueryMeta(dst []byte, sql string, resultTypes []abi.Type) []byte {
	dst = append(dst, `{"sql":`...)
	dst = appendJSONString(dst, sql)
	dst = append(dst, `,"result_types":[`...)
	for i, t := range resultTypes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, t.String()...)
		dst = append(dst, '"')
	}
	return append(dst, "]}"...)
}

func (c *SQLClient) query(meta []byte, resultTypes []abi.Type, p *Params) (*abi.Batch, error) {
	c.req = appendParams(c.req, meta, p)
	resp, err := c.callRaw(abi.SQLOpQuery, "query", c.req)
	if err != nil {
		return nil, err
	}
	if len(resp.Columns) != len(resultTypes) {
		return nil, Errorf(abi.ErrInternal, "sql %q: query returned %d columns, asked for %d", c.name, len(resp.Columns), len(resultTypes))
	}
	for i := range resp.Columns {
		if resp.Columns[i].Type != resultTypes[i] {
			return nil, Errorf(abi.ErrInternal, "sql %q: query result column %d is %s, asked for %s", c.name, i, resp.Columns[i].Type, resultTypes[i])
		}
	}
	return resp, nil
}

// Exec runs a statement once per row of parameters, all in one transaction, and returns the
// total number of rows affected. Column types are taken from the first non-nil value of each
// column. For large batches prefer ExecArgs.
func (c *SQLClient) Exec(sql string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n := len(rows[0])
	types := make([]abi.Type, n)
	for j := 0; j < n; j++ {
		types[j] = abi.TypeNull
		for i, r := range rows {
			if len(r) != n {
				return 0, Errorf(abi.ErrBadArgument, "sql %q: exec row %d has %d parameters, row 0 has %d", c.name, i, len(r), n)
			}
			if r[j] != nil {
				t, err := paramType(r[j])
				if err != nil {
					return 0, Errorf(abi.ErrBadArgument, "sql %q: exec row %d parameter %d: %v", c.name, i, j+1, err)
				}
				types[j] = t
				break
			}
		}
	}
	c.exec.Reset(types...)
	for i, r := range rows {
		for j, v := range r {
			if err := appendAny(c.exec.Col(j), v); err != nil {
				return 0, Errorf(abi.ErrBadArgument, "sql %q: exec row %d parameter %d: %v", c.name, i, j+1, err)
			}
		}
	}
	return c.ExecArgs(sql, &c.exec)
}

// ExecArgs is Exec with parameters in typed, reusable columns: row i of column j is the
// j-th parameter of the i-th execution.
func (c *SQLClient) ExecArgs(sql string, a *ExecArgs) (int64, error) {
	return c.execOp(abi.SQLOpExec, "exec", sql, a)
}

// ExecColumns runs sql once per row of existing columns, all in one transaction: cols[j] is
// parameter j+1 (a nil column is all NULL) and each must have rows rows. The columns are
// copied into the request whole, with no per-row work, so passing a WriteBatch's columns
// straight through (EntityKeyColumn, ValueColumn, ...) is the cheap way to write. Timestamp
// columns bind as Unix seconds (floor).
func (c *SQLClient) ExecColumns(sql string, rows int, cols ...*abi.Column) (int64, error) {
	c.cols = c.cols[:0]
	for j, col := range cols {
		if col == nil {
			c.cols = append(c.cols, abi.Column{Name: paramName(j), Type: abi.TypeNull, NullCount: rows})
			continue
		}
		cc := *col
		cc.Name = paramName(j)
		c.cols = append(c.cols, cc)
	}
	c.meta = append(c.meta[:0], `{"sql":`...)
	c.meta = appendJSONString(c.meta, sql)
	c.meta = append(c.meta, '}')
	c.req = appendColumns(c.req, rows, c.meta, c.cols)
	resp, err := c.callRaw(abi.SQLOpExec, "exec", c.req)
	if err != nil {
		return 0, err
	}
	return rowsAffected(c.name, "exec", resp)
}

func rowsAffected(name, what string, resp *abi.Batch) (int64, error) {
	col := resp.Column("rows_affected")
	if col == nil || col.Type != abi.TypeInt64 || resp.Rows != 1 || col.IsNull(0) {
		return 0, Errorf(abi.ErrInternal, "sql %q: %s response has no rows_affected INT64 value", name, what)
	}
	return col.Int64(0), nil
}

// DDL runs schema statements (CREATE, DROP, ALTER ...). Several statements may be separated
// by semicolons. The host allows DDL only in the apply and teardown phases.
func (c *SQLClient) DDL(sql string) error {
	var none ExecArgs
	_, err := c.execOp(abi.SQLOpDDL, "ddl", sql, &none)
	return err
}

func (c *SQLClient) execOp(op uint32, what, sql string, a *ExecArgs) (int64, error) {
	rows, err := a.rows()
	if err != nil {
		return 0, Errorf(abi.ErrBadArgument, "sql %q: %s: %v", c.name, what, err)
	}
	c.meta = append(c.meta[:0], `{"sql":`...)
	c.meta = appendJSONString(c.meta, sql)
	c.meta = append(c.meta, '}')
	c.cols = c.cols[:0]
	for _, cb := range a.cols {
		c.cols = append(c.cols, cb.Column())
	}
	b := abi.Batch{Rows: rows, Metadata: c.meta, Columns: c.cols}
	resp, err := c.call(op, what, &b)
	if err != nil {
		return 0, err
	}
	return rowsAffected(c.name, what, resp)
}

// call encodes the request, runs it through the host and decodes the response.
func (c *SQLClient) call(op uint32, what string, b *abi.Batch) (*abi.Batch, error) {
	var err error
	if c.req, err = b.Encode(c.req[:0]); err != nil {
		return nil, Errorf(abi.ErrBadArgument, "sql %q: encoding the %s request: %v", c.name, what, err)
	}
	return c.callRaw(op, what, c.req)
}

// callRaw runs an encoded request through the host and decodes the response.
func (c *SQLClient) callRaw(op uint32, what string, req []byte) (*abi.Batch, error) {
	h := host()
	if c.handle < 0 || c.openedOn != any(h) {
		hd, msg, st := h.CapOpen(abi.CapSQL, c.name, nil)
		if st != abi.StatusOK {
			return nil, statusErr(st, fmt.Sprintf("opening sql capability %q", c.name), msg)
		}
		c.handle, c.openedOn = hd, any(h)
	}
	buf := takeCallBuffer()
	out, st := h.CapCall(c.handle, op, req, buf[:0])
	keepCallBuffer(out)
	if st != abi.StatusOK {
		return nil, statusErr(st, fmt.Sprintf("sql %q: %s", c.name, what), out)
	}
	resp, err := abi.Decode(out)
	if err != nil {
		return nil, Errorf(abi.ErrInternal, "sql %q: %s response from the host: %v", c.name, what, err)
	}
	return resp, nil
}

// Params holds the positional parameters of one query. Reset it and append parameters in
// order; it keeps its buffers between uses.
type Params struct {
	kinds []abi.Type
	spans []int32 // start offset in data of each parameter, plus a final end marker
	data  []byte
	names []string
}

// Reset drops all parameters.
func (p *Params) Reset() {
	p.kinds, p.data = p.kinds[:0], p.data[:0]
	p.spans = append(p.spans[:0], 0)
}

// Len returns the number of parameters.
func (p *Params) Len() int { return len(p.kinds) }

func (p *Params) add(t abi.Type) {
	if len(p.spans) == 0 {
		p.spans = append(p.spans, 0)
	}
	p.kinds = append(p.kinds, t)
	p.spans = append(p.spans, int32(len(p.data)))
}

// Bytes appends a BLOB parameter (nil is an empty blob, not NULL).
func (p *Params) Bytes(v []byte) { p.data = append(p.data, v...); p.add(abi.TypeBytes) }

// String appends a TEXT parameter; it must be valid UTF-8.
func (p *Params) String(v string) { p.data = append(p.data, v...); p.add(abi.TypeString) }

// Int64 appends an INTEGER parameter.
func (p *Params) Int64(v int64) { p.data = le64(p.data, uint64(v)); p.add(abi.TypeInt64) }

// Float64 appends a REAL parameter.
func (p *Params) Float64(v float64) {
	p.data = le64(p.data, math.Float64bits(v))
	p.add(abi.TypeDouble)
}

// Bool appends a boolean parameter (SQLite stores 0 or 1).
func (p *Params) Bool(v bool) {
	var b byte
	if v {
		b = 1
	}
	p.data = append(p.data, b)
	p.add(abi.TypeBool)
}

// Null appends a NULL parameter.
func (p *Params) Null() { p.add(abi.TypeNull) }

// Any appends v, one of nil, []byte, string, bool, int, int32, int64, float32, float64.
func (p *Params) Any(v any) error {
	switch x := v.(type) {
	case nil:
		p.Null()
	case []byte:
		p.Bytes(x)
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string is not valid UTF-8")
		}
		p.String(x)
	case bool:
		p.Bool(x)
	case int:
		p.Int64(int64(x))
	case int32:
		p.Int64(int64(x))
	case int64:
		p.Int64(x)
	case float32:
		p.Float64(float64(x))
	case float64:
		p.Float64(x)
	default:
		return fmt.Errorf("unsupported parameter type %T", v)
	}
	return nil
}

var paramNames []string

// paramName returns the column name of parameter i ("p1", "p2", ...), interned.
func paramName(i int) string {
	for len(paramNames) <= i {
		paramNames = append(paramNames, "p"+strconv.Itoa(len(paramNames)+1))
	}
	return paramNames[i]
}

// ExecArgs holds the parameters of a batched EXEC: one typed column per parameter, one row
// per execution. Reuse it across calls with Reset.
type ExecArgs struct {
	cols []*abi.ColumnBuilder
}

// NewExecArgs returns ExecArgs with one column per type.
func NewExecArgs(types ...abi.Type) *ExecArgs {
	a := &ExecArgs{}
	a.Reset(types...)
	return a
}

// Reset drops all rows. With types it also redefines the columns; without, it keeps them.
func (a *ExecArgs) Reset(types ...abi.Type) {
	if len(types) == 0 {
		for _, cb := range a.cols {
			cb.Reset()
		}
		return
	}
	same := len(types) == len(a.cols)
	for i := 0; same && i < len(types); i++ {
		same = a.cols[i].Type() == types[i]
	}
	if same {
		a.Reset()
		return
	}
	a.cols = a.cols[:0]
	for i, t := range types {
		a.cols = append(a.cols, abi.NewColumnBuilder(paramName(i), t, 16))
	}
}

// Col returns the builder of parameter column i (0-based).
func (a *ExecArgs) Col(i int) *abi.ColumnBuilder { return a.cols[i] }

// Len returns the number of rows (executions).
func (a *ExecArgs) Len() int {
	if len(a.cols) == 0 {
		return 0
	}
	return a.cols[0].Len()
}

func (a *ExecArgs) rows() (int, error) {
	n := a.Len()
	for i, cb := range a.cols {
		if cb.Len() != n {
			return 0, fmt.Errorf("parameter column %d has %d rows, column 1 has %d", i+1, cb.Len(), n)
		}
	}
	return n, nil
}

func paramType(v any) (abi.Type, error) {
	switch v.(type) {
	case []byte:
		return abi.TypeBytes, nil
	case string:
		return abi.TypeString, nil
	case bool:
		return abi.TypeBool, nil
	case int, int32, int64:
		return abi.TypeInt64, nil
	case float32, float64:
		return abi.TypeDouble, nil
	}
	return 0, fmt.Errorf("unsupported parameter type %T", v)
}

func appendAny(cb *abi.ColumnBuilder, v any) error {
	if v == nil {
		cb.AppendNull()
		return nil
	}
	t, err := paramType(v)
	if err != nil {
		return err
	}
	if t != cb.Type() {
		return fmt.Errorf("%T value in a %s column (types come from the first non-nil value)", v, cb.Type())
	}
	switch x := v.(type) {
	case []byte:
		cb.AppendBytes(x)
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string is not valid UTF-8")
		}
		cb.AppendString(x)
	case bool:
		cb.AppendBool(x)
	case int:
		cb.AppendInt64(int64(x))
	case int32:
		cb.AppendInt64(int64(x))
	case int64:
		cb.AppendInt64(x)
	case float32:
		cb.AppendFloat64(float64(x))
	case float64:
		cb.AppendFloat64(x)
	}
	return nil
}

func le32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func le64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// Capability responses land in a small set of buffers that live for the instance. Each
// call takes a fresh one so earlier results stay valid; all are recycled when the export
// call returns.
var callBufs struct {
	bufs [][]byte
	next int
}

func takeCallBuffer() []byte {
	if callBufs.next == len(callBufs.bufs) {
		callBufs.bufs = append(callBufs.bufs, make([]byte, 0, 4096))
	}
	return callBufs.bufs[callBufs.next]
}

// keepCallBuffer records the (possibly grown) buffer of the current call.
func keepCallBuffer(b []byte) {
	callBufs.bufs[callBufs.next] = b
	callBufs.next++
}

func releaseCallBuffers() { callBufs.next = 0 }
