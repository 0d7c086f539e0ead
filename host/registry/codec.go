package registry

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal parses a serialized feast.core.Registry (the bytes of a registry.db).
func Unmarshal(b []byte) (*Registry, error) {
	r := &Registry{}
	if err := decodeMessage(b, r, 0); err != nil {
		return nil, fmt.Errorf("decoding Feast registry: %w", err)
	}
	return r, nil
}

// Marshal serializes r as a feast.core.Registry. The output is what Python's protobuf
// writes with deterministic=True: fields in number order, proto3 defaults omitted, map
// entries sorted by key, unknown fields where their numbers put them.
func (r *Registry) Marshal() []byte { return r.marshal() }

// Each message below: unknownPtr exposes its kept fields, decode claims the fields it
// models, marshal writes them back in field-number order.

func (m *Registry) unknownPtr() *unknownFields { return &m.unknown }
func (m *Registry) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msgs(f, &m.Entities)
	case 3:
		return f.str(&m.RegistrySchemaVersion)
	case 4:
		return f.str(&m.VersionID)
	case 5:
		return f.timestamp(&m.LastUpdated)
	case 6:
		return msgs(f, &m.FeatureViews)
	case 7:
		return msgs(f, &m.FeatureServices)
	case 8:
		return msgs(f, &m.OnDemandFeatureViews)
	case 12:
		return msgs(f, &m.DataSources)
	case 14:
		return msgs(f, &m.StreamFeatureViews)
	case 15:
		return msgs(f, &m.ProjectMetadata)
	case 17:
		return msgs(f, &m.Projects)
	case 19:
		return msgs(f, &m.LabelViews)
	}
	return false, nil
}
func (m *Registry) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsgs(e, 1, m.Entities)
	e.str(3, m.RegistrySchemaVersion)
	e.str(4, m.VersionID)
	e.timestamp(5, m.LastUpdated)
	encMsgs(e, 6, m.FeatureViews)
	encMsgs(e, 7, m.FeatureServices)
	encMsgs(e, 8, m.OnDemandFeatureViews)
	encMsgs(e, 12, m.DataSources)
	encMsgs(e, 14, m.StreamFeatureViews)
	encMsgs(e, 15, m.ProjectMetadata)
	encMsgs(e, 17, m.Projects)
	encMsgs(e, 19, m.LabelViews)
	return e.finish()
}

func (m *ProjectMetadata) unknownPtr() *unknownFields { return &m.unknown }
func (m *ProjectMetadata) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Project)
	case 2:
		return f.str(&m.ProjectUUID)
	}
	return false, nil
}
func (m *ProjectMetadata) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Project)
	e.str(2, m.ProjectUUID)
	return e.finish()
}

func (m *Project) unknownPtr() *unknownFields { return &m.unknown }
func (m *Project) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *Project) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *ProjectSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *ProjectSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Description)
	case 3:
		return f.stringMap(&m.Tags)
	case 4:
		return f.str(&m.Owner)
	}
	return false, nil
}
func (m *ProjectSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Description)
	e.stringMap(3, m.Tags)
	e.str(4, m.Owner)
	return e.finish()
}

func (m *Meta) unknownPtr() *unknownFields { return &m.unknown }
func (m *Meta) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.timestamp(&m.CreatedTimestamp)
	case 2:
		return f.timestamp(&m.LastUpdatedTimestamp)
	}
	return false, nil
}
func (m *Meta) marshal() []byte {
	e := newEncoder(m.unknown)
	e.timestamp(1, m.CreatedTimestamp)
	e.timestamp(2, m.LastUpdatedTimestamp)
	return e.finish()
}

func (m *Entity) unknownPtr() *unknownFields { return &m.unknown }
func (m *Entity) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *Entity) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *EntitySpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *EntitySpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return varint32(f, &m.ValueType)
	case 3:
		return f.str(&m.Description)
	case 4:
		return f.str(&m.JoinKey)
	case 8:
		return f.stringMap(&m.Tags)
	case 9:
		return f.str(&m.Project)
	case 10:
		return f.str(&m.Owner)
	}
	return false, nil
}
func (m *EntitySpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.int32(2, int32(m.ValueType))
	e.str(3, m.Description)
	e.str(4, m.JoinKey)
	e.stringMap(8, m.Tags)
	e.str(9, m.Project)
	e.str(10, m.Owner)
	return e.finish()
}

func (m *FeatureView) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureView) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *FeatureView) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *FeatureViewSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureViewSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Project)
	case 3:
		return f.strs(&m.Entities)
	case 4:
		return msgs(f, &m.Features)
	case 5:
		return f.stringMap(&m.Tags)
	case 6:
		return f.duration(&m.TTL)
	case 7:
		return msg(f, &m.BatchSource)
	case 8:
		return f.boolean(&m.Online)
	case 9:
		return msg(f, &m.StreamSource)
	case 10:
		return f.str(&m.Description)
	case 11:
		return f.str(&m.Owner)
	case 12:
		return msgs(f, &m.EntityColumns)
	case 13:
		return f.boolean(&m.Offline)
	case 14:
		return msgs(f, &m.SourceViews)
	case 15:
		return msg(f, &m.FeatureTransformation)
	case 16:
		return f.str(&m.Mode)
	case 17:
		return f.boolean(&m.EnableValidation)
	case 18:
		return f.str(&m.Version)
	case 19:
		return f.str(&m.Org)
	case 20:
		return f.boolean(&m.Disabled)
	}
	return false, nil
}
func (m *FeatureViewSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Project)
	e.strs(3, m.Entities)
	encMsgs(e, 4, m.Features)
	e.stringMap(5, m.Tags)
	e.duration(6, m.TTL)
	encMsg(e, 7, m.BatchSource)
	e.boolean(8, m.Online)
	encMsg(e, 9, m.StreamSource)
	e.str(10, m.Description)
	e.str(11, m.Owner)
	encMsgs(e, 12, m.EntityColumns)
	e.boolean(13, m.Offline)
	encMsgs(e, 14, m.SourceViews)
	encMsg(e, 15, m.FeatureTransformation)
	e.str(16, m.Mode)
	e.boolean(17, m.EnableValidation)
	e.str(18, m.Version)
	e.str(19, m.Org)
	e.boolean(20, m.Disabled)
	return e.finish()
}

func (m *FeatureViewMeta) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureViewMeta) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.timestamp(&m.CreatedTimestamp)
	case 2:
		return f.timestamp(&m.LastUpdatedTimestamp)
	case 3:
		return msgs(f, &m.MaterializationIntervals)
	case 4:
		return varint32(f, &m.CurrentVersionNumber)
	case 5:
		return f.str(&m.VersionID)
	case 6:
		return varint32(f, &m.State)
	}
	return false, nil
}
func (m *FeatureViewMeta) marshal() []byte {
	e := newEncoder(m.unknown)
	e.timestamp(1, m.CreatedTimestamp)
	e.timestamp(2, m.LastUpdatedTimestamp)
	encMsgs(e, 3, m.MaterializationIntervals)
	e.int32(4, m.CurrentVersionNumber)
	e.str(5, m.VersionID)
	e.int32(6, int32(m.State))
	return e.finish()
}

func (m *MaterializationInterval) unknownPtr() *unknownFields { return &m.unknown }
func (m *MaterializationInterval) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.timestamp(&m.StartTime)
	case 2:
		return f.timestamp(&m.EndTime)
	}
	return false, nil
}
func (m *MaterializationInterval) marshal() []byte {
	e := newEncoder(m.unknown)
	e.timestamp(1, m.StartTime)
	e.timestamp(2, m.EndTime)
	return e.finish()
}

func (m *FeatureSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return varint32(f, &m.ValueType)
	case 3:
		return f.stringMap(&m.Tags)
	case 4:
		return f.str(&m.Description)
	case 5:
		return f.boolean(&m.VectorIndex)
	case 6:
		return f.str(&m.VectorSearchMetric)
	case 7:
		return varint32(f, &m.VectorLength)
	}
	return false, nil
}
func (m *FeatureSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.int32(2, int32(m.ValueType))
	e.stringMap(3, m.Tags)
	e.str(4, m.Description)
	e.boolean(5, m.VectorIndex)
	e.str(6, m.VectorSearchMetric)
	e.int32(7, m.VectorLength)
	return e.finish()
}

func (m *DataSource) unknownPtr() *unknownFields { return &m.unknown }
func (m *DataSource) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return varint32(f, &m.Type)
	case 2:
		return f.stringMap(&m.FieldMapping)
	case 3:
		return f.str(&m.TimestampField)
	case 4:
		return f.str(&m.DatePartitionColumn)
	case 5:
		return f.str(&m.CreatedTimestampColumn)
	case 11:
		return msg(f, &m.FileOptions)
	case 16:
		return msg(f, &m.CustomOptions)
	case 17:
		return f.str(&m.DataSourceClassType)
	case 18:
		return msg(f, &m.RequestDataOptions)
	case 20:
		return f.str(&m.Name)
	case 21:
		return f.str(&m.Project)
	case 22:
		return msg(f, &m.PushOptions)
	case 23:
		return f.str(&m.Description)
	case 24:
		return f.stringMap(&m.Tags)
	case 25:
		return f.str(&m.Owner)
	case 26:
		return msg(f, &m.BatchSource)
	case 28:
		return f.str(&m.TimestampFieldType)
	case 50:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *DataSource) marshal() []byte {
	e := newEncoder(m.unknown)
	e.int32(1, int32(m.Type))
	e.stringMap(2, m.FieldMapping)
	e.str(3, m.TimestampField)
	e.str(4, m.DatePartitionColumn)
	e.str(5, m.CreatedTimestampColumn)
	encMsg(e, 11, m.FileOptions)
	encMsg(e, 16, m.CustomOptions)
	e.str(17, m.DataSourceClassType)
	encMsg(e, 18, m.RequestDataOptions)
	e.str(20, m.Name)
	e.str(21, m.Project)
	encMsg(e, 22, m.PushOptions)
	e.str(23, m.Description)
	e.stringMap(24, m.Tags)
	e.str(25, m.Owner)
	encMsg(e, 26, m.BatchSource)
	e.str(28, m.TimestampFieldType)
	encMsg(e, 50, m.Meta)
	return e.finish()
}

func (m *FileOptions) unknownPtr() *unknownFields { return &m.unknown }
func (m *FileOptions) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.FileFormat)
	case 2:
		return f.str(&m.URI)
	case 3:
		return f.str(&m.S3EndpointOverride)
	}
	return false, nil
}
func (m *FileOptions) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.FileFormat)
	e.str(2, m.URI)
	e.str(3, m.S3EndpointOverride)
	return e.finish()
}

func (m *FileFormat) unknownPtr() *unknownFields { return &m.unknown }
func (m *FileFormat) decode(f *field) (bool, error) {
	if f.num == 1 && f.typ == protowire.BytesType && len(f.b) == 0 {
		m.Parquet = true
		return true, nil
	}
	return false, nil // a ParquetFormat with content, delta_format …: kept verbatim
}
func (m *FileFormat) marshal() []byte {
	e := newEncoder(m.unknown)
	if m.Parquet {
		e.body(1, nil)
	}
	return e.finish()
}

func (m *CustomSourceOptions) unknownPtr() *unknownFields { return &m.unknown }
func (m *CustomSourceOptions) decode(f *field) (bool, error) {
	if f.num == 1 {
		return f.bytes(&m.Configuration)
	}
	return false, nil
}
func (m *CustomSourceOptions) marshal() []byte {
	e := newEncoder(m.unknown)
	e.bytes(1, m.Configuration)
	return e.finish()
}

func (m *RequestDataOptions) unknownPtr() *unknownFields { return &m.unknown }
func (m *RequestDataOptions) decode(f *field) (bool, error) {
	switch f.num {
	case 2:
		return f.valueTypeMap(&m.DeprecatedSchema)
	case 3:
		return msgs(f, &m.Schema)
	}
	return false, nil
}
func (m *RequestDataOptions) marshal() []byte {
	e := newEncoder(m.unknown)
	e.valueTypeMap(2, m.DeprecatedSchema)
	encMsgs(e, 3, m.Schema)
	return e.finish()
}

func (m *PushOptions) unknownPtr() *unknownFields  { return &m.unknown }
func (m *PushOptions) decode(*field) (bool, error) { return false, nil }
func (m *PushOptions) marshal() []byte             { return newEncoder(m.unknown).finish() }

func (m *SourceMeta) unknownPtr() *unknownFields { return &m.unknown }
func (m *SourceMeta) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.timestamp(&m.EarliestEventTimestamp)
	case 2:
		return f.timestamp(&m.LatestEventTimestamp)
	case 3:
		return f.timestamp(&m.CreatedTimestamp)
	case 4:
		return f.timestamp(&m.LastUpdatedTimestamp)
	}
	return false, nil
}
func (m *SourceMeta) marshal() []byte {
	e := newEncoder(m.unknown)
	e.timestamp(1, m.EarliestEventTimestamp)
	e.timestamp(2, m.LatestEventTimestamp)
	e.timestamp(3, m.CreatedTimestamp)
	e.timestamp(4, m.LastUpdatedTimestamp)
	return e.finish()
}

func (m *OnDemandFeatureView) unknownPtr() *unknownFields { return &m.unknown }
func (m *OnDemandFeatureView) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *OnDemandFeatureView) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *OnDemandFeatureViewSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *OnDemandFeatureViewSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Project)
	case 3:
		return msgs(f, &m.Features)
	case 4:
		return msgMap(f, &m.Sources)
	case 5:
		return msg(f, &m.UserDefinedFunction)
	case 6:
		return f.str(&m.Description)
	case 7:
		return f.stringMap(&m.Tags)
	case 8:
		return f.str(&m.Owner)
	case 10:
		return msg(f, &m.FeatureTransformation)
	case 11:
		return f.str(&m.Mode)
	case 12:
		return f.boolean(&m.WriteToOnlineStore)
	case 13:
		return f.strs(&m.Entities)
	case 14:
		return msgs(f, &m.EntityColumns)
	case 15:
		return f.boolean(&m.Singleton)
	case 16:
		return msgs(f, &m.Aggregations)
	case 17:
		return f.str(&m.Version)
	case 18:
		return f.str(&m.Org)
	case 19:
		return f.boolean(&m.Disabled)
	}
	return false, nil
}
func (m *OnDemandFeatureViewSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Project)
	encMsgs(e, 3, m.Features)
	encMsgMap(e, 4, m.Sources)
	encMsg(e, 5, m.UserDefinedFunction)
	e.str(6, m.Description)
	e.stringMap(7, m.Tags)
	e.str(8, m.Owner)
	encMsg(e, 10, m.FeatureTransformation)
	e.str(11, m.Mode)
	e.boolean(12, m.WriteToOnlineStore)
	e.strs(13, m.Entities)
	encMsgs(e, 14, m.EntityColumns)
	e.boolean(15, m.Singleton)
	encMsgs(e, 16, m.Aggregations)
	e.str(17, m.Version)
	e.str(18, m.Org)
	e.boolean(19, m.Disabled)
	return e.finish()
}

func (m *OnDemandFeatureViewMeta) unknownPtr() *unknownFields { return &m.unknown }
func (m *OnDemandFeatureViewMeta) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.timestamp(&m.CreatedTimestamp)
	case 2:
		return f.timestamp(&m.LastUpdatedTimestamp)
	case 3:
		return varint32(f, &m.CurrentVersionNumber)
	case 4:
		return f.str(&m.VersionID)
	case 5:
		return varint32(f, &m.State)
	}
	return false, nil
}
func (m *OnDemandFeatureViewMeta) marshal() []byte {
	e := newEncoder(m.unknown)
	e.timestamp(1, m.CreatedTimestamp)
	e.timestamp(2, m.LastUpdatedTimestamp)
	e.int32(3, m.CurrentVersionNumber)
	e.str(4, m.VersionID)
	e.int32(5, int32(m.State))
	return e.finish()
}

func (m *OnDemandSource) unknownPtr() *unknownFields { return &m.unknown }
func (m *OnDemandSource) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.FeatureView)
	case 2:
		return msg(f, &m.RequestDataSource)
	case 3:
		return msg(f, &m.FeatureViewProjection)
	}
	return false, nil
}
func (m *OnDemandSource) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.FeatureView)
	encMsg(e, 2, m.RequestDataSource)
	encMsg(e, 3, m.FeatureViewProjection)
	return e.finish()
}

func (m *FeatureTransformation) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureTransformation) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.UserDefinedFunction)
	case 2:
		return msg(f, &m.SubstraitTransformation)
	}
	return false, nil
}
func (m *FeatureTransformation) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.UserDefinedFunction)
	encMsg(e, 2, m.SubstraitTransformation)
	return e.finish()
}

func (m *UserDefinedFunction) unknownPtr() *unknownFields { return &m.unknown }
func (m *UserDefinedFunction) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.bytes(&m.Body)
	case 3:
		return f.str(&m.BodyText)
	case 4:
		return f.str(&m.Mode)
	}
	return false, nil
}
func (m *UserDefinedFunction) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.bytes(2, m.Body)
	e.str(3, m.BodyText)
	e.str(4, m.Mode)
	return e.finish()
}

func (m *SubstraitTransformation) unknownPtr() *unknownFields { return &m.unknown }
func (m *SubstraitTransformation) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.bytes(&m.SubstraitPlan)
	case 2:
		return f.bytes(&m.IbisFunction)
	}
	return false, nil
}
func (m *SubstraitTransformation) marshal() []byte {
	e := newEncoder(m.unknown)
	e.bytes(1, m.SubstraitPlan)
	e.bytes(2, m.IbisFunction)
	return e.finish()
}

func (m *Aggregation) unknownPtr() *unknownFields { return &m.unknown }
func (m *Aggregation) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Column)
	case 2:
		return f.str(&m.Function)
	case 3:
		return f.duration(&m.TimeWindow)
	case 4:
		return f.duration(&m.SlideInterval)
	case 5:
		return f.str(&m.Name)
	}
	return false, nil
}
func (m *Aggregation) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Column)
	e.str(2, m.Function)
	e.duration(3, m.TimeWindow)
	e.duration(4, m.SlideInterval)
	e.str(5, m.Name)
	return e.finish()
}

func (m *StreamFeatureView) unknownPtr() *unknownFields { return &m.unknown }
func (m *StreamFeatureView) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *StreamFeatureView) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *StreamFeatureViewSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *StreamFeatureViewSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Project)
	case 3:
		return f.strs(&m.Entities)
	case 4:
		return msgs(f, &m.Features)
	case 5:
		return msgs(f, &m.EntityColumns)
	case 6:
		return f.str(&m.Description)
	case 7:
		return f.stringMap(&m.Tags)
	case 8:
		return f.str(&m.Owner)
	case 9:
		return f.duration(&m.TTL)
	case 10:
		return msg(f, &m.BatchSource)
	case 11:
		return msg(f, &m.StreamSource)
	case 12:
		return f.boolean(&m.Online)
	case 13:
		return msg(f, &m.UserDefinedFunction)
	case 14:
		return f.str(&m.Mode)
	case 15:
		return msgs(f, &m.Aggregations)
	case 16:
		return f.str(&m.TimestampField)
	case 17:
		return msg(f, &m.FeatureTransformation)
	case 18:
		return f.boolean(&m.EnableTiling)
	case 19:
		return f.duration(&m.TilingHopSize)
	case 20:
		return f.boolean(&m.EnableValidation)
	case 21:
		return f.str(&m.Version)
	case 22:
		return f.str(&m.Org)
	case 23:
		return f.boolean(&m.Disabled)
	}
	return false, nil
}
func (m *StreamFeatureViewSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Project)
	e.strs(3, m.Entities)
	encMsgs(e, 4, m.Features)
	encMsgs(e, 5, m.EntityColumns)
	e.str(6, m.Description)
	e.stringMap(7, m.Tags)
	e.str(8, m.Owner)
	e.duration(9, m.TTL)
	encMsg(e, 10, m.BatchSource)
	encMsg(e, 11, m.StreamSource)
	e.boolean(12, m.Online)
	encMsg(e, 13, m.UserDefinedFunction)
	e.str(14, m.Mode)
	encMsgs(e, 15, m.Aggregations)
	e.str(16, m.TimestampField)
	encMsg(e, 17, m.FeatureTransformation)
	e.boolean(18, m.EnableTiling)
	e.duration(19, m.TilingHopSize)
	e.boolean(20, m.EnableValidation)
	e.str(21, m.Version)
	e.str(22, m.Org)
	e.boolean(23, m.Disabled)
	return e.finish()
}

func (m *FeatureService) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureService) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *FeatureService) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *FeatureServiceSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureServiceSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Project)
	case 3:
		return msgs(f, &m.Features)
	case 4:
		return f.stringMap(&m.Tags)
	case 5:
		return f.str(&m.Description)
	case 6:
		return f.str(&m.Owner)
	case 8:
		return f.boolean(&m.PrecomputeOnline)
	}
	return false, nil
}
func (m *FeatureServiceSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Project)
	encMsgs(e, 3, m.Features)
	e.stringMap(4, m.Tags)
	e.str(5, m.Description)
	e.str(6, m.Owner)
	e.boolean(8, m.PrecomputeOnline)
	return e.finish()
}

func (m *FeatureViewProjection) unknownPtr() *unknownFields { return &m.unknown }
func (m *FeatureViewProjection) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.FeatureViewName)
	case 2:
		return msgs(f, &m.FeatureColumns)
	case 3:
		return f.str(&m.FeatureViewNameAlias)
	case 4:
		return f.stringMap(&m.JoinKeyMap)
	case 5:
		return f.str(&m.TimestampField)
	case 6:
		return f.str(&m.DatePartitionColumn)
	case 7:
		return f.str(&m.CreatedTimestampColumn)
	case 8:
		return msg(f, &m.BatchSource)
	case 9:
		return msg(f, &m.StreamSource)
	case 10:
		return f.optInt32(&m.VersionTag)
	case 11:
		return f.str(&m.ViewType)
	}
	return false, nil
}
func (m *FeatureViewProjection) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.FeatureViewName)
	encMsgs(e, 2, m.FeatureColumns)
	e.str(3, m.FeatureViewNameAlias)
	e.stringMap(4, m.JoinKeyMap)
	e.str(5, m.TimestampField)
	e.str(6, m.DatePartitionColumn)
	e.str(7, m.CreatedTimestampColumn)
	encMsg(e, 8, m.BatchSource)
	encMsg(e, 9, m.StreamSource)
	e.optInt32(10, m.VersionTag)
	e.str(11, m.ViewType)
	return e.finish()
}

func (m *LabelView) unknownPtr() *unknownFields { return &m.unknown }
func (m *LabelView) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return msg(f, &m.Spec)
	case 2:
		return msg(f, &m.Meta)
	}
	return false, nil
}
func (m *LabelView) marshal() []byte {
	e := newEncoder(m.unknown)
	encMsg(e, 1, m.Spec)
	encMsg(e, 2, m.Meta)
	return e.finish()
}

func (m *LabelViewSpec) unknownPtr() *unknownFields { return &m.unknown }
func (m *LabelViewSpec) decode(f *field) (bool, error) {
	switch f.num {
	case 1:
		return f.str(&m.Name)
	case 2:
		return f.str(&m.Project)
	case 3:
		return f.strs(&m.Entities)
	case 4:
		return msgs(f, &m.Features)
	case 5:
		return f.stringMap(&m.Tags)
	case 6:
		return f.duration(&m.TTL)
	case 7:
		return msg(f, &m.Source)
	case 8:
		return f.boolean(&m.Online)
	case 9:
		return f.str(&m.Description)
	case 10:
		return f.str(&m.Owner)
	case 11:
		return msgs(f, &m.EntityColumns)
	case 12:
		return f.str(&m.LabelerField)
	case 13:
		return varint32(f, &m.ConflictPolicy)
	case 14:
		return f.boolean(&m.RetainHistory)
	case 15:
		return f.str(&m.ReferenceFeatureView)
	}
	return false, nil
}
func (m *LabelViewSpec) marshal() []byte {
	e := newEncoder(m.unknown)
	e.str(1, m.Name)
	e.str(2, m.Project)
	e.strs(3, m.Entities)
	encMsgs(e, 4, m.Features)
	e.stringMap(5, m.Tags)
	e.duration(6, m.TTL)
	encMsg(e, 7, m.Source)
	e.boolean(8, m.Online)
	e.str(9, m.Description)
	e.str(10, m.Owner)
	encMsgs(e, 11, m.EntityColumns)
	e.str(12, m.LabelerField)
	e.int32(13, int32(m.ConflictPolicy))
	e.boolean(14, m.RetainHistory)
	e.str(15, m.ReferenceFeatureView)
	return e.finish()
}
