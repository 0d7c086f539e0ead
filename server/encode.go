package server

import (
	"sync"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// bufPool recycles response buffers; large ones are dropped so one huge response does
// not pin memory for good.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendOnlineResponse writes Feast's columnar /get-online-features JSON, byte for byte
// as the Python server does (compact separators, "results" before "metadata"):
//
//	{"results":[{"values":[..],"statuses":[..],"event_timestamps":[..]},..],
//	 "metadata":{"feature_names":[..]}}
//
// With withViews (the request's include_feature_view_version_metadata), metadata also
// lists the feature views read: "feature_view_metadata":[{"name":"driver_hourly_stats"}].
func appendOnlineResponse(b []byte, r *host.OnlineFeaturesResponse, withViews bool) []byte {
	b = append(b, `{"results":[`...)
	for i := range r.Results {
		if i > 0 {
			b = append(b, ',')
		}
		fv := &r.Results[i]
		b = append(b, `{"values":[`...)
		for j := range fv.Values {
			if j > 0 {
				b = append(b, ',')
			}
			b = feast.AppendValueJSON(b, fv.Values[j])
		}
		b = append(b, `],"statuses":[`...)
		for j, s := range fv.Statuses {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendStatus(b, s)
		}
		b = append(b, `],"event_timestamps":[`...)
		for j, t := range fv.EventTimestamps {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = feast.AppendTimestampText(b, feast.TimestampOf(t))
			b = append(b, '"')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"metadata":{"feature_names":[`...)
	for i, n := range r.FeatureNames {
		if i > 0 {
			b = append(b, ',')
		}
		b = feast.AppendJSONString(b, n)
	}
	b = append(b, ']')
	if withViews {
		b = append(b, `,"feature_view_metadata":[`...)
		for i, v := range r.FeatureViews {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = feast.AppendJSONString(b, v)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

var statusJSON = [...]string{
	abi.FieldInvalid:       `"INVALID"`,
	abi.FieldPresent:       `"PRESENT"`,
	abi.FieldNullValue:     `"NULL_VALUE"`,
	abi.FieldNotFound:      `"NOT_FOUND"`,
	abi.FieldOutsideMaxAge: `"OUTSIDE_MAX_AGE"`,
}

func appendStatus(b []byte, s abi.FieldStatus) []byte {
	if int(s) < len(statusJSON) {
		return append(b, statusJSON[s]...)
	}
	return append(b, `"INVALID"`...)
}
