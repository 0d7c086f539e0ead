package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/larder-dev/larder/host"
)

// DefaultFixtureDeadline is the per-call deadline hostile fixtures run under: short, so
// the endless-loop fixture costs little, long enough for a Go guest's first call.
const DefaultFixtureDeadline = 250 * time.Millisecond

// LoadFixture loads a hostile module with tight limits. TEMPORARY until host.LoadOnlineStore lands.
func LoadFixture(ctx context.Context, path string, deadline time.Duration) (host.OnlineStore, error) {
	return nil, errors.New("host.LoadOnlineStore is not available yet")
}
