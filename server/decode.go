package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// Request bodies are decoded strictly: unknown top-level fields and wrong types are 400s
// naming the field (Feast's pydantic models ignore unknown fields, which hides typos
// such as "feature" for "features"). Every field Feast's models define is accepted, even
// the ones Larder ignores. Entity and frame columns keep their JSON order and each
// element's raw text, so typing can follow Feast's rules later.

type getOnlineFeaturesBody struct {
	Entities         json.RawMessage `json:"entities"`
	Features         []string        `json:"features"`
	FeatureService   *string         `json:"feature_service"`
	FullFeatureNames bool            `json:"full_feature_names"`
	// Adds metadata.feature_view_metadata to the response, as Feast does.
	IncludeFeatureViewVersionMetadata bool `json:"include_feature_view_version_metadata"`
	// The Go feature server's name for request data; merged into the entities.
	RequestContext json.RawMessage `json:"request_context"`
}

type pushBody struct {
	PushSourceName     *string         `json:"push_source_name"`
	DF                 json.RawMessage `json:"df"`
	AllowRegistryCache *bool           `json:"allow_registry_cache"`
	To                 string          `json:"to"`
	TransformOnWrite   *bool           `json:"transform_on_write"`
}

type writeBody struct {
	FeatureViewName    *string         `json:"feature_view_name"`
	DF                 json.RawMessage `json:"df"`
	AllowRegistryCache *bool           `json:"allow_registry_cache"`
	TransformOnWrite   *bool           `json:"transform_on_write"`
}

type materializeBody struct {
	StartTS               *string  `json:"start_ts"`
	EndTS                 *string  `json:"end_ts"`
	FeatureViews          []string `json:"feature_views"`
	DisableEventTimestamp bool     `json:"disable_event_timestamp"`
	FullFeatureNames      bool     `json:"full_feature_names"`
	Version               *string  `json:"version"`
}

type materializeIncrementalBody struct {
	EndTS            *string  `json:"end_ts"`
	FeatureViews     []string `json:"feature_views"`
	FullFeatureNames bool     `json:"full_feature_names"`
	Version          *string  `json:"version"`
}

// readBody reads the whole request body, at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &bodyTooLargeError{limit: limit}
		}
		return nil, host.Requestf(host.BadRequest, "", "reading the request body: %v", err)
	}
	return body, nil
}

type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than the %d-byte limit", e.limit)
}

// decodeStrict decodes one JSON object into dst, rejecting unknown fields, wrong types,
// trailing data and empty bodies with errors that name the field.
func decodeStrict(body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return host.Requestf(host.BadRequest, "", "the request body is empty; send a JSON object")
	}
	if body[0] != '{' {
		return host.Requestf(host.BadRequest, "", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, body)
	}
	if _, err := dec.Token(); err != io.EOF {
		return host.Requestf(host.BadRequest, "", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns an encoding/json error into a RequestError naming the field or the
// byte offset.
func jsonError(err error, body []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return host.Requestf(host.BadRequest, "", "malformed JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return host.Requestf(host.BadRequest, field, "expected %s, got JSON %s", jsonTypeName(typ.Type.String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return host.Requestf(host.BadRequest, "", "malformed JSON: the body ends before the object does")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(f, `"`)
		return host.Requestf(host.BadRequest, name, "unknown field %q", name)
	}
	return host.Requestf(host.BadRequest, "", "malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonTypeName(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "bool", "*bool":
		return "a boolean"
	case "[]string":
		return "an array of strings"
	case "json.RawMessage":
		return "a JSON value"
	}
	return goType
}

func position(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// decodeColumns decodes a columnar JSON object ({"a": [..], "b": [..]}) into columns in
// key order, keeping each element's raw JSON. field names the object in errors
// ("entities", "df").
func decodeColumns(raw json.RawMessage, field string) ([]host.Column, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, host.Requestf(host.BadRequest, field, "%s is required: an object mapping each column name to an array of values", field)
	}
	if raw[0] != '{' {
		return nil, host.Requestf(host.BadRequest, field, "%s must be an object mapping each column name to an array of values", field)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, host.Requestf(host.BadRequest, field, "malformed JSON: %v", err)
	}
	var cols []host.Column
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, host.Requestf(host.BadRequest, field, "malformed JSON: %v", err)
		}
		name, _ := tok.(string)
		cf := field + "." + name
		for _, c := range cols {
			if c.Name == name {
				return nil, host.Requestf(host.BadRequest, cf, "column %q appears twice", name)
			}
		}
		var vals []json.RawMessage
		if err := dec.Decode(&vals); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return nil, host.Requestf(host.BadRequest, cf, "expected an array of values (one per row), got JSON %s", typ.Value)
			}
			return nil, host.Requestf(host.BadRequest, cf, "malformed JSON: %v", err)
		}
		if vals == nil {
			return nil, host.Requestf(host.BadRequest, cf, "expected an array of values (one per row), got null")
		}
		cols = append(cols, host.Column{Name: name, Values: vals})
	}
	return cols, nil
}

// onlineRequest is a decoded /get-online-features body: the host request and what only
// the response writer needs.
type onlineRequest struct {
	host.OnlineFeaturesRequest
	withViewMetadata bool
}

func decodeGetOnlineFeatures(body []byte) (onlineRequest, error) {
	var b getOnlineFeaturesBody
	if err := decodeStrict(body, &b); err != nil {
		return onlineRequest{}, err
	}
	ents, err := decodeColumns(b.Entities, "entities")
	if err != nil {
		return onlineRequest{}, err
	}
	if len(b.RequestContext) > 0 && string(bytes.TrimSpace(b.RequestContext)) != "null" {
		extra, err := decodeColumns(b.RequestContext, "request_context")
		if err != nil {
			return onlineRequest{}, err
		}
		for _, c := range extra {
			for _, e := range ents {
				if e.Name == c.Name {
					return onlineRequest{}, host.Requestf(host.BadRequest, "request_context."+c.Name,
						"%q is given both in entities and in request_context", c.Name)
				}
			}
			ents = append(ents, c)
		}
	}
	req := onlineRequest{
		OnlineFeaturesRequest: host.OnlineFeaturesRequest{Entities: ents, Features: b.Features, FullFeatureNames: b.FullFeatureNames},
		withViewMetadata:      b.IncludeFeatureViewVersionMetadata,
	}
	if b.FeatureService != nil {
		req.FeatureService = *b.FeatureService
		if req.FeatureService == "" {
			return req, host.Requestf(host.BadRequest, "feature_service", "feature_service is an empty string")
		}
	}
	return req, nil
}

func decodePush(body []byte) (host.PushRequest, error) {
	var b pushBody
	if err := decodeStrict(body, &b); err != nil {
		return host.PushRequest{}, err
	}
	if b.PushSourceName == nil || *b.PushSourceName == "" {
		return host.PushRequest{}, host.Requestf(host.BadRequest, "push_source_name", "push_source_name is required")
	}
	df, err := decodeColumns(b.DF, "df")
	if err != nil {
		return host.PushRequest{}, err
	}
	return host.PushRequest{PushSourceName: *b.PushSourceName, DF: df, To: b.To, TransformOnWrite: b.TransformOnWrite == nil || *b.TransformOnWrite}, nil
}

func decodeWrite(body []byte) (host.WriteToOnlineStoreRequest, error) {
	var b writeBody
	if err := decodeStrict(body, &b); err != nil {
		return host.WriteToOnlineStoreRequest{}, err
	}
	if b.FeatureViewName == nil || *b.FeatureViewName == "" {
		return host.WriteToOnlineStoreRequest{}, host.Requestf(host.BadRequest, "feature_view_name", "feature_view_name is required")
	}
	df, err := decodeColumns(b.DF, "df")
	if err != nil {
		return host.WriteToOnlineStoreRequest{}, err
	}
	return host.WriteToOnlineStoreRequest{FeatureViewName: *b.FeatureViewName, DF: df, TransformOnWrite: b.TransformOnWrite == nil || *b.TransformOnWrite}, nil
}

// parseTS reads a materialization bound as Feast does (dateutil): ISO 8601 with or
// without a zone; a naive time is UTC.
func parseTS(s *string, field string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, host.Requestf(host.BadRequest, field, "%s is required, e.g. \"2021-04-12T10:59:42\"", field)
	}
	t, err := feast.ParseTimestampText(*s)
	if err != nil {
		return time.Time{}, host.Requestf(host.BadRequest, field, "%v", err)
	}
	return t.UTC(), nil
}

func checkVersion(v *string) error {
	if v != nil && *v != "" {
		return host.Requestf(host.Unprocessable, "version", "materializing a pinned feature view version (%q) is not supported: Larder does not version feature views", *v)
	}
	return nil
}

func decodeMaterialize(body []byte, now time.Time) (host.MaterializeRequest, error) {
	var b materializeBody
	if err := decodeStrict(body, &b); err != nil {
		return host.MaterializeRequest{}, err
	}
	if err := checkVersion(b.Version); err != nil {
		return host.MaterializeRequest{}, err
	}
	req := host.MaterializeRequest{FeatureViews: b.FeatureViews}
	if b.DisableEventTimestamp {
		// Feast: the window becomes the epoch .. now.
		if b.StartTS != nil || b.EndTS != nil {
			return req, host.Requestf(host.BadRequest, "disable_event_timestamp", "start_ts and end_ts must be omitted with disable_event_timestamp")
		}
		req.Start, req.End = time.Unix(0, 0).UTC(), now.UTC()
		return req, nil
	}
	var err error
	if req.Start, err = parseTS(b.StartTS, "start_ts"); err != nil {
		return req, err
	}
	if req.End, err = parseTS(b.EndTS, "end_ts"); err != nil {
		return req, err
	}
	if !req.Start.Before(req.End) {
		return req, host.Requestf(host.BadRequest, "start_ts", "start_ts (%s) must be before end_ts (%s)",
			req.Start.Format(time.RFC3339Nano), req.End.Format(time.RFC3339Nano))
	}
	return req, nil
}

func decodeMaterializeIncremental(body []byte) (host.MaterializeIncrementalRequest, error) {
	var b materializeIncrementalBody
	if err := decodeStrict(body, &b); err != nil {
		return host.MaterializeIncrementalRequest{}, err
	}
	if err := checkVersion(b.Version); err != nil {
		return host.MaterializeIncrementalRequest{}, err
	}
	end, err := parseTS(b.EndTS, "end_ts")
	if err != nil {
		return host.MaterializeIncrementalRequest{}, err
	}
	return host.MaterializeIncrementalRequest{End: end, FeatureViews: b.FeatureViews}, nil
}
