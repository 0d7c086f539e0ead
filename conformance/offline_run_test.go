package conformance

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestCaseTB checks that caseTB gives a case outside go test what testing would: a fatal
// call ends the case there, cleanups run last-in first-out after it (also after a panic),
// their errors fail the case, and temporary directories are removed.
func TestCaseTB(t *testing.T) {
	var order []string
	var dir string
	tests := []struct {
		name       string
		body       func(t testing.TB)
		fail, skip bool
		msg        string
		order      string
	}{
		{"pass", func(t testing.TB) {
			dir = t.TempDir()
			t.Cleanup(func() { order = append(order, "a") })
			t.Cleanup(func() { order = append(order, "b") })
		}, false, false, "", "b,a"},
		{"fatal stops the case", func(t testing.TB) {
			t.Cleanup(func() { order = append(order, "cleanup") })
			t.Fatalf("boom %d", 1)
			order = append(order, "after fatal")
		}, true, false, "boom 1", "cleanup"},
		{"errors collect", func(t testing.TB) {
			t.Errorf("first")
			t.Error("second")
			order = append(order, "continued")
		}, true, false, "first; second", "continued"},
		{"cleanup error fails", func(t testing.TB) {
			t.Cleanup(func() { t.Fatal("drop failed"); order = append(order, "after") })
		}, true, false, "drop failed", ""},
		{"panic fails, cleanups still run", func(t testing.TB) {
			t.Cleanup(func() { order = append(order, "cleanup") })
			panic("oops")
		}, true, false, "panic: oops", "cleanup"},
		{"skip", func(t testing.TB) { t.Skipf("no %s", "server"); order = append(order, "after skip") }, false, true, "no server", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			order, dir = nil, ""
			tb := &caseTB{name: tc.name, tempParent: t.TempDir(), ctx: context.Background()}
			tb.run(tc.body)
			if tb.Failed() != tc.fail || tb.Skipped() != tc.skip {
				t.Fatalf("failed %v skipped %v, want %v %v", tb.Failed(), tb.Skipped(), tc.fail, tc.skip)
			}
			if got := strings.Join(tb.msgs, "; "); got != tc.msg {
				t.Errorf("messages %q, want %q", got, tc.msg)
			}
			if got := strings.Join(order, ","); got != tc.order {
				t.Errorf("ran %q, want %q", got, tc.order)
			}
			if dir != "" {
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("TempDir %s left behind (%v)", dir, err)
				}
			}
		})
	}
}
