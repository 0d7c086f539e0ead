package yamlpos

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	ok := map[string]time.Duration{
		"0": 0, "86400": 24 * time.Hour, "86400s": 24 * time.Hour, "1d": 24 * time.Hour, "2h": 2 * time.Hour,
		"1h30m": 90 * time.Minute, "1w": 7 * 24 * time.Hour, "500ms": 500 * time.Millisecond, "1.5h": 90 * time.Minute,
	}
	for in, want := range ok {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1 day", "1y", "h", "1.2.3s", "99999999999999999999d", "9223372037s"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"a: 1\nb:\n  c: 2\n d: 3\n":                  4, // yaml.v3 alone says line 2
		"a: [1,\n  2]\nb: 'open\n":                   3, // a flow list spread over lines is not blamed
		"entities:\n  - name: a\n   value_type: x\n": 3,
		"a: 1\n\tb: 2\n":                             2,
	}
	for in, want := range cases {
		_, err := ParseDocuments("f.yaml", []byte(in))
		e, ok := err.(*Error)
		if !ok || e.Line != want {
			t.Errorf("%q: error %v, want line %d", in, err, want)
		}
	}
}
