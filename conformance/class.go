package conformance

import (
	"errors"

	"github.com/larder-dev/larder/abi"
)

// faultClass names the kind of error a store call ended in (host.FaultClass).
// TEMPORARY until host.FaultClass lands: statuses only.
func faultClass(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range []error{abi.ErrNotFound, abi.ErrBadArgument, abi.ErrSerializationFailure, abi.ErrPermissionDenied,
		abi.ErrUnavailable, abi.ErrDeadlineExceeded, abi.ErrResourceExhausted, abi.ErrConflict, abi.ErrUnimplemented, abi.ErrInternal} {
		if errors.Is(err, s) {
			return "status"
		}
	}
	return "other"
}
