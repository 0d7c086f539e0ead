package config_test

import (
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/host/config"
)

// The example files under configs/ are documentation users copy; they must stay loadable.
func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../configs/*/feature_store.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("found %d example configs (%v), want at least 5", len(files), err)
	}
	noEnv := config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			cfg, err := config.LoadWith(f, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Project != "driver_ranking" {
				t.Errorf("project = %q", cfg.Project)
			}
		})
	}
}
