#!/usr/bin/env python3
"""Set-up and materialization half of scripts/bench-redis.sh (issue 6's Redis benchmark).

Writes a feature repo of 5 feature views × 10 features (FLOAT, INT64, DOUBLE, STRING in
turn) over one entity `driver_id`, one Parquet file per view with one row per entity,
in two copies that differ only in the Redis database they store in:

  WORK/feast   database --feast-db:  `feast apply`, then FeatureStore.materialize, timed
               in-process (the interpreter's start-up and imports are not counted);
  WORK/larder  database --larder-db: `feast apply` (the registry is Feast's), then
               `larder materialize`, timed as the whole CLI process (start-up, plugin
               loading from the compiled-module cache and all).

Each is run once untimed first, then its database is emptied and the timed run writes
every row again.

Then checks that both databases hold the same keys and the same bytes (Feast's layout
either way), and writes the request bodies WORK/request-{1x10,1x50,100x50}.json:
1 entity × 10 features (2 from each view), 1 × 50 and 100 × 50 (every feature of the
5 views). Prints one JSON line with the materialization timings.

Run with Feast's interpreter: /opt/feast-venv/bin/python interop/bench_redis.py --redis HOST:PORT
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import redis

VIEWS, FEATURES = 5, 10
PROJECT = "benchredis"
TS = datetime(2025, 1, 14, 12, 0, tzinfo=timezone.utc)
START, END = "2025-01-01T00:00:00", "2025-01-15T00:00:00"
# Feast's window includes END, Larder's does not: one second more loads the same rows.
LARDER_END = "2025-01-15T00:00:01"
TYPES = ["Float32", "Int64", "Float64", "String"]


def feature(v: int, f: int) -> str:
    # Unique names: Feast refuses duplicate column names across views unless
    # full_feature_names is set.
    return f"v{v}_f{f}"


def definitions() -> str:
    out = [
        "from datetime import timedelta",
        "from feast import Entity, FeatureView, Field, FileSource, ValueType",
        "from feast.types import Float32, Float64, Int64, String",
        'driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)',
    ]
    for v in range(VIEWS):
        fields = ", ".join(f'Field(name="{feature(v, f)}", dtype={TYPES[f % 4]})' for f in range(FEATURES))
        out += [
            f'src{v} = FileSource(name="src{v}", path="data/view{v}.parquet", timestamp_field="event_timestamp", created_timestamp_column="created")',
            f'fv{v} = FeatureView(name="fv{v}", entities=[driver], ttl=timedelta(days=36500), schema=[{fields}], online=True, source=src{v})',
        ]
    return "\n".join(out) + "\n"


def write_data(data: Path, entities: int) -> None:
    rng = np.random.default_rng(20250114)
    ids = np.arange(1000, 1000 + entities, dtype=np.int64)
    ts = pa.array([TS] * entities, type=pa.timestamp("us", tz="UTC"))
    for v in range(VIEWS):
        cols = {"driver_id": pa.array(ids), "event_timestamp": ts, "created": ts}
        for f in range(FEATURES):
            t = TYPES[f % 4]
            if t == "Float32":
                cols[feature(v, f)] = pa.array(rng.random(entities, dtype=np.float32))
            elif t == "Float64":
                cols[feature(v, f)] = pa.array(rng.random(entities))
            elif t == "Int64":
                cols[feature(v, f)] = pa.array(rng.integers(0, 1 << 40, entities, dtype=np.int64))
            else:
                cols[feature(v, f)] = pa.array([f"value-{i}-{v}-{f}" for i in range(entities)])
        pq.write_table(pa.table(cols), data / f"view{v}.parquet")


def yaml(redis_addr: str, db: int) -> str:
    return (f"project: {PROJECT}\nregistry: data/registry.db\nprovider: local\n"
            f"online_store:\n  type: redis\n  connection_string: \"{redis_addr},db={db}\"\n"
            "offline_store:\n  type: file\nentity_key_serialization_version: 3\nauth:\n  type: no_auth\n")


def body(entities: int, refs: list) -> dict:
    return {"entities": {"driver_id": [1000 + i for i in range(entities)]}, "features": refs}


def feast_env() -> dict:
    env = dict(os.environ, TZ="UTC", FEAST_USAGE="False")
    env.pop("FEAST_FS_YAML_FILE_PATH", None)
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis", required=True, help="HOST:PORT of a Redis this benchmark may flush")
    ap.add_argument("--work", type=Path, default=Path("/tmp/larder-bench-redis"))
    ap.add_argument("--entities", type=int, default=10000)
    ap.add_argument("--feast-db", type=int, default=1)
    ap.add_argument("--larder-db", type=int, default=2)
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--larder", type=Path, default=root / "build" / "larder")
    args = ap.parse_args()
    os.environ.update(TZ="UTC", FEAST_USAGE="False")
    time.tzset()

    if args.work.exists():
        shutil.rmtree(args.work)
    a, b = args.work / "feast", args.work / "larder"
    (a / "data").mkdir(parents=True)
    write_data(a / "data", args.entities)
    (a / "definitions.py").write_text(definitions())
    shutil.copytree(a, b)
    (a / "feature_store.yaml").write_text(yaml(args.redis, args.feast_db))
    (b / "feature_store.yaml").write_text(yaml(args.redis, args.larder_db))
    host, port = args.redis.rsplit(":", 1)
    clients = {db: redis.Redis(host=host, port=int(port), db=db) for db in (args.feast_db, args.larder_db)}
    for c in clients.values():
        c.flushdb()
    feast_bin = Path(sys.executable).with_name("feast")
    for repo in (a, b):
        p = subprocess.run([str(feast_bin), "apply"], cwd=repo, env=feast_env(), capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"feast apply in {repo} failed:\n{p.stdout}\n{p.stderr}")

    rows = args.entities * VIEWS
    from feast import FeatureStore  # after the environment is set

    store = FeatureStore(repo_path=str(a))

    def feast_materialize() -> None:
        # Feast prints progress on stdout, which carries this script's JSON result.
        with contextlib.redirect_stdout(sys.stderr):
            store.materialize(datetime.fromisoformat(START), datetime.fromisoformat(END))

    def larder_materialize() -> None:
        p = subprocess.run([str(args.larder), "materialize", "-C", str(b), START, LARDER_END],
                           env=feast_env(), capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"larder materialize failed:\n{p.stdout}\n{p.stderr}")

    # A first, untimed run of each fills caches (Larder's compiled-module cache, Feast's
    # lazy imports); the databases are emptied before the timed runs, since both stores
    # write a row only when it is newer than the stored one.
    timings = {}
    for name, fn, db in (("feast", feast_materialize, args.feast_db), ("larder", larder_materialize, args.larder_db)):
        fn()
        clients[db].flushdb()
        t0 = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - t0
    feast_s, larder_s = timings["feast"], timings["larder"]

    # Same keys, same fields, same bytes.
    fc, lc = clients[args.feast_db], clients[args.larder_db]
    fkeys, lkeys = set(fc.scan_iter(count=1000)), set(lc.scan_iter(count=1000))
    if len(fkeys) != args.entities or fkeys != lkeys:
        raise SystemExit(f"key sets differ: Feast {len(fkeys)}, Larder {len(lkeys)}, common {len(fkeys & lkeys)}")
    diffs = 0
    for k in list(fkeys)[:500]:
        if fc.hgetall(k) != lc.hgetall(k):
            diffs += 1
    if diffs:
        raise SystemExit(f"{diffs} of 500 sampled keys hold different bytes in Feast's and Larder's databases")

    refs_all = [f"fv{v}:{feature(v, f)}" for v in range(VIEWS) for f in range(FEATURES)]
    refs_10 = [f"fv{v}:{feature(v, f)}" for v in range(VIEWS) for f in range(2)]
    for name, obj in [("1x10", body(1, refs_10)), ("1x50", body(1, refs_all)), ("100x50", body(100, refs_all))]:
        (args.work / f"request-{name}.json").write_text(json.dumps(obj))
    print(json.dumps({
        "rows": rows, "entities": args.entities, "views": VIEWS, "features_per_view": FEATURES,
        "feast_materialize_s": round(feast_s, 3), "feast_rows_per_s": round(rows / feast_s),
        "larder_materialize_s": round(larder_s, 3), "larder_rows_per_s": round(rows / larder_s),
        "keys": len(fkeys), "sampled_keys_identical": 500,
    }))


if __name__ == "__main__":
    main()
