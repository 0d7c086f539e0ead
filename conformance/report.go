package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReportSchema identifies the JSON report format documented in README.md.
const ReportSchema = "larder.conformance.report/v1"

// Case outcomes.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Report is the outcome of a run, printed by the CLI and written as JSON with --json.
type Report struct {
	Schema     string       `json:"schema"`
	Target     string       `json:"target"`
	Plugin     *PluginInfo  `json:"plugin,omitempty"`
	Options    ReportOpts   `json:"options"`
	StartedAt  time.Time    `json:"started_at"`
	DurationMS float64      `json:"duration_ms"`
	Summary    Summary      `json:"summary"`
	Cases      []CaseResult `json:"cases"`
	Soak       *SoakResult  `json:"soak,omitempty"`
}

// PluginInfo identifies the module under test (filled in by the CLI).
type PluginInfo struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size_bytes"`
	ID      string `json:"id,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Version string `json:"version,omitempty"`
	SDK     string `json:"sdk,omitempty"`
	ABI     string `json:"abi,omitempty"`
	// Features are the manifest's features; an offline store's say which backends the
	// offline suite runs it on ("postgres", "parquet", …).
	Features []string `json:"features,omitempty"`
}

// ReportOpts records what the run was asked to do, so two reports can be compared.
type ReportOpts struct {
	Short   bool     `json:"short"`
	Cases   []string `json:"cases,omitempty"`
	Sandbox bool     `json:"sandbox"`
	Soak    string   `json:"soak,omitempty"`
}

// Summary counts case outcomes.
type Summary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// CaseResult is one case's outcome.
type CaseResult struct {
	Suite  string `json:"suite"` // "online" or "sandbox"
	Group  string `json:"group"`
	Name   string `json:"name"`
	Status string `json:"status"` // PASS, FAIL or SKIP
	// Class is the fault class (host.FaultClass) of the error that failed the case, or for
	// sandbox cases the class observed; Expected is the class a sandbox case wanted.
	Class    string  `json:"class,omitempty"`
	Expected string  `json:"expected_class,omitempty"`
	Message  string  `json:"message,omitempty"`
	Duration float64 `json:"duration_ms"`
}

// SoakResult is the outcome of the soak check (hostile fixtures under concurrent load).
type SoakResult struct {
	Status       string         `json:"status"`
	DurationMS   float64        `json:"duration_ms"`
	Callers      int            `json:"callers"`
	Calls        int64          `json:"calls"`
	Classes      map[string]int `json:"classes"`            // observed fault class → calls
	Deadline     float64        `json:"call_deadline_ms"`   // per-call deadline configured
	Slack        float64        `json:"allowed_overrun_ms"` // allowed lateness past the deadline
	MaxOverrunMS float64        `json:"max_overrun_ms"`     // worst lateness past the deadline seen
	MaxCallMS    float64        `json:"max_call_ms"`
	P50CallMS    float64        `json:"p50_call_ms"`
	P99CallMS    float64        `json:"p99_call_ms"`
	SlowestCall  string         `json:"slowest_call,omitempty"` // fixture, op, class and time of the slowest call
	// Late counts calls that returned later than their deadline + Slack; any fails the soak.
	Late int64 `json:"late_calls"`
	// Overshoot is, per observed class, how long calls took past their deadline
	// (negative: returned before it).
	Overshoot    []ClassTiming `json:"overshoot_by_class"`
	HealthyCalls int64         `json:"healthy_calls"` // probes of the healthy store during the soak
	// LoadAverage is the machine's 1/5/15-minute load when the soak ended (Linux): on a
	// box busy with other work, overruns measure the scheduler as much as the host.
	LoadAverage      string   `json:"load_average,omitempty"`
	GoroutinesBefore int      `json:"goroutines_before"`
	GoroutinesAfter  int      `json:"goroutines_after"`
	Problems         []string `json:"problems,omitempty"`
}

// ClassTiming summarises the calls of one observed class in the soak.
type ClassTiming struct {
	Class string  `json:"class"`
	Calls int     `json:"calls"`
	Late  int     `json:"late"`
	P50MS float64 `json:"p50_overshoot_ms"`
	P99MS float64 `json:"p99_overshoot_ms"`
	MaxMS float64 `json:"max_overshoot_ms"`
}

func (r *Report) add(c CaseResult) {
	switch c.Status {
	case Pass:
		r.Summary.Passed++
	case Fail:
		r.Summary.Failed++
	case Skip:
		r.Summary.Skipped++
	}
	r.Cases = append(r.Cases, c)
}

// Failed reports whether any case or the soak check failed.
func (r *Report) Failed() bool {
	return r.Summary.Failed > 0 || (r.Soak != nil && r.Soak.Status == Fail)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// FormatCase renders one case line of the text report.
func FormatCase(c CaseResult) string {
	name := c.Suite + "/" + c.Group + "/" + c.Name
	if c.Group == c.Name {
		name = c.Suite + "/" + c.Name
	}
	line := fmt.Sprintf("%-4s  %-58s %9s", c.Status, name, fmtMS(c.Duration))
	var tail []string
	if c.Expected != "" {
		tail = append(tail, fmt.Sprintf("observed %s, want %s", orNone(c.Class), c.Expected))
	} else if c.Class != "" {
		tail = append(tail, "["+c.Class+"]")
	}
	if c.Message != "" {
		tail = append(tail, c.Message)
	}
	if len(tail) > 0 {
		line += "  " + strings.Join(tail, " ")
	}
	return line
}

func orNone(s string) string {
	if s == "" {
		return "no fault"
	}
	return s
}

func fmtMS(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2fs", ms/1000)
	}
	return fmt.Sprintf("%.1fms", ms)
}

// WriteText writes the human-readable report: header, one line per case, soak, summary.
func (r *Report) WriteText(w io.Writer) {
	r.WriteHeader(w)
	for _, c := range r.Cases {
		fmt.Fprintln(w, FormatCase(c))
	}
	r.WriteFooter(w)
}

// WriteHeader writes what was tested: the target and, for a module, its identity.
func (r *Report) WriteHeader(w io.Writer) {
	fmt.Fprintf(w, "larder conformance: %s\n", r.Target)
	if p := r.Plugin; p != nil {
		fmt.Fprintf(w, "  module %s, %d bytes, sha256 %s\n", p.Path, p.Size, p.SHA256)
		if p.ID != "" {
			fmt.Fprintf(w, "  plugin %s %s, kind %s, sdk %s, ABI v%s\n", p.ID, p.Version, p.Kind, p.SDK, p.ABI)
		}
	}
}

// WriteFooter writes the soak line, the fault classes seen and the verdict.
func (r *Report) WriteFooter(w io.Writer) {
	if s := r.Soak; s != nil {
		fmt.Fprintln(w, FormatSoak(s))
		for _, p := range s.Problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	if seen := r.FailureClasses(); seen != "" {
		fmt.Fprintf(w, "fault classes of failed cases: %s\n", seen)
	}
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d passed, %d failed, %d skipped in %s\n", verdict,
		r.Summary.Passed, r.Summary.Failed, r.Summary.Skipped, fmtMS(r.DurationMS))
}

// FailureClasses summarises the fault classes of failed online cases ("trap ×31"), so a
// run against a hostile module says what the host observed.
func (r *Report) FailureClasses() string {
	counts := map[string]int{}
	var order []string
	for _, c := range r.Cases {
		if c.Suite != "online" || c.Status != Fail || c.Class == "" {
			continue
		}
		if counts[c.Class] == 0 {
			order = append(order, c.Class)
		}
		counts[c.Class]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s ×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// FormatSoak renders the soak lines of the text report: the summary, then the overshoot
// past the deadline per observed class.
func FormatSoak(s *SoakResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s  soak: %s, %d callers, %d hostile calls %v, %d healthy probes; call p50 %.1fms p99 %.1fms max %.1fms (%s); %d late, max overrun %.1fms (allowed %.0fms past a %.0fms deadline); goroutines %d → %d; load average %s",
		s.Status, fmtMS(s.DurationMS), s.Callers, s.Calls, s.Classes, s.HealthyCalls,
		s.P50CallMS, s.P99CallMS, s.MaxCallMS, s.SlowestCall,
		s.Late, s.MaxOverrunMS, s.Slack, s.Deadline, s.GoroutinesBefore, s.GoroutinesAfter, orUnknown(s.LoadAverage))
	for _, c := range s.Overshoot {
		fmt.Fprintf(&b, "\n      overshoot %-18s %6d calls, %d late: p50 %+.1fms p99 %+.1fms max %+.1fms",
			c.Class, c.Calls, c.Late, c.P50MS, c.P99MS, c.MaxMS)
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
