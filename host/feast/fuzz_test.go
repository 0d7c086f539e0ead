package feast

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Decoders of untrusted bytes: stored Values and entity keys come from online stores and
// plugins, JSON from HTTP clients. Each target checks "no panic" plus a round-trip
// property. Run one with e.g. `go test -fuzz=FuzzUnmarshalValue -fuzztime=30s ./host/feast`.

func FuzzUnmarshalValue(f *testing.F) {
	for _, v := range loadVectors(f).Values {
		f.Add(mustHex(f, v.Hex))
	}
	f.Add([]byte{0x72, 0x05, 0x08, 0x01, 0x0a, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := UnmarshalValue(in)
		if err != nil {
			return
		}
		b1, err := MarshalValue(v)
		if err != nil {
			t.Fatalf("decoded Value does not re-encode: %v", err)
		}
		v2, err := UnmarshalValue(b1)
		if err != nil {
			t.Fatalf("re-encoded Value does not decode: %v (%x)", err, b1)
		}
		b2, err := MarshalValue(v2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable: %x vs %x (%v)", b1, b2, err)
		}
		if js := AppendValueJSON(nil, v); !json.Valid(js) {
			t.Fatalf("invalid JSON rendering %q", js)
		}
	})
}

func FuzzDeserializeEntityKey(f *testing.F) {
	for _, k := range loadVectors(f).EntityKeys {
		f.Add(mustHex(f, k.V3))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ek, err := DeserializeEntityKey(in)
		if err != nil {
			return
		}
		out, err := SerializeEntityKey(ek.JoinKeys, ek.Values, 3)
		if err != nil {
			return // e.g. duplicate join keys: decodable, not encodable
		}
		back, err := DeserializeEntityKey(out)
		if err != nil {
			t.Fatalf("re-serialized key does not decode: %v", err)
		}
		again, _ := SerializeEntityKey(back.JoinKeys, back.Values, 3)
		if !bytes.Equal(out, again) {
			t.Fatalf("not stable: %x vs %x", out, again)
		}
	})
}

func FuzzDeserializeEntityKeyV2(f *testing.F) {
	for _, k := range loadVectors(f).EntityKeys {
		if len(k.JoinKeys) > 0 {
			f.Add(mustHex(f, k.V2), k.JoinKeys[0])
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, key string) {
		ek, err := DeserializeEntityKeyV2(in, []string{key}, 2)
		if err != nil {
			return
		}
		if _, err := SerializeEntityKey(ek.JoinKeys, ek.Values, 2); err != nil {
			t.Fatalf("decoded v2 key does not re-encode: %v", err)
		}
	})
}

func FuzzUnmarshalEntityKey(f *testing.F) {
	f.Add([]byte("\x0a\x09driver_id\x12\x03\x20\xe9\x07"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ek, err := UnmarshalEntityKey(in)
		if err != nil {
			return
		}
		b, err := MarshalEntityKey(ek)
		if err != nil {
			t.Fatalf("decoded EntityKey does not re-encode: %v", err)
		}
		back, err := UnmarshalEntityKey(b)
		if err != nil || len(back.JoinKeys) != len(ek.JoinKeys) || len(back.Values) != len(ek.Values) {
			t.Fatalf("round trip: %+v vs %+v (%v)", back, ek, err)
		}
	})
}

func FuzzUnmarshalTimestamp(f *testing.F) {
	for _, ts := range loadVectors(f).Timestamps {
		f.Add(mustHex(f, ts.ProtoHex))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := UnmarshalTimestamp(in)
		if err != nil {
			return
		}
		back, err := UnmarshalTimestamp(MarshalTimestamp(ts))
		if err != nil || back != ts {
			t.Fatalf("round trip %+v → %+v (%v)", ts, back, err)
		}
		_ = FormatTimestamp(ts)
	})
}

func FuzzValueFromJSON(f *testing.F) {
	for _, c := range loadVectors(f).Coercions {
		typ, _ := ParseValueType(c.Type)
		f.Add([]byte(c.JSON), int32(typ))
	}
	f.Fuzz(func(t *testing.T, in []byte, typ int32) {
		v, err := ValueFromJSON(in, ValueType(typ))
		if err != nil {
			return
		}
		b, err := MarshalValue(v)
		if err != nil {
			t.Fatalf("coerced Value does not encode: %v", err)
		}
		back, err := UnmarshalValue(b)
		if err != nil {
			t.Fatalf("coerced Value does not decode: %v", err)
		}
		if back.Type != v.Type && !(v.Type == TypeInvalid && back.Type == TypeInvalid) {
			t.Fatalf("type changed %v → %v", v.Type, back.Type)
		}
	})
}
