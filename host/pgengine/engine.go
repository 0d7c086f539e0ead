// Package pgengine runs offline query plans in PostgreSQL's dialect (ABI spec §9.3,
// "dialect": "postgres") on the operator's PostgreSQL database and streams the rows in
// the same batches as the embedded DuckDB engine (host/offlineengine).
//
// Each execution gets a connection of its own, closed at the end, so nothing a plan does
// to its session (settings, temporary tables) outlives it. The plan runs in a READ ONLY
// transaction with statement_timeout taken from the caller's deadline, TimeZone UTC (so a
// timestamp without time zone reads as UTC, as Feast has it), and is prepared first: the
// extended protocol refuses several statements in one string, and the prepared
// statement's result columns are checked against the plan's result_schema before a row
// is read. An entity frame from a file is loaded with COPY into a temporary table that
// the plan reads by the name the host gave it in the request.
package pgengine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// Dialect is the plan dialect this engine executes.
const Dialect = "postgres"

// EntityTable is the temporary table an entity frame is loaded into, and RowColumn its
// column numbering the rows in source order (1, 2, …).
const (
	EntityTable = "pg_temp.__larder_entities"
	RowColumn   = "__larder_row"
)

// Config says where plans run.
type Config struct {
	// DSN is a libpq connection string or URL (it may hold the password).
	DSN string
	// Schema, if set, is put first on the search_path (Feast's db_schema), so unqualified
	// source tables resolve there.
	Schema string
}

// Entities is an entity frame to load into EntityTable before the plan runs.
type Entities struct {
	Columns []offlineengine.Column
	// Produce streams the rows, in order, to fn (offlineengine.Execute over the entity
	// file, say). fn copies what it needs before returning.
	Produce func(ctx context.Context, fn func(*offlineengine.Batch) error) error
}

// pgTypes are the column types of the entity table, by ABI type.
var pgTypes = map[abi.Type]string{
	abi.TypeBytes: "bytea", abi.TypeString: "text", abi.TypeInt32: "integer", abi.TypeInt64: "bigint",
	abi.TypeDouble: "double precision", abi.TypeFloat: "real", abi.TypeBool: "boolean", abi.TypeUnixTimestamp: "timestamptz",
}

func pgTypeOf(t abi.Type) string {
	if t.IsList() {
		if e := pgTypes[t.Elem()]; e != "" {
			return e + "[]"
		}
		return ""
	}
	return pgTypes[t]
}

// connect opens a private connection with the session settings every execution needs.
func connect(ctx context.Context, cfg Config) (*pgx.Conn, error) {
	pc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx's message may quote the DSN, password included: keep only its kind.
		return nil, fmt.Errorf("the offline store's PostgreSQL connection settings do not parse: %w", redact(err, cfg.DSN))
	}
	pc.RuntimeParams["TimeZone"] = "UTC"
	pc.RuntimeParams["application_name"] = "larder-offline"
	if cfg.Schema != "" {
		pc.RuntimeParams["search_path"] = quoteIdent(cfg.Schema)
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the offline store's PostgreSQL at %s:%d: %w", pc.Host, pc.Port, redact(err, cfg.DSN))
	}
	return conn, nil
}

func redact(err error, dsn string) error {
	if dsn == "" || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "<dsn>"))
}

// Execute runs p (dialect postgres) and calls fn with each batch of rows until the result
// is exhausted, fn fails or ctx ends. With ents set, the entity frame is loaded into
// EntityTable first. It returns the number of rows read.
func Execute(ctx context.Context, cfg Config, p *offlineengine.Plan, opts offlineengine.Options, ents *Entities,
	fn func(*offlineengine.Batch) error) (int64, error) {
	if p.Dialect != Dialect {
		return 0, badPlan("dialect %q is not executable by the PostgreSQL engine", p.Dialect)
	}
	conn, err := connect(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if ents != nil {
		if err := loadEntities(ctx, conn, ents); err != nil {
			return 0, err
		}
	}

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("starting a read-only transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // nothing to commit: it only reads
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			return 0, context.DeadlineExceeded
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
			return 0, fmt.Errorf("setting statement_timeout: %w", err)
		}
	}
	if !isSelect(p.SQL) {
		return 0, badPlan("sql must be a SELECT statement (WITH … SELECT included)")
	}
	// Prepare refuses a string with several statements, and describes the result.
	sd, err := tx.Prepare(ctx, "larder_plan", p.SQL)
	if err != nil {
		return 0, fmt.Errorf("preparing the plan's SQL (it must be exactly one SELECT statement): %w", err)
	}
	if n := len(sd.ParamOIDs); n != len(p.Params) {
		return 0, badPlan("sql takes %d parameters but the plan has %d params", n, len(p.Params))
	}
	if err := checkColumns(sd.Fields, p.ResultSchema); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, sd.Name, p.Params...)
	if err != nil {
		return 0, fmt.Errorf("running the plan's SQL: %w", err)
	}
	defer rows.Close()

	out := offlineengine.NewRowBatcher(p.ResultSchema, opts.BatchSize, words, fn)
	var vals []any
	value := func(j int) any { return vals[j] }
	for rows.Next() {
		if vals, err = rows.Values(); err != nil {
			return out.Rows(), fmt.Errorf("reading row %d of the plan's result: %w", out.Rows()+1, err)
		}
		if err := out.Add(value); err != nil {
			return out.Rows(), err
		}
	}
	if err := rows.Err(); err != nil {
		return out.Rows(), fmt.Errorf("running the plan's SQL: %w", err)
	}
	return out.Rows(), out.Flush()
}

// words name PostgreSQL's types in the errors about a value it returned.
var words = offlineengine.Words{Engine: "PostgreSQL", Timestamp: "a timestamp (infinite timestamps have no feature value)",
	Bytes: "bytea", List: "an array", Element: "array element"}

// isSelect reports whether sql starts, after comments and parentheses, with SELECT or
// WITH. The read-only transaction is what keeps a plan from writing; this only gives a
// wrong kind of statement a clear message.
func isSelect(sql string) bool {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i+1:]
				continue
			}
			return false
		case strings.HasPrefix(s, "/*"):
			if i := strings.Index(s, "*/"); i >= 0 {
				s = s[i+2:]
				continue
			}
			return false
		}
		break
	}
	w := strings.ToUpper(s[:min(len(s), 7)])
	return strings.HasPrefix(w, "SELECT") || strings.HasPrefix(w, "WITH") || strings.HasPrefix(w, "VALUES")
}

// loadEntities creates EntityTable and COPYs the frame into it, numbering the rows.
func loadEntities(ctx context.Context, conn *pgx.Conn, ents *Entities) error {
	defs := make([]string, 0, len(ents.Columns)+1)
	names := make([]string, 0, len(ents.Columns)+1)
	for _, c := range ents.Columns {
		if c.Name == RowColumn {
			return fmt.Errorf("the entity column name %q is reserved by the PostgreSQL engine", c.Name)
		}
		pt := pgTypeOf(c.Type)
		if pt == "" {
			return fmt.Errorf("entity column %q: type %s has no PostgreSQL column type", c.Name, c.Type)
		}
		defs = append(defs, quoteIdent(c.Name)+" "+pt)
		names = append(names, c.Name)
	}
	defs = append(defs, quoteIdent(RowColumn)+" bigint NOT NULL")
	names = append(names, RowColumn)
	if _, err := conn.Exec(ctx, "CREATE TEMPORARY TABLE "+EntityTable+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fmt.Errorf("creating the temporary entity table: %w", err)
	}
	src := newBatchSource(ctx, ents.Produce)
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"pg_temp", "__larder_entities"}, names, src)
	if perr := src.wait(); perr != nil {
		return fmt.Errorf("reading the entity rows: %w", perr)
	}
	if err != nil {
		return fmt.Errorf("loading the entity rows into PostgreSQL: %w", err)
	}
	// Planner statistics for the joins: a temporary table is never auto-analyzed.
	if _, err := conn.Exec(ctx, "ANALYZE "+EntityTable); err != nil {
		return fmt.Errorf("analyzing the temporary entity table: %w", err)
	}
	return nil
}

// batchSource adapts a push-style producer (fn called per batch) to pgx's pull-style
// CopyFromSource: the producer runs in a goroutine and hands over one batch at a time,
// waiting until COPY has encoded it before reusing it.
type batchSource struct {
	ch     chan *offlineengine.Batch
	ack    chan struct{}
	done   chan error
	cancel context.CancelFunc
	cur    *offlineengine.Batch
	i      int
	n      int64
	vals   []any
}

func newBatchSource(ctx context.Context, produce func(context.Context, func(*offlineengine.Batch) error) error) *batchSource {
	ctx, cancel := context.WithCancel(ctx)
	s := &batchSource{ch: make(chan *offlineengine.Batch), ack: make(chan struct{}), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := produce(ctx, func(b *offlineengine.Batch) error {
			select {
			case s.ch <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-s.ack:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(s.ch)
		s.done <- err
	}()
	return s
}

func (s *batchSource) Next() bool {
	if s.cur != nil {
		s.i++
		if s.i < len(s.cur.Rows) {
			return true
		}
		s.cur = nil
		s.ack <- struct{}{}
	}
	for {
		b, ok := <-s.ch
		if !ok {
			return false
		}
		if len(b.Rows) == 0 {
			s.ack <- struct{}{}
			continue
		}
		s.cur, s.i = b, 0
		return true
	}
}

func (s *batchSource) Values() ([]any, error) {
	row := s.cur.Rows[s.i]
	s.vals = append(append(s.vals[:0], row...), nil)
	s.n++
	s.vals[len(row)] = s.n
	return s.vals, nil
}

func (s *batchSource) Err() error { return nil }

// wait stops the producer if COPY ended early and returns the producer's error.
func (s *batchSource) wait() error {
	s.cancel()
	for range s.ch { // drain; the cancelled producer stops at its next handover
		select {
		case s.ack <- struct{}{}:
		default:
		}
	}
	err := <-s.done
	if errors.Is(err, context.Canceled) {
		return nil // we cancelled it: COPY's own error says why
	}
	return err
}

// Describe returns the columns of a query (an entity query written for PostgreSQL) as
// ABI types, without running it: it is only prepared, in a read-only transaction.
func Describe(ctx context.Context, cfg Config, query string) ([]offlineengine.Column, error) {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("starting a read-only transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	if !isSelect(q) {
		return nil, fmt.Errorf("the entity query must be a SELECT")
	}
	sd, err := tx.Prepare(ctx, "", q)
	if err != nil {
		return nil, fmt.Errorf("preparing the entity query: %w", err)
	}
	if len(sd.ParamOIDs) > 0 {
		return nil, fmt.Errorf("the entity query takes %d parameters; it must take none", len(sd.ParamOIDs))
	}
	cols := make([]offlineengine.Column, len(sd.Fields))
	for i, f := range sd.Fields {
		t := describeOID(f.DataTypeOID)
		if t == 0 {
			return nil, fmt.Errorf("column %q has PostgreSQL type OID %d, which no feature value type can hold", f.Name, f.DataTypeOID)
		}
		cols[i] = offlineengine.Column{Name: f.Name, Type: t}
	}
	return cols, nil
}

// oidTypes maps the PostgreSQL types a plan's casts produce to ABI types (timestamp
// without time zone reads as UTC under the session's TimeZone).
var oidTypes = map[uint32]abi.Type{
	pgtype.BoolOID: abi.TypeBool, pgtype.Int4OID: abi.TypeInt32, pgtype.Int8OID: abi.TypeInt64,
	pgtype.Float4OID: abi.TypeFloat, pgtype.Float8OID: abi.TypeDouble, pgtype.TextOID: abi.TypeString,
	pgtype.VarcharOID: abi.TypeString, pgtype.ByteaOID: abi.TypeBytes,
	pgtype.TimestamptzOID: abi.TypeUnixTimestamp, pgtype.TimestampOID: abi.TypeUnixTimestamp,
	pgtype.BoolArrayOID: abi.TypeBoolList, pgtype.Int4ArrayOID: abi.TypeInt32List, pgtype.Int8ArrayOID: abi.TypeInt64List,
	pgtype.Float4ArrayOID: abi.TypeFloatList, pgtype.Float8ArrayOID: abi.TypeDoubleList, pgtype.TextArrayOID: abi.TypeStringList,
	pgtype.VarcharArrayOID: abi.TypeStringList, pgtype.ByteaArrayOID: abi.TypeBytesList,
	pgtype.TimestamptzArrayOID: abi.TypeUnixTimestampList, pgtype.TimestampArrayOID: abi.TypeUnixTimestampList,
}

// widenedOIDs are types an entity query may return that a plan casts without loss that
// matters for features, as offlineengine.Describe widens DuckDB's.
var widenedOIDs = map[uint32]abi.Type{
	pgtype.Int2OID: abi.TypeInt32, pgtype.NumericOID: abi.TypeDouble, pgtype.DateOID: abi.TypeUnixTimestamp,
	pgtype.BPCharOID: abi.TypeString, pgtype.NameOID: abi.TypeString, pgtype.Int2ArrayOID: abi.TypeInt32List,
}

func describeOID(oid uint32) abi.Type {
	if t, ok := oidTypes[oid]; ok {
		return t
	}
	return widenedOIDs[oid]
}

// checkColumns verifies that the prepared statement returns exactly the declared columns:
// same names, same order, and PostgreSQL types whose values are the declared ABI types.
func checkColumns(fields []pgconn.FieldDescription, schema []offlineengine.Column) error {
	if len(fields) != len(schema) {
		return badPlan("sql returns %d columns but result_schema declares %d", len(fields), len(schema))
	}
	for i, c := range schema {
		f := fields[i]
		if f.Name != c.Name {
			return badPlan("result column %d is named %q by the sql but %q by result_schema", i, f.Name, c.Name)
		}
		if got, ok := oidTypes[f.DataTypeOID]; !ok || got != c.Type {
			return badPlan("result column %q has PostgreSQL type OID %d, which is not the declared %s (cast it in the sql)", c.Name, f.DataTypeOID, c.Type)
		}
	}
	return nil
}

// quoteIdent quotes a SQL identifier: "a""b" for a"b.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func badPlan(format string, args ...any) error {
	return fmt.Errorf("invalid query plan: %s: %w", fmt.Sprintf(format, args...), abi.ErrBadArgument)
}
