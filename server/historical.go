package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/arrowout"
	"github.com/larder-dev/larder/host/offlineengine"
)

// HistoricalStore is what POST /get-historical-features needs; *host.FeatureStore has it.
// It is separate from FeatureStore so that stores without an offline side still serve.
type HistoricalStore interface {
	StreamHistoricalFeatures(ctx context.Context, req host.HistoricalRequest,
		open func([]offlineengine.Column) (func(*offlineengine.Batch) error, error)) (*host.HistoricalResult, error)
}

const epGetHistoricalFeatures = "/get-historical-features"

// MIMEArrowStream is the media type of an Arrow IPC stream.
const MIMEArrowStream = "application/vnd.apache.arrow.stream"

// historicalRequest is the body of POST /get-historical-features. Entity rows come in the
// body, columnar as in /get-online-features, never as a path: a client must not make the
// server read its own files.
type historicalRequest struct {
	features         []string
	featureService   string
	fullFeatureNames bool
	timestampColumn  string
	columns          []offlineengine.Column
	rows             [][]any
}

// getHistoricalFeatures answers with the training data as an Arrow IPC stream, written
// batch by batch as the engine produces it. An error before the first byte is a JSON
// error; one after it aborts the connection, so a client never takes a cut stream for a
// whole one.
func (s *Server) getHistoricalFeatures(c echo.Context) error {
	start := time.Now()
	hs, ok := s.fs.(HistoricalStore)
	if !ok {
		return s.fail(c, epGetHistoricalFeatures, start, fmt.Errorf("historical retrieval: %w", abi.ErrUnimplemented))
	}
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epGetHistoricalFeatures, start, err)
	}
	req, err := decodeHistorical(body)
	if err != nil {
		return s.fail(c, epGetHistoricalFeatures, start, err)
	}
	tmp, err := writeEntityFile(req)
	if err != nil {
		return s.fail(c, epGetHistoricalFeatures, start, err)
	}
	defer os.Remove(tmp)

	var iw *arrowout.IPCWriter
	w := c.Response()
	_, err = hs.StreamHistoricalFeatures(c.Request().Context(), host.HistoricalRequest{
		EntitiesPath: tmp, TimestampColumn: req.timestampColumn,
		Features: req.features, FeatureService: req.featureService, FullFeatureNames: req.fullFeatureNames,
	}, func(cols []offlineengine.Column) (func(*offlineengine.Batch) error, error) {
		w.Header().Set(echo.HeaderContentType, MIMEArrowStream)
		w.WriteHeader(http.StatusOK)
		if iw, err = arrowout.NewIPCWriter(w, cols); err != nil {
			return nil, err
		}
		return func(b *offlineengine.Batch) error {
			if err := iw.Write(b); err != nil {
				return err
			}
			w.Flush()
			return nil
		}, nil
	})
	if err == nil {
		err = iw.Close()
	}
	if err != nil {
		if !w.Committed {
			return s.fail(c, epGetHistoricalFeatures, start, err)
		}
		s.log.Error("historical retrieval failed mid-stream", "error", err)
		panic(http.ErrAbortHandler)
	}
	s.metrics.observeRequest(epGetHistoricalFeatures, -1, 0, time.Since(start), true)
	return nil
}

// writeEntityFile writes the request's entity rows to a temporary Parquet file.
func writeEntityFile(req *historicalRequest) (path string, err error) {
	f, err := os.CreateTemp("", "larder-entities-*.parquet")
	if err != nil {
		return "", fmt.Errorf("storing the entity rows: %w", err)
	}
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	pw, err := arrowout.NewParquetWriter(f, req.columns)
	if err != nil {
		return "", host.Requestf(host.BadRequest, "entities", "%v", err)
	}
	if err := pw.Write(&offlineengine.Batch{Schema: req.columns, Rows: req.rows}); err != nil {
		return "", fmt.Errorf("storing the entity rows: %w", err)
	}
	if err := pw.Close(); err != nil {
		return "", fmt.Errorf("storing the entity rows: %w", err)
	}
	return f.Name(), nil
}

// decodeHistorical reads {"features"|"feature_service", "full_feature_names",
// "timestamp_column", "entities": {"col": [values…], …}}. Column order is kept; each
// column's type is inferred from its values: integers INT64, other numbers DOUBLE,
// booleans BOOL, strings STRING, except the timestamp column (default event_timestamp),
// whose values are RFC 3339 strings or Unix seconds.
func decodeHistorical(body []byte) (*historicalRequest, error) {
	var top struct {
		Features         []string        `json:"features"`
		FeatureService   string          `json:"feature_service"`
		FullFeatureNames bool            `json:"full_feature_names"`
		TimestampColumn  string          `json:"timestamp_column"`
		Entities         json.RawMessage `json:"entities"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, host.Requestf(host.BadRequest, "", "decoding the request JSON: %v", err)
	}
	req := &historicalRequest{features: top.Features, featureService: top.FeatureService,
		fullFeatureNames: top.FullFeatureNames, timestampColumn: top.TimestampColumn}
	tsCol := top.TimestampColumn
	if tsCol == "" {
		tsCol = "event_timestamp"
	}
	dec := json.NewDecoder(bytes.NewReader(top.Entities))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, host.Requestf(host.BadRequest, "entities", "want an object of columns, {\"driver_id\": [1001, …], \"event_timestamp\": [\"2021-04-12T10:59:42Z\", …]}")
	}
	var columns [][]any
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, host.Requestf(host.BadRequest, "entities", "%v", err)
		}
		name := tok.(string)
		field := "entities." + name
		if seen[name] {
			return nil, host.Requestf(host.BadRequest, field, "column given twice")
		}
		seen[name] = true
		var vals []any
		if err := dec.Decode(&vals); err != nil {
			return nil, host.Requestf(host.BadRequest, field, "want an array of values: %v", err)
		}
		if len(columns) > 0 && len(vals) != len(columns[0]) {
			return nil, host.Requestf(host.BadRequest, field, "has %d values but %s has %d", len(vals), req.columns[0].Name, len(columns[0]))
		}
		t, conv, err := entityColumnType(vals, name == tsCol)
		if err != nil {
			return nil, host.Requestf(host.BadRequest, field, "%v", err)
		}
		for i, v := range vals {
			if v != nil {
				if vals[i], err = conv(v); err != nil {
					return nil, host.Requestf(host.BadRequest, field+"["+strconv.Itoa(i)+"]", "%v", err)
				}
			}
		}
		req.columns = append(req.columns, offlineengine.Column{Name: name, Type: t})
		columns = append(columns, vals)
	}
	if len(columns) == 0 {
		return nil, host.Requestf(host.BadRequest, "entities", "no entity columns")
	}
	req.rows = make([][]any, len(columns[0]))
	for i := range req.rows {
		row := make([]any, len(columns))
		for j := range columns {
			row[j] = columns[j][i]
		}
		req.rows[i] = row
	}
	return req, nil
}

// entityColumnType infers a column's type from its JSON values and returns the converter
// to the Go values arrowout takes.
func entityColumnType(vals []any, timestamp bool) (abi.Type, func(any) (any, error), error) {
	if timestamp {
		return abi.TypeUnixTimestamp, func(v any) (any, error) {
			switch x := v.(type) {
			case string:
				t, err := time.Parse(time.RFC3339Nano, x)
				if err != nil {
					return nil, fmt.Errorf("timestamp %q is not RFC 3339", x)
				}
				return t.UTC(), nil
			case json.Number:
				f, err := x.Float64()
				if err != nil || math.IsInf(f, 0) {
					return nil, fmt.Errorf("timestamp %s is not a number of seconds", x)
				}
				return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), nil
			}
			return nil, fmt.Errorf("timestamp %v is neither RFC 3339 text nor Unix seconds", v)
		}, nil
	}
	var kind string
	integral := true
	for _, v := range vals {
		var k string
		switch x := v.(type) {
		case nil:
			continue
		case json.Number:
			k = "number"
			if _, err := x.Int64(); err != nil {
				integral = false
			}
		case string:
			k = "string"
		case bool:
			k = "bool"
		default:
			return 0, nil, fmt.Errorf("values must be numbers, strings, booleans or null, not %T", v)
		}
		if kind != "" && kind != k {
			return 0, nil, fmt.Errorf("mixes %ss and %ss", kind, k)
		}
		kind = k
	}
	switch {
	case kind == "number" && integral:
		return abi.TypeInt64, func(v any) (any, error) { return v.(json.Number).Int64() }, nil
	case kind == "number":
		return abi.TypeDouble, func(v any) (any, error) { return v.(json.Number).Float64() }, nil
	case kind == "bool":
		return abi.TypeBool, func(v any) (any, error) { return v, nil }, nil
	}
	return abi.TypeString, func(v any) (any, error) { return v, nil }, nil
}
