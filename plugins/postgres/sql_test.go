package main

import (
	"strings"
	"testing"
)

func TestStringVal(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte("\x12\x05hello"), "hello", true},
		{[]byte("\x12\x00"), "", true},
		{append([]byte("\x12\x80\x01"), []byte(strings.Repeat("x", 128))...), strings.Repeat("x", 128), true},
		{[]byte("\x12\x05hell"), "", false}, // truncated
		{[]byte("\x20\x05"), "", false},     // int64_val
		{[]byte("\x12\x01ab"), "", false},   // trailing bytes: another field follows
		{nil, "", false},
	}
	for _, c := range cases {
		got, ok := stringVal(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("stringVal(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSQLShapes(t *testing.T) {
	q := selectSQL(`p_v"x`, 2, 3)
	for _, want := range []string{"(0, $1::bytea),(1, $2::bytea)", "(0, $3::text),(1, $4::text),(2, $5::text)", `LEFT JOIN "p_v""x" AS t`, "ORDER BY pos"} {
		if !strings.Contains(q, want) {
			t.Errorf("selectSQL lacks %q:\n%s", want, q)
		}
	}
	if !strings.Contains(dropTableSQL("p_v"), `DROP INDEX IF EXISTS "p_v_ek"`) {
		t.Error("drop does not drop Feast's index")
	}
}
