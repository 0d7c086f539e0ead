package sdk

import (
	"fmt"
	"time"

	"github.com/larder-dev/larder/abi"
)

// Log levels for Log.
const (
	LevelDebug = abi.LogDebug
	LevelInfo  = abi.LogInfo
	LevelWarn  = abi.LogWarn
	LevelError = abi.LogError
)

// Log sends a message to the host's log for this call (the host caps the bytes per call).
func Log(level uint32, msg string) { host().Log(level, msg) }

// Logf formats and logs a message.
func Logf(level uint32, format string, args ...any) { host().Log(level, fmt.Sprintf(format, args...)) }

// Now returns the host's wall clock.
func Now() time.Time { return time.UnixMicro(host().NowUnixMicros()) }

// DeadlineRemaining returns the time left in the current export call; false when the call
// has no deadline.
func DeadlineRemaining() (time.Duration, bool) {
	us := host().DeadlineRemainingMicros()
	if us < 0 {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}
