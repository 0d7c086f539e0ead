//! The plugin's logic against the SDK's in-memory Redis (the same request bytes the real
//! capability receives). The Go test conformance/redis_test.go runs the built .wasm against
//! a real redis-server.

use larder_sdk::mock::{self, Store};
use larder_sdk::online::{FeatureValue, ReadRequest, ReadView, Table, UpdateRequest, WriteRequest, WriteRow};
use larder_sdk::{FieldStatus, LogLevel, Status};
use plugin::RedisStore;

/// {driver_id: int64 id} serialized with entity-key serialization v3.
fn driver(id: i64) -> Vec<u8> {
    let mut k = vec![1, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0];
    k.extend_from_slice(b"driver_id");
    k.extend_from_slice(&[4, 0, 0, 0, 8, 0, 0, 0]);
    k.extend_from_slice(&id.to_le_bytes());
    k
}

fn write(s: &mut Store<RedisStore>, view: &str, features: &[&str], rows: Vec<(i64, i64, Vec<Option<&[u8]>>)>) {
    s.write(&WriteRequest {
        project: "proj".into(),
        view: view.into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        rows: rows
            .into_iter()
            .map(|(id, ts, vals)| WriteRow { entity_key: driver(id), event_ts: ts, created_ts: None, values: vals.into_iter().map(|v| v.map(|b| b.to_vec())).collect() })
            .collect(),
    })
    .unwrap();
}

fn read(s: &mut Store<RedisStore>, views: &[(&str, &[&str], &[i64])]) -> Vec<Vec<FeatureValue>> {
    s.read(&ReadRequest {
        project: "proj".into(),
        views: views
            .iter()
            .map(|(n, fs, ids)| ReadView {
                name: n.to_string(),
                features: fs.iter().map(|f| f.to_string()).collect(),
                entity_keys: ids.iter().map(|i| driver(*i)).collect(),
            })
            .collect(),
    })
    .unwrap()
}

const FV: &str = "driver_hourly_stats";
const T0: i64 = 1_618_225_182_000_000; // 2021-04-12T10:59:42Z

#[test]
fn layout_is_feasts_byte_for_byte() {
    mock::reset();
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    write(&mut s, FV, &["conv_rate", "acc_rate"], vec![(1001, T0, vec![Some(b"\x35\x00\x00\x00\x3f"), None])]);
    let mut key = driver(1001);
    key.extend_from_slice(b"proj");
    let srv = server.borrow();
    let h = srv.hash(&key).expect("the hash key is entity key ‖ project");
    let fields: Vec<String> = h.keys().map(|k| k.iter().map(|b| format!("{:02x}", b)).collect()).collect();
    // murmur3("driver_hourly_stats:conv_rate") = 6160e3da; "_ts:..." in hex; acc_rate (None) not written.
    assert_eq!(fields, vec!["5f74733a6472697665725f686f75726c795f7374617473".to_string(), "6160e3da".to_string()]);
    assert_eq!(h.get(&b"_ts:driver_hourly_stats"[..]).unwrap(), &vec![0x08, 0x9e, 0xd0, 0xd0, 0x83, 0x06]);
    assert_eq!(h.get(&[0x61u8, 0x60, 0xe3, 0xda][..]).unwrap(), &b"\x35\x00\x00\x00\x3f".to_vec());
    assert_eq!(srv.expiry(&key), None);
}

#[test]
fn read_is_one_pipeline_over_all_views() {
    mock::reset();
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    write(&mut s, "a", &["x", "y"], vec![(1, T0, vec![Some(b"x1"), Some(b"y1")]), (2, T0 + 1, vec![Some(b"x2"), Some(b"")])]);
    write(&mut s, "b", &["z"], vec![(1, T0 + 7, vec![Some(b"z1")])]);
    let calls = server.borrow().calls;
    let got = read(&mut s, &[("a", &["y", "x"], &[2, 3, 1]), ("b", &["z", "missing"], &[1, 2])]);
    assert_eq!(server.borrow().calls, calls + 1, "one pipeline for every view of the read");
    let p = |v: &[u8], ts| FeatureValue::present(v.to_vec(), ts);
    let nf = FeatureValue::not_found();
    assert_eq!(got[0], vec![p(b"", T0 + 1), p(b"x2", T0 + 1), nf.clone(), nf.clone(), p(b"y1", T0), p(b"x1", T0)]);
    assert_eq!(got[1], vec![p(b"z1", T0 + 7), nf.clone(), nf.clone(), nf.clone()]);
    assert_eq!(got[1][1].status, FieldStatus::NotFound);
}

#[test]
fn writes_only_newer_rows() {
    mock::reset();
    let _server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    write(&mut s, FV, &["f"], vec![(1, T0, vec![Some(b"first")])]);
    // Older and same-instant writes are ignored, as in Feast.
    write(&mut s, FV, &["f"], vec![(1, T0 - 1, vec![Some(b"older")]), (1, T0, vec![Some(b"same")])]);
    assert_eq!(read(&mut s, &[(FV, &["f"], &[1])])[0][0].value.as_deref(), Some(&b"first"[..]));
    // Within a batch the newest row wins, whatever the order.
    write(&mut s, FV, &["f"], vec![(1, T0 + 5, vec![Some(b"newest")]), (1, T0 + 2, vec![Some(b"newer")]), (2, T0, vec![Some(b"other")])]);
    let got = read(&mut s, &[(FV, &["f"], &[1, 2])]);
    assert_eq!(got[0][0], FeatureValue::present(b"newest".to_vec(), T0 + 5));
    assert_eq!(got[0][1], FeatureValue::present(b"other".to_vec(), T0));
    // Sub-second precision counts (nanoseconds in the stored Timestamp).
    write(&mut s, FV, &["f"], vec![(1, T0 + 6, vec![Some(b"micro")])]);
    assert_eq!(read(&mut s, &[(FV, &["f"], &[1])])[0][0], FeatureValue::present(b"micro".to_vec(), T0 + 6));
}

#[test]
fn skip_dedup_writes_in_one_pipeline() {
    mock::reset();
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new(r#"{"skip_dedup": true}"#).unwrap();
    write(&mut s, FV, &["f"], vec![(1, T0, vec![Some(b"new")])]);
    write(&mut s, FV, &["f"], vec![(1, T0 - 10, vec![Some(b"old")])]);
    assert_eq!(server.borrow().calls, 2);
    assert_eq!(read(&mut s, &[(FV, &["f"], &[1])])[0][0].value.as_deref(), Some(&b"old"[..]));
}

#[test]
fn key_ttl_sets_expire() {
    mock::reset();
    mock::set_now(T0);
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new(r#"{"key_ttl_seconds": 3600, "connection_string": "ignored", "redis_type": "redis"}"#).unwrap();
    write(&mut s, FV, &["f"], vec![(1, T0, vec![Some(b"v")])]);
    let mut key = driver(1);
    key.extend_from_slice(b"proj");
    assert_eq!(server.borrow().expiry(&key), Some(T0 / 1000 + 3_600_000));
    assert!(server.borrow().log.contains(&"EXPIRE"));
}

#[test]
fn update_deletes_a_views_fields_or_keys() {
    mock::reset();
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    write(&mut s, "a", &["x"], vec![(1, T0, vec![Some(b"a1")]), (2, T0, vec![Some(b"a2")])]);
    write(&mut s, "b", &["y"], vec![(1, T0, vec![Some(b"b1")])]);
    let table = |n: &str, f: &str| Table { name: n.into(), features: vec![f.into()], join_keys: vec!["driver_id".into()] };
    s.update(&UpdateRequest { project: "proj".into(), tables_to_keep: vec![table("b", "y")], tables_to_delete: vec![table("a", "x")] }).unwrap();
    let got = read(&mut s, &[("a", &["x"], &[1, 2]), ("b", &["y"], &[1])]);
    assert_eq!(got[0], vec![FeatureValue::not_found(), FeatureValue::not_found()]);
    assert_eq!(got[1][0].value.as_deref(), Some(&b"b1"[..]));
    // Entity 2 only had view a: its key is gone; entity 1 keeps view b's fields only.
    assert_eq!(server.borrow().keys().len(), 1);
    // Another project's data is untouched by this project's teardown.
    s.write(&WriteRequest { project: "other".into(), view: "b".into(), features: vec!["y".into()], rows: vec![WriteRow { entity_key: driver(1), event_ts: T0, created_ts: None, values: vec![Some(b"o".to_vec())] }] }).unwrap();
    s.teardown(&UpdateRequest { project: "proj".into(), tables_to_keep: vec![], tables_to_delete: vec![table("b", "y")] }).unwrap();
    assert_eq!(server.borrow().keys().len(), 1);
    assert!(server.borrow().keys()[0].ends_with(b"other"));
    // Idempotent.
    s.teardown(&UpdateRequest { project: "proj".into(), tables_to_keep: vec![], tables_to_delete: vec![table("b", "y")] }).unwrap();
}

#[test]
fn config_and_errors() {
    mock::reset();
    for bad in [r#"{"key_ttl_seconds": -1}"#, r#"{"key_ttl_seconds": "1h"}"#, r#"{"skip_dedup": "yes"}"#, r#"{"entity_key_serialization_version": 9}"#] {
        let err = Store::<RedisStore>::new(bad).err().expect(bad);
        assert_eq!(err.status, Status::BadArgument, "{}: {}", bad, err);
    }
    Store::<RedisStore>::new(r#"{"surprise": 1}"#).unwrap();
    assert!(mock::logs().iter().any(|(l, m)| *l == LogLevel::Warn && m.contains("surprise")));

    // Not granted: PERMISSION_DENIED; server down: UNAVAILABLE, with context.
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    let req = ReadRequest { project: "p".into(), views: vec![ReadView { name: "v".into(), features: vec!["f".into()], entity_keys: vec![driver(1)] }] };
    assert_eq!(s.read(&req).unwrap_err().status, Status::PermissionDenied);
    let server = mock::grant_redis("online");
    server.borrow_mut().fail = Some((Status::Unavailable, "connection refused".into()));
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    let err = s.read(&req).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert!(err.message.contains("reading features") && err.message.contains("connection refused"), "{}", err);
}

#[test]
fn corrupt_stored_timestamp_is_a_serialization_failure() {
    mock::reset();
    let server = mock::grant_redis("online");
    let mut s = Store::<RedisStore>::new("{}").unwrap();
    write(&mut s, FV, &["f"], vec![(1, T0, vec![Some(b"v")])]);
    let mut key = driver(1);
    key.extend_from_slice(b"proj");
    {
        let mut p = larder_sdk::redis::Pipeline::new();
        p.hset(&key, &[(&b"_ts:driver_hourly_stats"[..], &b"\xff"[..])]);
        server.borrow_mut().handle(1, p.bytes()).unwrap();
    }
    let req = ReadRequest { project: "proj".into(), views: vec![ReadView { name: FV.into(), features: vec!["f".into()], entity_keys: vec![driver(1)] }] };
    assert_eq!(s.read(&req).unwrap_err().status, Status::SerializationFailure);
}
