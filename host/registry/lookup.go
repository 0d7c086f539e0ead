package registry

import "sort"

// Lookups by project and name. A registry file can hold several projects; every object
// carries its project in its spec, and only objects of the asked project match (Feast's
// Python registry filters the same way; its Go server does not).

// Entity returns the entity called name in project.
func (r *Registry) Entity(project, name string) (*Entity, bool) {
	for _, e := range r.Entities {
		if e.Spec != nil && e.Spec.Project == project && e.Spec.Name == name {
			return e, true
		}
	}
	return nil, false
}

// FeatureView returns the (batch) feature view called name in project.
func (r *Registry) FeatureView(project, name string) (*FeatureView, bool) {
	for _, v := range r.FeatureViews {
		if v.Spec != nil && v.Spec.Project == project && v.Spec.Name == name {
			return v, true
		}
	}
	return nil, false
}

// StreamFeatureView returns the stream feature view called name in project.
func (r *Registry) StreamFeatureView(project, name string) (*StreamFeatureView, bool) {
	for _, v := range r.StreamFeatureViews {
		if v.Spec != nil && v.Spec.Project == project && v.Spec.Name == name {
			return v, true
		}
	}
	return nil, false
}

// OnDemandFeatureView returns the on-demand feature view called name in project.
func (r *Registry) OnDemandFeatureView(project, name string) (*OnDemandFeatureView, bool) {
	for _, v := range r.OnDemandFeatureViews {
		if v.Spec != nil && v.Spec.Project == project && v.Spec.Name == name {
			return v, true
		}
	}
	return nil, false
}

// FeatureService returns the feature service called name in project.
func (r *Registry) FeatureService(project, name string) (*FeatureService, bool) {
	for _, s := range r.FeatureServices {
		if s.Spec != nil && s.Spec.Project == project && s.Spec.Name == name {
			return s, true
		}
	}
	return nil, false
}

// LabelView returns the label view called name in project.
func (r *Registry) LabelView(project, name string) (*LabelView, bool) {
	for _, v := range r.LabelViews {
		if v.Spec != nil && v.Spec.Project == project && v.Spec.Name == name {
			return v, true
		}
	}
	return nil, false
}

// DataSource returns the top-level data source called name in project.
func (r *Registry) DataSource(project, name string) (*DataSource, bool) {
	for _, s := range r.DataSources {
		if s.Project == project && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// ProjectNames lists every project the registry mentions (Project objects, deprecated
// project metadata, and the project of each object), sorted.
func (r *Registry) ProjectNames() []string {
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" {
			seen[p] = true
		}
	}
	for _, p := range r.Projects {
		if p.Spec != nil {
			add(p.Spec.Name)
		}
	}
	for _, p := range r.ProjectMetadata {
		add(p.Project)
	}
	for _, e := range r.Entities {
		if e.Spec != nil {
			add(e.Spec.Project)
		}
	}
	for _, v := range r.FeatureViews {
		if v.Spec != nil {
			add(v.Spec.Project)
		}
	}
	for _, v := range r.OnDemandFeatureViews {
		if v.Spec != nil {
			add(v.Spec.Project)
		}
	}
	for _, v := range r.StreamFeatureViews {
		if v.Spec != nil {
			add(v.Spec.Project)
		}
	}
	for _, s := range r.FeatureServices {
		if s.Spec != nil {
			add(s.Spec.Project)
		}
	}
	for _, v := range r.LabelViews {
		if v.Spec != nil {
			add(v.Spec.Project)
		}
	}
	for _, s := range r.DataSources {
		add(s.Project)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
