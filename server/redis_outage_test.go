package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// privateRedis is a redis-server this test owns: its own port and data directory, so
// killing it touches nothing another test (or helper) uses.
type privateRedis struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
}

func (r *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs redis-server in the foreground of a child process. The data directory and
// RDB file name stay the same across restarts, so a restarted server loads what SAVE
// wrote before the kill.
func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "yes", "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
}

func (r *privateRedis) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v to redis-server: %v", sig, err)
	}
}

func (r *privateRedis) kill(t *testing.T) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing redis-server: %v", err)
	}
	_ = r.cmd.Wait()
	r.cmd = nil
}

// ping sends one PING on a fresh connection and reports whether the answer is +PONG
// (a server still loading its RDB answers -LOADING).
func (r *privateRedis) ping() bool {
	c, err := net.DialTimeout("tcp", r.addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// waitReady polls PING until PONG and returns when the server first answered.
func (r *privateRedis) waitReady(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r.ping() {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	t.Fatalf("redis-server on %s did not answer PING within %v; log:\n%s", r.addr(), within, b)
	return time.Time{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// outcome is one /get-online-features request made by the load.
type outcome struct {
	start, end time.Time
	status     int // 0 = transport error
	retryAfter string
	body       string
}

// load runs concurrent /get-online-features requests against url until stop.
type load struct {
	mu       sync.Mutex
	outcomes []outcome
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(url, body string, workers int, timeout time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: timeout}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				o := outcome{start: time.Now()}
				resp, err := client.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					o.body = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status, o.body, o.retryAfter = resp.StatusCode, string(b), resp.Header.Get("Retry-After")
				}
				o.end = time.Now()
				l.mu.Lock()
				l.outcomes = append(l.outcomes, o)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.outcomes...)
}

// waitFor polls the outcomes until cond holds or the time is up.
func (l *load) waitFor(within time.Duration, cond func([]outcome) bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond(l.snapshot()) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond(l.snapshot())
}

func (l *load) finish() []outcome {
	close(l.stop)
	l.wg.Wait()
	return l.snapshot()
}

// countSince counts the requests started after t0 that succeeded (ok) or not.
func countSince(oc []outcome, t0 time.Time, ok bool) int {
	n := 0
	for _, o := range oc {
		if o.start.After(t0) && (o.status == http.StatusOK) == ok {
			n++
		}
	}
	return n
}

// firstOKAfter is when the first request that succeeded after t0 ended.
func firstOKAfter(oc []outcome, t0 time.Time) (time.Time, bool) {
	var first time.Time
	for _, o := range oc {
		if o.status == http.StatusOK && o.end.After(t0) && (first.IsZero() || o.end.Before(first)) {
			first = o.end
		}
	}
	return first, !first.IsZero()
}

// TestRedisOutageRecovery serves /get-online-features from the Wasm Redis plugin under
// concurrent load while its redis-server fails in two ways:
//
//   - killed (SIGKILL): connections are refused;
//   - stalled (SIGSTOP): connections hang, so only deadlines end the reads.
//
// and checks that
//   - every failed request is a 503 with Retry-After and a message that says what is
//     wrong (the backend is unavailable or timed out); no 500, no transport error,
//     nothing slower than the plugin call deadline;
//   - the plugin's crash-loop breaker stays closed (/health is 200): a backend that is
//     down is not a plugin fault, and a breaker left open would keep failing requests
//     after Redis is back;
//   - once Redis is back (restarted on the same port with the same data from its RDB
//     file, or continued), requests succeed again within 2 s of Redis answering PING,
//     with nothing restarted by hand, and keep succeeding.
//
// The 2 s is issue 6's correctness bound, measured from the moment the server answers
// PING to the end of the first successful request after it; it is not a latency claim.
func TestRedisOutageRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills its own redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: scripts/services.sh start installs it")
	}
	rs := &privateRedis{bin: bin, dir: t.TempDir(), port: freePort(t)}
	rs.start(t)
	t.Cleanup(func() { rs.kill(t) })
	rs.waitReady(t, 10*time.Second)

	// The benchmark repo (1,000 entities × 50 features), served from the private Redis.
	const callTimeout = time.Second
	dir := t.TempDir()
	benchRepo(t, dir)
	yaml := "project: " + benchProject + "\nregistry: data/registry.db\nprovider: local\n" +
		"online_store:\n  type: redis\n  connection_string: \"" + rs.addr() + ",db=0\"\n" +
		"  limits:\n    call_timeout: " + callTimeout.String() + "\n" +
		"offline_store: null\nentity_key_serialization_version: 3\n"
	if err := os.WriteFile(filepath.Join(dir, "feature_store.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := openStore(t, dir, time.Now())
	srv := New(fs, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	loadRedisBench(t, srv.Handler())
	rc := redis.NewClient(&redis.Options{Addr: rs.addr()})
	if err := rc.Save(context.Background()).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	rc.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	const bound = 2 * time.Second
	for _, sc := range []struct {
		name    string
		fail    func()
		recover func()
		message string // what every 503's error says
	}{
		{"killed", func() { rs.kill(t) }, func() { rs.start(t) }, "unavailable"},
		{"stalled", func() { rs.signal(t, syscall.SIGSTOP) }, func() { rs.signal(t, syscall.SIGCONT) }, "timed out"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			l := startLoad(ts.URL+"/get-online-features", benchBody(10, 50, 0), 4, callTimeout+10*time.Second)
			t0 := time.Now()
			if !l.waitFor(30*time.Second, func(oc []outcome) bool { return countSince(oc, t0, true) >= 20 }) {
				l.finish()
				t.Fatal("no 20 successful requests before the failure")
			}
			sc.fail()
			failed := time.Now()
			// Enough failures to trip the breaker (5 faults within 10 s by default) if
			// they counted as faults, and at least two call deadlines for a stall.
			if !l.waitFor(30*time.Second, func(oc []outcome) bool {
				return countSince(oc, failed, false) >= 12 && time.Since(failed) > 2*callTimeout
			}) {
				l.finish()
				t.Fatal("no 12 failed requests after the failure")
			}
			if r := do(srv.Handler(), "GET", "/health", ""); r.status != http.StatusOK {
				t.Errorf("/health during the outage = %d %s, want 200: a backend that is down must not trip the plugin's breaker", r.status, r.body)
			}
			sc.recover()
			ready := rs.waitReady(t, 30*time.Second)
			recovered := l.waitFor(bound+2*callTimeout+5*time.Second, func(oc []outcome) bool {
				_, ok := firstOKAfter(oc, ready)
				return ok
			})
			firstOK, _ := firstOKAfter(l.snapshot(), ready)
			if recovered {
				// Keep the load on after recovery: it must stay recovered.
				l.waitFor(5*time.Second, func(oc []outcome) bool { return countSince(oc, firstOK, true) >= 50 })
			}
			all := l.finish()

			var n503, bad503, noRetry, other int
			for i, o := range all {
				if d := o.end.Sub(o.start); d > callTimeout+3*time.Second {
					t.Errorf("request %d took %v (status %d): longer than the %v plugin deadline", i, d, o.status, callTimeout)
				}
				switch o.status {
				case http.StatusOK:
					if !strings.Contains(o.body, "PRESENT") {
						t.Errorf("request %d: 200 without stored values: %.300s", i, o.body)
					}
				case http.StatusServiceUnavailable:
					n503++
					var e struct {
						Error      string `json:"error"`
						StatusCode int    `json:"status_code"`
					}
					if err := json.Unmarshal([]byte(o.body), &e); err != nil || e.StatusCode != 503 || !strings.Contains(e.Error, sc.message) {
						if bad503++; bad503 <= 3 {
							t.Errorf("request %d: 503 body %q, want a JSON error saying %q", i, o.body, sc.message)
						}
					}
					if o.retryAfter == "" {
						noRetry++
					}
				default:
					if other++; other <= 3 {
						t.Errorf("request %d at %v after the failure: status %d %.300q, want 200 or 503",
							i, o.start.Sub(failed).Round(time.Millisecond), o.status, o.body)
					}
				}
			}
			if bad503+other > 3 {
				t.Errorf("%d bad 503s and %d other failures in all", bad503, other)
			}
			if noRetry > 0 {
				t.Errorf("%d of %d 503s without a Retry-After header", noRetry, n503)
			}
			if !recovered {
				t.Fatalf("no successful request after redis answered PING again (%d requests, %d 503s)", len(all), n503)
			}
			took := firstOK.Sub(ready)
			t.Logf("%d requests, %d 503s; first 200 %v after redis answered PING", len(all), n503, took.Round(time.Millisecond))
			if took > bound {
				t.Errorf("first success %v after redis came back, want within %v", took, bound)
			}
			// After the first success every request must succeed: no lingering broken
			// connections, no breaker cooling down.
			late := 0
			for _, o := range all {
				if o.start.After(firstOK) && o.status != http.StatusOK {
					late++
				}
			}
			if late > 0 {
				t.Errorf("%d requests started after the first success failed", late)
			}
			if n := countSince(all, firstOK, true); n < 10 {
				t.Errorf("only %d successful requests after recovery", n)
			}
			if r := do(srv.Handler(), "GET", "/health", ""); r.status != http.StatusOK {
				t.Errorf("/health after recovery = %d %s", r.status, r.body)
			}
		})
	}
}
