// Command larder-bench is benchmark tooling, never shipped: scripts/bench-redis.sh runs it.
//
//	larder-bench serve-native -C REPO --port PORT --redis HOST:PORT [--db N]
//	    serves the repo like `larder serve`, but reads Redis with go-redis in the host
//	    (host/nativestore.Redis) instead of the Wasm plugin: the "native" column.
//	larder-bench load --target NAME=URL... --case NAME=BODYFILE... [flags]
//	    measures each target on each case, targets interleaved case by case so that
//	    the machine's load affects them alike, and prints a Markdown table.
//
// The load generator is open-loop (requests are sent on a fixed schedule whatever the
// server's latency; latency is measured from the scheduled time, so a server that
// falls behind is charged for the queue it causes). Debian has wrk but not wrk2, and
// wrk's closed loop cannot give a latency at a fixed rate.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/nativestore"
	"github.com/larder-dev/larder/server"
	"github.com/redis/go-redis/v9"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: larder-bench serve-native|load [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve-native":
		err = serveNative(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want serve-native or load)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "larder-bench:", err)
		os.Exit(1)
	}
}

func serveNative(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("serve-native", flag.ContinueOnError)
	repo := fl.String("C", ".", "feature repo `DIR`")
	port := fl.Int("port", 6567, "`PORT` to listen on (127.0.0.1)")
	addr := fl.String("redis", "127.0.0.1:6379", "Redis `HOST:PORT`")
	db := fl.Int("db", 0, "Redis database")
	if err := fl.Parse(args); err != nil {
		return err
	}
	client := redis.NewClient(&redis.Options{Addr: *addr, DB: *db, DisableIdentity: true})
	defer client.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fs, err := host.Open(ctx, *repo, host.OpenOptions{Logger: log, OnlineStore: nativestore.NewRedis(client)})
	if err != nil {
		return err
	}
	defer fs.Close(context.WithoutCancel(ctx))
	if err := fs.Warm(ctx); err != nil {
		return err
	}
	srv := server.New(fs, server.Options{Logger: log})
	return srv.Run(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
}

type named struct{ name, value string }

type namedList []named

func (l *namedList) String() string { return fmt.Sprint(*l) }
func (l *namedList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	*l = append(*l, named{k, v})
	return nil
}

type loadConfig struct {
	p99Bound  time.Duration
	step      time.Duration
	warmup    time.Duration
	conns     int
	closedFor time.Duration
	fixed     map[string][]float64
	client    *http.Client
}

func load(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("load", flag.ContinueOnError)
	var targets, cases, fixed, pids namedList
	fl.Var(&targets, "target", "`NAME=URL` of a /get-online-features endpoint (repeat)")
	fl.Var(&cases, "case", "`NAME=FILE`: a request body (repeat)")
	fl.Var(&pids, "pid", "`NAME=PID` of a target's server process: its CPU time (with its children's) is reported (repeat)")
	fl.Var(&fixed, "fixed", "`CASE=R1,R2,...`: fixed rates (requests/s) at which to report latency (repeat)")
	c := loadConfig{fixed: map[string][]float64{}}
	fl.DurationVar(&c.p99Bound, "p99", 10*time.Millisecond, "latency bound for the max-throughput search")
	fl.DurationVar(&c.step, "step", 3*time.Second, "measured duration of each open-loop run")
	fl.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured start of each run")
	fl.DurationVar(&c.closedFor, "closed", 3*time.Second, "duration of the closed-loop saturation run")
	fl.IntVar(&c.conns, "conns", 8, "connections of the closed-loop saturation run")
	closedOnly := fl.Bool("closed-only", false, "only the closed-loop run (to tune a server's workers)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if len(targets) == 0 || len(cases) == 0 {
		return errors.New("load: need at least one --target and one --case")
	}
	for _, f := range fixed {
		for _, r := range strings.Split(f.value, ",") {
			v, err := strconv.ParseFloat(r, 64)
			if err != nil || v <= 0 {
				return fmt.Errorf("--fixed %s: %q is not a rate", f.name, r)
			}
			c.fixed[f.name] = append(c.fixed[f.name], v)
		}
	}
	c.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute,
			DisableCompression: true, ForceAttemptHTTP2: false,
		},
	}
	pidOf := map[string]int{}
	for _, p := range pids {
		n, err := strconv.Atoi(p.value)
		if err != nil {
			return fmt.Errorf("--pid %s: %q is not a process id", p.name, p.value)
		}
		pidOf[p.name] = n
	}
	type row struct {
		cas, target string
		cpuPerReq   time.Duration // server CPU per request in the closed-loop run
		sat         stats
		maxRate     float64
		maxStats    stats
		below       bool // even the lowest rate tried broke the bound
		fixed       []stats
	}
	var rows []row
	for _, cs := range cases {
		body, err := os.ReadFile(cs.value)
		if err != nil {
			return err
		}
		for _, tg := range targets {
			if err := check(ctx, c.client, tg.value, body); err != nil {
				return fmt.Errorf("%s on %s: %w", tg.name, cs.name, err)
			}
			r := row{cas: cs.name, target: tg.name}
			closedLoop(ctx, c.client, tg.value, body, c.conns, 0, c.warmup) // warm every worker and connection
			cpu0 := treeCPU(pidOf[tg.name])
			r.sat = closedLoop(ctx, c.client, tg.value, body, c.conns, c.warmup, c.closedFor)
			if n := r.sat.n + r.sat.errs + r.sat.outside; pidOf[tg.name] != 0 && n > 0 {
				r.cpuPerReq = (treeCPU(pidOf[tg.name]) - cpu0) / time.Duration(n)
			}
			fmt.Fprintf(os.Stderr, "%s %s closed loop ×%d: %s, server CPU %s/request\n", cs.name, tg.name, c.conns, r.sat, ms(r.cpuPerReq))
			if *closedOnly {
				continue
			}
			r.maxRate, r.maxStats, r.below = search(ctx, &c, tg.value, body, r.sat.rate)
			fmt.Fprintf(os.Stderr, "%s %s max rate at p99 ≤ %v: %.0f/s %s\n", cs.name, tg.name, c.p99Bound, r.maxRate, r.maxStats)
			for _, rate := range c.fixed[cs.name] {
				s := openLoop(ctx, c.client, tg.value, body, rate, c.warmup, c.step)
				fmt.Fprintf(os.Stderr, "%s %s at %.0f/s: %s\n", cs.name, tg.name, rate, s)
				r.fixed = append(r.fixed, s)
			}
			rows = append(rows, r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	// The table: one row per case and target.
	fmt.Printf("| case | server | max req/s, p99 ≤ %v (p50 / p99 there) | saturated req/s, %d conns closed loop (p50 / p99) | server CPU per request | req per server CPU-second |", c.p99Bound, c.conns)
	maxFixed := 0
	for _, cs := range cases {
		maxFixed = max(maxFixed, len(c.fixed[cs.name]))
	}
	for i := 0; i < maxFixed; i++ {
		fmt.Printf(" fixed rate %d: p50 / p99 |", i+1)
	}
	fmt.Println()
	fmt.Print("|---|---|---|---|---|---|")
	for i := 0; i < maxFixed; i++ {
		fmt.Print("---|")
	}
	fmt.Println()
	for _, r := range rows {
		maxCell := fmt.Sprintf("%.0f (%s / %s)", r.maxRate, ms(r.maxStats.p50), ms(r.maxStats.p99))
		if r.below {
			maxCell = fmt.Sprintf("< %.0f (p99 %s at %.0f/s)", r.maxRate, ms(r.maxStats.p99), r.maxRate)
		}
		perCPU := "–"
		if r.cpuPerReq > 0 {
			perCPU = fmt.Sprintf("%.0f", float64(time.Second)/float64(r.cpuPerReq))
		}
		fmt.Printf("| %s | %s | %s | %.0f (%s / %s) | %s | %s |", r.cas, r.target, maxCell, r.sat.rate, ms(r.sat.p50), ms(r.sat.p99), ms(r.cpuPerReq), perCPU)
		for i := 0; i < maxFixed; i++ {
			if i >= len(r.fixed) {
				fmt.Print(" |")
				continue
			}
			s := r.fixed[i]
			cell := fmt.Sprintf(" %.0f/s: %s / %s", s.target, ms(s.p50), ms(s.p99))
			if s.achieved() < 0.95 {
				cell += fmt.Sprintf(" (only %.0f/s served)", s.rate)
			}
			fmt.Print(cell + " |")
		}
		fmt.Println()
	}
	return nil
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms"
}

// check sends body once and insists on a 200 with stored values in it.
func check(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("PRESENT")) {
		return fmt.Errorf("warm-up request: %d %.300s", resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte("NOT_FOUND")) {
		return fmt.Errorf("warm-up request: some values are missing: %.300s", b)
	}
	return nil
}

// stats of one run.
type stats struct {
	target   float64 // scheduled rate; 0 for closed loop
	rate     float64 // completed 200s per second of the measured window
	n, errs  int
	outside  int // closed loop: requests completed outside the measured window
	p50, p99 time.Duration
}

func (s stats) achieved() float64 {
	if s.target == 0 {
		return 1
	}
	return s.rate / s.target
}

func (s stats) String() string {
	return fmt.Sprintf("%.0f req/s ok, p50 %s, p99 %s, %d errors", s.rate, ms(s.p50), ms(s.p99), s.errs)
}

func summarize(lat []time.Duration, errs int, window time.Duration, target float64) stats {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	s := stats{target: target, n: len(lat), errs: errs, rate: float64(len(lat)) / window.Seconds()}
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)]
	}
	s.p50, s.p99 = pct(0.50), pct(0.99)
	return s
}

func post(ctx context.Context, c *http.Client, url string, body []byte) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// closedLoop: conns clients each send the next request when the last one answered, for
// warmup+d; the stats cover the requests that completed in the last d.
func closedLoop(ctx context.Context, c *http.Client, url string, body []byte, conns int, warmup, d time.Duration) stats {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+d)
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    int
		outside int
		wg      sync.WaitGroup
	)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(until) {
					return
				}
				ok := post(ctx, c, url, body)
				end := time.Now()
				// Throughput counts the requests that completed inside the window,
				// whenever they started: with a slow server most requests straddle
				// one of the window's ends.
				if end.Before(from) || end.After(until) {
					mu.Lock()
					outside++
					mu.Unlock()
					continue
				}
				mu.Lock()
				if ok {
					lat = append(lat, end.Sub(t))
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s := summarize(lat, errs, d, 0)
	s.outside = outside
	return s
}

// treeCPU is the user+system CPU time of process pid and its descendants (gunicorn's
// workers are children of its master), from /proc; 0 when pid is 0.
func treeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	cpu := map[int]time.Duration{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) is parenthesized and may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		parent[p], cpu[p] = pp, time.Duration(ut+st)*tick
	}
	var total time.Duration
	for p, c := range cpu {
		for q := p; q != 0; q = parent[q] {
			if q == pid {
				total += c
				break
			}
		}
	}
	return total
}

// openLoop sends requests at rate for warmup+d, measuring those scheduled after the
// warm-up. Latency counts from the scheduled send time. Requests still unanswered 2 s
// after the schedule ends count as errors (an overloaded server's queue).
func openLoop(ctx context.Context, c *http.Client, url string, body []byte, rate float64, warmup, d time.Duration) stats {
	const workers = 256
	// At least 50 measured requests, so that a p99 means something at low rates.
	d = max(d, time.Duration(50/rate*float64(time.Second)))
	total := int((warmup + d).Seconds() * rate)
	due := make(chan time.Time, total+1)
	start := time.Now()
	from, end := start.Add(warmup), start.Add(warmup+d)
	rctx, cancel := context.WithDeadline(ctx, end.Add(2*time.Second))
	defer cancel()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range due {
				if rctx.Err() != nil {
					if !t.Before(from) {
						mu.Lock()
						errs++
						mu.Unlock()
					}
					continue
				}
				ok := post(rctx, c, url, body)
				l := time.Since(t)
				if t.Before(from) {
					continue
				}
				mu.Lock()
				if ok {
					lat = append(lat, l)
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	interval := float64(time.Second) / rate
	for i := 0; i < total; i++ {
		t := start.Add(time.Duration(float64(i) * interval))
		if w := time.Until(t); w > 0 {
			time.Sleep(w)
		}
		due <- t
	}
	close(due)
	wg.Wait()
	return summarize(lat, errs, d, rate)
}

// search sweeps rates upwards from 1/16 of the closed-loop saturation rate in steps of
// 25 % and returns the highest rate whose p99 stayed within the bound with every request
// served. A rate that fails is tried once more (on a shared machine a neighbour's build
// can take the CPU for a second; the question is what the server sustains, not what the
// neighbours do), and the sweep stops after two failed rates in a row or past saturation.
func search(ctx context.Context, c *loadConfig, url string, body []byte, sat float64) (float64, stats, bool) {
	pass := func(s stats) bool { return s.errs == 0 && s.achieved() >= 0.97 && s.p99 > 0 && s.p99 <= c.p99Bound }
	rate := math.Max(1, sat/16)
	var (
		best     stats
		bestRate float64
		first    stats
		fails    int
	)
	for i := 0; ctx.Err() == nil && fails < 2 && rate <= sat*1.1; i++ {
		s := openLoop(ctx, c.client, url, body, rate, c.warmup, c.step)
		if !pass(s) {
			s = openLoop(ctx, c.client, url, body, rate, c.warmup, c.step)
		}
		if i == 0 {
			first = s
		}
		if pass(s) {
			best, bestRate, fails = s, rate, 0
		} else {
			fails++
		}
		rate *= 1.25
	}
	if bestRate == 0 {
		return math.Max(1, sat/16), first, true
	}
	return bestRate, best, false
}
