package nativestore

import (
	"context"
	"fmt"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/larder-dev/larder/host/internal/capsql"
)

// SQLCapability is the host's sql capability (spec §6.1) bound to one SQLite database file.
type SQLCapability struct{ p *capsql.Provider }

// NewSQLCapability binds the capability to the database at path (created when missing),
// optionally limited to tables whose names start with tablePrefix.
func NewSQLCapability(path, tablePrefix string) (*SQLCapability, error) {
	p, err := capsql.New(capsql.Options{Path: path, TablePrefix: tablePrefix})
	if err != nil {
		return nil, err
	}
	return &SQLCapability{p: p}, nil
}

// Open returns a session, the equivalent of one plugin instance's cap_open handle.
func (c *SQLCapability) Open() (*SQLSession, error) {
	s, err := c.p.Open()
	if err != nil {
		return nil, fmt.Errorf("opening sql capability session: %w", err)
	}
	return &SQLSession{s: s}, nil
}

// SQLSession is one instance's session on the capability; use it from one goroutine at a time.
type SQLSession struct{ s caps.Session }

// Call runs op (abi.SQLOpQuery, SQLOpExec, SQLOpDDL) in phase (abi.Phase*) on an LBF1
// request. It returns the response, valid until the next Call, or a non-OK status and a
// UTF-8 message.
func (s *SQLSession) Call(ctx context.Context, op uint32, phase string, req []byte) ([]byte, abi.Status) {
	ph, ok := caps.ParsePhase(phase)
	if !ok {
		return []byte(fmt.Sprintf("unknown phase %q", phase)), abi.StatusInternal
	}
	return s.s.Call(ctx, op, ph, req)
}

// Close closes the session's connection.
func (s *SQLSession) Close() error { return s.s.Close() }
