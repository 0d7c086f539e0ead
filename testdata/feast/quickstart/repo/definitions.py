from datetime import timedelta

import pandas as pd

from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    RequestSource,
    ValueType,
)
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import (
    Array,
    Bool,
    Bytes,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)

driver_stats_source = FileSource(
    name="driver_hourly_stats_source",
    path="data/driver_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    online=True,
    source=driver_stats_source,
    tags={"team": "driver_performance"},
)

driver_profile_source = FileSource(
    name="driver_profile_source",
    path="data/driver_profile.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

driver_profile = FeatureView(
    name="driver_profile",
    entities=[driver],
    ttl=timedelta(days=2),
    schema=[
        Field(name="name", dtype=String),
        Field(name="is_active", dtype=Bool),
        Field(name="rating", dtype=Float64),
        Field(name="trips_total", dtype=Int32),
        Field(name="license_hash", dtype=Bytes),
        Field(name="score", dtype=Float32),
        Field(name="last_seen", dtype=UnixTimestamp),
        Field(name="tags", dtype=Array(String)),
        Field(name="recent_trip_ids", dtype=Array(Int64)),
        Field(name="recent_ratings", dtype=Array(Float64)),
        Field(name="recent_speeds", dtype=Array(Float32)),
        Field(name="shift_flags", dtype=Array(Bool)),
        Field(name="zone_ids", dtype=Array(Int32)),
        Field(name="doc_hashes", dtype=Array(Bytes)),
    ],
    online=True,
    source=driver_profile_source,
)

driver_customer_source = FileSource(
    name="driver_customer_source",
    path="data/driver_customer.parquet",
    timestamp_field="event_timestamp",
)

driver_customer_stats = FeatureView(
    name="driver_customer_stats",
    entities=[driver, customer],
    ttl=timedelta(days=7),
    schema=[
        Field(name="trips_together", dtype=Int64),
        Field(name="total_spend", dtype=Float64),
    ],
    online=True,
    source=driver_customer_source,
)

global_stats_source = FileSource(
    name="global_stats_source",
    path="data/global_stats.parquet",
    timestamp_field="event_timestamp",
)

global_stats = FeatureView(
    name="global_stats",
    entities=[],
    ttl=timedelta(days=7),
    schema=[
        Field(name="active_drivers", dtype=Int64),
        Field(name="surge_multiplier", dtype=Float64),
    ],
    online=True,
    source=global_stats_source,
)

input_request = RequestSource(
    name="vals_to_add",
    schema=[
        Field(name="val_to_add", dtype=Int64),
        Field(name="val_to_add_2", dtype=Int64),
    ],
)


@on_demand_feature_view(
    sources=[driver_hourly_stats, input_request],
    schema=[
        Field(name="conv_rate_plus_val1", dtype=Float64),
        Field(name="conv_rate_plus_val2", dtype=Float64),
    ],
)
def transformed_conv_rate(inputs: pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame()
    df["conv_rate_plus_val1"] = inputs["conv_rate"] + inputs["val_to_add"]
    df["conv_rate_plus_val2"] = inputs["conv_rate"] + inputs["val_to_add_2"]
    return df


driver_stats_push_source = PushSource(
    name="driver_stats_push_source",
    batch_source=driver_stats_source,
)

driver_hourly_stats_fresh = FeatureView(
    name="driver_hourly_stats_fresh",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    online=True,
    source=driver_stats_push_source,
    tags={"team": "driver_performance"},
)

driver_activity_v1 = FeatureService(
    name="driver_activity_v1",
    features=[
        driver_hourly_stats[["conv_rate"]],
        transformed_conv_rate,
    ],
)

driver_activity_v2 = FeatureService(
    name="driver_activity_v2",
    features=[driver_hourly_stats, driver_profile[["name", "rating"]]],
)

driver_activity_aliased = FeatureService(
    name="driver_activity_aliased",
    features=[driver_hourly_stats[["conv_rate", "acc_rate"]].with_name("stats_alias")],
)
