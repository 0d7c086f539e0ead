package host

import (
	"testing"

	"github.com/larder-dev/larder/abi"
)

// FuzzDecodeRead feeds arbitrary plugin output to the read-response decoder: it must
// accept or reject it with an error, never panic, and an accepted response must fill
// exactly the requested values.
func FuzzDecodeRead(f *testing.F) {
	req := ReadRequest{Project: "p", Views: []ReadView{
		{Name: "a", Features: []string{"x", "y"}, EntityKeys: [][]byte{{1}, {2}}},
		{Name: "b", Features: []string{"z"}, EntityKeys: [][]byte{{3}}},
	}}
	const want = 5
	good := func() []byte {
		v := abi.NewColumnBuilder(abi.ColValue, abi.TypeBytes, want)
		ts := abi.NewColumnBuilder(abi.ColEventTS, abi.TypeUnixTimestamp, want)
		st := abi.NewColumnBuilder(abi.ColStatus, abi.TypeStatus, want)
		for i := 0; i < want; i++ {
			if i%2 == 0 {
				v.AppendBytes([]byte{byte(i)})
				ts.AppendTimestamp(int64(i))
				st.AppendStatus(abi.FieldPresent)
			} else {
				v.AppendNull()
				ts.AppendNull()
				st.AppendStatus(abi.FieldNotFound)
			}
		}
		b, _ := (&abi.Batch{Rows: want, Columns: []abi.Column{v.Column(), ts.Column(), st.Column()}}).Encode(nil)
		return b
	}()
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, out []byte) {
		res := &ReadResult{Views: make([][]FeatureValue, len(req.Views))}
		if err := decodeRead(out, req, want, res); err != nil {
			return
		}
		if len(res.Views[0]) != 4 || len(res.Views[1]) != 1 {
			t.Fatalf("accepted response filled %d and %d values", len(res.Views[0]), len(res.Views[1]))
		}
		for _, vs := range res.Views {
			for _, v := range vs {
				if v.Status != abi.FieldPresent && v.Status != abi.FieldNotFound {
					t.Fatalf("status %v accepted", v.Status)
				}
			}
		}
	})
}
