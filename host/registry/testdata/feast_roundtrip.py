"""Cross-check Larder's registry codec against Feast's own protobuf classes.

    python feast_roundtrip.py canonical REGISTRY_DB OUT
        Parse REGISTRY_DB with Feast's Registry message and write its deterministic
        serialization (sorted map keys) to OUT. The Go tests compare Larder's
        re-encoding with these bytes.

    python feast_roundtrip.py compare REGISTRY_DB LARDER_BYTES
        Parse both with Feast and check the messages are equal (proto equality), then
        rebuild Feast's Python objects from Larder's bytes. Exit 1 on any difference.

    python feast_roundtrip.py check LARDER_BYTES
        Parse a registry Larder wrote from scratch and rebuild Feast's Python objects.

Used with feast 0.67.0 (see README.md). Contains no Feast code.
"""

import sys

from feast.protos.feast.core.Registry_pb2 import Registry


def load(path):
    msg = Registry()
    with open(path, "rb") as f:
        msg.ParseFromString(f.read())
    return msg


def rebuild(msg):
    from feast.data_source import DataSource
    from feast.entity import Entity
    from feast.feature_service import FeatureService
    from feast.feature_view import FeatureView
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.project import Project

    objs = [Entity.from_proto(e) for e in msg.entities]
    objs += [FeatureView.from_proto(v) for v in msg.feature_views]
    objs += [OnDemandFeatureView.from_proto(v, skip_udf=True) for v in msg.on_demand_feature_views]
    objs += [FeatureService.from_proto(s) for s in msg.feature_services]
    objs += [DataSource.from_proto(s) for s in msg.data_sources]
    objs += [Project.from_proto(p) for p in msg.projects]
    return objs


def main():
    mode = sys.argv[1]
    if mode == "canonical":
        src, out = sys.argv[2:4]
        with open(out, "wb") as f:
            f.write(load(src).SerializeToString(deterministic=True))
        return 0
    if mode == "compare":
        original, ours = load(sys.argv[2]), load(sys.argv[3])
        if ours != original:
            print("MISMATCH: Feast decodes Larder's bytes to a different Registry")
            return 1
        print(f"OK: equal messages; Feast rebuilt {len(rebuild(ours))} objects")
        return 0
    if mode == "check":
        ours = load(sys.argv[2])
        objs = rebuild(ours)
        print(f"OK: Feast rebuilt {len(objs)} objects: " + ", ".join(sorted(o.name for o in objs)))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
