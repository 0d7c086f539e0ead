package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
)

// DefaultAddr is where `feast serve` listens, and so where Larder does by default.
const DefaultAddr = "127.0.0.1:6566"

// DefaultMaxBodyBytes bounds request bodies (pushed frames are the large ones).
const DefaultMaxBodyBytes = 32 << 20

// FeatureStore is what the server serves: *host.FeatureStore implements it.
type FeatureStore interface {
	GetOnlineFeatures(context.Context, host.OnlineFeaturesRequest) (*host.OnlineFeaturesResponse, error)
	Push(context.Context, host.PushRequest) error
	WriteToOnlineStore(context.Context, host.WriteToOnlineStoreRequest) error
	Materialize(context.Context, host.MaterializeRequest) error
	MaterializeIncremental(context.Context, host.MaterializeIncrementalRequest) error
	Health(context.Context) error
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives request errors (4xx at debug, 5xx with their detail at error).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 = DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MetricsAddr, when set, also serves /metrics on that address (Feast serves its
	// metrics on a separate port, 8000 by default). /metrics is always on the main port.
	MetricsAddr string
	// TLSCertFile and TLSKeyFile, when both set, make Run serve HTTPS.
	TLSCertFile, TLSKeyFile string
	// ShutdownTimeout bounds how long Run waits for requests in flight once its
	// context ends; 0 = 10 s.
	ShutdownTimeout time.Duration
	// Version is reported in the OpenAPI document.
	Version string
	// Now is the clock for materialization windows; nil = time.Now.
	Now func() time.Time
}

// Server is Feast's HTTP feature server API over a FeatureStore.
type Server struct {
	fs      FeatureStore
	opts    Options
	log     *slog.Logger
	e       *echo.Echo
	metrics *Metrics

	mu            sync.Mutex
	materializing map[string]bool // views being materialized; "*" = all of them
}

// New returns a server for fs. Register nothing else on it: Handler is complete.
func New(fs FeatureStore, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{fs: fs, opts: opts, log: log, metrics: newMetrics(), materializing: map[string]bool{}}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleRoutingError
	e.Use(s.recoverPanics)
	e.POST("/get-online-features", s.getOnlineFeatures)
	e.POST("/push", s.push)
	e.POST("/write-to-online-store", s.writeToOnlineStore)
	e.POST("/materialize", s.materialize)
	e.POST("/materialize-incremental", s.materializeIncremental)
	e.POST(epGetHistoricalFeatures, s.getHistoricalFeatures)
	e.GET("/health", s.health)
	e.GET("/metrics", s.serveMetrics)
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docs)
	s.e = e
	return s
}

// Handler returns the server's HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.e }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Run serves on addr (DefaultAddr if empty) until ctx ends, then shuts down gracefully:
// it stops accepting connections and waits up to Options.ShutdownTimeout for requests
// in flight.
func (s *Server) Run(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("feature server: listening on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		// Bounds how long a client may take to send a body (MaxBodyBytes bounds its
		// size). No write timeout: a synchronous /materialize may run for minutes.
		ReadTimeout: 2 * time.Minute,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	tls := s.opts.TLSCertFile != "" && s.opts.TLSKeyFile != ""
	go func() {
		if tls {
			errc <- srv.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if s.opts.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.writeMetrics(w) })
		msrv := &http.Server{Addr: s.opts.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		mln, err := net.Listen("tcp", s.opts.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("feature server: listening for metrics on %s: %w", s.opts.MetricsAddr, err)
		}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
	}
	s.log.Info("feature server listening", "addr", ln.Addr().String(), "tls", tls, "metrics_addr", s.opts.MetricsAddr)
	select {
	case err := <-errc:
		for _, x := range servers {
			_ = x.Close()
		}
		return fmt.Errorf("feature server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, x := range servers {
		if err := x.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("feature server: shutting down: %w", err)
	}
	return nil
}

// fail writes err as a JSON error, logs it and records the request.
func (s *Server) fail(c echo.Context, endpoint string, start time.Time, err error) error {
	status, msg, field := httpError(err)
	r := c.Request()
	if status >= 500 && status != 499 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	} else {
		s.log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	if endpoint != "" {
		s.metrics.observeRequest(endpoint, -1, 0, time.Since(start), false)
	}
	return writeError(c, status, msg, field)
}

func writeError(c echo.Context, status int, msg, field string) error {
	if status == http.StatusServiceUnavailable {
		// Every 503 is transient (a backend down, a breaker cooling down, no free
		// instance): tell clients when to come back. One second is how often the Redis
		// capability probes a server that refused connections.
		c.Response().Header().Set("Retry-After", "1")
	}
	bp := getBuf()
	defer putBuf(bp)
	*bp = appendErrorBody(*bp, status, msg, field)
	return c.Blob(status, echo.MIMEApplicationJSON, *bp)
}

// handleRoutingError answers what echo could not route (404, 405) and errors returned
// by handlers, through the same mapping as everything else.
func (s *Server) handleRoutingError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg, field := httpError(err)
	if status >= 500 {
		s.log.Error("request failed", "path", c.Request().URL.Path, "error", err)
	}
	_ = writeError(c, status, msg, field)
}

// recoverPanics turns a panic in a handler into a logged 500: one bad request must not
// take the server down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic while serving a request", "path", c.Request().URL.Path, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return next(c)
	}
}

const (
	epGetOnlineFeatures      = "/get-online-features"
	epPush                   = "/push"
	epWriteToOnlineStore     = "/write-to-online-store"
	epMaterialize            = "/materialize"
	epMaterializeIncremental = "/materialize-incremental"
)

func (s *Server) getOnlineFeatures(c echo.Context) error {
	start := time.Now()
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epGetOnlineFeatures, start, err)
	}
	req, err := decodeGetOnlineFeatures(body)
	if err != nil {
		return s.fail(c, epGetOnlineFeatures, start, err)
	}
	resp, err := s.fs.GetOnlineFeatures(c.Request().Context(), req.OnlineFeaturesRequest)
	if err != nil {
		return s.fail(c, epGetOnlineFeatures, start, err)
	}
	bp := getBuf()
	defer putBuf(bp)
	*bp = appendOnlineResponse(*bp, resp, req.withViewMetadata)
	err = c.Blob(http.StatusOK, echo.MIMEApplicationJSON, *bp)

	m := s.metrics
	st := &resp.Stats
	m.onlineRequests.n.Add(1)
	m.entityCount.observe(float64(st.EntityRows))
	if st.StoreReads > 0 {
		m.storeRead.observe(st.ReadDuration.Seconds())
	}
	for _, v := range st.Views {
		if v.Present > 0 {
			m.statusTotal.with(v.Name, "present").n.Add(uint64(v.Present))
		}
		if v.NotFound > 0 {
			m.statusTotal.with(v.Name, "not_found").n.Add(uint64(v.NotFound))
		}
		if v.OutsideMaxAge > 0 {
			m.statusTotal.with(v.Name, "outside_max_age").n.Add(uint64(v.OutsideMaxAge))
		}
	}
	m.observeRequest(epGetOnlineFeatures, st.Features, st.FeatureViews, time.Since(start), true)
	return err
}

func (s *Server) push(c echo.Context) error {
	start := time.Now()
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epPush, start, err)
	}
	req, err := decodePush(body)
	if err != nil {
		return s.fail(c, epPush, start, err)
	}
	if err := s.fs.Push(c.Request().Context(), req); err != nil {
		return s.fail(c, epPush, start, err)
	}
	mode := req.To
	if mode == "" {
		mode = host.PushOnline
	}
	s.metrics.pushTotal.with(req.PushSourceName, mode).n.Add(1)
	s.metrics.observeRequest(epPush, -1, 0, time.Since(start), true)
	// Feast answers a push with 200 and an empty body.
	return c.NoContent(http.StatusOK)
}

func (s *Server) writeToOnlineStore(c echo.Context) error {
	start := time.Now()
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epWriteToOnlineStore, start, err)
	}
	req, err := decodeWrite(body)
	if err != nil {
		return s.fail(c, epWriteToOnlineStore, start, err)
	}
	if err := s.fs.WriteToOnlineStore(c.Request().Context(), req); err != nil {
		return s.fail(c, epWriteToOnlineStore, start, err)
	}
	s.metrics.observeRequest(epWriteToOnlineStore, -1, 0, time.Since(start), true)
	return jsonNull(c)
}

// jsonNull answers 200 with the body `null`, as Feast does for endpoints returning None.
func jsonNull(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, []byte("null"))
}

func (s *Server) materialize(c echo.Context) error {
	start := time.Now()
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epMaterialize, start, err)
	}
	req, err := decodeMaterialize(body, s.opts.Now())
	if err != nil {
		return s.fail(c, epMaterialize, start, err)
	}
	return s.runMaterialization(c, epMaterialize, start, req.FeatureViews, func(ctx context.Context) error {
		return s.fs.Materialize(ctx, req)
	})
}

func (s *Server) materializeIncremental(c echo.Context) error {
	start := time.Now()
	body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
	if err != nil {
		return s.fail(c, epMaterializeIncremental, start, err)
	}
	req, err := decodeMaterializeIncremental(body)
	if err != nil {
		return s.fail(c, epMaterializeIncremental, start, err)
	}
	return s.runMaterialization(c, epMaterializeIncremental, start, req.FeatureViews, func(ctx context.Context) error {
		return s.fs.MaterializeIncremental(ctx, req)
	})
}

// runMaterialization runs a materialization synchronously, or in the background with
// ?async=true (202), refusing with 409 while another one of this server covers one of
// the same views unless ?force=true — Feast's query parameters and answers.
func (s *Server) runMaterialization(c echo.Context, endpoint string, start time.Time, views []string, run func(context.Context) error) error {
	async, err := boolParam(c, "async")
	if err != nil {
		return s.fail(c, endpoint, start, err)
	}
	force, err := boolParam(c, "force")
	if err != nil {
		return s.fail(c, endpoint, start, err)
	}
	keys := views
	if len(keys) == 0 {
		keys = []string{"*"}
	}
	if busy := s.claim(keys, force); len(busy) > 0 {
		s.metrics.observeRequest(endpoint, -1, 0, time.Since(start), false)
		bp := getBuf()
		defer putBuf(bp)
		*bp = appendErrorBody(*bp, http.StatusConflict,
			"a materialization of "+strings.Join(busy, ", ")+" is already running; retry later or pass ?force=true", "feature_views")
		// Feast lists the views in conflict.
		(*bp) = (*bp)[:len(*bp)-1]
		*bp = append(*bp, `,"feature_views":`...)
		*bp = appendStringArray(*bp, busy)
		*bp = append(*bp, '}')
		return c.Blob(http.StatusConflict, echo.MIMEApplicationJSON, *bp)
	}
	// A materialization is not abandoned halfway because the client stopped waiting.
	ctx := context.WithoutCancel(c.Request().Context())
	record := func(err error) {
		label := "all"
		if len(views) > 0 {
			label = strings.Join(views, ",")
		}
		status := "success"
		if err != nil {
			status = "failure"
		}
		s.metrics.materializeResult.with(label, status).n.Add(1)
		s.metrics.materializeDur.with(label).observe(time.Since(start).Seconds())
	}
	if async {
		go func() {
			defer s.release(keys)
			err := run(ctx)
			record(err)
			if err != nil {
				s.log.Error("background materialization failed", "endpoint", endpoint, "feature_views", views, "error", err)
			}
		}()
		s.metrics.observeRequest(endpoint, -1, 0, time.Since(start), true)
		bp := getBuf()
		defer putBuf(bp)
		*bp = append(*bp, `{"status":"accepted","feature_views":`...)
		*bp = appendStringArray(*bp, views)
		*bp = append(*bp, '}')
		return c.Blob(http.StatusAccepted, echo.MIMEApplicationJSON, *bp)
	}
	defer s.release(keys)
	err = run(ctx)
	record(err)
	if err != nil {
		return s.fail(c, endpoint, start, err)
	}
	s.metrics.observeRequest(endpoint, -1, 0, time.Since(start), true)
	return jsonNull(c)
}

func appendStringArray(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = feast.AppendJSONString(b, x)
	}
	return append(b, ']')
}

// claim marks views as being materialized and returns nil, or returns the views that
// already are (and claims nothing). force claims regardless.
func (s *Server) claim(keys []string, force bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force {
		var busy []string
		for k := range s.materializing {
			if k == "*" || keys[0] == "*" || containsStr(keys, k) {
				busy = append(busy, k)
			}
		}
		if len(busy) > 0 {
			sort.Strings(busy)
			for i, b := range busy {
				if b == "*" {
					busy[i] = "all feature views"
				}
			}
			return busy
		}
	}
	for _, k := range keys {
		s.materializing[k] = true
	}
	return nil
}

func (s *Server) release(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.materializing, k)
	}
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func boolParam(c echo.Context, name string) (bool, error) {
	v := c.QueryParam(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, host.Requestf(host.BadRequest, name, "query parameter %s=%q is not a boolean", name, v)
	}
	return b, nil
}

func (s *Server) health(c echo.Context) error {
	if err := s.fs.Health(c.Request().Context()); err != nil {
		s.log.Warn("health check failed", "error", err)
		status, msg, field := httpError(err)
		if status < 500 {
			status = http.StatusServiceUnavailable
		}
		if status == http.StatusInternalServerError {
			status, msg = http.StatusServiceUnavailable, "unhealthy: "+err.Error()
		}
		return writeError(c, status, msg, field)
	}
	// Feast answers 200 with an empty body.
	return c.NoContent(http.StatusOK)
}

func (s *Server) serveMetrics(c echo.Context) error {
	s.writeMetrics(c.Response())
	return nil
}

func (s *Server) writeMetrics(w http.ResponseWriter) {
	bp := getBuf()
	defer putBuf(bp)
	*bp = s.metrics.appendText(*bp)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(*bp)
}
