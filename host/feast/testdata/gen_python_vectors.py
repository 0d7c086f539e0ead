"""Generate python_vectors.json: what Feast's Python SDK produces for Values, entity keys,
JSON rendering, timestamps, float repr, JSON→Value coercion and MurmurHash3.

Run with a Python that has feast installed (vectors committed were made with feast 0.67.0,
protobuf 7.36.2 upb):

    /opt/feast-venv/bin/python host/feast/testdata/gen_python_vectors.py > host/feast/testdata/python_vectors.json

The Go tests in host/feast read the JSON and check byte/text equality. This script only
calls Feast's public helpers; it contains no Feast code.
"""

import json
import sys

import mmh3
from google.protobuf.timestamp_pb2 import Timestamp

import feast
from feast.feature_server_utils import _timestamp_to_str, _value_to_native
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types import Value_pb2 as V
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType


def render(v):
    # Starlette's JSONResponse settings.
    return json.dumps(
        _value_to_native(v), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def m(**kw):
    return V.Value(**kw)


values = {
    "unset": m(),
    "null": m(null_val=V.NULL),
    "bytes": m(bytes_val=b"\x00\x01hi\xff"),
    "bytes_empty": m(bytes_val=b""),
    "string": m(string_val="héllo \"q\" \\ \n\t\x01 \u2028 <&>"),
    "string_empty": m(string_val=""),
    "int32": m(int32_val=7),
    "int32_zero": m(int32_val=0),
    "int32_neg": m(int32_val=-1),
    "int32_min": m(int32_val=-(2**31)),
    "int64": m(int64_val=1001),
    "int64_zero": m(int64_val=0),
    "int64_neg": m(int64_val=-5),
    "int64_max": m(int64_val=2**63 - 1),
    "double": m(double_val=0.1),
    "double_zero": m(double_val=0.0),
    "double_negzero": m(double_val=-0.0),
    "double_big": m(double_val=1e16),
    "double_small": m(double_val=1e-5),
    "double_nan": m(double_val=float("nan")),
    "double_inf": m(double_val=float("inf")),
    "double_ninf": m(double_val=float("-inf")),
    "float": m(float_val=0.7037263512611389),
    "float_one": m(float_val=1.0),
    "float_third": m(float_val=1 / 3),
    "bool_true": m(bool_val=True),
    "bool_false": m(bool_val=False),
    "unix_ts": m(unix_timestamp_val=1646263500),
    "unix_ts_zero": m(unix_timestamp_val=0),
    "bytes_list": m(bytes_list_val=V.BytesList(val=[b"a", b"", b"\xff"])),
    "string_list": m(string_list_val=V.StringList(val=["a", "", "ü"])),
    "string_list_empty": m(string_list_val=V.StringList(val=[])),
    "int32_list": m(int32_list_val=V.Int32List(val=[1, -1, 0, 300])),
    "int64_list": m(int64_list_val=V.Int64List(val=[1, -1, 0, 2**40])),
    "int64_list_empty": m(int64_list_val=V.Int64List(val=[])),
    "double_list": m(double_list_val=V.DoubleList(val=[0.5, -2.25, 1e100])),
    "double_list_nan": m(double_list_val=V.DoubleList(val=[1.0, float("nan")])),
    "float_list": m(float_list_val=V.FloatList(val=[0.1, 2.5])),
    "bool_list": m(bool_list_val=V.BoolList(val=[True, False, True])),
    "unix_ts_list": m(
        unix_timestamp_list_val=V.Int64List(val=[1646263500, -9223372036854775808])
    ),
    "int64_set": m(int64_set_val=V.Int64Set(val=[3, 1])),
    "string_set": m(string_set_val=V.StringSet(val=["x"])),
    "bytes_set": m(bytes_set_val=V.BytesSet(val=[b"\x01"])),
    "float_set": m(float_set_val=V.FloatSet(val=[1.5])),
    "json": m(json_val='{"a": [1, 2]}'),
    "json_list": m(json_list_val=V.StringList(val=['{"a": 1}', "[]"])),
    "uuid": m(uuid_val="123e4567-e89b-12d3-a456-426614174000"),
    "time_uuid": m(time_uuid_val="a8098c1a-f86e-11da-bd1a-00112444be1e"),
    "uuid_list": m(uuid_list_val=V.StringList(val=["u1", "u2"])),
    "decimal": m(decimal_val="3.14159"),
    "decimal_list": m(decimal_list_val=V.StringList(val=["1.0", "-2"])),
    "map_one": m(map_val=V.Map(val={"k": m(int64_val=1)})),
    "map_empty_value": m(map_val=V.Map(val={"k": m()})),
    "map_empty": m(map_val=V.Map()),
    "struct_one": m(struct_val=V.Map(val={"name": m(string_val="bob")})),
    "map_nested": m(
        map_val=V.Map(val={"inner": m(map_val=V.Map(val={"x": m(double_val=2.5)}))})
    ),
    "map_list": m(
        map_list_val=V.MapList(
            val=[V.Map(val={"a": m(bool_val=True)}), V.Map()]
        )
    ),
    "list_val": m(
        list_val=V.RepeatedValue(
            val=[m(int64_list_val=V.Int64List(val=[1, 2])), m(), m(string_val="s")]
        )
    ),
    "set_val": m(set_val=V.RepeatedValue(val=[m(int32_val=1)])),
    "zoned": m(zoned_timestamp_val=V.ZonedTimestamp(unix_timestamp=1700000000, zone="Europe/Berlin")),
    "zoned_offset": m(zoned_timestamp_val=V.ZonedTimestamp(unix_timestamp=1700000000, zone="+05:30")),
    "zoned_utc_default": m(zoned_timestamp_val=V.ZonedTimestamp(unix_timestamp=1700000000)),
    "zoned_zero": m(zoned_timestamp_val=V.ZonedTimestamp()),
}

# Maps with several keys: Python's default order is insertion order, so only the
# deterministic serialization is comparable.
multi_key_maps = {
    "map_multi": m(map_val=V.Map(val={"b": m(int64_val=2), "a": m(string_val="x"), "c": m()})),
}

out = {"feast_version": feast.__version__, "values": [], "float_repr": [], "timestamps": [],
       "entity_keys": [], "coercions": [], "murmur": []}

for name, v in values.items():
    out["values"].append({"name": name, "hex": v.SerializeToString().hex(), "json": render(v)})
for name, v in multi_key_maps.items():
    out["values"].append(
        {"name": name, "hex": v.SerializeToString(deterministic=True).hex(), "json": render(v),
         "json_order_unstable": True}
    )

for f in [0.0, -0.0, 1.0, 1.5, 0.1, 1e-4, 1e-5, 1.5e-5, 123456789.0, 1e15, 1e16, 1.23e16, 9999999999999998.0,
          1234567890123456.7, 2.5e-300, 5e-324, 1.7976931348623157e308, 1e22, 1e21, 100.0, 0.5,
          3.141592653589793, -7.25e-7, 12345678.9]:
    out["float_repr"].append({"bits": __import__("struct").pack("<d", f).hex(), "repr": repr(f)})

for s, n in [(0, 0), (1640995200, 0), (1640995200, 5000000), (1640995200, 123000), (1640995200, 123456789),
             (1640995200, 1), (0, 1000000), (-1, 0), (253402300799, 999999999)]:
    ts = Timestamp(seconds=s, nanos=n)
    out["timestamps"].append({"seconds": s, "nanos": n, "text": _timestamp_to_str(ts),
                              "proto_hex": ts.SerializeToString().hex()})

key_cases = [
    (["driver_id"], [m(int64_val=1001)]),
    (["__dummy_id"], [m(string_val="")]),
    (["driver_id", "customer_id"], [m(int64_val=5), m(string_val="c-1")]),
    (["b", "a", "c"], [m(int32_val=-2), m(bytes_val=b"\x00\xff"), m(unix_timestamp_val=1646263500)]),
    (["ключ"], [m(string_val="значение")]),
    ([], []),
]
for keys, vals in key_cases:
    ek = EntityKey(join_keys=keys, entity_values=vals)
    row = {"join_keys": keys, "values_hex": [v.SerializeToString().hex() for v in vals]}
    for ver in (3, 2):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row[f"v{ver}"] = serialize_entity_key(ek, entity_key_serialization_version=ver).hex()
    out["entity_keys"].append(row)

# JSON text → Python object (as FastAPI would parse it) → Value for a target type.
coercions = [
    ("1", "INT64"), ("1.0", "INT64"), ("1.5", "INT64"), ('"5"', "INT64"), ("true", "INT64"),
    ("-3", "INT32"), ("2147483648", "INT32"), ("null", "INT64"), ('"abc"', "INT64"),
    ("5", "STRING"), ("1.0", "STRING"), ("1e16", "STRING"), ("true", "STRING"), ('"x"', "STRING"),
    ("0.1", "FLOAT"), ('"2.5"', "FLOAT"), ("3", "FLOAT"), ("0.1", "DOUBLE"), ("3", "DOUBLE"),
    ('"3"', "DOUBLE"), ("true", "DOUBLE"), ("true", "BOOL"), ("0", "BOOL"), ("1", "BOOL"),
    ("1.0", "BOOL"), ('"true"', "BOOL"), ("1646263500", "UNIX_TIMESTAMP"), ('"x"', "BYTES"),
    ('"123e4567-e89b-12d3-a456-426614174000"', "UUID"), ('"1.50"', "DECIMAL"), ("1.5", "DECIMAL"),
    ("[1, 2, null]", "INT64_LIST"), ("[1.5]", "INT64_LIST"), ("[0.5, 2.0]", "FLOAT_LIST"),
    ('["a", null]', "STRING_LIST"), ("[true, false]", "BOOL_LIST"), ("[1.5, 2]", "DOUBLE_LIST"),
    ("[1646263500, null]", "UNIX_TIMESTAMP_LIST"), ("[]", "INT64_LIST"),
    ('{"a": 1, "b": "x", "c": null, "d": [1, 2], "e": {"f": true}, "g": 1.5}', "MAP"),
    ('{"a": 1}', "STRUCT"), ('[{"a": 1}, {}]', "MAP_LIST"),
    ('{"b": [1, 2], "a": "é"}', "JSON"), ('"{\\"x\\": 1}"', "JSON"), ('"[1"', "JSON"), ("1.0", "JSON"),
    ('[{"a": 1}, "[]"]', "JSON_LIST"),
    ("[[1, 2], [], [\"a\"]]", "VALUE_LIST"),
    # inference (no declared type)
    ("1", "UNKNOWN"), ("1.0", "UNKNOWN"), ('"s"', "UNKNOWN"), ("true", "UNKNOWN"),
    ("[1, 2]", "UNKNOWN"), ("[1.5, 2.5]", "UNKNOWN"), ('["a"]', "UNKNOWN"), ("[true]", "UNKNOWN"),
    ("[1, 2.5]", "UNKNOWN"), ('{"a": 1}', "UNKNOWN"), ('[{"a": 1}]', "UNKNOWN"), ("null", "UNKNOWN"),
    ("[]", "UNKNOWN"),
]
for raw, t in coercions:
    row = {"json": raw, "type": t}
    try:
        pv = python_values_to_proto_values([json.loads(raw)], ValueType[t])[0]
        row["hex"] = pv.SerializeToString(deterministic=True).hex()
    except Exception as e:  # noqa: BLE001 - we record which inputs Feast rejects
        row["error"] = f"{type(e).__name__}: {e}"
    out["coercions"].append(row)

for s in ["foo", "", "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
          "driver_hourly_stats:avg_daily_trips", "hello, world"]:
    b = s.encode()
    out["murmur"].append({"hex": b.hex(), "x86_32": mmh3.hash(b, signed=False),
                          "x64_128": mmh3.hash_bytes(b).hex()})
for hx in ["0100000002000000090000006472697665725f69640400000008000000e903000000000000"]:
    b = bytes.fromhex(hx)
    out["murmur"].append({"hex": hx, "x86_32": mmh3.hash(b, signed=False), "x64_128": mmh3.hash_bytes(b).hex()})
for n in range(1, 20):
    b = bytes(range(n))
    out["murmur"].append({"hex": b.hex(), "x86_32": mmh3.hash(b, seed=0, signed=False),
                          "x86_32_seed42": mmh3.hash(b, seed=42, signed=False),
                          "x64_128": mmh3.hash_bytes(b).hex(), "x64_128_seed42": mmh3.hash_bytes(b, seed=42).hex()})

json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
