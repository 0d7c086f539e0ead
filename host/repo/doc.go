// Package repo reads a feature repo: the YAML files that declare entities, data sources,
// feature views, on-demand feature views and feature services (the objects Feast users
// write in Python), validates them together and returns a plain model. The schema is
// documented in docs/feature-repo.md.
//
// Start at Load. Every problem is reported with the file (relative to the repo), line and
// field path, e.g. `features.yaml:31: feature_views[driver_stats].entities[0]: undefined
// entity "drivr" (did you mean "driver"?)`; all problems are returned at once.
//
// Scaffold writes the example repo `larder init` creates (Feast's driver-statistics
// quickstart, with its Parquet data).
package repo
