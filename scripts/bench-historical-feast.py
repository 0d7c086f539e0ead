#!/usr/bin/env python3
"""Feast's own get_historical_features on the historical benchmark's files.

Run by scripts/bench-historical.sh with Feast 0.67's Python (FEAST_PY): builds a Feast
repo (file offline store, i.e. Feast's Dask store) over the same Parquet files Larder
reads, retrieves the same features for an entity file and writes them to Parquet. Prints
one JSON line with the phases' wall times and the peak RSS. With --compare it also checks
the result against another Parquet file (Larder's) column by column: same row count,
same number of nulls and the same sum per feature (Feast reorders rows, so sums and counts
are what can be compared without a key).
"""
import argparse
import json
import os
import resource
import sys
import time
from datetime import timedelta

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

FEATURES = {
    "driver_stats": ["conv_rate", "acc_rate", "avg_daily_trips"],
    "customer_stats": ["spend", "orders"],
    "driver_quality": ["rating"],
}


def repo(dir_, data, view_rows):
    os.makedirs(dir_, exist_ok=True)
    with open(os.path.join(dir_, "feature_store.yaml"), "w") as f:
        f.write(
            "project: bench\n"
            f"registry: {dir_}/registry.db\n"
            "provider: local\n"
            "online_store:\n  type: sqlite\n"
            f"  path: {dir_}/online.db\n"
            "offline_store:\n  type: file\n"
            "entity_key_serialization_version: 3\n"
        )
    store = FeatureStore(repo_path=dir_)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)

    def src(name, created=None):
        kw = {"created_timestamp_column": created} if created else {}
        return FileSource(name=name + "_source", path=os.path.join(data, f"{name}_{view_rows}.parquet"),
                          timestamp_field="event_timestamp", **kw)

    views = [
        FeatureView(name="driver_stats", entities=[driver], ttl=timedelta(days=7), source=src("driver_stats", "created"),
                    schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64),
                            Field(name="avg_daily_trips", dtype=Int64)]),
        FeatureView(name="customer_stats", entities=[customer], ttl=timedelta(days=2), source=src("customer_stats"),
                    schema=[Field(name="spend", dtype=Float64), Field(name="orders", dtype=Int64)]),
        # ttl 0: no limit, as in Larder's repo.
        FeatureView(name="driver_quality", entities=[driver], ttl=timedelta(0), source=src("driver_quality"),
                    schema=[Field(name="rating", dtype=Float64)]),
    ]
    store.apply([driver, customer, *views])
    return store


def summary(df):
    out = {"rows": int(len(df))}
    for cols in FEATURES.values():
        for c in cols:
            out[c] = {"nulls": int(df[c].isna().sum()), "sum": float(df[c].astype("float64").sum())}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--view-rows", required=True)
    ap.add_argument("--entities", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare")
    a = ap.parse_args()

    store = repo(a.repo, a.data, a.view_rows)
    refs = [f"{v}:{f}" for v, fs in FEATURES.items() for f in fs]
    t0 = time.monotonic()
    entity_df = pd.read_parquet(a.entities)
    t1 = time.monotonic()
    df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    t2 = time.monotonic()
    df.to_parquet(a.out, index=False)
    t3 = time.monotonic()
    res = {"read_s": round(t1 - t0, 2), "retrieve_s": round(t2 - t1, 2), "write_s": round(t3 - t2, 2),
           "total_s": round(t3 - t0, 2), "rows": int(len(df)),
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    if a.compare:
        mine = summary(df)
        other = summary(pd.read_parquet(a.compare))
        diffs = []
        for k, v in mine.items():
            o = other[k]
            if k == "rows":
                if v != o:
                    diffs.append(f"rows {v} vs {o}")
            elif v["nulls"] != o["nulls"] or abs(v["sum"] - o["sum"]) > 1e-6 * max(1.0, abs(v["sum"])):
                diffs.append(f"{k}: feast {v} vs {o}")
        res["compare"] = "same counts, nulls and sums" if not diffs else diffs
    print(json.dumps(res))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
