package offlineengine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
)

func TestDescribe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.parquet")
	writeParquet(t, path, `SELECT 1::SMALLINT AS s, 2::BIGINT AS b, DATE '2026-01-01' AS d, TIMESTAMP '2026-01-01' AS ts,
		1.5::DECIMAL(10,2) AS dec, 'x' AS v, [1, 2]::INTEGER[] AS l`)
	cols, err := Describe(context.Background(), "read_parquet($1)", []any{path}, Options{Access: Access{Paths: []string{path}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Column{{"s", abi.TypeInt32}, {"b", abi.TypeInt64}, {"d", abi.TypeUnixTimestamp}, {"ts", abi.TypeUnixTimestamp},
		{"dec", abi.TypeDouble}, {"v", abi.TypeString}, {"l", abi.TypeInt32List}}
	if len(cols) != len(want) {
		t.Fatalf("got %v, want %v", cols, want)
	}
	for i := range want {
		if cols[i] != want[i] {
			t.Errorf("column %d: got %v, want %v", i, cols[i], want[i])
		}
	}

	// A type no feature value holds is named; a file outside Access is refused.
	_, err = Describe(context.Background(), "(SELECT {'a': 1} AS st)", nil, Options{})
	if err == nil || !strings.Contains(err.Error(), `column "st"`) {
		t.Fatalf("struct column: %v", err)
	}
	if _, err := Describe(context.Background(), "read_parquet($1)", []any{path}, Options{}); err == nil {
		t.Fatal("described a file the sandbox does not grant")
	}
}
