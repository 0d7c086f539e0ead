package wasm

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLogBufBounded(t *testing.T) {
	l := logBuf{max: 10}
	l.add(slog.LevelInfo, []byte("hello "))
	l.add(slog.LevelWarn, []byte("world, and more"))
	l.add(slog.LevelWarn, []byte("dropped"))
	if string(l.buf) != "hello worl" || l.dropped != 11+7 || len(l.entries) != 2 {
		t.Fatalf("buf %q, dropped %d, entries %d", l.buf, l.dropped, len(l.entries))
	}
	if got := l.head(7); got != "hello w ..." {
		t.Errorf("head = %q", got)
	}
	var out strings.Builder
	l.flush(context.Background(), slog.New(slog.NewTextHandler(&out, nil)), "p", "e")
	if !strings.Contains(out.String(), "truncated") || !strings.Contains(out.String(), "dropped_bytes=18") {
		t.Errorf("flush wrote %q", out.String())
	}
	l.reset()
	if len(l.buf) != 0 || l.dropped != 0 || len(l.entries) != 0 {
		t.Errorf("reset left %+v", l)
	}
}
