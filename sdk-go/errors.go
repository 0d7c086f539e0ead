package sdk

import (
	"errors"
	"fmt"

	"github.com/larder-dev/larder/abi"
)

// Errorf returns an error with a formatted message that carries status (one of the abi
// sentinels, e.g. abi.ErrBadArgument), so the SDK returns that status to the host and the
// message from larder_last_error. %w in format wraps as in fmt.Errorf.
//
// An error returned by plugin code that carries no sentinel becomes INTERNAL.
func Errorf(status error, format string, args ...any) error {
	return &statusError{err: fmt.Errorf(format, args...), status: status}
}

type statusError struct {
	err    error
	status error
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() []error { return []error{e.err, e.status} }

// errorStatus maps an error to its status and message.
func errorStatus(err error) (abi.Status, string) {
	st := abi.StatusOf(err)
	if st == abi.StatusOK { // cannot happen for a non-nil error, but never report OK for one
		st = abi.StatusInternal
	}
	return st, err.Error()
}

// statusErr turns a host status plus message into an error carrying the status sentinel.
func statusErr(st abi.Status, what string, msg []byte) error {
	sentinel := st.Err()
	if sentinel == nil {
		sentinel = abi.ErrInternal
	}
	if len(msg) == 0 {
		return &statusError{err: errors.New(what + ": " + st.String()), status: sentinel}
	}
	return &statusError{err: errors.New(what + ": " + string(msg)), status: sentinel}
}
