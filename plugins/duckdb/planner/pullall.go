package planner

import (
	"strconv"
	"strings"

	sdk "github.com/larder-dev/larder/sdk-go"
)

// PullAllRequest is the input of larder_offline_plan_pull_all (spec §9.8).
type PullAllRequest = sdk.PullAllRequest

// PlanPullAll plans "every row of the source in [start, end)" (spec §9.8): the columns of
// pull-latest, one result row per source row with a non-null event timestamp inside the
// window (an absent bound is no bound), nothing deduplicated, in no particular order.
// Rows with null join keys are kept: pull-all is a copy of the source, not a join.
func PlanPullAll(r *PullAllRequest) (*Plan, error) {
	if r.Start != nil && r.End != nil && *r.End < *r.Start {
		return nil, bad("end (%d) is before start (%d)", *r.End, *r.Start)
	}
	pr, err := project(&r.Source, r.JoinKeys, r.FeatureColumns)
	if err != nil {
		return nil, err
	}
	params := []Param{{Type: "STRING", Value: r.Source.Path}}
	where := []string{pr.event + " IS NOT NULL"}
	bound := func(op string, v *int64) {
		if v == nil {
			return
		}
		params = append(params, Param{Type: "UNIX_TIMESTAMP", Value: *v})
		where = append(where, pr.event+" "+op+" $"+strconv.Itoa(len(params)))
	}
	bound(">=", r.Start)
	bound("<", r.End)
	var sb strings.Builder
	sb.WriteString("SELECT ")
	sb.WriteString(strings.Join(pr.selects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(pr.reader.from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(where, " AND "))
	return &Plan{Dialect: "duckdb", SQL: sb.String(), Params: params, ResultSchema: pr.schema}, nil
}
