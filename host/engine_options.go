package host

import (
	"fmt"

	"github.com/larder-dev/larder/host/offlineengine"
)

// engineOptions fills what a request left unset in o from the offline store's `engine`
// section of feature_store.yaml, so that every DuckDB database the host opens for this
// store (retrievals, materialization reads, describes, offline writes) gets the
// operator's memory limit, thread cap and spill location. A request's own values win
// (`larder historical --memory-limit`).
func (fs *FeatureStore) engineOptions(o offlineengine.Options) offlineengine.Options {
	if fs.cfg == nil || fs.cfg.OfflineStore == nil {
		return o
	}
	e := fs.cfg.OfflineStore.Engine
	if o.MemoryLimit == "" && e.MemoryBytes > 0 {
		o.MemoryLimit = fmt.Sprintf("%dB", e.MemoryBytes) // DuckDB reads "<n>B" as bytes
	}
	if o.Threads == 0 {
		o.Threads = e.Threads
	}
	if o.TempDir == "" {
		o.TempDir = e.TempDirectory
	}
	return o
}
