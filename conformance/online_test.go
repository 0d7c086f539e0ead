package conformance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/conformance"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
)

// nativeSQLite is the reference target: Feast's SQLite layout in plain Go.
func nativeSQLite() conformance.Target {
	return conformance.Target{
		Name: "nativestore/sqlite",
		Open: func(ctx context.Context, dir string) (host.OnlineStore, error) {
			return nativestore.NewSQLite(filepath.Join(dir, "online.db"))
		},
	}
}

func TestNativeSQLite(t *testing.T) {
	conformance.RunOnlineStore(t, nativeSQLite())
}
