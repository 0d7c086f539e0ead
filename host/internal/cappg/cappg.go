// Package cappg implements the `sql` capability (spec §6.1) on PostgreSQL through a pgx
// connection pool: QUERY, EXEC and DDL with LBF1 requests and responses, the same contract
// as the SQLite binding (package capsql) with PostgreSQL's dialect ($1, $2 … parameters).
//
// The pool is shared by every instance of a plugin; pgx caches each connection's prepared
// statements by SQL text, so the online read path does not re-plan. The connection's
// search_path is the grant's schema (Feast: db_schema, else the user), created when
// missing. EXEC runs all rows of a request as one pipelined batch in one transaction.
// Statements are checked before they run (sqlcheck.go); connection failures are
// UNAVAILABLE.
package cappg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
)

const (
	opQuery = abi.SQLOpQuery
	opExec  = abi.SQLOpExec
	opDDL   = abi.SQLOpDDL
)

// Options bind a grant to a PostgreSQL database.
type Options struct {
	// DSN is a postgres:// URL or a key=value connection string.
	DSN string
	// Schema is the search_path schema, created when missing; "" = the connecting user's
	// name (Feast's default when db_schema is unset).
	Schema string
	// TablePrefix: every table or index a statement names must start with it; "" = any.
	TablePrefix string
	// MaxResponseBytes caps one response [64 MiB].
	MaxResponseBytes int
	// MaxConns bounds the pool [pgx default: max(4, GOMAXPROCS)].
	MaxConns int32
}

// Provider is one granted database. The pool connects lazily: a server that is down
// fails calls with UNAVAILABLE, not loading.
type Provider struct {
	opts    Options
	pool    *pgxpool.Pool
	display string

	schemaOnce sync.Once
	schemaErr  error
}

// New parses the DSN and creates the pool.
func New(opts Options) (*Provider, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included: say less.
		return nil, errors.New("sql capability (postgres): the DSN does not parse")
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 64 << 20
	}
	if opts.Schema == "" {
		opts.Schema = cfg.ConnConfig.User
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = quoteIdent(opts.Schema) + ", public"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	p := &Provider{opts: opts,
		display: fmt.Sprintf("postgres %s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)}
	if p.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("sql capability (%s): %w", p.display, err)
	}
	return p, nil
}

// Describe names the database without credentials.
func (p *Provider) Describe() string { return p.display }

// Open returns a session on the shared pool.
func (p *Provider) Open() (caps.Session, error) { return &session{p: p}, nil }

// Close closes the pool.
func (p *Provider) Close() error { p.pool.Close(); return nil }

// ensureSchema creates the grant's schema once per provider (Feast's update does the same).
func (p *Provider) ensureSchema(ctx context.Context) error {
	p.schemaOnce.Do(func() {
		_, p.schemaErr = p.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(p.opts.Schema))
	})
	if p.schemaErr != nil {
		// Retry next time: the server may have been down.
		err := p.schemaErr
		p.schemaOnce = sync.Once{}
		return err
	}
	return nil
}

type session struct {
	p     *Provider
	resp  []byte
	args  []any
	cache map[string]*prepared
}

// prepared is what a request's metadata says, parsed once per distinct metadata.
type prepared struct {
	sql   string
	types []abi.Type
}

func (s *session) Close() error { return nil }

func (s *session) fail(st abi.Status, format string, args ...any) ([]byte, abi.Status) {
	s.resp = fmt.Appendf(s.resp[:0], "sql (postgres): "+format, args...)
	return s.resp, st
}

// Call implements caps.Session.
func (s *session) Call(ctx context.Context, op uint32, phase caps.Phase, req []byte) ([]byte, abi.Status) {
	if op < opQuery || op > opDDL {
		return s.fail(abi.StatusBadArgument, "unknown operation %d (want 1 QUERY, 2 EXEC or 3 DDL)", op)
	}
	if op == opDDL && !phase.AllowsDDL() {
		return s.fail(abi.StatusPermissionDenied, "DDL is allowed only during apply and teardown, not during %s", phase)
	}
	b, err := abi.Decode(req)
	if err != nil {
		return s.fail(abi.StatusSerializationFailure, "request: %v", err)
	}
	pr, st, msg := s.prepare(op, b.Metadata, len(b.Columns) > 0)
	if st != abi.StatusOK {
		return s.fail(st, "%s", msg)
	}
	if op == opDDL {
		if err := s.p.ensureSchema(ctx); err != nil {
			st, msg := pgError(err)
			return s.fail(st, "creating schema %q on %s: %s", s.p.opts.Schema, s.p.display, msg)
		}
	}
	switch op {
	case opQuery:
		return s.query(ctx, pr, b)
	default:
		return s.exec(ctx, op, pr, b)
	}
}

func (s *session) prepare(op uint32, meta []byte, hasParams bool) (*prepared, abi.Status, string) {
	key := string(rune(op)) + string(meta)
	if pr, ok := s.cache[key]; ok {
		return pr, abi.StatusOK, ""
	}
	var m struct {
		SQL         string   `json:"sql"`
		ResultTypes []string `json:"result_types"`
	}
	if len(meta) == 0 {
		return nil, abi.StatusBadArgument, `request metadata is missing; want {"sql": "..."}`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, abi.StatusBadArgument, "request metadata: " + err.Error()
	}
	if why := checkStatements(m.SQL, op, hasParams, s.p.opts.TablePrefix); why != "" {
		return nil, abi.StatusPermissionDenied, why
	}
	pr := &prepared{sql: m.SQL}
	if op == opQuery {
		for i, n := range m.ResultTypes {
			t, ok := abi.ParseType(n)
			if !ok || t.IsList() || t == abi.TypeNull || t == abi.TypeStatus {
				return nil, abi.StatusBadArgument, fmt.Sprintf("result_types[%d]: %q is not a supported result type", i, n)
			}
			pr.types = append(pr.types, t)
		}
	}
	if s.cache == nil || len(s.cache) >= 256 {
		s.cache = map[string]*prepared{}
	}
	s.cache[key] = pr
	return pr, abi.StatusOK, ""
}

// bind fills s.args with row r of the request's columns.
func (s *session) bind(b *abi.Batch, r int) (abi.Status, string) {
	s.args = s.args[:0]
	for ci := range b.Columns {
		c := &b.Columns[ci]
		v, err := paramValue(c, r)
		if err != nil {
			return abi.StatusBadArgument, fmt.Sprintf("parameter $%d (column %q) row %d: %v", ci+1, c.Name, r, err)
		}
		s.args = append(s.args, v)
	}
	return abi.StatusOK, ""
}

func (s *session) query(ctx context.Context, pr *prepared, b *abi.Batch) ([]byte, abi.Status) {
	if b.Rows > 1 {
		return s.fail(abi.StatusBadArgument, "QUERY takes zero or one row of parameters, got %d", b.Rows)
	}
	if b.Rows == 1 {
		if st, msg := s.bind(b, 0); st != abi.StatusOK {
			return s.fail(st, "%s", msg)
		}
	} else {
		s.args = s.args[:0]
	}
	rows, err := s.p.pool.Query(ctx, pr.sql, s.args...)
	if err != nil {
		st, msg := pgError(err)
		return s.fail(st, "query on %s: %s", s.p.display, msg)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) != len(pr.types) {
		return s.fail(abi.StatusBadArgument, "query returns %d columns but result_types lists %d", len(fds), len(pr.types))
	}
	builders := make([]*abi.ColumnBuilder, len(fds))
	seen := map[string]bool{}
	for i, fd := range fds {
		if fd.Name == "" || fd.Name == "?column?" || seen[fd.Name] {
			return s.fail(abi.StatusBadArgument, "result column name %q is empty or repeated; alias it with AS", fd.Name)
		}
		seen[fd.Name] = true
		builders[i] = abi.NewColumnBuilder(fd.Name, pr.types[i], 16)
	}
	size := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			st, msg := pgError(err)
			return s.fail(st, "reading a row: %s", msg)
		}
		for i, v := range vals {
			n, err := appendValue(builders[i], pr.types[i], v)
			if err != nil {
				return s.fail(abi.StatusBadArgument, "result column %q: %v", fds[i].Name, err)
			}
			size += n
		}
		if size > s.p.opts.MaxResponseBytes {
			return s.fail(abi.StatusResourceExhausted, "query result exceeds the %d-byte response limit", s.p.opts.MaxResponseBytes)
		}
	}
	if err := rows.Err(); err != nil {
		st, msg := pgError(err)
		return s.fail(st, "query on %s: %s", s.p.display, msg)
	}
	out := &abi.Batch{Columns: make([]abi.Column, len(builders))}
	for i, cb := range builders {
		out.Columns[i] = cb.Column()
		out.Rows = cb.Len()
	}
	return s.encode(out)
}

func (s *session) encode(b *abi.Batch) ([]byte, abi.Status) {
	out, err := b.Encode(s.resp[:0])
	if err != nil {
		return s.fail(abi.StatusInternal, "encoding the response: %v", err)
	}
	if len(out) > s.p.opts.MaxResponseBytes {
		return s.fail(abi.StatusResourceExhausted, "response of %d bytes exceeds the %d-byte limit", len(out), s.p.opts.MaxResponseBytes)
	}
	s.resp = out
	return out, abi.StatusOK
}

// exec runs the statement once per row (once when there are none), pipelined in one
// transaction. Several DDL statements without parameters run as one simple-protocol
// request, which PostgreSQL also runs as one transaction.
func (s *session) exec(ctx context.Context, op uint32, pr *prepared, b *abi.Batch) ([]byte, abi.Status) {
	var affected int64
	if b.Rows == 0 && len(b.Columns) == 0 {
		mode := pgx.QueryExecModeCacheStatement
		if op == opDDL {
			mode = pgx.QueryExecModeSimpleProtocol
		}
		tag, err := s.p.pool.Exec(ctx, pr.sql, mode)
		if err != nil {
			st, msg := pgError(err)
			return s.fail(st, "%s on %s: %s", opName(op), s.p.display, msg)
		}
		affected = tag.RowsAffected()
	} else {
		tx, err := s.p.pool.Begin(ctx)
		if err != nil {
			st, msg := pgError(err)
			return s.fail(st, "BEGIN on %s: %s", s.p.display, msg)
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		batch := &pgx.Batch{}
		for r := 0; r < b.Rows; r++ {
			if st, msg := s.bind(b, r); st != abi.StatusOK {
				return s.fail(st, "%s", msg)
			}
			batch.Queue(pr.sql, append([]any(nil), s.args...)...)
		}
		br := tx.SendBatch(ctx, batch)
		for r := 0; r < b.Rows; r++ {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				st, msg := pgError(err)
				return s.fail(st, "row %d: %s", r, msg)
			}
			affected += tag.RowsAffected()
		}
		if err := br.Close(); err != nil {
			st, msg := pgError(err)
			return s.fail(st, "%s on %s: %s", opName(op), s.p.display, msg)
		}
		if err := tx.Commit(ctx); err != nil {
			st, msg := pgError(err)
			return s.fail(st, "COMMIT on %s: %s", s.p.display, msg)
		}
	}
	cb := abi.NewColumnBuilder("rows_affected", abi.TypeInt64, 1)
	cb.AppendInt64(affected)
	return s.encode(&abi.Batch{Rows: 1, Columns: []abi.Column{cb.Column()}})
}

// pgError maps an error to a status and a message without connection secrets.
func pgError(err error) (abi.Status, string) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return abi.StatusDeadlineExceeded, err.Error()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Severity + " " + pe.Code + ": " + pe.Message
		switch {
		case pe.Code == "57014": // query_canceled (statement timeout)
			return abi.StatusDeadlineExceeded, msg
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57"), strings.HasPrefix(pe.Code, "53"):
			// connection exception, operator intervention, insufficient resources
			return abi.StatusUnavailable, msg
		case strings.HasPrefix(pe.Code, "28"), pe.Code == "42501":
			return abi.StatusPermissionDenied, msg
		case strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "40"):
			return abi.StatusConflict, msg
		case strings.HasPrefix(pe.Code, "54"):
			return abi.StatusResourceExhausted, msg
		}
		return abi.StatusBadArgument, msg
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "connect") {
		return abi.StatusUnavailable, err.Error()
	}
	return abi.StatusUnavailable, err.Error()
}

// paramValue converts row r of a request column into a pgx argument. Timestamps bind as
// time.Time (timestamptz), so Feast's TIMESTAMPTZ columns get the right instant.
func paramValue(c *abi.Column, r int) (any, error) {
	if c.IsNull(r) {
		return nil, nil
	}
	switch c.Type {
	case abi.TypeInt32:
		return c.Int32(r), nil
	case abi.TypeInt64:
		return c.Int64(r), nil
	case abi.TypeUnixTimestamp:
		return time.UnixMicro(c.Timestamp(r)).UTC(), nil
	case abi.TypeBool:
		return c.Bool(r), nil
	case abi.TypeDouble:
		return c.Float64(r), nil
	case abi.TypeFloat:
		return c.Float32(r), nil
	case abi.TypeBytes:
		if b := c.Bytes(r); b != nil {
			return b, nil
		}
		return []byte{}, nil
	case abi.TypeString:
		return c.String(r), nil
	case abi.TypeInt64List, abi.TypeUnixTimestampList:
		s, e := c.ListRange(r)
		out := make([]int64, 0, e-s)
		for j := s; j < e; j++ {
			out = append(out, c.ElemInt64(j))
		}
		return out, nil
	case abi.TypeBytesList, abi.TypeStringList:
		s, e := c.ListRange(r)
		if c.Type == abi.TypeBytesList {
			out := make([][]byte, 0, e-s)
			for j := s; j < e; j++ {
				out = append(out, c.ElemBytes(j))
			}
			return out, nil
		}
		out := make([]string, 0, e-s)
		for j := s; j < e; j++ {
			out = append(out, c.ElemString(j))
		}
		return out, nil
	}
	return nil, fmt.Errorf("type %s cannot be a SQL parameter", c.Type)
}

// appendValue appends a PostgreSQL value to a result column of type t and returns about
// how many bytes it added.
func appendValue(cb *abi.ColumnBuilder, t abi.Type, v any) (int, error) {
	if v == nil {
		cb.AppendNull()
		return 1, nil
	}
	switch t {
	case abi.TypeBytes:
		switch x := v.(type) {
		case []byte:
			cb.AppendBytes(x)
			return len(x), nil
		case string:
			cb.AppendString(x)
			return len(x), nil
		}
	case abi.TypeString:
		switch x := v.(type) {
		case string:
			cb.AppendString(x)
			return len(x), nil
		case []byte:
			if utf8.Valid(x) {
				cb.AppendBytes(x)
				return len(x), nil
			}
		}
	case abi.TypeInt64, abi.TypeInt32:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int32:
			n = int64(x)
		case int16:
			n = int64(x)
		default:
			return 0, fmt.Errorf("cannot convert %T to %s", v, t)
		}
		if t == abi.TypeInt32 {
			if n != int64(int32(n)) {
				return 0, fmt.Errorf("%d overflows INT32", n)
			}
			cb.AppendInt32(int32(n))
		} else {
			cb.AppendInt64(n)
		}
		return 8, nil
	case abi.TypeDouble, abi.TypeFloat:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			return 0, fmt.Errorf("cannot convert %T to %s", v, t)
		}
		if t == abi.TypeFloat {
			cb.AppendFloat32(float32(f))
		} else {
			cb.AppendFloat64(f)
		}
		return 8, nil
	case abi.TypeBool:
		if x, ok := v.(bool); ok {
			cb.AppendBool(x)
			return 1, nil
		}
	case abi.TypeUnixTimestamp:
		switch x := v.(type) {
		case time.Time:
			cb.AppendTimestamp(x.UnixMicro())
			return 8, nil
		case int64:
			cb.AppendTimestamp(x * 1_000_000)
			return 8, nil
		}
	}
	return 0, fmt.Errorf("cannot convert %T to %s", v, t)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
