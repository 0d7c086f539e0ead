package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// httpError is the one place errors become HTTP statuses.
//
//   - *host.RequestError (the caller's mistake): its kind → 400, 404, 422 or 409, with
//     the message, which names the field or reference at fault
//   - a body over the size limit → 413
//   - routing errors (unknown path, wrong method) → their status
//   - an unimplemented capability (abi.ErrUnimplemented) → 501
//   - a plugin that is unhealthy (breaker open), out of instances, closed, unavailable
//     (its backend is down) or past its deadline → 503, each with its own message;
//     writeError adds Retry-After to every 503
//   - anything else → 500 with a generic message; the detail goes to the log only,
//     since it may describe internals (paths, SQL, plugin output)
func httpError(err error) (status int, msg, field string) {
	// A push that appended offline and then failed online: the cause's status, and a
	// message that says what was written, whatever the cause's message may reveal.
	var partial *host.PartialPushError
	if errors.As(err, &partial) {
		status, msg, field = httpError(partial.Err)
		return status, partial.Explain(msg), field
	}
	if re, ok := host.AsRequestError(err); ok {
		switch re.Kind {
		case host.NotFound:
			status = http.StatusNotFound
		case host.Unprocessable:
			status = http.StatusUnprocessableEntity
		case host.Conflict:
			status = http.StatusConflict
		default:
			status = http.StatusBadRequest
		}
		return status, re.Error(), re.Field
	}
	var tooLarge *bodyTooLargeError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, tooLarge.Error(), ""
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		m, _ := he.Message.(string)
		if m == "" {
			m = http.StatusText(he.Code)
		}
		return he.Code, m, ""
	}
	switch {
	case errors.Is(err, abi.ErrUnimplemented):
		return http.StatusNotImplemented, err.Error(), ""
	// The 503 messages differ so that an operator reading a client's error can tell a
	// backend outage (Redis down: nothing wrong with Larder) from a plugin that keeps
	// faulting or a server at capacity.
	case errors.Is(err, host.ErrUnhealthy):
		return http.StatusServiceUnavailable, "a store plugin is unhealthy after repeated faults and fails fast for now; retry later", ""
	case errors.Is(err, abi.ErrUnavailable):
		return http.StatusServiceUnavailable, "the store's backend is unavailable (the plugin could not reach it); retry later", ""
	case errors.Is(err, host.ErrPoolExhausted), errors.Is(err, abi.ErrResourceExhausted):
		return http.StatusServiceUnavailable, "the store is at capacity; retry later", ""
	case errors.Is(err, host.ErrPluginClosed):
		return http.StatusServiceUnavailable, "the feature store is shutting down; retry later", ""
	case errors.Is(err, abi.ErrDeadlineExceeded):
		return http.StatusServiceUnavailable, "the store's backend timed out (the plugin got no answer in time); retry later", ""
	case errors.Is(err, host.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the request timed out in a store plugin; retry later", ""
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return 499, "request canceled", ""
	}
	return http.StatusInternalServerError, "internal server error; the server log has the details", ""
}

// appendErrorBody writes the error object:
//
//	{"error":"<message>","status_code":404,"field":"features[1]"}
//
// It extends the Go feature server's {"error","status_code"} with the offending field.
// (The Python server sends a JSON string holding another JSON document; see
// docs/compatibility.md.)
func appendErrorBody(b []byte, status int, msg, field string) []byte {
	b = append(b, `{"error":`...)
	b = feast.AppendJSONString(b, msg)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if field != "" {
		b = append(b, `,"field":`...)
		b = feast.AppendJSONString(b, field)
	}
	return append(b, '}')
}
