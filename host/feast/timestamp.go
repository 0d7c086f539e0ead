package feast

import (
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Timestamp is google.protobuf.Timestamp: seconds since the Unix epoch and a
// non-negative nanosecond part. The zero Timestamp is the epoch, which Feast also uses
// for "no timestamp".
type Timestamp struct {
	Seconds int64
	Nanos   int32
}

// TimestampOf converts a time.Time. The zero time.Time maps to the zero Timestamp so
// that "unset" survives the round trip.
func TimestampOf(t time.Time) Timestamp {
	if t.IsZero() {
		return Timestamp{}
	}
	return Timestamp{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())}
}

// Time returns ts as a UTC time.Time (nanos outside [0, 1e9) are carried into seconds).
func (ts Timestamp) Time() time.Time {
	return time.Unix(ts.Seconds, int64(ts.Nanos)).UTC()
}

// IsZero reports whether ts is the epoch.
func (ts Timestamp) IsZero() bool { return ts.Seconds == 0 && ts.Nanos == 0 }

// AppendTimestamp appends ts serialized as a Timestamp message body (proto3: zero fields
// are omitted, so the epoch is zero bytes).
func AppendTimestamp(dst []byte, ts Timestamp) []byte {
	if ts.Seconds != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(int64(ts.Nanos)))
	}
	return dst
}

// SizeTimestamp is the length of AppendTimestamp's output.
func SizeTimestamp(ts Timestamp) int {
	n := 0
	if ts.Seconds != 0 {
		n += 1 + protowire.SizeVarint(uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(ts.Nanos)))
	}
	return n
}

// MarshalTimestamp serializes ts as a google.protobuf.Timestamp.
func MarshalTimestamp(ts Timestamp) []byte {
	return AppendTimestamp(make([]byte, 0, SizeTimestamp(ts)), ts)
}

// UnmarshalTimestamp parses a serialized google.protobuf.Timestamp. Unknown fields are
// skipped; values are not range-checked (protobuf does not either).
func UnmarshalTimestamp(b []byte) (Timestamp, error) {
	var ts Timestamp
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Timestamp{}, fmt.Errorf("decoding Timestamp: %w", protowire.ParseError(n))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return Timestamp{}, fmt.Errorf("decoding Timestamp field %d: %w", num, protowire.ParseError(m))
		}
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			x, _ := protowire.ConsumeVarint(b)
			if num == 1 {
				ts.Seconds = int64(x)
			} else {
				ts.Nanos = int32(x)
			}
		}
		b = b[m:]
	}
	return ts, nil
}

// FormatTimestamp renders ts as Feast's HTTP server does: RFC 3339 in UTC with a "Z",
// no fraction when nanos is 0, else the shortest of 3, 6 or 9 digits that is exact.
// Years before 1000 are not zero-padded, as Python's strftime on glibc does; years
// outside 1..9999 (where Python raises) are rendered rather than failing.
func FormatTimestamp(ts Timestamp) string {
	return string(AppendTimestampText(nil, ts))
}

// AppendTimestampText appends FormatTimestamp(ts) to dst.
func AppendTimestampText(dst []byte, ts Timestamp) []byte {
	if ts.IsZero() {
		return append(dst, "1970-01-01T00:00:00Z"...)
	}
	t := ts.Time()
	nanos := t.Nanosecond()
	dst = strconv.AppendInt(dst, int64(t.Year()), 10)
	dst = append(dst, '-')
	dst = append2(dst, int(t.Month()))
	dst = append(dst, '-')
	dst = append2(dst, t.Day())
	dst = append(dst, 'T')
	dst = append2(dst, t.Hour())
	dst = append(dst, ':')
	dst = append2(dst, t.Minute())
	dst = append(dst, ':')
	dst = append2(dst, t.Second())
	switch {
	case nanos == 0:
	case nanos%1_000_000 == 0:
		dst = appendFrac(dst, nanos/1_000_000, 3)
	case nanos%1_000 == 0:
		dst = appendFrac(dst, nanos/1_000, 6)
	default:
		dst = appendFrac(dst, nanos, 9)
	}
	return append(dst, 'Z')
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

func appendFrac(b []byte, v, digits int) []byte {
	b = append(b, '.')
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:digits]...)
}
