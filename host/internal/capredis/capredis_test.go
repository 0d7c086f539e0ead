package capredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/internal/caps"
	"github.com/redis/go-redis/v9"
)

// serverURL returns LARDER_REDIS_URL or skips: `make test` (scripts/test.sh) always
// starts redis-server and sets it, so these tests skip only when run by hand without it.
func serverURL(t testing.TB, env string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		t.Skipf("%s is not set: run scripts/services.sh start (make test does) to test against a real Redis", env)
	}
	return u
}

// namespace is a key prefix private to one test run, so tests sharing the server never
// see each other's keys.
func namespace(t testing.TB) string {
	return fmt.Sprintf("larder-test:%s:%d:", t.Name(), time.Now().UnixNano())
}

func open(t testing.TB, o Options) (*Provider, caps.Session) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

func cmd(c abi.RedisCmd, args ...any) abi.RedisCommand {
	rc := abi.RedisCommand{Cmd: c}
	for _, a := range args {
		switch a := a.(type) {
		case string:
			rc.Args = append(rc.Args, []byte(a))
		case []byte:
			rc.Args = append(rc.Args, a)
		case int:
			rc.Args = append(rc.Args, abi.RedisInt(int64(a)))
		case int64:
			rc.Args = append(rc.Args, abi.RedisInt(a))
		default:
			panic(fmt.Sprintf("cmd arg %T", a))
		}
	}
	return rc
}

func call(t testing.TB, s caps.Session, cmds ...abi.RedisCommand) ([]abi.RedisReply, abi.Status, string) {
	t.Helper()
	resp, st := s.Call(context.Background(), abi.RedisOpPipeline, caps.PhaseServe, abi.AppendRedisRequest(nil, cmds))
	if st != abi.StatusOK {
		return nil, st, string(resp)
	}
	replies, err := abi.DecodeRedisResponse(resp, len(cmds))
	if err != nil {
		t.Fatalf("decoding the response: %v", err)
	}
	return replies, st, ""
}

func mustCall(t testing.TB, s caps.Session, cmds ...abi.RedisCommand) []abi.RedisReply {
	t.Helper()
	r, st, msg := call(t, s, cmds...)
	if st != abi.StatusOK {
		t.Fatalf("pipeline failed: %s: %s", st, msg)
	}
	return r
}

func bulks(r abi.RedisReply) []string {
	var out []string
	for _, e := range r.Elems {
		switch e.Kind {
		case abi.RedisNil:
			out = append(out, "<nil>")
		case abi.RedisBulk:
			out = append(out, string(e.Bytes))
		default:
			out = append(out, fmt.Sprintf("<%d:%d>", e.Kind, e.Int))
		}
	}
	return out
}

func TestPipelineCommands(t *testing.T) {
	url := serverURL(t, "LARDER_REDIS_URL")
	ns := namespace(t)
	_, s := open(t, Options{Connection: url, KeyPrefix: ns})
	direct := redis.NewClient(mustParse(t, url))
	defer direct.Close()

	key := "ek\x00\xff*proj"
	r := mustCall(t, s,
		cmd(abi.RedisHSET, key, "f1", "v1", "f2", []byte{}, "_ts:v", "\x08\x01"),
		cmd(abi.RedisHMGET, key, "f1", "missing", "f2", "_ts:v"),
		cmd(abi.RedisHMGET, "no such key", "f1"),
		cmd(abi.RedisEXISTS, key),
		cmd(abi.RedisHDEL, key, "f2", "nope"),
		cmd(abi.RedisHGETALL, key),
		cmd(abi.RedisEXPIRE, key, 100),
		cmd(abi.RedisEXISTS, "no such key"),
	)
	if r[0].Kind != abi.RedisInt64 || r[0].Int != 3 {
		t.Errorf("HSET reply = %+v, want INT 3", r[0])
	}
	if got := strings.Join(bulks(r[1]), "|"); got != "v1|<nil>||\x08\x01" {
		t.Errorf("HMGET = %q", got)
	}
	if got := strings.Join(bulks(r[2]), "|"); got != "<nil>" {
		t.Errorf("HMGET of a missing key = %q", got)
	}
	if r[3].Int != 1 || r[4].Int != 1 || r[6].Int != 1 || r[7].Int != 0 {
		t.Errorf("EXISTS/HDEL/EXPIRE/EXISTS = %d %d %d %d", r[3].Int, r[4].Int, r[6].Int, r[7].Int)
	}
	all := map[string]string{}
	for i := 0; i+1 < len(r[5].Elems); i += 2 {
		all[string(r[5].Elems[i].Bytes)] = string(r[5].Elems[i+1].Bytes)
	}
	if len(all) != 2 || all["f1"] != "v1" || all["_ts:v"] != "\x08\x01" {
		t.Errorf("HGETALL = %q", all)
	}
	// The namespace is applied by the host: the real key carries it.
	ctx := context.Background()
	if n, err := direct.Exists(ctx, ns+key).Result(); err != nil || n != 1 {
		t.Fatalf("key %q not stored under the namespace: %d %v", ns+key, n, err)
	}
	if ttl := direct.TTL(ctx, ns+key).Val(); ttl <= 0 || ttl > 100*time.Second {
		t.Errorf("TTL after EXPIRE 100 = %v", ttl)
	}
	at := time.Now().Add(time.Hour).UnixMilli()
	r = mustCall(t, s, cmd(abi.RedisPEXPIREAT, key, at), cmd(abi.RedisDEL, key), cmd(abi.RedisDEL, key))
	if r[0].Int != 1 || r[1].Int != 1 || r[2].Int != 0 {
		t.Errorf("PEXPIREAT/DEL/DEL = %+v", r)
	}
}

func mustParse(t testing.TB, url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestPerCommandErrorReply(t *testing.T) {
	url := serverURL(t, "LARDER_REDIS_URL")
	ns := namespace(t)
	_, s := open(t, Options{Connection: url, KeyPrefix: ns})
	direct := redis.NewClient(mustParse(t, url))
	defer direct.Close()
	ctx := context.Background()
	if err := direct.Set(ctx, ns+"str", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	r := mustCall(t, s, cmd(abi.RedisHMGET, "str", "f"), cmd(abi.RedisEXISTS, "str"), cmd(abi.RedisDEL, "str"))
	if r[0].Kind != abi.RedisError || !strings.HasPrefix(string(r[0].Bytes), "WRONGTYPE") {
		t.Errorf("HMGET on a string = %+v, want a WRONGTYPE error reply", r[0])
	}
	if r[1].Int != 1 || r[2].Int != 1 {
		t.Errorf("the commands after the failing one: %+v", r[1:])
	}
}

func TestScan(t *testing.T) {
	url := serverURL(t, "LARDER_REDIS_URL")
	// A database of its own: SCAN walks every key of the database, and the conformance
	// suite leaves 100k+ keys in database 0.
	if o, err := redis.ParseURL(url); err == nil {
		url = fmt.Sprintf("redis://%s/%d", o.Addr, 5)
	}
	ns := namespace(t)
	_, s := open(t, Options{Connection: url, KeyPrefix: ns})
	// Binary prefixes with glob characters must match literally.
	var cmds []abi.RedisCommand
	want := map[string]bool{}
	for i := 0; i < 150; i++ {
		k := fmt.Sprintf("\x01*[?%03d]proj", i)
		cmds = append(cmds, cmd(abi.RedisHSET, k, "f", "v"))
		want[k] = true
	}
	cmds = append(cmds,
		cmd(abi.RedisHSET, "\x01*[?999]other", "f", "v"), // wrong suffix
		cmd(abi.RedisHSET, "\x01x[?000]proj", "f", "v"),  // '*' would match 'x' unescaped
		cmd(abi.RedisHSET, "\x01", "f", "v"))             // shorter than prefix+suffix
	mustCall(t, s, cmds...)

	got := map[string]bool{}
	cursor := int64(0)
	for rounds := 0; ; rounds++ {
		r := mustCall(t, s, cmd(abi.RedisSCAN, cursor, 50, "\x01*[?", "proj"))[0]
		if r.Kind != abi.RedisArray || len(r.Elems) == 0 || r.Elems[0].Kind != abi.RedisInt64 {
			t.Fatalf("SCAN reply %+v", r)
		}
		for _, e := range r.Elems[1:] {
			if got[string(e.Bytes)] {
				continue // SCAN may return a key twice
			}
			got[string(e.Bytes)] = true
		}
		cursor = r.Elems[0].Int
		if cursor == 0 {
			break
		}
		// Other packages' tests share the server and may have left 100k+ keys, so the
		// bound only guards against a cursor that never returns to 0.
		if rounds > 1_000_000 {
			t.Fatal("SCAN never finished")
		}
	}
	if len(got) != len(want) {
		t.Fatalf("SCAN found %d keys, want %d", len(got), len(want))
	}
	for k := range got {
		if !want[k] {
			t.Errorf("SCAN returned %q", k)
		}
	}
}

func TestRefusals(t *testing.T) {
	url := serverURL(t, "LARDER_REDIS_URL")
	ns := namespace(t)
	_, s := open(t, Options{Connection: url, KeyPrefix: ns, Commands: []string{"HMGET", "scan", "DEL"},
		MaxKeyBytes: 16, MaxArgBytes: 32, MaxCommands: 4, MaxScanCount: 100, MaxResponseBytes: 16})
	big := strings.Repeat("x", 33)
	cases := []struct {
		name string
		cmds []abi.RedisCommand
		want abi.Status
		msg  string
	}{
		{"not allowed", []abi.RedisCommand{cmd(abi.RedisHSET, "k", "f", "v")}, abi.StatusPermissionDenied, "HSET is not allowed"},
		{"key too long", []abi.RedisCommand{cmd(abi.RedisDEL, strings.Repeat("k", 17))}, abi.StatusBadArgument, "16-byte limit"},
		{"field too long", []abi.RedisCommand{cmd(abi.RedisHMGET, "k", big)}, abi.StatusBadArgument, "32-byte limit"},
		{"too many", []abi.RedisCommand{cmd(abi.RedisDEL, "a"), cmd(abi.RedisDEL, "b"), cmd(abi.RedisDEL, "c"), cmd(abi.RedisDEL, "d"), cmd(abi.RedisDEL, "e")}, abi.StatusResourceExhausted, "limit of 4"},
		{"scan mixed", []abi.RedisCommand{cmd(abi.RedisSCAN, 0, 10, "", ""), cmd(abi.RedisDEL, "a")}, abi.StatusBadArgument, "only SCAN"},
		{"scan count", []abi.RedisCommand{cmd(abi.RedisSCAN, 0, 1000, "", "")}, abi.StatusBadArgument, "outside 1..100"},
		{"response too large", []abi.RedisCommand{cmd(abi.RedisHMGET, "k", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")}, abi.StatusResourceExhausted, "16-byte limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, st, msg := call(t, s, c.cmds...)
			if st != c.want || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %s %q, want %s containing %q", st, msg, c.want, c.msg)
			}
		})
	}
	if resp, st := s.Call(context.Background(), 2, caps.PhaseServe, nil); st != abi.StatusBadArgument {
		t.Fatalf("op 2: %s %s", st, resp)
	}
	if resp, st := s.Call(context.Background(), abi.RedisOpPipeline, caps.PhaseServe, []byte("junk")); st != abi.StatusSerializationFailure {
		t.Fatalf("junk request: %s %s", st, resp)
	}
}

func TestServerDownIsUnavailable(t *testing.T) {
	// A port nothing listens on: take one, then release it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, s := open(t, Options{Connection: addr + ",password=hunter2"})
	_, st, msg := call(t, s, cmd(abi.RedisHMGET, "k", "f"))
	if st != abi.StatusUnavailable || !strings.Contains(msg, addr) {
		t.Fatalf("got %s %q, want UNAVAILABLE naming %s", st, msg, addr)
	}
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("the password leaked into %q", msg)
	}
	// A deadline shorter than any connect attempt is DEADLINE_EXCEEDED or UNAVAILABLE,
	// never a hang.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	if _, st := s.Call(ctx, abi.RedisOpPipeline, caps.PhaseServe, abi.AppendRedisRequest(nil, []abi.RedisCommand{cmd(abi.RedisDEL, "k")})); st != abi.StatusDeadlineExceeded && st != abi.StatusUnavailable {
		t.Fatalf("expired context: %s", st)
	}
}

func TestClusterAndSentinel(t *testing.T) {
	for _, c := range []struct {
		name, env, typ string
	}{
		{"cluster", "LARDER_REDIS_CLUSTER_URL", TypeCluster},
		{"sentinel", "LARDER_REDIS_SENTINEL_ADDR", TypeSentinel},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := serverURL(t, c.env)
			ns := namespace(t)
			_, s := open(t, Options{Connection: conn, Type: c.typ, KeyPrefix: ns})
			var cmds []abi.RedisCommand
			for i := 0; i < 40; i++ { // keys spread over many slots
				cmds = append(cmds, cmd(abi.RedisHSET, fmt.Sprintf("k%d/p", i), "f", fmt.Sprint(i)))
			}
			mustCall(t, s, cmds...)
			cmds = cmds[:0]
			for i := 0; i < 40; i++ {
				cmds = append(cmds, cmd(abi.RedisHMGET, fmt.Sprintf("k%d/p", i), "f"))
			}
			for i, r := range mustCall(t, s, cmds...) {
				if got := bulks(r); len(got) != 1 || got[0] != fmt.Sprint(i) {
					t.Fatalf("key %d: %q", i, got)
				}
			}
			n, cursor := 0, int64(0)
			for {
				r := mustCall(t, s, cmd(abi.RedisSCAN, cursor, 100, "k", "/p"))[0]
				n += len(r.Elems) - 1
				if cursor = r.Elems[0].Int; cursor == 0 {
					break
				}
			}
			if n < 40 {
				t.Fatalf("SCAN found %d of 40 keys", n)
			}
			cmds = cmds[:0]
			for i := 0; i < 40; i++ {
				cmds = append(cmds, cmd(abi.RedisDEL, fmt.Sprintf("k%d/p", i)))
			}
			mustCall(t, s, cmds...)
		})
	}
}

func TestParseConnection(t *testing.T) {
	cases := []struct {
		conn, typ string
		want      string // typ addrs db user tls master display
		err       string
	}{
		{conn: "localhost:6379", want: "redis [localhost:6379] 0  false  localhost:6379"},
		{conn: "redis1:6380,db=3,ssl=true,password=secret", want: "redis [redis1:6380] 3  true  redis1:6380,db=3,ssl=true,password=xxxxx"},
		{conn: "a:1,b:2,c:3", typ: TypeCluster, want: "redis_cluster [a:1 b:2 c:3] 0  false  a:1,b:2,c:3"},
		{conn: "s1:26379,s2:26379", typ: TypeSentinel, want: "redis_sentinel [s1:26379 s2:26379] 0  false mymaster s1:26379,s2:26379"},
		{conn: "host", want: "redis [host:6379] 0  false  host"},
		{conn: "redis://u:pw@h:7/2", want: "redis [h:7] 2 u false  redis://u:xxxxx@h:7/2"},
		{conn: "rediss://:pw@h", want: "redis [h:6379] 0  true  rediss://:xxxxx@h"},
		{conn: "redis://h:1?addr=h:2&master_name=m", typ: TypeSentinel, want: "redis_sentinel [h:1 h:2] 0  false m redis://h:1?addr=h:2&master_name=m"},
		{conn: "", err: "empty"},
		{conn: "a:1,b:2", err: "set redis_type"},
		{conn: "a:1,db=1", typ: TypeCluster, err: "only database 0"},
		{conn: "a:1,timeout=3", err: `unsupported option "timeout"`},
		{conn: "a:x", err: "not a number"},
		{conn: "http://h", err: "unknown scheme"},
		{conn: "a:1", typ: "memcached", err: "unknown redis_type"},
		{conn: "db=1,password=pw", err: "names no host"},
	}
	for _, c := range cases {
		e, err := parseConnection(c.conn, c.typ, "")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.conn, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "pw") && !strings.Contains(c.conn, "pw@") {
				t.Errorf("%q: password in %v", c.conn, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.conn, err)
			continue
		}
		rs := strings.Replace(e.display, "%3A", ":", -1)
		got := fmt.Sprintf("%s %v %d %s %v %s %s", e.typ, e.addrs, e.db, e.username, e.tls != nil, e.master, rs)
		if got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.conn, got, c.want)
		}
	}
}

func TestNewRejectsUnknownCommand(t *testing.T) {
	_, err := New(Options{Connection: "localhost:1", Commands: []string{"EVAL"}})
	if err == nil || !strings.Contains(err.Error(), `"EVAL"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestRepeatedArguments: the pipeline reuses the previous command's boxed argument when
// the same place holds the same bytes; a different, moved, extra or other-command argument
// must still reach Redis as itself.
func TestRepeatedArguments(t *testing.T) {
	url := serverURL(t, "LARDER_REDIS_URL")
	_, s := open(t, Options{Connection: url, KeyPrefix: namespace(t)})
	mustCall(t, s,
		cmd(abi.RedisHSET, "k1", "a", "1a", "b", "1b", "c", "1c"),
		cmd(abi.RedisHSET, "k2", "a", "2a", "b", "2b", "x", "2x"),
	)
	for _, tc := range []struct {
		name string
		cmds []abi.RedisCommand
		want []string
	}{
		{"same fields", []abi.RedisCommand{cmd(abi.RedisHMGET, "k1", "a", "b", "c"), cmd(abi.RedisHMGET, "k2", "a", "b", "c")},
			[]string{"1a|1b|1c", "2a|2b|<nil>"}},
		{"one differs", []abi.RedisCommand{cmd(abi.RedisHMGET, "k1", "a", "b"), cmd(abi.RedisHMGET, "k2", "a", "x")},
			[]string{"1a|1b", "2a|2x"}},
		{"swapped", []abi.RedisCommand{cmd(abi.RedisHMGET, "k1", "a", "b"), cmd(abi.RedisHMGET, "k2", "b", "a")},
			[]string{"1a|1b", "2b|2a"}},
		{"longer then shorter", []abi.RedisCommand{cmd(abi.RedisHMGET, "k1", "a"), cmd(abi.RedisHMGET, "k2", "a", "x"), cmd(abi.RedisHMGET, "k1", "c")},
			[]string{"1a", "2a|2x", "1c"}},
		{"same bytes, other command", []abi.RedisCommand{cmd(abi.RedisHMGET, "k1", "a", "b"), cmd(abi.RedisHDEL, "k2", "a", "b"), cmd(abi.RedisHMGET, "k2", "a", "b", "x")},
			[]string{"1a|1b", "2", "<nil>|<nil>|2x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCall(t, s, tc.cmds...)
			for i, want := range tc.want {
				got := strings.Join(bulks(r[i]), "|")
				if r[i].Kind == abi.RedisInt64 {
					got = fmt.Sprint(r[i].Int)
				}
				if got != want {
					t.Errorf("reply %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func BenchmarkHMGET(b *testing.B) {
	url := serverURL(b, "LARDER_REDIS_URL")
	_, s := open(b, Options{Connection: url, KeyPrefix: namespace(b)})
	var fields []any
	for i := 0; i < 50; i++ {
		fields = append(fields, fmt.Sprintf("f%d", i))
	}
	var set, get []abi.RedisCommand
	for k := 0; k < 100; k++ {
		args := []any{fmt.Sprint(k)}
		for _, f := range fields {
			args = append(args, f, "value-bytes")
		}
		set = append(set, cmd(abi.RedisHSET, args...))
		get = append(get, cmd(abi.RedisHMGET, append([]any{fmt.Sprint(k)}, fields...)...))
	}
	mustCall(b, s, set...)
	req := abi.AppendRedisRequest(nil, get)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, st := s.Call(context.Background(), abi.RedisOpPipeline, caps.PhaseServe, req); st != abi.StatusOK {
			b.Fatal(st)
		}
	}
}

// TestServerStalledIsDeadlineExceeded: a server that accepts connections and never
// answers (a stopped or partitioned Redis) ends the call at its deadline with
// DEADLINE_EXCEEDED, so the plugin can tell "too slow" from "refused".
func TestServerStalledIsDeadlineExceeded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }() // read nothing, answer nothing
		}
	}()
	_, s := open(t, Options{Connection: l.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, st := s.Call(ctx, abi.RedisOpPipeline, caps.PhaseServe, abi.AppendRedisRequest(nil, []abi.RedisCommand{cmd(abi.RedisHMGET, "k", "f")}))
	if st != abi.StatusDeadlineExceeded {
		t.Errorf("stalled server: %s %s, want DEADLINE_EXCEEDED", st, resp)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the call took %v with a 200ms deadline", d)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		st         abi.Status
		perCommand bool
	}{
		{"context deadline", context.DeadlineExceeded, abi.StatusDeadlineExceeded, false},
		{"socket read deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, abi.StatusDeadlineExceeded, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, abi.StatusUnavailable, false},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, abi.StatusUnavailable, false},
		{"loading", redisError("LOADING Redis is loading the dataset in memory"), abi.StatusUnavailable, false},
		{"noauth", redisError("NOAUTH Authentication required."), abi.StatusPermissionDenied, false},
		{"wrongtype", redisError("WRONGTYPE Operation against a key holding the wrong kind of value"), abi.StatusOK, true},
	} {
		st, per := classify(tc.err)
		if st != tc.st || per != tc.perCommand {
			t.Errorf("%s: classify = %s, %v; want %s, %v", tc.name, st, per, tc.st, tc.perCommand)
		}
	}
}
