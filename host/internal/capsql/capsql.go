// Package capsql implements the `sql` capability (spec §6.1) on an embedded SQLite
// database: QUERY, EXEC and DDL operations with LBF1 requests and responses, a table
// prefix and statement kinds enforced by SQLite's authorizer, and a per-session cache of
// prepared statements because the online read path runs the same SQL over and over.
package capsql

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/mattn/go-sqlite3"
)

const (
	opQuery = abi.SQLOpQuery
	opExec  = abi.SQLOpExec
	opDDL   = abi.SQLOpDDL
)

// Options bind a grant to a database.
type Options struct {
	Path             string        // SQLite database file, created when missing
	TablePrefix      string        // when set, every table touched must start with it
	MaxResponseBytes int           // cap on one response; 0 = 64 MiB
	BusyTimeout      time.Duration // wait for a locked database; 0 = 5 s
	MaxStatements    int           // prepared statements cached per session; 0 = 256
}

// Provider is one granted SQLite database, shared by every instance of a plugin; each
// instance gets its own connection through Open.
type Provider struct {
	opts   Options
	dsn    string
	prefix string // lower-cased TablePrefix
}

// New checks opts and returns a provider. The database is opened lazily by sessions.
func New(opts Options) (*Provider, error) {
	if opts.Path == "" {
		return nil, errors.New("sql capability: database path is empty")
	}
	if strings.ContainsAny(opts.Path, "?#") {
		return nil, fmt.Errorf("sql capability: database path %q must not contain '?' or '#'", opts.Path)
	}
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("sql capability: resolving database path %q: %w", opts.Path, err)
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 64 << 20
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.MaxStatements <= 0 {
		opts.MaxStatements = 256
	}
	// WAL lets serving read while materialization writes; the connection is used by
	// one instance at a time, so SQLite's own mutex is not needed.
	dsn := fmt.Sprintf("file:%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=NORMAL&_mutex=no",
		abs, opts.BusyTimeout.Milliseconds())
	return &Provider{opts: opts, dsn: dsn, prefix: strings.ToLower(opts.TablePrefix)}, nil
}

// Open returns a session; its connection is opened at its first call.
func (p *Provider) Open() (caps.Session, error) { return &session{p: p}, nil }

// Close releases nothing: sessions own the connections and close them.
func (p *Provider) Close() error { return nil }

type session struct {
	p      *Provider
	conn   *sqlite3.SQLiteConn
	mode   int    // authorizer mode, see authorize.go
	denied string // why the authorizer refused the last statement

	begin, commit, rollback *sqlite3.SQLiteStmt

	cache map[string]*prepared
	key   []byte
	resp  []byte
	args  []driver.NamedValue
	dest  []driver.Value
}

// prepared is a cached statement with its parsed request metadata and result builders.
type prepared struct {
	op       uint32
	sql      string
	types    []abi.Type
	stmt     *sqlite3.SQLiteStmt // nil for multi-statement DDL, which runs through Exec
	names    []string
	builders []*abi.ColumnBuilder
	cols     []abi.Column
}

type requestMeta struct {
	SQL         string   `json:"sql"`
	ResultTypes []string `json:"result_types"`
}

func (s *session) Close() error {
	if s.conn == nil {
		return nil
	}
	for _, p := range s.cache {
		if p.stmt != nil {
			p.stmt.Close()
		}
	}
	for _, st := range []*sqlite3.SQLiteStmt{s.begin, s.commit, s.rollback} {
		if st != nil {
			st.Close()
		}
	}
	err := s.conn.Close()
	s.conn, s.cache = nil, nil
	return err
}

func (s *session) fail(st abi.Status, format string, args ...any) ([]byte, abi.Status) {
	s.resp = fmt.Appendf(s.resp[:0], format, args...)
	return s.resp, st
}

// Call implements caps.Session.
func (s *session) Call(ctx context.Context, op uint32, phase caps.Phase, req []byte) ([]byte, abi.Status) {
	if op < opQuery || op > opDDL {
		return s.fail(abi.StatusBadArgument, "sql: unknown operation %d (want 1 QUERY, 2 EXEC or 3 DDL)", op)
	}
	if op == opDDL && !phase.AllowsDDL() {
		return s.fail(abi.StatusPermissionDenied,
			"sql: DDL is allowed only during apply and teardown, not during %s", phase)
	}
	b, err := abi.Decode(req)
	if err != nil {
		return s.fail(abi.StatusSerializationFailure, "sql: request: %v", err)
	}
	if err := s.connect(); err != nil {
		return s.fail(abi.StatusUnavailable, "sql: %v", err)
	}
	p, st, msg := s.prepare(op, b.Metadata, len(b.Columns) > 0)
	if st != abi.StatusOK {
		return s.fail(st, "sql: %s", msg)
	}
	switch op {
	case opQuery:
		return s.query(ctx, p, b)
	default:
		return s.exec(ctx, p, b)
	}
}

func (s *session) connect() error {
	if s.conn != nil {
		return nil
	}
	c, err := (&sqlite3.SQLiteDriver{}).Open(s.p.dsn)
	if err != nil {
		return fmt.Errorf("opening database %s: %w", s.p.opts.Path, err)
	}
	conn := c.(*sqlite3.SQLiteConn)
	conn.RegisterAuthorizer(s.authorize)
	s.conn = conn
	s.mode = modeHost
	for _, x := range []struct {
		dst **sqlite3.SQLiteStmt
		sql string
	}{{&s.begin, "BEGIN IMMEDIATE"}, {&s.commit, "COMMIT"}, {&s.rollback, "ROLLBACK"}} {
		st, err := conn.Prepare(x.sql)
		if err != nil {
			s.Close()
			return fmt.Errorf("preparing %s on %s: %w", x.sql, s.p.opts.Path, err)
		}
		*x.dst = st.(*sqlite3.SQLiteStmt)
	}
	s.cache = make(map[string]*prepared)
	return nil
}

// prepare returns the cached statement for (op, metadata), preparing it on a miss. The
// raw metadata bytes are the cache key, so the hot path parses no JSON.
func (s *session) prepare(op uint32, meta []byte, hasParams bool) (*prepared, abi.Status, string) {
	s.key = append(append(s.key[:0], byte(op)), meta...)
	if p, ok := s.cache[string(s.key)]; ok {
		return p, abi.StatusOK, ""
	}
	var m requestMeta
	if len(meta) == 0 {
		return nil, abi.StatusBadArgument, `request metadata is missing; want {"sql": "..."}`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, abi.StatusBadArgument, "request metadata: " + err.Error()
	}
	if why := checkStatements(m.SQL, op, hasParams); why != "" {
		return nil, abi.StatusPermissionDenied, why
	}
	p := &prepared{op: op, sql: m.SQL}
	if op == opQuery {
		for i, n := range m.ResultTypes {
			t, ok := abi.ParseType(n)
			if !ok || t.IsList() || t == abi.TypeNull || t == abi.TypeStatus {
				return nil, abi.StatusBadArgument, fmt.Sprintf("result_types[%d]: %q is not a supported result type", i, n)
			}
			p.types = append(p.types, t)
		}
	}
	kws, _ := scanStatements(m.SQL)
	if len(kws) == 1 {
		s.mode, s.denied = int(op), ""
		st, err := s.conn.Prepare(m.SQL)
		s.mode = modeHost
		if err != nil {
			stat, msg := s.sqlError(err)
			return nil, stat, msg
		}
		p.stmt = st.(*sqlite3.SQLiteStmt)
	}
	if len(s.cache) >= s.p.opts.MaxStatements {
		for k, old := range s.cache {
			if old.stmt != nil {
				old.stmt.Close()
			}
			delete(s.cache, k)
		}
	}
	s.cache[string(s.key)] = p
	return p, abi.StatusOK, ""
}

// sqlError maps a SQLite error to a status and message.
func (s *session) sqlError(err error) (abi.Status, string) {
	if s.denied != "" {
		// SQLite reports some refusals as plain errors ("not authorized to use function").
		return abi.StatusPermissionDenied, s.denied
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrAuth:
			return abi.StatusPermissionDenied, "not authorized"
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrCantOpen, sqlite3.ErrIoErr, sqlite3.ErrProtocol:
			return abi.StatusUnavailable, err.Error()
		case sqlite3.ErrConstraint:
			return abi.StatusConflict, err.Error()
		case sqlite3.ErrInterrupt:
			return abi.StatusDeadlineExceeded, err.Error()
		case sqlite3.ErrFull, sqlite3.ErrNomem, sqlite3.ErrTooBig:
			return abi.StatusResourceExhausted, err.Error()
		case sqlite3.ErrError, sqlite3.ErrRange, sqlite3.ErrMismatch:
			return abi.StatusBadArgument, err.Error()
		}
		return abi.StatusInternal, err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return abi.StatusDeadlineExceeded, err.Error()
	}
	return abi.StatusBadArgument, err.Error()
}

// bind fills s.args with row r of the request's columns (one positional parameter each).
func (s *session) bind(b *abi.Batch, r int) (abi.Status, string) {
	s.args = s.args[:0]
	for ci := range b.Columns {
		c := &b.Columns[ci]
		v, err := paramValue(c, r)
		if err != nil {
			return abi.StatusBadArgument, fmt.Sprintf("parameter %d (column %q) row %d: %v", ci+1, c.Name, r, err)
		}
		s.args = append(s.args, driver.NamedValue{Ordinal: ci + 1, Value: v})
	}
	return abi.StatusOK, ""
}

// executions is how many times a request runs its statement: once per row, and once
// when the request has no rows at all (a statement without parameters).
func executions(b *abi.Batch) int {
	if b.Rows == 0 {
		return 1
	}
	return b.Rows
}

func (s *session) query(ctx context.Context, p *prepared, b *abi.Batch) ([]byte, abi.Status) {
	if p.stmt == nil {
		return s.fail(abi.StatusBadArgument, "sql: QUERY takes exactly one statement")
	}
	for _, cb := range p.builders {
		cb.Reset()
	}
	size := 0
	s.mode = int(opQuery)
	defer func() { s.mode = modeHost }()
	for r := 0; r < executions(b); r++ {
		if st, msg := s.bind(b, r); st != abi.StatusOK {
			return s.fail(st, "sql: %s", msg)
		}
		s.denied = ""
		rows, err := p.stmt.QueryContext(ctx, s.args)
		if err != nil {
			st, msg := s.sqlError(err)
			return s.fail(st, "sql: query: %s", msg)
		}
		if p.names == nil {
			if st, msg := p.initResult(rows.Columns()); st != abi.StatusOK {
				rows.Close()
				return s.fail(st, "sql: %s", msg)
			}
		}
		if cap(s.dest) < len(p.names) {
			s.dest = make([]driver.Value, len(p.names))
		}
		dest := s.dest[:len(p.names)]
		for {
			err := rows.Next(dest)
			if err != nil {
				rows.Close()
				if err == io.EOF {
					break
				}
				st, msg := s.sqlError(err)
				return s.fail(st, "sql: query: %s", msg)
			}
			for ci, v := range dest {
				n, err := appendValue(p.builders[ci], p.types[ci], v)
				if err != nil {
					rows.Close()
					return s.fail(abi.StatusBadArgument, "sql: result column %q: %v", p.names[ci], err)
				}
				size += n
			}
			if size > s.p.opts.MaxResponseBytes {
				rows.Close()
				return s.fail(abi.StatusResourceExhausted,
					"sql: query result exceeds the %d-byte response limit", s.p.opts.MaxResponseBytes)
			}
		}
	}
	nrows := 0
	for i, cb := range p.builders {
		p.cols[i] = cb.Column()
		nrows = cb.Len()
	}
	return s.encode(&abi.Batch{Rows: nrows, Columns: p.cols})
}

// initResult sets up result builders once the statement's column names are known.
func (p *prepared) initResult(names []string) (abi.Status, string) {
	if len(names) != len(p.types) {
		return abi.StatusBadArgument, fmt.Sprintf("query returns %d columns but result_types lists %d", len(names), len(p.types))
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || seen[n] {
			return abi.StatusBadArgument, fmt.Sprintf("result column name %q is empty or repeated; alias it with AS", n)
		}
		seen[n] = true
	}
	p.names = names
	p.builders = make([]*abi.ColumnBuilder, len(names))
	p.cols = make([]abi.Column, len(names))
	for i, n := range names {
		p.builders[i] = abi.NewColumnBuilder(n, p.types[i], 16)
	}
	return abi.StatusOK, ""
}

func (s *session) encode(b *abi.Batch) ([]byte, abi.Status) {
	out, err := b.Encode(s.resp[:0])
	if err != nil {
		return s.fail(abi.StatusInternal, "sql: encoding response: %v", err)
	}
	if len(out) > s.p.opts.MaxResponseBytes {
		return s.fail(abi.StatusResourceExhausted, "sql: response of %d bytes exceeds the %d-byte limit",
			len(out), s.p.opts.MaxResponseBytes)
	}
	s.resp = out
	return out, abi.StatusOK
}

func (s *session) exec(ctx context.Context, p *prepared, b *abi.Batch) ([]byte, abi.Status) {
	var affected int64
	n := executions(b)
	tx := n > 1 || p.stmt == nil
	if tx {
		if st, msg := s.hostExec(ctx, s.begin); st != abi.StatusOK {
			return s.fail(st, "sql: BEGIN: %s", msg)
		}
	}
	st, msg := func() (abi.Status, string) {
		s.mode = int(p.op)
		defer func() { s.mode = modeHost }()
		if p.stmt == nil { // several DDL statements, no parameters
			s.denied = ""
			res, err := s.conn.ExecContext(ctx, p.sql, nil)
			if err != nil {
				return s.sqlError(err)
			}
			affected, _ = res.RowsAffected()
			return abi.StatusOK, ""
		}
		for r := 0; r < n; r++ {
			if st, msg := s.bind(b, r); st != abi.StatusOK {
				return st, msg
			}
			s.denied = ""
			res, err := p.stmt.ExecContext(ctx, s.args)
			if err != nil {
				st, msg := s.sqlError(err)
				return st, fmt.Sprintf("row %d: %s", r, msg)
			}
			ra, _ := res.RowsAffected()
			affected += ra
		}
		return abi.StatusOK, ""
	}()
	if tx {
		if st != abi.StatusOK {
			s.hostExec(context.Background(), s.rollback)
			return s.fail(st, "sql: %s", msg)
		}
		if st, msg := s.hostExec(ctx, s.commit); st != abi.StatusOK {
			s.hostExec(context.Background(), s.rollback)
			return s.fail(st, "sql: COMMIT: %s", msg)
		}
	} else if st != abi.StatusOK {
		return s.fail(st, "sql: %s", msg)
	}
	cb := abi.NewColumnBuilder("rows_affected", abi.TypeInt64, 1)
	cb.AppendInt64(affected)
	return s.encode(&abi.Batch{Rows: 1, Columns: []abi.Column{cb.Column()}})
}

func (s *session) hostExec(ctx context.Context, st *sqlite3.SQLiteStmt) (abi.Status, string) {
	s.mode = modeHost
	if _, err := st.ExecContext(ctx, nil); err != nil {
		return s.sqlError(err)
	}
	return abi.StatusOK, ""
}
