package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/conformance"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
)

// broken wraps the native SQLite store and breaks one behaviour, so the suite can be
// checked to catch it: a conformance case that passes a broken store checks nothing.
type broken struct {
	host.OnlineStore
	update   func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error
	teardown func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error
	write    func(s host.OnlineStore, ctx context.Context, req host.WriteRequest) error
	read     func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error)
}

func (b *broken) Update(ctx context.Context, req host.UpdateRequest) error {
	if b.update != nil {
		return b.update(b.OnlineStore, ctx, req)
	}
	return b.OnlineStore.Update(ctx, req)
}

func (b *broken) Teardown(ctx context.Context, req host.UpdateRequest) error {
	if b.teardown != nil {
		return b.teardown(b.OnlineStore, ctx, req)
	}
	return b.OnlineStore.Teardown(ctx, req)
}

func (b *broken) Write(ctx context.Context, req host.WriteRequest) error {
	if b.write != nil {
		return b.write(b.OnlineStore, ctx, req)
	}
	return b.OnlineStore.Write(ctx, req)
}

func (b *broken) Read(ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
	if b.read != nil {
		return b.read(b.OnlineStore, ctx, req)
	}
	return b.OnlineStore.Read(ctx, req)
}

func brokenTarget(name string, mk func() *broken) conformance.Target {
	return conformance.Target{Name: name, Open: func(ctx context.Context, dir string) (host.OnlineStore, error) {
		s, err := nativestore.NewSQLite(filepath.Join(dir, "online.db"))
		if err != nil {
			return nil, err
		}
		b := mk()
		b.OnlineStore = s
		return b, nil
	}}
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	var inflight atomic.Int32
	tests := []struct {
		name     string
		mk       func() *broken
		open     func(ctx context.Context, dir string) (host.OnlineStore, error) // replaces the target's Open
		mustFail []string
	}{
		{
			name: "writes dropped",
			mk: func() *broken {
				return &broken{write: func(host.OnlineStore, context.Context, host.WriteRequest) error { return nil }}
			},
			mustFail: []string{"round_trip_scalars", "round_trip_lists", "round_trip_nulls", "newer_write_wins", "write_100k_rows", "composite_entity_key"},
		},
		{
			name: "project ignored",
			mk: func() *broken {
				return &broken{
					update: func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error {
						req.Project = "shared"
						return s.Update(ctx, req)
					},
					teardown: func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error {
						req.Project = "shared"
						return s.Teardown(ctx, req)
					},
					write: func(s host.OnlineStore, ctx context.Context, req host.WriteRequest) error {
						req.Project = "shared"
						return s.Write(ctx, req)
					},
					read: func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
						req.Project = "shared"
						return s.Read(ctx, req)
					},
				}
			},
			mustFail: []string{"project_isolation"},
		},
		{
			name: "teardown does nothing",
			mk: func() *broken {
				return &broken{teardown: func(host.OnlineStore, context.Context, host.UpdateRequest) error { return nil }}
			},
			mustFail: []string{"teardown_leaves_nothing", "read_after_teardown", "project_isolation"},
		},
		{
			name: "update never drops",
			mk: func() *broken {
				return &broken{update: func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error {
					req.TablesToDelete = nil
					return s.Update(ctx, req)
				}}
			},
			mustFail: []string{"update_drops_deleted_views"},
		},
		{
			name: "update recreates kept tables",
			mk: func() *broken {
				return &broken{update: func(s host.OnlineStore, ctx context.Context, req host.UpdateRequest) error {
					if err := s.Teardown(ctx, host.UpdateRequest{Project: req.Project, TablesToDelete: req.TablesToKeep}); err != nil {
						return err
					}
					return s.Update(ctx, req)
				}}
			},
			mustFail: []string{"update_twice_is_noop", "update_adds_views_later", "data_survives_reopen"},
		},
		{
			name: "read answers keys in reverse order",
			mk: func() *broken {
				return &broken{read: func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
					res, err := s.Read(ctx, req)
					if err != nil {
						return nil, err
					}
					for v, rv := range req.Views {
						nf, cells := len(rv.Features), res.Views[v]
						for i, j := 0, len(rv.EntityKeys)-1; i < j; i, j = i+1, j-1 {
							for f := 0; f < nf; f++ {
								cells[i*nf+f], cells[j*nf+f] = cells[j*nf+f], cells[i*nf+f]
							}
						}
					}
					return res, nil
				}}
			},
			mustFail: []string{"missing_keys_not_found", "composite_entity_key", "entity_key_types", "round_trip_scalars"},
		},
		{
			name: "values altered",
			mk: func() *broken {
				return &broken{read: func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
					res, err := s.Read(ctx, req)
					if err != nil {
						return nil, err
					}
					for _, cells := range res.Views {
						for i := range cells {
							if cells[i].Status == abi.FieldPresent {
								cells[i].Value = append(append([]byte{}, cells[i].Value...), 0x08, 0x01) // appends int32_val=1
							}
						}
					}
					return res, nil
				}}
			},
			mustFail: []string{"round_trip_scalars", "round_trip_lists", "round_trip_extended_types", "write_100k_rows"},
		},
		{
			name: "first write wins",
			mk: func() *broken {
				return &broken{write: func(s host.OnlineStore, ctx context.Context, req host.WriteRequest) error {
					keep := req.Rows[:0:0]
					for _, row := range req.Rows {
						res, err := s.Read(ctx, host.ReadRequest{Project: req.Project, Views: []host.ReadView{{Name: req.View, Features: req.Features, EntityKeys: [][]byte{row.EntityKey}}}})
						if err == nil && res.Views[0][0].Status == abi.FieldPresent {
							continue
						}
						keep = append(keep, row)
					}
					req.Rows = keep
					return s.Write(ctx, req)
				}}
			},
			mustFail: []string{"newer_write_wins", "many_overwrites", "concurrent_reads_and_writes", "write_in_batches"},
		},
		{
			name: "one value short",
			mk: func() *broken {
				return &broken{read: func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
					res, err := s.Read(ctx, req)
					if err == nil && len(res.Views) > 0 && len(res.Views[0]) > 0 {
						res.Views[0] = res.Views[0][:len(res.Views[0])-1]
					}
					return res, err
				}}
			},
			mustFail: []string{"missing_keys_not_found", "round_trip_scalars"},
		},
		{
			name: "not-found cells carry a value",
			mk: func() *broken {
				return &broken{read: func(s host.OnlineStore, ctx context.Context, req host.ReadRequest) (*host.ReadResult, error) {
					res, err := s.Read(ctx, req)
					if err == nil {
						for _, cells := range res.Views {
							for i := range cells {
								if cells[i].Status == abi.FieldNotFound {
									cells[i].Value = []byte{0x20, 0x00}
								}
							}
						}
					}
					return res, err
				}}
			},
			mustFail: []string{"missing_keys_not_found", "read_before_any_write"},
		},
		{
			name: "writes lost under concurrency",
			mk: func() *broken {
				return &broken{write: func(s host.OnlineStore, ctx context.Context, req host.WriteRequest) error {
					if inflight.Add(1) > 1 {
						inflight.Add(-1)
						return nil // pretend success, write nothing
					}
					defer inflight.Add(-1)
					return s.Write(ctx, req)
				}}
			},
			mustFail: []string{"concurrent_reads_and_writes"},
		},
		{
			name: "writes capped at 1000 rows",
			mk: func() *broken {
				return &broken{write: func(s host.OnlineStore, ctx context.Context, req host.WriteRequest) error {
					if len(req.Rows) > 1000 {
						req.Rows = req.Rows[:1000]
					}
					return s.Write(ctx, req)
				}}
			},
			mustFail: []string{"write_100k_rows"},
		},
		{
			name: "state not persisted",
			open: func(ctx context.Context, dir string) (host.OnlineStore, error) {
				fresh, err := os.MkdirTemp(dir, "volatile-")
				if err != nil {
					return nil, err
				}
				return nativestore.NewSQLite(filepath.Join(fresh, "online.db"))
			},
			mustFail: []string{"data_survives_reopen", "write_100k_rows"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := conformance.Target{Name: tt.name, Open: tt.open}
			if tt.open == nil {
				target = brokenTarget(tt.name, tt.mk)
			}
			rep := conformance.Run(context.Background(), target, conformance.Options{Short: true, Cases: tt.mustFail, TempDir: t.TempDir()})
			if len(rep.Cases) != len(tt.mustFail) {
				t.Fatalf("ran %d cases, want %d (%v)", len(rep.Cases), len(tt.mustFail), tt.mustFail)
			}
			for _, c := range rep.Cases {
				if c.Status != conformance.Fail {
					t.Errorf("case %s: %s against a store whose %s; want FAIL", c.Name, c.Status, tt.name)
				} else {
					t.Logf("%s caught it: %s", c.Name, c.Message)
				}
			}
		})
	}
}
