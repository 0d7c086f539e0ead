package offlineengine

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
)

// spillingSort is a plan that cannot finish under spillLimit without spilling: 2 M rows
// of a 32-byte string sorted are ~100 MB of sort data.
var spillingSort = &Plan{
	Dialect:      DialectDuckDB,
	SQL:          "SELECT i::BIGINT AS id, md5(i::VARCHAR) AS h FROM range(2000000) t(i) ORDER BY h",
	ResultSchema: []Column{{"id", abi.TypeInt64}, {"h", abi.TypeString}},
}

const spillLimit = "32MB"

// watchSpillDirs records every private temp directory opened while the test runs, and
// whether a file was ever seen in it.
type spillWatch struct {
	mu    sync.Mutex
	dirs  []string
	files atomic.Int64 // most files seen at once in any of them
	stop  chan struct{}
	wg    sync.WaitGroup
}

func watchSpillDirs(t *testing.T) *spillWatch {
	w := &spillWatch{stop: make(chan struct{})}
	spillDirHook = func(dir string) {
		w.mu.Lock()
		w.dirs = append(w.dirs, dir)
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				if es, err := os.ReadDir(dir); err == nil && int64(len(es)) > w.files.Load() {
					w.files.Store(int64(len(es)))
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	t.Cleanup(func() {
		spillDirHook = nil
		w.done()
	})
	return w
}

func (w *spillWatch) done() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func emptyDir(t *testing.T, dir, what string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) > 0 {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("%s %s is not empty: %v", what, dir, names)
	}
}

// The control: with nowhere to spill, the same query under the same limit runs out of
// memory. Without it the spill tests below could pass without a byte being spilled.
func TestSpillingSortNeedsToSpill(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, s := range []string{"SET memory_limit = '" + spillLimit + "'", "SET threads = 1", "SET temp_directory = ''"} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	err = db.QueryRow("SELECT count(*) FROM (" + spillingSort.SQL + ")").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "Out of Memory") {
		t.Fatalf("the query ran without spilling (err %v): it no longer exercises the temp directory", err)
	}
}

func TestSpillGoesToPrivateTempDir(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd) // DuckDB's default temp directory is ./.tmp
	parent := t.TempDir()
	w := watchSpillDirs(t)

	var rows int64
	var seenDuring []string
	n, err := Execute(context.Background(), spillingSort, Options{TempDir: parent, MemoryLimit: spillLimit, Threads: 1}, func(b *Batch) error {
		if rows == 0 {
			es, _ := os.ReadDir(parent)
			for _, e := range es {
				seenDuring = append(seenDuring, e.Name())
			}
		}
		rows += int64(len(b.Rows))
		return nil
	})
	if err != nil {
		t.Fatalf("a query that must spill failed: %v", err)
	}
	w.done()
	if n != 2000000 || rows != n {
		t.Fatalf("got %d rows (callback %d), want 2000000", n, rows)
	}
	if len(w.dirs) != 1 {
		t.Fatalf("opened %d temp directories, want 1: %v", len(w.dirs), w.dirs)
	}
	dir := w.dirs[0]
	if filepath.Dir(dir) != parent || !strings.HasPrefix(filepath.Base(dir), "larder-duckdb-") {
		t.Errorf("temp directory %s is not a larder-duckdb-* directory under %s", dir, parent)
	}
	if len(seenDuring) != 1 || seenDuring[0] != filepath.Base(dir) {
		t.Errorf("while rows were read, %s held %v, want only %s", parent, seenDuring, filepath.Base(dir))
	}
	if w.files.Load() == 0 {
		t.Errorf("no spill file was ever seen in %s", dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp directory %s still exists after the engine closed (stat: %v)", dir, err)
	}
	emptyDir(t, parent, "temp parent")
	emptyDir(t, cwd, "working directory")
}

func TestSpillDirDefaultsToOSTempDirWith0700(t *testing.T) {
	t.Chdir(t.TempDir())
	w := watchSpillDirs(t)
	var mode os.FileMode
	p := &Plan{Dialect: DialectDuckDB, SQL: "SELECT 1::BIGINT AS x", ResultSchema: []Column{{"x", abi.TypeInt64}}}
	_, err := Execute(context.Background(), p, Options{}, func(*Batch) error {
		fi, err := os.Stat(w.dirs[0])
		if err != nil {
			return err
		}
		mode = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.dirs) != 1 || filepath.Dir(w.dirs[0]) != filepath.Clean(os.TempDir()) {
		t.Fatalf("temp directories %v, want one under %s", w.dirs, os.TempDir())
	}
	if mode.Perm() != 0o700 || !mode.IsDir() {
		t.Errorf("temp directory mode %v, want drwx------", mode)
	}
	if _, err := os.Stat(w.dirs[0]); !os.IsNotExist(err) {
		t.Errorf("temp directory %s still exists after the engine closed (stat: %v)", w.dirs[0], err)
	}
}

// DuckDB adds temp_directory to allowed_directories when external access goes off, and
// refuses to change temp_directory after that, so a database that can spill can also read
// its own spill directory. Hence a private, fresh, 0700 directory per database: all a
// plan can find there is its own spilled data. What must stay out of reach is everything
// else: a sibling directory whose name merely starts with the spill directory's (another
// engine's), the parent, and DuckDB's old default ./.tmp, which before this directory
// existed was readable by every plan.
func TestPlanReachesNothingBesideItsSpillDir(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	parent := t.TempDir()
	plant := func(dir string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "secret.csv"), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plant(filepath.Join(cwd, ".tmp"))
	plant(parent)
	t.Cleanup(func() { spillDirHook = nil })
	spillDirHook = func(dir string) { plant(dir + "0") } // same prefix, another directory

	str := []Column{{"s", abi.TypeString}}
	for _, tc := range []struct{ name, from string }{
		{"prefix sibling", "current_setting('temp_directory') || '0/secret.csv'"},
		{"parent", "current_setting('temp_directory') || '/../secret.csv'"},
		{"parent absolute", sqlString(filepath.Join(parent, "secret.csv"))},
		{"cwd .tmp", "'.tmp/secret.csv'"},
		{"cwd .tmp absolute", sqlString(filepath.Join(cwd, ".tmp", "secret.csv"))},
	} {
		for _, fn := range []string{"read_text", "glob"} {
			t.Run(tc.name+" "+fn, func(t *testing.T) {
				sql := "SELECT content AS s FROM read_text(" + tc.from + ")"
				if fn == "glob" {
					sql = "SELECT file AS s FROM glob(" + tc.from + ")"
				}
				rows, err := collect(t, &Plan{Dialect: DialectDuckDB, SQL: sql, ResultSchema: str}, Options{TempDir: parent})
				if err == nil || !strings.Contains(err.Error(), "Permission Error") {
					t.Fatalf("%s was not refused: rows %v, err %v", sql, rows, err)
				}
			})
		}
	}

	// A plan is one SELECT, so it writes nowhere, its spill directory included.
	p := &Plan{Dialect: DialectDuckDB, ResultSchema: str}
	spillDirHook = func(dir string) {
		// The name is random: the plan can only be written once the directory exists.
		p.SQL = "COPY (SELECT 'x' AS s) TO " + sqlString(filepath.Join(dir, "x.csv"))
	}
	_, err := collect(t, p, Options{TempDir: parent})
	if err == nil || !strings.Contains(err.Error(), "must be a SELECT") {
		t.Fatalf("a COPY into the spill directory was not refused as a non-SELECT plan: %v", err)
	}
}
