package conformance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/larder-dev/larder/conformance"
)

// TestDynamoDBWasm runs the online-store suite against the Rust DynamoDB plugin on
// dynalite (each case under its own table namespace). `make test` always starts dynalite
// and sets LARDER_DYNAMODB_ENDPOINT; the test skips, saying why, only when run by hand
// without it.
func TestDynamoDBWasm(t *testing.T) {
	ep := os.Getenv("LARDER_DYNAMODB_ENDPOINT")
	if ep == "" {
		t.Skip("LARDER_DYNAMODB_ENDPOINT is not set: run scripts/services.sh start (make test does) to test against dynalite")
	}
	p := filepath.Join(pluginDir(), "dynamodb.wasm")
	needBuilt(t, p)
	// Short: dynalite (DynamoDB in JavaScript) takes over a minute for the 100k-row bulk
	// case, which `larder conformance dynamodb.wasm` runs at full size when asked.
	conformance.RunOnlineStore(t, conformance.WasmTarget(p, conformance.WasmOptions{DynamoDB: ep}), conformance.Options{Short: true})
}
