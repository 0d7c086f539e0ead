#!/usr/bin/env python3
"""Generate Feast compatibility fixtures for Larder, using the real Feast.

What it does (see interop/README.md for the why and for the quirks observed):

1. Generates small, seeded, quickstart-like Parquet data (driver stats, a wide
   "driver_profile" view covering many value types, a composite-key view and an
   entity-less view).
2. Writes a Feast feature repo into a scratch directory (wiped on every run),
   runs `feast apply` and `feast materialize <fixed start> <fixed end>`.
3. Copies registry.db / online.db (raw bytes) into testdata/feast/quickstart/
   and dumps both into readable JSON.
4. Starts `feast serve` on 127.0.0.1:<free port>, replays a fixed list of HTTP
   requests and stores every request/response pair under
   testdata/feast/quickstart/http/NNN-name.json.
5. Records versions in PROVENANCE.md.

Run it with the Python of a virtualenv that has Feast installed:

    /opt/feast-venv/bin/python interop/gen_feast_fixtures.py

Everything under testdata/feast/quickstart/ is regenerated from scratch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "testdata" / "feast" / "quickstart"
# A fixed scratch path (not mkdtemp) so that the absolute paths Feast records
# in registry.db are the same on every run and every machine.
DEFAULT_WORK = Path("/tmp/larder-feast-interop")

PROJECT = "quickstart"
SEED = 20250101
UTC = dt.timezone.utc
WINDOW_START = dt.datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
WINDOW_END = dt.datetime(2025, 1, 15, 0, 0, tzinfo=UTC)
# Materialization window passed to `feast materialize`. Data rows exist exactly
# at WINDOW_END too, so the fixtures show whether the end bound is inclusive.
MATERIALIZE_START = "2025-01-01T00:00:00"
MATERIALIZE_END = "2025-01-15T00:00:00"
DRIVERS = [1001, 1002, 1003, 1004, 1005]
# Driver 1005 stops reporting early: its online rows are far older than the
# view's ttl at the end of the window, which shows that Feast does not apply
# ttl on online reads.
DRIVER_1005_LAST = dt.datetime(2025, 1, 10, 0, 0, tzinfo=UTC)
CUSTOMERS = ["c-01", "c-02"]

TS_US_UTC = pa.timestamp("us", tz="UTC")


# --------------------------------------------------------------------------
# Data generation
# --------------------------------------------------------------------------


def _hours(start: dt.datetime, end: dt.datetime, step_hours: int = 1) -> List[dt.datetime]:
    out = []
    t = start
    while t <= end:
        out.append(t)
        t += dt.timedelta(hours=step_hours)
    return out


def gen_driver_stats(rng: np.random.Generator) -> pa.Table:
    """Hourly driver stats, 2025-01-01T00:00Z .. 2025-01-15T00:00Z inclusive.

    created = event_timestamp + 5 minutes. One extra row for driver 1001 at
    the last materialized timestamp duplicates the event timestamp with a later
    `created`, to pin down Feast's tie-break (latest created wins).
    """
    ids, ets, created, conv, acc, trips = [], [], [], [], [], []
    for d in DRIVERS:
        for t in _hours(WINDOW_START, WINDOW_END):
            if d == 1005 and t > DRIVER_1005_LAST:
                break
            ids.append(d)
            ets.append(t)
            created.append(t + dt.timedelta(minutes=5))
            conv.append(rng.random())
            acc.append(rng.random())
            trips.append(int(rng.integers(0, 1000)))
    # Duplicate event timestamp (the last one in the materialization window),
    # later created: must win in materialization.
    dup_t = WINDOW_END
    ids.append(1001)
    ets.append(dup_t)
    created.append(dup_t + dt.timedelta(minutes=30))
    conv.append(0.125)
    acc.append(0.875)
    trips.append(4242)
    schema = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", TS_US_UTC),
            ("created", TS_US_UTC),
            ("conv_rate", pa.float32()),
            ("acc_rate", pa.float32()),
            ("avg_daily_trips", pa.int64()),
        ]
    )
    return pa.table(
        [
            pa.array(ids, pa.int64()),
            pa.array(ets, TS_US_UTC),
            pa.array(created, TS_US_UTC),
            pa.array(np.array(conv, dtype=np.float32), pa.float32()),
            pa.array(np.array(acc, dtype=np.float32), pa.float32()),
            pa.array(trips, pa.int64()),
        ],
        schema=schema,
    )


PROFILE_SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", TS_US_UTC),
        ("created", TS_US_UTC),
        ("name", pa.string()),
        ("is_active", pa.bool_()),
        ("rating", pa.float64()),
        ("trips_total", pa.int32()),
        ("license_hash", pa.binary()),
        ("score", pa.float32()),
        ("last_seen", TS_US_UTC),
        ("tags", pa.list_(pa.string())),
        ("recent_trip_ids", pa.list_(pa.int64())),
        ("recent_ratings", pa.list_(pa.float64())),
        ("recent_speeds", pa.list_(pa.float32())),
        ("shift_flags", pa.list_(pa.bool_())),
        ("zone_ids", pa.list_(pa.int32())),
        ("doc_hashes", pa.list_(pa.binary())),
    ]
)


def gen_driver_profile(rng: np.random.Generator) -> pa.Table:
    """Daily profile rows with one column per Feast value type we care about.

    Driver 1004's latest row has nulls (scalar and list) and empty lists, so
    the fixtures show how Feast stores and returns them.
    """
    rows: Dict[str, list] = {f.name: [] for f in PROFILE_SCHEMA}
    names = {1001: "Ana", 1002: "Bo", 1003: "Chloé", 1004: "Dmitri", 1005: "Émile 🚕"}
    days = _hours(WINDOW_START, WINDOW_END - dt.timedelta(days=1), 24)
    for d in DRIVERS:
        for i, t in enumerate(days):
            last = i == len(days) - 1
            n = int(rng.integers(1, 4))
            rows["driver_id"].append(d)
            rows["event_timestamp"].append(t + dt.timedelta(hours=12))
            rows["created"].append(t + dt.timedelta(hours=12, minutes=1))
            rows["name"].append(names[d])
            rows["is_active"].append(bool(rng.integers(0, 2)))
            rows["rating"].append(float(np.round(rng.uniform(1, 5), 6)))
            rows["trips_total"].append(int(rng.integers(0, 2**31 - 1)))
            rows["license_hash"].append(bytes(rng.integers(0, 256, 8, dtype=np.uint8)))
            rows["score"].append(float(np.float32(rng.random())))
            rows["last_seen"].append(t + dt.timedelta(hours=11, minutes=59, seconds=30))
            rows["tags"].append([f"tag{int(x)}" for x in rng.integers(0, 10, n)])
            rows["recent_trip_ids"].append([int(x) for x in rng.integers(-(2**40), 2**40, n)])
            rows["recent_ratings"].append([float(np.round(x, 3)) for x in rng.uniform(1, 5, n)])
            rows["recent_speeds"].append([float(np.float32(x)) for x in rng.uniform(0, 120, n)])
            rows["shift_flags"].append([bool(x) for x in rng.integers(0, 2, n)])
            rows["zone_ids"].append([int(x) for x in rng.integers(-1000, 1000, n)])
            rows["doc_hashes"].append([bytes(rng.integers(0, 256, 4, dtype=np.uint8)) for _ in range(n)])
            if d == 1004 and last:
                for col in ("name", "rating", "license_hash", "last_seen", "tags", "recent_ratings"):
                    rows[col][-1] = None
                rows["recent_trip_ids"][-1] = []
                rows["shift_flags"][-1] = []
    return pa.table({f.name: pa.array(rows[f.name], f.type) for f in PROFILE_SCHEMA}, schema=PROFILE_SCHEMA)


def gen_driver_customer(rng: np.random.Generator) -> pa.Table:
    """Composite key (driver_id INT64, customer_id STRING), daily rows."""
    ids, cust, ets, trips, spend = [], [], [], [], []
    for d in DRIVERS[:3]:
        for c in CUSTOMERS:
            for t in _hours(WINDOW_START, WINDOW_END - dt.timedelta(days=1), 24):
                ids.append(d)
                cust.append(c)
                ets.append(t + dt.timedelta(hours=6))
                trips.append(int(rng.integers(0, 50)))
                spend.append(float(np.round(rng.uniform(0, 500), 2)))
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "customer_id": pa.array(cust, pa.string()),
            "event_timestamp": pa.array(ets, TS_US_UTC),
            "trips_together": pa.array(trips, pa.int64()),
            "total_spend": pa.array(spend, pa.float64()),
        }
    )


def gen_global_stats(rng: np.random.Generator) -> pa.Table:
    """Entity-less view: one global row per day."""
    ets, active, surge = [], [], []
    for t in _hours(WINDOW_START, WINDOW_END - dt.timedelta(days=1), 24):
        ets.append(t + dt.timedelta(hours=18))
        active.append(int(rng.integers(100, 200)))
        surge.append(float(np.round(rng.uniform(1, 3), 2)))
    return pa.table(
        {
            "event_timestamp": pa.array(ets, TS_US_UTC),
            "active_drivers": pa.array(active, pa.int64()),
            "surge_multiplier": pa.array(surge, pa.float64()),
        }
    )


# --------------------------------------------------------------------------
# Feature repo
# --------------------------------------------------------------------------

FEATURE_STORE_YAML = f"""\
project: {PROJECT}
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
entity_key_serialization_version: 3
auth:
  type: no_auth
"""

# Our own definitions, shaped like Feast's quickstart so that the common names
# (driver_hourly_stats, transformed_conv_rate, driver_activity_v1, ...) match
# what Feast users know.
DEFINITIONS_PY = '''\
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
'''


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[gen_feast_fixtures] {msg}", flush=True)


def feast_env() -> Dict[str, str]:
    env = dict(os.environ)
    # Feast's SQLite adapter turns naive-UTC datetimes into epoch seconds with
    # the *local* time zone; pin UTC so the stored integers are true epochs.
    env["TZ"] = "UTC"
    env["FEAST_USAGE"] = "False"
    env["PYTHONHASHSEED"] = "0"
    env.pop("FEAST_FS_YAML_FILE_PATH", None)
    return env


def run(cmd: List[str], cwd: Path, log_path: Path) -> None:
    log("$ " + " ".join(cmd))
    with open(log_path, "ab") as lf:
        lf.write(("$ " + " ".join(cmd) + "\n").encode())
        lf.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=feast_env(), stdout=lf, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}; see {log_path}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------
# Dumps of registry.db and online.db
# --------------------------------------------------------------------------


def _decode_entity_key_v3(b: bytes) -> Dict[str, Any]:
    """Decode a v3 serialized entity key, independently of Feast's code, so the
    dump doubles as a cross-check of the layout documented in the reference."""
    import struct

    off = 0

    def u32() -> int:
        nonlocal off
        (v,) = struct.unpack_from("<I", b, off)
        off += 4
        return v

    n = u32()
    keys = []
    for _ in range(n):
        t = u32()
        ln = u32()
        keys.append({"type": t, "name": b[off : off + ln].decode()})
        off += ln
    values = []
    for _ in range(n):
        t = u32()
        ln = u32()
        payload = b[off : off + ln]
        off += ln
        if t == 4:
            v: Any = struct.unpack("<q", payload)[0]
        elif t == 3:
            v = struct.unpack("<i", payload)[0]
        elif t == 2:
            v = payload.decode()
        else:
            v = payload.hex()
        values.append({"type": t, "value": v})
    if off != len(b):
        raise ValueError(f"entity key has {len(b) - off} trailing bytes: {b.hex()}")
    return {"join_keys": [k["name"] for k in keys], "key_types": [k["type"] for k in keys], "values": values}


def _decode_value(b: Optional[bytes]) -> Any:
    from google.protobuf import json_format

    from feast.protos.feast.types.Value_pb2 import Value

    if b is None:
        return None
    v = Value()
    v.ParseFromString(b)
    # proto3 JSON: int64 values appear as strings, bytes as base64.
    return json_format.MessageToDict(v, preserving_proto_field_name=True)


def _cell(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    return v


def dump_online_db(db_path: Path) -> Dict[str, Any]:
    """Readable dump of a Feast SQLite online store.

    Every cell is given with its SQLite storage class (typeof) because that is
    what a reader must cope with (e.g. event_ts is an INTEGER of epoch seconds,
    not text). Blobs are lowercase hex.
    """
    # No detect_types: we want the raw stored cells, not Feast's converters.
    conn = sqlite3.connect(str(db_path))
    try:
        objs = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        out: Dict[str, Any] = {
            "sqlite_master": [
                {"type": t, "name": n, "tbl_name": tn, "sql": s} for t, n, tn, s in objs
            ],
            "tables": {},
        }
        for t, name, _, _ in objs:
            if t != "table":
                continue
            cols = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            col_names = [c[1] for c in cols]
            select = ", ".join(f'"{c}", typeof("{c}")' for c in col_names)
            rows = conn.execute(
                f'SELECT {select} FROM "{name}" ORDER BY entity_key, feature_name'
            ).fetchall()
            drows = []
            for r in rows:
                row: Dict[str, Any] = {}
                for i, c in enumerate(col_names):
                    row[c] = _cell(r[2 * i])
                    row[c + "__type"] = r[2 * i + 1]
                row["entity_key__decoded"] = _decode_entity_key_v3(r[2 * col_names.index("entity_key")])
                row["value__decoded"] = _decode_value(r[2 * col_names.index("value")])
                drows.append(row)
            out["tables"][name] = {
                "columns": [
                    {"cid": c[0], "name": c[1], "decl_type": c[2], "notnull": c[3], "default": c[4], "pk": c[5]}
                    for c in cols
                ],
                "row_count": len(drows),
                "rows": drows,
            }
        return out
    finally:
        conn.close()


def write_db_dump(path: Path, dump: Dict[str, Any]) -> None:
    """Like write_json, but one line per row to keep the file small and diffable."""
    rows_by_table = {n: t.pop("rows") for n, t in dump["tables"].items()}
    text = json.dumps(dump, indent=2, ensure_ascii=False)
    for name, rows in rows_by_table.items():
        marker = json.dumps(name, ensure_ascii=False) + ": {"
        i = text.index(marker)
        j = text.index('"row_count"', i)
        j = text.index("\n", j)
        body = ",\n".join("        " + json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows)
        text = text[:j] + ',\n      "rows": [\n' + body + "\n      ]" + text[j:]
    json.loads(text)  # keep ourselves honest: the splice must stay valid JSON
    path.write_text(text + "\n", encoding="utf-8")


def dump_registry(registry_path: Path) -> Dict[str, Any]:
    from google.protobuf import json_format

    from feast.protos.feast.core.Registry_pb2 import Registry

    reg = Registry()
    reg.ParseFromString(registry_path.read_bytes())
    return json_format.MessageToDict(reg, preserving_proto_field_name=True)


# --------------------------------------------------------------------------
# HTTP cases
# --------------------------------------------------------------------------

HOURLY = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]
FRESH = [
    "driver_hourly_stats_fresh:conv_rate",
    "driver_hourly_stats_fresh:acc_rate",
    "driver_hourly_stats_fresh:avg_daily_trips",
]
PROFILE_ALL = [
    f"driver_profile:{f}"
    for f in (
        "name",
        "is_active",
        "rating",
        "trips_total",
        "license_hash",
        "score",
        "last_seen",
        "tags",
        "recent_trip_ids",
        "recent_ratings",
        "recent_speeds",
        "shift_flags",
        "zone_ids",
        "doc_hashes",
    )
]


def gof(entities: Dict[str, Any], features: Optional[List[str]] = None, **kw: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"entities": entities}
    if features is not None:
        body["features"] = features
    body.update(kw)
    return body


# (name, method, endpoint, body). body is a JSON-able object, or a str sent
# verbatim (for malformed JSON), or None for no body.
CASES: List[tuple] = [
    ("health", "GET", "/health", None),
    ("gof-one-entity", "POST", "/get-online-features", gof({"driver_id": [1001]}, HOURLY)),
    ("gof-several-entities", "POST", "/get-online-features", gof({"driver_id": [1001, 1002, 1003, 1004, 1005]}, HOURLY)),
    ("gof-missing-entity", "POST", "/get-online-features", gof({"driver_id": [1001, 9999]}, HOURLY)),
    ("gof-full-feature-names", "POST", "/get-online-features", gof({"driver_id": [1001, 1002]}, HOURLY, full_feature_names=True)),
    ("gof-feature-service", "POST", "/get-online-features", gof({"driver_id": [1001, 1002], "val_to_add": [1, 2], "val_to_add_2": [10, 20]}, feature_service="driver_activity_v1")),
    ("gof-feature-service-full-names", "POST", "/get-online-features", gof({"driver_id": [1001, 1002], "val_to_add": [1, 2], "val_to_add_2": [10, 20]}, feature_service="driver_activity_v1", full_feature_names=True)),
    ("gof-feature-service-v2", "POST", "/get-online-features", gof({"driver_id": [1003]}, feature_service="driver_activity_v2")),
    ("gof-feature-service-aliased", "POST", "/get-online-features", gof({"driver_id": [1003]}, feature_service="driver_activity_aliased", full_feature_names=True)),
    ("gof-profile-all-types", "POST", "/get-online-features", gof({"driver_id": [1001, 1003, 1004, 1005, 9999]}, PROFILE_ALL)),
    ("gof-profile-all-types-full-names", "POST", "/get-online-features", gof({"driver_id": [1002]}, PROFILE_ALL, full_feature_names=True)),
    ("gof-odfv-request-data", "POST", "/get-online-features", gof({"driver_id": [1001, 1002], "val_to_add": [1000, 2000], "val_to_add_2": [-1, -2]}, ["driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"])),
    ("gof-odfv-only", "POST", "/get-online-features", gof({"driver_id": [1003], "val_to_add": [5], "val_to_add_2": [7]}, ["transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"])),
    ("gof-odfv-missing-entity", "POST", "/get-online-features", gof({"driver_id": [9999], "val_to_add": [5], "val_to_add_2": [7]}, ["transformed_conv_rate:conv_rate_plus_val1"])),
    ("gof-duplicated-entity-rows", "POST", "/get-online-features", gof({"driver_id": [1001, 1001, 1002, 1001]}, HOURLY)),
    ("gof-two-views", "POST", "/get-online-features", gof({"driver_id": [1002, 1004]}, ["driver_profile:name", "driver_hourly_stats:conv_rate", "driver_profile:rating", "driver_hourly_stats:avg_daily_trips"])),
    ("gof-duplicate-feature-refs", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["driver_hourly_stats:conv_rate", "driver_hourly_stats:conv_rate"])),
    ("gof-version-metadata", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["driver_hourly_stats:conv_rate"], include_feature_view_version_metadata=True)),
    ("gof-composite-key", "POST", "/get-online-features", gof({"driver_id": [1001, 1002, 1001, 1005], "customer_id": ["c-01", "c-02", "c-02", "c-01"]}, ["driver_customer_stats:trips_together", "driver_customer_stats:total_spend"])),
    ("gof-composite-key-reversed-json-order", "POST", "/get-online-features", gof({"customer_id": ["c-01"], "driver_id": [1001]}, ["driver_customer_stats:trips_together", "driver_customer_stats:total_spend"])),
    ("gof-entityless", "POST", "/get-online-features", gof({"driver_id": [1001, 1002]}, ["global_stats:active_drivers", "global_stats:surge_multiplier"])),
    ("gof-entityless-with-view", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["global_stats:active_drivers", "driver_hourly_stats:conv_rate"])),
    ("gof-entityless-no-entities", "POST", "/get-online-features", gof({}, ["global_stats:active_drivers"])),
    ("gof-join-key-as-string", "POST", "/get-online-features", gof({"driver_id": ["1001"]}, ["driver_hourly_stats:conv_rate"])),
    ("gof-join-key-as-float", "POST", "/get-online-features", gof({"driver_id": [1001.0]}, ["driver_hourly_stats:conv_rate"])),
    ("gof-join-key-null", "POST", "/get-online-features", gof({"driver_id": [None, 1001]}, ["driver_hourly_stats:conv_rate"])),
    ("gof-entity-name-instead-of-join-key", "POST", "/get-online-features", gof({"driver": [1001]}, ["driver_hourly_stats:conv_rate"])),
    ("gof-unknown-extra-entity-key", "POST", "/get-online-features", gof({"driver_id": [1001], "not_a_key": ["x"]}, ["driver_hourly_stats:conv_rate"])),
    ("gof-empty-entity-list", "POST", "/get-online-features", gof({"driver_id": []}, ["driver_hourly_stats:conv_rate"])),
    # Materialize through HTTP, same window as the CLI run: idempotent.
    ("materialize", "POST", "/materialize", {"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-15T00:00:00", "feature_views": ["driver_hourly_stats"]}),
    # Push to online, then read back.
    ("push-online", "POST", "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [1001, 1002],
            "event_timestamp": ["2025-01-20 10:00:00+00:00", "2025-01-20 10:30:00+00:00"],
            "created": ["2025-01-20 10:01:00+00:00", "2025-01-20 10:31:00+00:00"],
            "conv_rate": [0.5, 0.25],
            "acc_rate": [0.75, 0.1],
            "avg_daily_trips": [123, 456],
        },
        "to": "online",
    }),
    # Sub-second event timestamp: the SQLite store keeps whole seconds only.
    ("push-online-subsecond", "POST", "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [1003],
            "event_timestamp": ["2025-01-20T11:00:00.250000+00:00"],
            "created": ["2025-01-20T11:00:01.500000+00:00"],
            "conv_rate": [0.375],
            "acc_rate": [0.625],
            "avg_daily_trips": [789],
        },
        "to": "online",
    }),
    # pandas infers one format from the first element; mixed formats fail.
    ("err-push-mixed-timestamp-formats", "POST", "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [1004, 1005],
            "event_timestamp": ["2025-01-20 10:00:00+00:00", "2025-01-20 10:30:00.250000+00:00"],
            "created": ["2025-01-20 10:01:00+00:00", "2025-01-20 10:31:00+00:00"],
            "conv_rate": [0.5, 0.25],
            "acc_rate": [0.75, 0.1],
            "avg_daily_trips": [123, 456],
        },
        "to": "online",
    }),
    ("push-online-readback", "POST", "/get-online-features", gof({"driver_id": [1001, 1002, 1003, 1004]}, FRESH)),
    # Push an OLDER event for 1001: SQLite keeps the last write, not the newest event.
    ("push-online-older-event", "POST", "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [1001],
            "event_timestamp": ["2025-01-19 00:00:00+00:00"],
            "created": ["2025-01-19 00:00:00+00:00"],
            "conv_rate": [0.0625],
            "acc_rate": [0.5],
            "avg_daily_trips": [7],
        },
        "to": "online",
    }),
    ("push-online-older-event-readback", "POST", "/get-online-features", gof({"driver_id": [1001]}, FRESH)),
    # write-to-online-store for a new driver in the wide view, then read back.
    ("write-to-online-store", "POST", "/write-to-online-store", {
        "feature_view_name": "driver_profile",
        "df": {
            "driver_id": [1006],
            "event_timestamp": ["2025-01-21 08:00:00+00:00"],
            "created": ["2025-01-21 08:00:01+00:00"],
            "name": ["Zed"],
            "is_active": [True],
            "rating": [4.5],
            "trips_total": [77],
            "license_hash": [None],
            "score": [0.5],
            "last_seen": [1737446340],
            "tags": [["new", "vip"]],
            "recent_trip_ids": [[1, 2, 3]],
            "recent_ratings": [[4.5, 5.0]],
            "recent_speeds": [[33.25]],
            "shift_flags": [[True, False]],
            "zone_ids": [[7]],
            "doc_hashes": [None],
        },
    }),
    ("err-write-unix-timestamp-as-string", "POST", "/write-to-online-store", {
        "feature_view_name": "driver_profile",
        "df": {
            "driver_id": [1008],
            "event_timestamp": ["2025-01-21 08:00:00+00:00"],
            "created": ["2025-01-21 08:00:01+00:00"],
            "name": ["Yan"],
            "is_active": [False],
            "rating": [3.0],
            "trips_total": [1],
            "license_hash": [None],
            "score": [0.25],
            "last_seen": ["2025-01-21 07:59:00+00:00"],
            "tags": [[]],
            "recent_trip_ids": [[]],
            "recent_ratings": [[]],
            "recent_speeds": [[]],
            "shift_flags": [[]],
            "zone_ids": [[]],
            "doc_hashes": [[]],
        },
    }),
    ("write-to-online-store-readback", "POST", "/get-online-features", gof({"driver_id": [1006]}, PROFILE_ALL)),
    ("write-to-online-store-hourly", "POST", "/write-to-online-store", {
        "feature_view_name": "driver_hourly_stats",
        "df": {
            "driver_id": [1007],
            "event_timestamp": ["2025-01-21 09:00:00+00:00"],
            "created": ["2025-01-21 09:00:00+00:00"],
            "conv_rate": [0.3],
            "acc_rate": [0.6],
            "avg_daily_trips": [9],
        },
    }),
    ("write-to-online-store-hourly-readback", "POST", "/get-online-features", gof({"driver_id": [1007]}, HOURLY)),
    # Errors.
    ("err-unknown-feature-view", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["no_such_view:conv_rate"])),
    ("err-unknown-feature", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["driver_hourly_stats:no_such_feature"])),
    ("err-unknown-feature-service", "POST", "/get-online-features", gof({"driver_id": [1001]}, feature_service="no_such_service")),
    ("err-missing-join-key", "POST", "/get-online-features", gof({"customer_id": ["c-01"]}, HOURLY)),
    ("gof-composite-key-missing-one-key", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["driver_customer_stats:trips_together"])),
    ("err-mismatched-entity-lengths", "POST", "/get-online-features", gof({"driver_id": [1001, 1002], "customer_id": ["c-01"]}, ["driver_customer_stats:trips_together"])),
    ("err-missing-request-data", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["transformed_conv_rate:conv_rate_plus_val1"])),
    ("err-bad-feature-ref-format", "POST", "/get-online-features", gof({"driver_id": [1001]}, ["conv_rate"])),
    ("err-no-features", "POST", "/get-online-features", gof({"driver_id": [1001]}, [])),
    ("err-missing-entities-field", "POST", "/get-online-features", {"features": HOURLY}),
    ("err-entities-not-object", "POST", "/get-online-features", {"entities": [1001], "features": HOURLY}),
    ("err-malformed-json", "POST", "/get-online-features", '{"entities": {"driver_id": [1001]}, "features": ['),
    ("err-join-key-bad-type", "POST", "/get-online-features", gof({"driver_id": ["abc"]}, ["driver_hourly_stats:conv_rate"])),
    ("err-push-bad-source", "POST", "/push", {
        "push_source_name": "no_such_push_source",
        "df": {"driver_id": [1001], "event_timestamp": ["2025-01-20 10:00:00+00:00"], "created": ["2025-01-20 10:00:00+00:00"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]},
        "to": "online",
    }),
    ("err-push-bad-to", "POST", "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {"driver_id": [1001], "event_timestamp": ["2025-01-20 10:00:00+00:00"], "created": ["2025-01-20 10:00:00+00:00"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [1]},
        "to": "nowhere",
    }),
    ("err-write-unknown-view", "POST", "/write-to-online-store", {
        "feature_view_name": "no_such_view",
        "df": {"driver_id": [1001], "event_timestamp": ["2025-01-20 10:00:00+00:00"], "conv_rate": [0.5]},
    }),
    ("err-materialize-bad-window", "POST", "/materialize", {"start_ts": "2025-01-15T00:00:00", "end_ts": "2025-01-01T00:00:00"}),
    ("err-unknown-endpoint", "POST", "/no-such-endpoint", {}),
    ("err-get-on-post-endpoint", "GET", "/get-online-features", None),
]


def replay_http(base: str, http_dir: Path) -> List[str]:
    written = []
    for i, (name, method, endpoint, body) in enumerate(CASES, start=1):
        # One connection per case: after an unhandled exception uvicorn closes
        # the keep-alive connection, which would reset the next request.
        headers = {"Connection": "close"}
        data: Optional[bytes] = None
        if isinstance(body, str):
            data = body.encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        resp = requests.request(method, base + endpoint, data=data, headers=headers, timeout=120)
        raw = resp.text
        try:
            parsed: Any = json.loads(raw) if raw else None
            parsed_ok = True
        except ValueError:
            parsed, parsed_ok = raw, False
        rec: Dict[str, Any] = {
            "name": name,
            "method": method,
            "endpoint": endpoint,
            "request": None if isinstance(body, str) else body,
            "request_raw": data.decode() if data is not None else None,
            "status": resp.status_code,
            "content_type": resp.headers.get("content-type"),
            "response": parsed,
            "response_is_json": parsed_ok,
            "response_raw": raw,
        }
        fname = f"{i:03d}-{name}.json"
        write_json(http_dir / fname, rec)
        written.append(fname)
        log(f"{fname}: {resp.status_code}")
    return written


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"feast serve exited early with code {proc.returncode}")
        try:
            if requests.get(base + "/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"feast serve did not become healthy within {timeout_s}s")


def stop_server(proc: subprocess.Popen) -> None:
    # The server was started in its own session; signal exactly that process
    # group (gunicorn master + its workers), nothing else.
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture output dir (wiped)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch feature repo dir (wiped)")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    work: Path = args.work.resolve()

    os.environ["TZ"] = "UTC"
    time.tzset()

    import feast  # imported late so --help works without Feast

    feast_bin = Path(sys.executable).with_name("feast")
    if not feast_bin.exists():
        raise SystemExit(f"feast CLI not found next to {sys.executable}")

    for d in (work, out):
        if d.exists():
            shutil.rmtree(d)
    (work / "data").mkdir(parents=True)
    for sub in ("data", "http", "repo"):
        (out / sub).mkdir(parents=True)
    cmd_log = work / "commands.log"

    # 1. Data.
    rng = np.random.default_rng(SEED)
    tables = {
        "driver_stats.parquet": gen_driver_stats(rng),
        "driver_profile.parquet": gen_driver_profile(rng),
        "driver_customer.parquet": gen_driver_customer(rng),
        "global_stats.parquet": gen_global_stats(rng),
    }
    for fname, tbl in tables.items():
        pq.write_table(tbl, out / "data" / fname, compression="zstd")
        shutil.copy(out / "data" / fname, work / "data" / fname)
        log(f"wrote data/{fname}: {tbl.num_rows} rows")

    # 2. Feature repo.
    (work / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (work / "definitions.py").write_text(DEFINITIONS_PY)
    shutil.copy(work / "feature_store.yaml", out / "repo" / "feature_store.yaml")
    shutil.copy(work / "definitions.py", out / "repo" / "definitions.py")

    run([str(feast_bin), "apply"], work, cmd_log)
    run([str(feast_bin), "materialize", MATERIALIZE_START, MATERIALIZE_END], work, cmd_log)

    # 3. Snapshots after materialize, before the server mutates anything.
    shutil.copy(work / "data" / "registry.db", out / "registry.db")
    shutil.copy(work / "data" / "online.db", out / "online.db")
    write_db_dump(out / "online_db_dump.json", dump_online_db(out / "online.db"))
    write_json(out / "registry_dump.json", dump_registry(out / "registry.db"))

    # 4. HTTP.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log = open(work / "serve.log", "wb")
    proc = subprocess.Popen(
        [str(feast_bin), "serve", "-h", "127.0.0.1", "-p", str(port), "--registry_ttl_sec", "3600", "--no-access-log"],
        cwd=work,
        env=feast_env(),
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(base, proc)
        http_files = replay_http(base, out / "http")
    finally:
        stop_server(proc)
        serve_log.close()

    # Online store after pushes / writes through HTTP.
    write_db_dump(out / "online_after_http_dump.json", dump_online_db(work / "data" / "online.db"))

    # 5. Provenance.
    import google.protobuf
    import pandas

    prov = textwrap.dedent(
        f"""\
        # Provenance of these fixtures

        Generated by `interop/gen_feast_fixtures.py` (see `interop/README.md`). Do not edit by hand;
        re-run the script instead.

        | item | value |
        |---|---|
        | feast | {feast.__version__} |
        | python | {platform.python_version()} ({platform.python_implementation()}) |
        | pyarrow | {pa.__version__} |
        | pandas | {pandas.__version__} |
        | numpy | {np.__version__} |
        | protobuf (python) | {google.protobuf.__version__} |
        | sqlite (python sqlite3 module) | {sqlite3.sqlite_version} |
        | platform | {platform.platform()} |
        | TZ during generation | UTC |
        | data seed | {SEED} |
        | materialize window | `feast materialize {MATERIALIZE_START} {MATERIALIZE_END}` |
        | project | `{PROJECT}` |
        | scratch repo path recorded in registry.db | `{work}` |

        Files:

        - `data/*.parquet`: generated source data (seeded, deterministic).
        - `repo/feature_store.yaml`, `repo/definitions.py`: the feature repo given to `feast apply`.
        - `registry.db`: raw bytes written by `feast apply` + `feast materialize` (contains wall-clock
          timestamps, so it differs from run to run); `registry_dump.json` is its proto-JSON.
        - `online.db`: raw SQLite file right after `feast materialize`; `online_db_dump.json` is a readable dump.
        - `online_after_http_dump.json`: dump of the same store after the HTTP cases (materialize,
          pushes, write-to-online-store); the SQLite file itself is not kept.
        - `http/NNN-name.json`: {len(http_files)} request/response pairs replayed in order against `feast serve`.
        """
    )
    (out / "PROVENANCE.md").write_text(prov)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"done: {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
