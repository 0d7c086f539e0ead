package conformance

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// The cases ship inside the binary so `larder conformance` needs no files next to it.
//
//go:embed cases/online/*.json cases/sandbox.json
var caseFS embed.FS

// Case is one data-driven conformance case: steps run in order against one fresh store.
type Case struct {
	Name        string `json:"name"`
	Group       string `json:"-"` // the file the case came from, without .json
	Description string `json:"description"`
	Spec        string `json:"spec,omitempty"` // section of the ABI spec or Feast behaviour it checks
	// Slow cases move a lot of data; Options.Short scales their sizes down (see BulkSpec).
	Slow  bool   `json:"slow,omitempty"`
	Steps []Step `json:"steps"`
}

// Step is one operation on the store and what it must produce.
//
// Ops: update, teardown, write, read, bulk_write, bulk_read, concurrent, reopen.
type Step struct {
	Op      string `json:"op"`
	Project string `json:"project,omitempty"`

	// update / teardown
	Keep   []host.Table `json:"keep,omitempty"`
	Delete []host.Table `json:"delete,omitempty"`

	// write
	View     string    `json:"view,omitempty"`
	Features []string  `json:"features,omitempty"`
	EventTS  string    `json:"event_ts,omitempty"` // default for rows that name none
	Rows     []RowSpec `json:"rows,omitempty"`

	// read
	Views []ReadViewSpec `json:"views,omitempty"`

	// raw: call a kind export with these exact input bytes (Wasm targets only; skipped
	// for stores without a raw ABI). Input is text, InputBase64 bytes.
	Export      string     `json:"export,omitempty"`
	Input       string     `json:"input,omitempty"`
	InputBase64 string     `json:"input_base64,omitempty"`
	InputBatch  *BatchSpec `json:"input_batch,omitempty"`
	// ExpectStatus lists acceptable plugin statuses (abi status names) for a step whose
	// expect_error is "status".
	ExpectStatus []string `json:"expect_status,omitempty"`

	// bulk_write / bulk_read / concurrent
	Bulk       *BulkSpec       `json:"bulk,omitempty"`
	Concurrent *ConcurrentSpec `json:"concurrent,omitempty"`

	// ExpectError: "" = the op must succeed; "any" = it must fail; otherwise a fault class
	// (host.FaultClass) the error must have.
	ExpectError string `json:"expect_error,omitempty"`
	// AcceptError lists fault classes that are an acceptable outcome instead of the expected
	// cells (e.g. "status" for a read after teardown). A fault outside this list still fails.
	AcceptError []string `json:"accept_error,omitempty"`
	// Note explains a step whose intent is not obvious; shown in failure messages.
	Note string `json:"note,omitempty"`
}

// RowSpec is one written row. Values maps feature → value; a feature left out (or JSON
// null) is "not written" for that row (spec §8.2).
type RowSpec struct {
	Key       KeySpec               `json:"key"`
	EventTS   string                `json:"event_ts,omitempty"`
	CreatedTS string                `json:"created_ts,omitempty"`
	Values    map[string]*ValueSpec `json:"values"`
}

// ReadViewSpec is one view of a read request with the keys to read and what each must give.
type ReadViewSpec struct {
	Name     string        `json:"name"`
	Features []string      `json:"features"`
	Keys     []ReadKeySpec `json:"keys"`
}

// ReadKeySpec is one entity key of a read and its expected cells, one per feature in the
// view's feature order. Expect may be the string "NOT_FOUND" for "every feature not found".
type ReadKeySpec struct {
	Key    KeySpec    `json:"key"`
	Expect CellsSpec  `json:"expect"`
	expect []CellSpec // resolved
}

// CellsSpec is a list of CellSpec or a single status string applied to every feature.
type CellsSpec struct {
	All   string
	Cells []CellSpec
}

func (c *CellsSpec) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &c.All)
	}
	return json.Unmarshal(b, &c.Cells)
}

func (c CellsSpec) MarshalJSON() ([]byte, error) {
	if c.All != "" {
		return json.Marshal(c.All)
	}
	return json.Marshal(c.Cells)
}

// CellSpec is one expected (entity, feature) result. A bare string is a status alone.
type CellSpec struct {
	Status  string     `json:"status"`
	Value   *ValueSpec `json:"value,omitempty"`
	EventTS string     `json:"event_ts,omitempty"`
}

func (c *CellSpec) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &c.Status)
	}
	type plain CellSpec
	return json.Unmarshal(b, (*plain)(c))
}

// KeySpec is an entity key: join key → value. The host serializes it (Feast v3, keys
// sorted), so JSON object order does not matter.
type KeySpec map[string]*ValueSpec

// BulkSpec describes generated rows: key i is {JoinKey: int64(KeyOffset+i)} and feature j
// of key i holds int64(Seed + i*31 + j), so any read can be checked without storing
// what was written.
type BulkSpec struct {
	JoinKey   string `json:"join_key"`
	Rows      int    `json:"rows"`
	ShortRows int    `json:"short_rows,omitempty"` // Rows under Options.Short
	BatchRows int    `json:"batch_rows,omitempty"` // rows per Write call; 0 = all in one
	KeyOffset int64  `json:"key_offset,omitempty"`
	Seed      int64  `json:"seed,omitempty"`
	// Under Options.Short, when set: a read of the upper part of a short write needs a
	// different offset, and the seed that offset implies (Seed + offset*31).
	ShortKeyOffset int64 `json:"short_key_offset,omitempty"`
	ShortSeed      int64 `json:"short_seed,omitempty"`
	// bulk_read only
	Sample     int    `json:"sample,omitempty"`      // random existing keys to read
	SampleSeed uint64 `json:"sample_seed,omitempty"` // picks the sample; default Seed
	Missing    int    `json:"missing,omitempty"`     // keys past the written range, must be NOT_FOUND
	BatchKeys  int    `json:"batch_keys,omitempty"`  // keys per Read call; 0 = all in one
}

// ConcurrentSpec runs Workers goroutines; worker w owns keys [w*KeysPerWorker, (w+1)*KeysPerWorker)
// and, each round, writes all its keys then reads them back (read-your-writes) and reads a
// sample of the other workers' keys (any committed round of theirs is acceptable). At the
// end every key must hold its owner's last round.
type ConcurrentSpec struct {
	JoinKey       string `json:"join_key"`
	Workers       int    `json:"workers"`
	KeysPerWorker int    `json:"keys_per_worker"`
	Rounds        int    `json:"rounds"`
	ShortRounds   int    `json:"short_rounds,omitempty"`
	PeerSample    int    `json:"peer_sample,omitempty"`
}

type caseFile struct {
	Cases []Case `json:"cases"`
}

// LoadCases returns the embedded online-store cases, sorted by group file then file order.
func LoadCases() ([]Case, error) {
	return loadCasesFS(caseFS, "cases/online")
}

func loadCasesFS(fsys fs.FS, dir string) ([]Case, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("listing conformance cases in %s: %w", dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var all []Case
	seen := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := path.Join(dir, e.Name())
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("reading conformance cases %s: %w", p, err)
		}
		var f caseFile
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("parsing conformance cases %s: %w", p, err)
		}
		group := strings.TrimSuffix(e.Name(), ".json")
		for i := range f.Cases {
			c := &f.Cases[i]
			c.Group = group
			if c.Name == "" {
				return nil, fmt.Errorf("%s: case %d has no name", p, i)
			}
			if prev, dup := seen[c.Name]; dup {
				return nil, fmt.Errorf("%s: case %q already defined in %s", p, c.Name, prev)
			}
			seen[c.Name] = p
			if err := c.validate(); err != nil {
				return nil, fmt.Errorf("%s: case %q: %w", p, c.Name, err)
			}
		}
		all = append(all, f.Cases...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no conformance cases found in %s", dir)
	}
	return all, nil
}

var knownOps = map[string]bool{
	"update": true, "teardown": true, "write": true, "read": true,
	"bulk_write": true, "bulk_read": true, "concurrent": true, "reopen": true, "raw": true,
}

// validate catches mistakes in a case file at load time, so a typo fails loudly instead of
// silently checking nothing.
func (c *Case) validate() error {
	if len(c.Steps) == 0 {
		return fmt.Errorf("no steps")
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		where := fmt.Sprintf("step %d (%s)", i+1, s.Op)
		if !knownOps[s.Op] {
			return fmt.Errorf("%s: unknown op %q", where, s.Op)
		}
		for _, ts := range []string{s.EventTS} {
			if ts != "" {
				if _, err := parseTime(ts); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
			}
		}
		for _, st := range s.ExpectStatus {
			if !knownStatus(st) {
				return fmt.Errorf("%s: unknown status %q in expect_status", where, st)
			}
		}
		switch s.Op {
		case "update", "teardown", "write", "read", "bulk_write", "bulk_read", "concurrent":
			if s.Project == "" {
				return fmt.Errorf("%s: project is required", where)
			}
		}
		switch s.Op {
		case "write":
			if s.View == "" || len(s.Features) == 0 {
				return fmt.Errorf("%s: view and features are required", where)
			}
			for r, row := range s.Rows {
				if len(row.Key) == 0 {
					return fmt.Errorf("%s: row %d has no key", where, r)
				}
				for f := range row.Values {
					if !contains(s.Features, f) {
						return fmt.Errorf("%s: row %d writes %q, which is not in features", where, r, f)
					}
				}
			}
		case "read":
			if len(s.Views) == 0 {
				return fmt.Errorf("%s: views are required", where)
			}
			for v := range s.Views {
				rv := &s.Views[v]
				for k := range rv.Keys {
					rk := &rv.Keys[k]
					cells, err := rk.Expect.resolve(len(rv.Features))
					if err != nil {
						return fmt.Errorf("%s: view %q key %d: %w", where, rv.Name, k, err)
					}
					rk.expect = cells
				}
			}
		case "bulk_write", "bulk_read":
			if s.Bulk == nil || s.View == "" || len(s.Features) == 0 || s.Bulk.JoinKey == "" || s.Bulk.Rows <= 0 {
				return fmt.Errorf("%s: view, features and bulk{join_key, rows} are required", where)
			}
		case "raw":
			if s.Export == "" {
				return fmt.Errorf("%s: export is required", where)
			}
			if s.InputBase64 != "" {
				if _, err := base64.StdEncoding.DecodeString(s.InputBase64); err != nil {
					return fmt.Errorf("%s: input_base64: %w", where, err)
				}
			}
			if s.InputBatch != nil {
				if _, err := s.InputBatch.encode(); err != nil {
					return fmt.Errorf("%s: input_batch: %w", where, err)
				}
			}
		case "concurrent":
			cs := s.Concurrent
			if cs == nil || s.View == "" || len(s.Features) == 0 || cs.JoinKey == "" || cs.Workers <= 0 || cs.KeysPerWorker <= 0 || cs.Rounds <= 0 {
				return fmt.Errorf("%s: view, features and concurrent{join_key, workers, keys_per_worker, rounds} are required", where)
			}
		}
	}
	return nil
}

func (c CellsSpec) resolve(features int) ([]CellSpec, error) {
	if c.All != "" {
		if _, ok := parseStatus(c.All); !ok {
			return nil, fmt.Errorf("unknown status %q", c.All)
		}
		out := make([]CellSpec, features)
		for i := range out {
			out[i] = CellSpec{Status: c.All}
		}
		return out, nil
	}
	if len(c.Cells) != features {
		return nil, fmt.Errorf("expect has %d cells for %d features", len(c.Cells), features)
	}
	for i, cell := range c.Cells {
		if _, ok := parseStatus(cell.Status); !ok {
			return nil, fmt.Errorf("cell %d: unknown status %q", i, cell.Status)
		}
		if cell.EventTS != "" {
			if _, err := parseTime(cell.EventTS); err != nil {
				return nil, fmt.Errorf("cell %d: %w", i, err)
			}
		}
	}
	return c.Cells, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// defaultEventTS is used for rows that name no event timestamp.
const defaultEventTS = "2024-01-01T00:00:00Z"

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339: %w", s, err)
	}
	return t.UTC(), nil
}

func knownStatus(name string) bool {
	for st := abi.StatusOK; st <= abi.StatusInternal; st++ {
		if st.String() == name {
			return true
		}
	}
	return false
}
