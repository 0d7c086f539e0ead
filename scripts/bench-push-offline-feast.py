#!/usr/bin/env python3
"""Feast's own offline push (FeatureStore.write_to_offline_store, file offline store) on
the same shapes as BenchmarkPushOffline: a frame of 1 or 100 rows appended to a Parquet
batch source of 10k or 1M rows (driver_id, event_timestamp, conv_rate, acc_rate,
avg_daily_trips, created). Prints one JSON line per case with the mean wall and CPU
seconds per push. Usage: python bench-push-offline-feast.py WORKDIR [PUSHES]
"""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int64


def make_repo(dir_, file_rows):
    os.makedirs(dir_, exist_ok=True)
    data = os.path.join(dir_, "driver_stats.parquet")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    i = np.arange(file_rows)
    ts = pd.to_datetime(start) + pd.to_timedelta(i, unit="s")
    pd.DataFrame({
        "driver_id": (1001 + i % 100000).astype("int64"),
        "event_timestamp": ts,
        "conv_rate": ((i % 1000) / 1000.0).astype("float32"),
        "acc_rate": np.full(file_rows, 0.5, dtype="float32"),
        "avg_daily_trips": (i % 1000).astype("int64"),
        "created": ts,
    }).to_parquet(data, index=False)
    with open(os.path.join(dir_, "feature_store.yaml"), "w") as f:
        f.write("project: bench\n"
                f"registry: {dir_}/registry.db\n"
                "provider: local\n"
                f"online_store:\n  type: sqlite\n  path: {dir_}/online.db\n"
                "offline_store:\n  type: file\n"
                "entity_key_serialization_version: 3\n")
    fs = FeatureStore(repo_path=dir_)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    src = FileSource(name="driver_stats_source", path=data, timestamp_field="event_timestamp",
                     created_timestamp_column="created")
    fv = FeatureView(name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=1),
                     schema=[Field(name="conv_rate", dtype=Float32), Field(name="acc_rate", dtype=Float32),
                             Field(name="avg_daily_trips", dtype=Int64)],
                     source=src)
    fs.apply([driver, fv])
    return fs


def frame(rows, k):
    at = datetime(2026, 1, 10, 12, tzinfo=timezone.utc) + timedelta(seconds=k)
    return pd.DataFrame({
        "driver_id": np.arange(2000, 2000 + rows, dtype="int64"),
        "event_timestamp": [at] * rows,
        "conv_rate": np.full(rows, 0.5, dtype="float32"),
        "acc_rate": np.full(rows, 0.5, dtype="float32"),
        "avg_daily_trips": np.arange(rows, dtype="int64"),
        "created": [at] * rows,
    })


def main():
    work = sys.argv[1]
    pushes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    for file_rows in (10_000, 1_000_000):
        for rows in (1, 100):
            fs = make_repo(os.path.join(work, f"f{file_rows}_r{rows}"), file_rows)
            fs.write_to_offline_store("driver_hourly_stats", frame(rows, 0))  # warm-up
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for k in range(1, pushes + 1):
                fs.write_to_offline_store("driver_hourly_stats", frame(rows, k))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            print(json.dumps({"file_rows": file_rows, "rows": rows, "pushes": pushes,
                              "wall_ms_per_push": round(1000 * wall / pushes, 1),
                              "cpu_ms_per_push": round(1000 * cpu / pushes, 1)}), flush=True)


if __name__ == "__main__":
    main()
