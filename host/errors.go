package host

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a client mistake so the HTTP layer maps it to a status in one place.
type ErrorKind int

const (
	BadRequest    ErrorKind = iota // malformed or invalid input (400)
	NotFound                       // a referenced object does not exist (404)
	Unprocessable                  // well-formed but semantically unusable (422)
	Conflict                       // the request conflicts with current state (409)
)

func (k ErrorKind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case Unprocessable:
		return "unprocessable"
	case Conflict:
		return "conflict"
	}
	return "bad request"
}

// RequestError is an error caused by the caller's input. Field names the offending
// request field or reference (e.g. "entities.driver_id[3]" or "features[1]").
type RequestError struct {
	Kind  ErrorKind
	Field string
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Requestf returns a *RequestError of kind k about field.
func Requestf(k ErrorKind, field, format string, args ...any) error {
	return &RequestError{Kind: k, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// AsRequestError returns the *RequestError in err's chain, if any.
func AsRequestError(err error) (*RequestError, bool) {
	var re *RequestError
	ok := errors.As(err, &re)
	return re, ok
}
