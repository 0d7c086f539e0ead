package server

import (
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The metric names, labels and buckets follow the Feast Python feature server
// (feast/metrics.py) so existing dashboards and alert rules work unchanged; the exposition
// is written by hand because it is a few hundred lines and keeps the server free of a
// metrics library on the hot path.

var (
	requestLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	entityCountBuckets    = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000}
	storeReadBuckets      = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	materializeBuckets    = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
)

// histogram is a fixed-bucket Prometheus histogram; observations are lock-free.
type histogram struct {
	upper  []float64
	counts []atomic.Uint64 // one per bucket plus +Inf
	count  atomic.Uint64
	sumBit atomic.Uint64 // float64 bits of the sum, updated by CAS
}

func newHistogram(upper []float64) *histogram {
	return &histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // first bucket with upper >= v ("le" semantics)
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sumBit.Load()
		if h.sumBit.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) sum() float64 { return math.Float64frombits(h.sumBit.Load()) }

// family is a metric with labels: a map from the label values (joined) to a child.
type family[T any] struct {
	name, help, typ string
	labels          []string
	newChild        func() *T
	mu              sync.RWMutex
	children        map[string]*T
	order           []string // keys, for stable output
	values          map[string][]string
}

func newFamily[T any](name, help, typ string, labels []string, newChild func() *T) *family[T] {
	return &family[T]{name: name, help: help, typ: typ, labels: labels, newChild: newChild,
		children: map[string]*T{}, values: map[string][]string{}}
}

func (f *family[T]) with(values ...string) *T {
	key := strings.Join(values, "\xff")
	f.mu.RLock()
	c := f.children[key]
	f.mu.RUnlock()
	if c != nil {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c = f.children[key]; c == nil {
		c = f.newChild()
		f.children[key] = c
		f.order = append(f.order, key)
		f.values[key] = append([]string(nil), values...)
	}
	return c
}

func (f *family[T]) each(fn func(labels []string, c *T)) {
	f.mu.RLock()
	keys := append([]string(nil), f.order...)
	f.mu.RUnlock()
	sort.Strings(keys)
	for _, k := range keys {
		f.mu.RLock()
		c, v := f.children[k], f.values[k]
		f.mu.RUnlock()
		fn(v, c)
	}
}

type counter struct{ n atomic.Uint64 }

// Metrics holds the feature server's Prometheus metrics.
type Metrics struct {
	start time.Time

	requestLatency    *family[histogram]
	requestTotal      *family[counter]
	onlineRequests    counter
	entityCount       *histogram
	statusTotal       *family[counter]
	storeRead         *histogram
	pushTotal         *family[counter]
	materializeResult *family[counter]
	materializeDur    *family[histogram]
}

func newMetrics() *Metrics {
	return &Metrics{
		start: time.Now(),
		requestLatency: newFamily("feast_feature_server_request_latency_seconds",
			"Latency of requests to the feature server in seconds", "histogram",
			[]string{"endpoint", "feature_count", "feature_view_count"},
			func() *histogram { return newHistogram(requestLatencyBuckets) }),
		requestTotal: newFamily("feast_feature_server_request_total",
			"Total number of requests to the feature server", "counter",
			[]string{"endpoint", "status"}, func() *counter { return new(counter) }),
		entityCount: newHistogram(entityCountBuckets),
		statusTotal: newFamily("feast_online_features_status_total",
			"Count of individual feature values by retrieval status per feature view", "counter",
			[]string{"feature_view", "status"}, func() *counter { return new(counter) }),
		storeRead: newHistogram(storeReadBuckets),
		pushTotal: newFamily("feast_push_request_total", "Total push requests to the feature store",
			"counter", []string{"push_source", "mode"}, func() *counter { return new(counter) }),
		materializeResult: newFamily("feast_materialization_result_total",
			"Total materialization runs", "counter", []string{"feature_view", "status"},
			func() *counter { return new(counter) }),
		materializeDur: newFamily("feast_materialization_duration_seconds",
			"Duration of materialization in seconds", "histogram", []string{"feature_view"},
			func() *histogram { return newHistogram(materializeBuckets) }),
	}
}

// observeRequest records one finished request. Feast labels status "success" or "error".
func (m *Metrics) observeRequest(endpoint string, features, views int, d time.Duration, ok bool) {
	fc, vc := "", ""
	if features >= 0 {
		fc, vc = strconv.Itoa(features), strconv.Itoa(views)
	}
	m.requestLatency.with(endpoint, fc, vc).observe(d.Seconds())
	status := "success"
	if !ok {
		status = "error"
	}
	m.requestTotal.with(endpoint, status).n.Add(1)
}

// WriteTo appends the Prometheus text exposition (format 0.0.4) of every metric to b.
func (m *Metrics) appendText(b []byte) []byte {
	b = appendHistFamily(b, m.requestLatency)
	b = appendCounterFamily(b, m.requestTotal)
	b = appendHeader(b, "feast_online_features_request_total", "Total online feature retrieval requests", "counter")
	b = appendSample(b, "feast_online_features_request_total", nil, nil, "", float64(m.onlineRequests.n.Load()))
	b = appendHeader(b, "feast_online_features_entity_count", "Number of entity rows per online feature request", "histogram")
	b = appendHist(b, "feast_online_features_entity_count", nil, nil, m.entityCount)
	b = appendCounterFamily(b, m.statusTotal)
	b = appendHeader(b, "feast_feature_server_online_store_read_duration_seconds",
		"Duration of the online store read phase in seconds", "histogram")
	b = appendHist(b, "feast_feature_server_online_store_read_duration_seconds", nil, nil, m.storeRead)
	b = appendCounterFamily(b, m.pushTotal)
	b = appendCounterFamily(b, m.materializeResult)
	b = appendHistFamily(b, m.materializeDur)

	// Process metrics with the standard Prometheus names (Feast's cpu/memory "usage
	// percentage" gauges need psutil-style sampling; these are the usual equivalents).
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b = appendHeader(b, "go_goroutines", "Number of goroutines that currently exist", "gauge")
	b = appendSample(b, "go_goroutines", nil, nil, "", float64(runtime.NumGoroutine()))
	b = appendHeader(b, "go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects", "gauge")
	b = appendSample(b, "go_memstats_heap_alloc_bytes", nil, nil, "", float64(ms.HeapAlloc))
	b = appendHeader(b, "go_memstats_sys_bytes", "Bytes of memory obtained from the OS", "gauge")
	b = appendSample(b, "go_memstats_sys_bytes", nil, nil, "", float64(ms.Sys))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		b = appendHeader(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds", "counter")
		b = appendSample(b, "process_cpu_seconds_total", nil, nil, "", cpu)
	}
	b = appendHeader(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds", "gauge")
	b = appendSample(b, "process_start_time_seconds", nil, nil, "", float64(m.start.UnixNano())/1e9)
	return b
}

func appendHeader(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, help...)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

func appendCounterFamily(b []byte, f *family[counter]) []byte {
	b = appendHeader(b, f.name, f.help, f.typ)
	f.each(func(lv []string, c *counter) {
		b = appendSample(b, f.name, f.labels, lv, "", float64(c.n.Load()))
	})
	return b
}

func appendHistFamily(b []byte, f *family[histogram]) []byte {
	b = appendHeader(b, f.name, f.help, f.typ)
	f.each(func(lv []string, h *histogram) { b = appendHist(b, f.name, f.labels, lv, h) })
	return b
}

func appendHist(b []byte, name string, labels, values []string, h *histogram) []byte {
	var cum uint64
	for i, ub := range h.upper {
		cum += h.counts[i].Load()
		b = appendSample(b, name+"_bucket", labels, values, strconv.FormatFloat(ub, 'g', -1, 64), float64(cum))
	}
	cum += h.counts[len(h.upper)].Load()
	b = appendSample(b, name+"_bucket", labels, values, "+Inf", float64(cum))
	b = appendSample(b, name+"_sum", labels, values, "", math.Float64frombits(h.sumBit.Load()))
	return appendSample(b, name+"_count", labels, values, "", float64(h.count.Load()))
}

// appendSample writes `name{l1="v1",...,le="x"} value`; le is added when non-empty.
func appendSample(b []byte, name string, labels, values []string, le string, v float64) []byte {
	b = append(b, name...)
	if len(labels) > 0 || le != "" {
		b = append(b, '{')
		for i, l := range labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l...)
			b = append(b, `="`...)
			b = appendLabelValue(b, values[i])
			b = append(b, '"')
		}
		if le != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = append(b, `le="`...)
			b = append(b, le...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}

// appendLabelValue escapes backslash, double quote and newline as the text format requires.
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
