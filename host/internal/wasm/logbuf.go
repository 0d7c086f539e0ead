package wasm

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// logBuf collects what a plugin logs during one call (the log host function and WASI
// stdout/stderr) up to a byte budget; the rest is counted and dropped. It is reset at
// the start of every call, so a chatty plugin cannot grow host memory.
type logBuf struct {
	max     int
	buf     []byte
	entries []logEntry
	dropped int
}

type logEntry struct {
	level      slog.Level
	start, end int
}

func (l *logBuf) reset() {
	l.buf = l.buf[:0]
	l.entries = l.entries[:0]
	l.dropped = 0
}

func (l *logBuf) add(level slog.Level, p []byte) {
	room := l.max - len(l.buf)
	if room <= 0 {
		l.dropped += len(p)
		return
	}
	if len(p) > room {
		l.dropped += len(p) - room
		p = p[:room]
	}
	start := len(l.buf)
	l.buf = append(l.buf, p...)
	l.entries = append(l.entries, logEntry{level: level, start: start, end: len(l.buf)})
}

// head returns up to n bytes of the call's first output as one printable line, for
// fault messages: a Go guest prints the reason of a panic or fatal error first, then
// goroutine dumps.
func (l *logBuf) head(n int) string {
	b := l.buf
	cut := len(b) > n
	if cut {
		b = b[:n]
		for len(b) > 0 && !utf8.FullRune(b[len(b)-1:]) && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if cut {
		s += " ..."
	}
	return s
}

func (l *logBuf) flush(ctx context.Context, logger *slog.Logger, plugin, export string) {
	if logger == nil || len(l.entries) == 0 && l.dropped == 0 {
		return
	}
	for _, e := range l.entries {
		if !logger.Enabled(ctx, e.level) {
			continue
		}
		msg := strings.TrimRight(strings.ToValidUTF8(string(l.buf[e.start:e.end]), "?"), "\n")
		logger.LogAttrs(ctx, e.level, msg, slog.String("plugin", plugin), slog.String("export", export))
	}
	if l.dropped > 0 {
		logger.LogAttrs(ctx, slog.LevelWarn, "plugin log output truncated",
			slog.String("plugin", plugin), slog.String("export", export),
			slog.Int("dropped_bytes", l.dropped), slog.Int("limit_bytes", l.max))
	}
}

// stream adapts WASI stdout/stderr to the log buffer.
type stream struct {
	l     *logBuf
	level slog.Level
}

func (s stream) Write(p []byte) (int, error) {
	s.l.add(s.level, p)
	return len(p), nil
}
