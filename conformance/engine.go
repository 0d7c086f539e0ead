package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// rawCaller is what a store needs for "raw" steps: the Wasm adapter's CallRaw, which
// sends bytes to an export exactly as given.
type rawCaller interface {
	CallRaw(ctx context.Context, export string, input []byte, wantResult bool) ([]byte, error)
}

// skipCase ends a case as SKIP: the step does not apply to this target.
type skipCase struct{ reason string }

func (s *skipCase) Error() string { return s.reason }

// stepError is why a case failed: which step, what was wrong, and the fault class of the
// store's error when there was one.
type stepError struct {
	class string
	msg   string
}

func (e *stepError) Error() string { return e.msg }

// runner executes one case against one store.
type runner struct {
	target Target
	opts   Options
	dir    string
	store  host.OnlineStore
}

// runCase runs every step of c in order and returns the first failure.
func (r *runner) runCase(ctx context.Context, c *Case) (err error) {
	r.store, err = r.target.Open(ctx, r.dir)
	if err != nil {
		return &stepError{class: faultClass(err), msg: fmt.Sprintf("opening the store: %v", err)}
	}
	defer func() {
		if r.store == nil {
			return
		}
		if cerr := r.store.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = &stepError{class: faultClass(cerr), msg: fmt.Sprintf("closing the store: %v", cerr)}
		}
	}()
	for i := range c.Steps {
		s := &c.Steps[i]
		if err := r.step(ctx, s); err != nil {
			var sc *skipCase
			if errors.As(err, &sc) {
				return sc
			}
			var se *stepError
			if !errors.As(err, &se) {
				se = &stepError{msg: err.Error()}
			}
			se.msg = fmt.Sprintf("step %d (%s): %s", i+1, s.Op, se.msg)
			if s.Note != "" {
				se.msg += " — " + s.Note
			}
			return se
		}
	}
	return nil
}

func (r *runner) step(ctx context.Context, s *Step) error {
	var err error
	switch s.Op {
	case "update":
		err = r.store.Update(ctx, host.UpdateRequest{Project: s.Project, TablesToKeep: tables(s.Keep), TablesToDelete: tables(s.Delete)})
	case "teardown":
		err = r.store.Teardown(ctx, host.UpdateRequest{Project: s.Project, TablesToKeep: []host.Table{}, TablesToDelete: tables(s.Delete)})
	case "write":
		var req host.WriteRequest
		if req, err = buildWrite(s); err != nil {
			return err
		}
		err = r.store.Write(ctx, req)
	case "read":
		return r.read(ctx, s)
	case "bulk_write":
		return r.bulkWrite(ctx, s)
	case "bulk_read":
		return r.bulkRead(ctx, s)
	case "concurrent":
		return r.concurrent(ctx, s)
	case "raw":
		rc, ok := r.store.(rawCaller)
		if !ok {
			return &skipCase{reason: fmt.Sprintf("%T has no raw ABI to send malformed input to (Wasm plugins only)", r.store)}
		}
		in := []byte(s.Input)
		if s.InputBase64 != "" {
			in, _ = base64.StdEncoding.DecodeString(s.InputBase64)
		}
		if s.InputBatch != nil {
			if in, err = s.InputBatch.encode(); err != nil {
				return err
			}
		}
		_, err = rc.CallRaw(ctx, s.Export, in, s.Export == abi.ExportOnlineRead)
		if cerr := checkErr(s, err); cerr != nil {
			return cerr
		}
		return checkStatus(s, err)
	case "reopen":
		if err := r.store.Close(ctx); err != nil {
			r.store = nil
			return &stepError{class: faultClass(err), msg: fmt.Sprintf("closing the store: %v", err)}
		}
		r.store = nil
		r.store, err = r.target.Open(ctx, r.dir)
		if err != nil {
			return &stepError{class: faultClass(err), msg: fmt.Sprintf("reopening the store: %v", err)}
		}
		return nil
	}
	return checkErr(s, err)
}

// checkErr compares an op's error with the step's expectation.
func checkErr(s *Step, err error) error {
	class := faultClass(err)
	switch {
	case s.ExpectError == "" && err != nil:
		return &stepError{class: class, msg: err.Error()}
	case s.ExpectError == "any" && err == nil:
		return &stepError{msg: "succeeded, want an error"}
	case s.ExpectError != "" && s.ExpectError != "any" && class != s.ExpectError:
		return &stepError{class: class, msg: fmt.Sprintf("got %s (%v), want an error of class %s", orNone(class), err, s.ExpectError)}
	}
	return nil
}

// checkStatus checks a plugin status error against the step's expect_status list.
func checkStatus(s *Step, err error) error {
	if len(s.ExpectStatus) == 0 || err == nil {
		return nil
	}
	var se *host.PluginStatusError
	if !errors.As(err, &se) {
		return &stepError{class: faultClass(err), msg: fmt.Sprintf("got %v, want a plugin status in %v", err, s.ExpectStatus)}
	}
	for _, want := range s.ExpectStatus {
		if se.Status.String() == want {
			return nil
		}
	}
	return &stepError{class: "status", msg: fmt.Sprintf("status %s, want one of %v: %v", se.Status, s.ExpectStatus, err)}
}

// tables never returns nil: plugins decode the JSON and some languages treat null and []
// differently; the host always sends arrays.
func tables(t []host.Table) []host.Table {
	if t == nil {
		return []host.Table{}
	}
	return t
}

func buildWrite(s *Step) (host.WriteRequest, error) {
	req := host.WriteRequest{Project: s.Project, View: s.View, Features: s.Features, Rows: make([]host.WriteRow, len(s.Rows))}
	def := s.EventTS
	if def == "" {
		def = defaultEventTS
	}
	for i, row := range s.Rows {
		key, err := encodeKey(row.Key)
		if err != nil {
			return req, fmt.Errorf("row %d: %w", i, err)
		}
		ts := row.EventTS
		if ts == "" {
			ts = def
		}
		w := host.WriteRow{EntityKey: key, Values: make([][]byte, len(s.Features))}
		if w.EventTS, err = parseTime(ts); err != nil {
			return req, fmt.Errorf("row %d: %w", i, err)
		}
		if row.CreatedTS != "" {
			if w.CreatedTS, err = parseTime(row.CreatedTS); err != nil {
				return req, fmt.Errorf("row %d: %w", i, err)
			}
		}
		for f, name := range s.Features {
			if w.Values[f], err = encodeValue(row.Values[name]); err != nil {
				return req, fmt.Errorf("row %d feature %s: %w", i, name, err)
			}
		}
		req.Rows[i] = w
	}
	return req, nil
}

func (r *runner) read(ctx context.Context, s *Step) error {
	req := host.ReadRequest{Project: s.Project, Views: make([]host.ReadView, len(s.Views))}
	for v, rv := range s.Views {
		req.Views[v] = host.ReadView{Name: rv.Name, Features: rv.Features, EntityKeys: make([][]byte, len(rv.Keys))}
		for k, rk := range rv.Keys {
			key, err := encodeKey(rk.Key)
			if err != nil {
				return err
			}
			req.Views[v].EntityKeys[k] = key
		}
	}
	res, err := r.store.Read(ctx, req)
	if err != nil {
		class := faultClass(err)
		for _, ok := range s.AcceptError {
			if class == ok {
				return nil
			}
		}
		return checkErr(s, err)
	}
	if s.ExpectError != "" {
		return &stepError{msg: fmt.Sprintf("read succeeded, want an error (%s)", s.ExpectError)}
	}
	if err := checkShape(req, res); err != nil {
		return err
	}
	var problems []string
	for v, rv := range s.Views {
		nf := len(rv.Features)
		for k, rk := range rv.Keys {
			for f, want := range rk.expect {
				got := res.Views[v][k*nf+f]
				if p := checkCell(want, got); p != "" {
					problems = append(problems, fmt.Sprintf("view %s key %s feature %s: %s", rv.Name, showKey(rk.Key), rv.Features[f], p))
				}
			}
		}
	}
	return problemsErr(problems)
}

// checkShape verifies the result has one cell per requested (view, key, feature).
func checkShape(req host.ReadRequest, res *host.ReadResult) error {
	if res == nil {
		return &stepError{msg: "read returned no result and no error"}
	}
	if len(res.Views) != len(req.Views) {
		return &stepError{msg: fmt.Sprintf("read returned %d views, want %d", len(res.Views), len(req.Views))}
	}
	for v, rv := range req.Views {
		if want := len(rv.EntityKeys) * len(rv.Features); len(res.Views[v]) != want {
			return &stepError{msg: fmt.Sprintf("view %s: read returned %d values, want %d (%d keys × %d features)",
				rv.Name, len(res.Views[v]), want, len(rv.EntityKeys), len(rv.Features))}
		}
	}
	return nil
}

// problemsErr reports the first few problems; listing thousands helps nobody.
func problemsErr(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	const show = 5
	msg := strings.Join(problems[:min(show, len(problems))], "; ")
	if len(problems) > show {
		msg += fmt.Sprintf("; and %d more", len(problems)-show)
	}
	return &stepError{msg: msg}
}

// checkCell compares one read cell with its expectation; "" = as expected.
func checkCell(want CellSpec, got host.FeatureValue) string {
	ws, _ := parseStatus(want.Status)
	if got.Status != ws {
		s := fmt.Sprintf("status %v, want %v", got.Status, ws)
		if got.Status == abi.FieldPresent {
			s += fmt.Sprintf(" (value %s)", showValue(got.Value))
		}
		return s
	}
	if ws != abi.FieldPresent {
		if len(got.Value) != 0 {
			return fmt.Sprintf("status %v carries a value (%s); a value that is not found has none", got.Status, showValue(got.Value))
		}
		return ""
	}
	if _, err := feast.UnmarshalValue(got.Value); err != nil {
		return fmt.Sprintf("value %x is not a serialized feast.types.Value: %v", got.Value, err)
	}
	if want.Value != nil {
		wb, err := encodeValue(want.Value)
		if err != nil {
			return err.Error()
		}
		if !bytes.Equal(wb, got.Value) {
			return fmt.Sprintf("value %s, want %s (bytes %x): values must come back byte for byte", showValue(got.Value), want.Value, wb)
		}
	}
	if want.EventTS != "" {
		wt, _ := parseTime(want.EventTS)
		if !sameEventTS(got.EventTS, wt) {
			return fmt.Sprintf("event_ts %s, want %s", fmtTS(got.EventTS), fmtTS(wt))
		}
	}
	return ""
}

// sameEventTS accepts the written timestamp exactly or truncated to the second: the ABI
// carries microseconds, but Feast's SQLite layout stores whole epoch seconds (since Feast
// PR #4797), and byte-compatibility with Feast wins. Rounding up or shifting is wrong.
func sameEventTS(got, want time.Time) bool {
	return got.Equal(want) || got.Equal(want.Truncate(time.Second))
}

func fmtTS(t time.Time) string {
	if t.IsZero() {
		return "<none>"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func showKey(k KeySpec) string {
	parts := make([]string, 0, len(k))
	for n, v := range k {
		parts = append(parts, n+"="+v.String())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

// --- generated load -------------------------------------------------------------------

func (b *BulkSpec) rows(short bool) int {
	if short && b.ShortRows > 0 {
		return b.ShortRows
	}
	return b.Rows
}

// scaled returns the key offset and seed for this run's size.
func (b *BulkSpec) scaled(short bool) (offset, seed int64) {
	offset, seed = b.KeyOffset, b.Seed
	if short && b.ShortKeyOffset != 0 {
		offset = b.ShortKeyOffset
	}
	if short && b.ShortSeed != 0 {
		seed = b.ShortSeed
	}
	return offset, seed
}

// bulkKey and bulkValue define the generated data set (see BulkSpec).
func bulkKey(joinKey string, id int64) ([]byte, error) {
	return feast.SerializeEntityKey([]string{joinKey}, []feast.Value{feast.Int64Value(id)}, 3)
}

func bulkValue(seed int64, i, j int) []byte {
	b, _ := feast.MarshalValue(feast.Int64Value(seed + int64(i)*31 + int64(j)))
	return b
}

func (r *runner) bulkWrite(ctx context.Context, s *Step) error {
	b := s.Bulk
	n := b.rows(r.opts.Short)
	offset, seed := b.scaled(r.opts.Short)
	batch := b.BatchRows
	if batch <= 0 || batch > n {
		batch = n
	}
	ts, err := stepTS(s)
	if err != nil {
		return err
	}
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		req := host.WriteRequest{Project: s.Project, View: s.View, Features: s.Features, Rows: make([]host.WriteRow, 0, end-start)}
		for i := start; i < end; i++ {
			key, err := bulkKey(b.JoinKey, offset+int64(i))
			if err != nil {
				return err
			}
			row := host.WriteRow{EntityKey: key, EventTS: ts, Values: make([][]byte, len(s.Features))}
			for j := range s.Features {
				row.Values[j] = bulkValue(seed, i, j)
			}
			req.Rows = append(req.Rows, row)
		}
		if err := r.store.Write(ctx, req); err != nil {
			return &stepError{class: faultClass(err), msg: fmt.Sprintf("writing rows %d..%d of %d: %v", start, end-1, n, err)}
		}
	}
	return nil
}

func stepTS(s *Step) (time.Time, error) {
	if s.EventTS == "" {
		return parseTime(defaultEventTS)
	}
	return parseTime(s.EventTS)
}

func (r *runner) bulkRead(ctx context.Context, s *Step) error {
	b := s.Bulk
	n := b.rows(r.opts.Short)
	offset, seed := b.scaled(r.opts.Short)
	ts, err := stepTS(s)
	if err != nil {
		return err
	}
	// Sampled existing rows (always including the first and last), then missing ones.
	sampleSeed := b.SampleSeed
	if sampleSeed == 0 {
		sampleSeed = uint64(seed)
	}
	rng := rand.New(rand.NewPCG(sampleSeed, 0x1a7de7))
	sample := min(b.Sample, n)
	ids := []int{0, n - 1}
	for len(ids) < sample {
		ids = append(ids, rng.IntN(n))
	}
	present := len(ids)
	for m := 0; m < b.Missing; m++ {
		ids = append(ids, n+m)
	}
	batch := b.BatchKeys
	if batch <= 0 || batch > len(ids) {
		batch = len(ids)
	}
	var problems []string
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		rv := host.ReadView{Name: s.View, Features: s.Features, EntityKeys: make([][]byte, len(part))}
		for k, id := range part {
			if rv.EntityKeys[k], err = bulkKey(b.JoinKey, offset+int64(id)); err != nil {
				return err
			}
		}
		req := host.ReadRequest{Project: s.Project, Views: []host.ReadView{rv}}
		res, err := r.store.Read(ctx, req)
		if err != nil {
			return &stepError{class: faultClass(err), msg: fmt.Sprintf("reading %d keys: %v", len(part), err)}
		}
		if err := checkShape(req, res); err != nil {
			return err
		}
		for k, id := range part {
			for j, f := range s.Features {
				got := res.Views[0][k*len(s.Features)+j]
				want := CellSpec{Status: "NOT_FOUND"}
				if start+k < present {
					want = CellSpec{Status: "PRESENT"}
				}
				if p := checkCell(want, got); p != "" {
					problems = append(problems, fmt.Sprintf("key %s=%d feature %s: %s", b.JoinKey, offset+int64(id), f, p))
					continue
				}
				if got.Status == abi.FieldPresent {
					if wv := bulkValue(seed, id, j); !bytes.Equal(got.Value, wv) {
						problems = append(problems, fmt.Sprintf("key %s=%d feature %s: value %s, want %s", b.JoinKey, offset+int64(id), f, showValue(got.Value), showValue(wv)))
					} else if !sameEventTS(got.EventTS, ts) {
						problems = append(problems, fmt.Sprintf("key %s=%d feature %s: event_ts %s, want %s", b.JoinKey, offset+int64(id), f, fmtTS(got.EventTS), fmtTS(ts)))
					}
				}
			}
		}
	}
	return problemsErr(problems)
}

// --- concurrency ------------------------------------------------------------------------

func (c *ConcurrentSpec) rounds(short bool) int {
	if short && c.ShortRounds > 0 {
		return c.ShortRounds
	}
	return c.Rounds
}

// concurrentValue encodes (round, feature) so a reader can tell which write it sees.
func concurrentValue(round, feature int) int64 { return int64(round)*1000 + int64(feature) }

func (r *runner) concurrent(ctx context.Context, s *Step) error {
	cs := s.Concurrent
	rounds := cs.rounds(r.opts.Short)
	base, err := stepTS(s)
	if err != nil {
		return err
	}
	nkeys := cs.Workers * cs.KeysPerWorker
	keys := make([][]byte, nkeys)
	for i := range keys {
		if keys[i], err = bulkKey(cs.JoinKey, int64(i)); err != nil {
			return err
		}
	}
	nf := len(s.Features)
	var (
		mu       sync.Mutex
		problems []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	// checkRead verifies cells of keys [ids] against "round must satisfy ok".
	checkRead := func(w int, ids []int, ok func(id, round int) bool, what string) bool {
		rv := host.ReadView{Name: s.View, Features: s.Features, EntityKeys: make([][]byte, len(ids))}
		for k, id := range ids {
			rv.EntityKeys[k] = keys[id]
		}
		req := host.ReadRequest{Project: s.Project, Views: []host.ReadView{rv}}
		res, err := r.store.Read(ctx, req)
		if err != nil {
			report("worker %d: %s: read failed [%s]: %v", w, what, faultClass(err), err)
			return false
		}
		if err := checkShape(req, res); err != nil {
			report("worker %d: %s: %v", w, what, err)
			return false
		}
		good := true
		for k, id := range ids {
			for j := 0; j < nf; j++ {
				got := res.Views[0][k*nf+j]
				if got.Status != abi.FieldPresent {
					if !ok(id, -1) {
						report("worker %d: %s: key %d feature %s: %v", w, what, id, s.Features[j], got.Status)
						good = false
					}
					continue
				}
				v, err := feast.UnmarshalValue(got.Value)
				if err != nil || v.Type != feast.TypeInt64 || v.Int%1000 != int64(j) {
					report("worker %d: %s: key %d feature %s: unexpected value %s", w, what, id, s.Features[j], showValue(got.Value))
					good = false
					continue
				}
				round := int(v.Int / 1000)
				if !sameEventTS(got.EventTS, base.Add(time.Duration(round)*time.Second)) {
					report("worker %d: %s: key %d feature %s: value of round %d carries event_ts %s, want %s (value and timestamp from different writes)",
						w, what, id, s.Features[j], round, fmtTS(got.EventTS), fmtTS(base.Add(time.Duration(round)*time.Second)))
					good = false
				}
				if !ok(id, round) {
					report("worker %d: %s: key %d feature %s: saw round %d", w, what, id, s.Features[j], round)
					good = false
				}
			}
		}
		return good
	}

	var wg sync.WaitGroup
	for w := 0; w < cs.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			own := make([]int, cs.KeysPerWorker)
			for i := range own {
				own[i] = w*cs.KeysPerWorker + i
			}
			for round := 0; round < rounds; round++ {
				if ctx.Err() != nil {
					report("worker %d: stopped at round %d: %v", w, round, ctx.Err())
					return
				}
				req := host.WriteRequest{Project: s.Project, View: s.View, Features: s.Features, Rows: make([]host.WriteRow, len(own))}
				for i, id := range own {
					row := host.WriteRow{EntityKey: keys[id], EventTS: base.Add(time.Duration(round) * time.Second), Values: make([][]byte, nf)}
					for j := 0; j < nf; j++ {
						row.Values[j], _ = feast.MarshalValue(feast.Int64Value(concurrentValue(round, j)))
					}
					req.Rows[i] = row
				}
				if err := r.store.Write(ctx, req); err != nil {
					report("worker %d: round %d: write failed [%s]: %v", w, round, faultClass(err), err)
					return
				}
				// A write that returned OK is committed: its writer must read it back.
				if !checkRead(w, own, func(_, got int) bool { return got == round }, fmt.Sprintf("round %d read-your-writes", round)) {
					return
				}
				if cs.PeerSample > 0 && cs.Workers > 1 {
					peers := make([]int, cs.PeerSample)
					for i := range peers {
						peers[i] = rng.IntN(nkeys)
					}
					// Other workers' keys may hold any of their rounds, or nothing yet.
					checkRead(w, peers, func(_, got int) bool { return got < rounds }, fmt.Sprintf("round %d peer read", round))
				}
			}
		}(w)
	}
	wg.Wait()
	if len(problems) > 0 {
		return problemsErr(problems)
	}
	all := make([]int, nkeys)
	for i := range all {
		all[i] = i
	}
	checkRead(-1, all, func(_, got int) bool { return got == rounds-1 }, "final state")
	return problemsErr(problems)
}
