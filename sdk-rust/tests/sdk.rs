use larder_sdk::online::{FeatureValue, ReadRequest, ReadView, Table, UpdateRequest, WriteRequest, WriteRow};
use larder_sdk::{json, mock, Batch, BatchBuilder, Capability, Error, FieldStatus, OnlineStore, Status, Transformation, Type};
use std::collections::HashMap;

fn every_type() -> BatchBuilder {
    let mut b = BatchBuilder::new();
    for row in 0..3usize {
        let null = row == 1;
        macro_rules! put {
            ($name:expr, $ty:expr, $push:expr) => {{
                let c = b.column($name, $ty).unwrap();
                if null {
                    c.push_null()
                } else {
                    $push(c).unwrap()
                }
            }};
        }
        let r = row as i64;
        put!("bytes", Type::Bytes, |c: &mut larder_sdk::ColumnBuilder| c.push_bytes(&[r as u8, 0xff]));
        put!("string", Type::String, |c: &mut larder_sdk::ColumnBuilder| c.push_str(if row == 0 { "héllo" } else { "" }));
        put!("int32", Type::Int32, |c: &mut larder_sdk::ColumnBuilder| c.push_i32(-7 * (r as i32 + 1)));
        put!("int64", Type::Int64, |c: &mut larder_sdk::ColumnBuilder| c.push_i64(i64::MIN + r));
        put!("double", Type::Double, |c: &mut larder_sdk::ColumnBuilder| c.push_f64(0.25 * (r + 1) as f64));
        put!("float", Type::Float, |c: &mut larder_sdk::ColumnBuilder| c.push_f32(r as f32 + 0.5));
        put!("bool", Type::Bool, |c: &mut larder_sdk::ColumnBuilder| c.push_bool(row == 2));
        put!("ts", Type::UnixTimestamp, |c: &mut larder_sdk::ColumnBuilder| c.push_timestamp(1_700_000_000_000_000 + r));
        put!("bytes_list", Type::BytesList, |c: &mut larder_sdk::ColumnBuilder| c.push_bytes_list(&[vec![1u8], vec![], vec![2, 3]][..row + 1]));
        put!("string_list", Type::StringList, |c: &mut larder_sdk::ColumnBuilder| c.push_str_list(&["a", "ß", ""][..row + 1]));
        put!("int32_list", Type::Int32List, |c: &mut larder_sdk::ColumnBuilder| c.push_i32_list(&[1, -2, 3][..row]));
        put!("int64_list", Type::Int64List, |c: &mut larder_sdk::ColumnBuilder| c.push_i64_list(&[i64::MAX, 0, -1][..row + 1]));
        put!("double_list", Type::DoubleList, |c: &mut larder_sdk::ColumnBuilder| c.push_f64_list(&[1.5, f64::NEG_INFINITY][..row % 2 + 1]));
        put!("float_list", Type::FloatList, |c: &mut larder_sdk::ColumnBuilder| c.push_f32_list(&[2.25, -0.0][..row % 2 + 1]));
        put!("bool_list", Type::BoolList, |c: &mut larder_sdk::ColumnBuilder| c.push_bool_list(&[true, false, true, true, false, true, true, true, false][..row * 4 + 1]));
        put!("ts_list", Type::UnixTimestampList, |c: &mut larder_sdk::ColumnBuilder| c.push_timestamp_list(&[5, 6][..row % 2 + 1]));
        put!("status", Type::Status, |c: &mut larder_sdk::ColumnBuilder| c.push_status(FieldStatus::from_u8(row as u8 + 1)));
        b.column("null", Type::Null).unwrap().push_null();
    }
    b
}

#[test]
fn batch_round_trips_every_type() {
    let b = every_type().finish(Some("{\"k\":1}")).unwrap();
    assert_eq!(b.rows(), 3);
    assert_eq!(b.metadata(), "{\"k\":1}");
    assert_eq!(b.column("bytes").unwrap().bytes(2).unwrap(), &[2, 0xff]);
    assert_eq!(b.column("string").unwrap().str(0).unwrap(), "héllo");
    assert!(b.column("string").unwrap().is_null(1));
    assert_eq!(b.column("int32").unwrap().i32(2).unwrap(), -21);
    assert_eq!(b.column("int64").unwrap().i64(0).unwrap(), i64::MIN);
    assert_eq!(b.column("double").unwrap().f64(2).unwrap(), 0.75);
    assert_eq!(b.column("float").unwrap().f32(2).unwrap(), 2.5);
    assert!(b.column("bool").unwrap().bool(2).unwrap());
    assert!(!b.column("bool").unwrap().bool(0).unwrap());
    assert_eq!(b.column("ts").unwrap().timestamp(2).unwrap(), 1_700_000_000_000_002);
    assert_eq!(b.column("bytes_list").unwrap().bytes_list(2).unwrap(), vec![&[1u8][..], &[][..], &[2, 3][..]]);
    assert_eq!(b.column("string_list").unwrap().str_list(2).unwrap(), vec!["a", "ß", ""]);
    assert_eq!(b.column("int32_list").unwrap().i32_list(0).unwrap(), Vec::<i32>::new());
    assert_eq!(b.column("int64_list").unwrap().i64_list(2).unwrap(), vec![i64::MAX, 0, -1]);
    assert_eq!(b.column("bool_list").unwrap().bool_list(2).unwrap(), vec![true, false, true, true, false, true, true, true, false]);
    assert_eq!(b.column("status").unwrap().status(2).unwrap(), FieldStatus::NotFound);
    assert!(b.column("null").unwrap().is_null(0));
    // Reading with the wrong type is an error, not garbage.
    assert_eq!(b.column("int64").unwrap().i32(0).unwrap_err().status, Status::BadArgument);
    assert!(b.column("missing").is_err());
}

#[test]
fn decode_rejects_corruption() {
    let good = every_type().encode(None).unwrap();
    let cases: Vec<(&str, Box<dyn Fn(&mut Vec<u8>)>)> = vec![
        ("magic", Box::new(|b: &mut Vec<u8>| b[0] = b'X')),
        ("version", Box::new(|b: &mut Vec<u8>| b[4] = 7)),
        ("length", Box::new(|b: &mut Vec<u8>| b[8] ^= 1)),
        ("truncated", Box::new(|b: &mut Vec<u8>| { b.truncate(40); let n = b.len() as u32; b[8..12].copy_from_slice(&n.to_le_bytes()); })),
        ("rows", Box::new(|b: &mut Vec<u8>| b[12] = 9)),
        ("columns", Box::new(|b: &mut Vec<u8>| b[16..20].copy_from_slice(&u32::MAX.to_le_bytes()))),
        ("type", Box::new(|b: &mut Vec<u8>| { b[32 + 8] = 99; })),
        ("reserved", Box::new(|b: &mut Vec<u8>| { b[32 + 60] = 1; })),
    ];
    for (name, mutate) in cases {
        let mut b = good.clone();
        mutate(&mut b);
        let err = Batch::decode(b).expect_err(name);
        assert_eq!(err.status, Status::SerializationFailure, "{}: {}", name, err);
    }
    // Every truncation and single-byte flip must be rejected or decode cleanly; never panic.
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let _ = Batch::decode(b);
        let _ = Batch::decode(good[..i].to_vec());
    }
}

#[test]
fn json_parses_and_quotes() {
    let v = json::parse(r#"{"a": [1, -2.5e3, "x\n\u00e9\ud83d\ude00"], "b": {"c": null, "d": true}}"#).unwrap();
    assert_eq!(v.get("a").unwrap().as_array()[0].as_i64(), Some(1));
    assert_eq!(v.get("a").unwrap().as_array()[1].as_f64(), Some(-2500.0));
    assert_eq!(v.get("a").unwrap().as_array()[2].as_str(), Some("x\né😀"));
    assert_eq!(v.get("b").unwrap().get("d").unwrap().as_bool(), Some(true));
    for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "1 2", &"[".repeat(500)] {
        assert!(json::parse(bad).is_err(), "{:?} parsed", bad);
    }
    assert_eq!(json::quote("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
}

#[test]
fn capabilities_are_denied_unless_granted() {
    mock::reset();
    let err = Capability::open("kv", "online").unwrap_err();
    assert_eq!(err.status, Status::PermissionDenied);
    mock::grant("kv", "online", Box::new(|op, req| {
        if op == 1 {
            Ok(req.iter().rev().copied().collect())
        } else {
            Err(Error::new(Status::Unimplemented, format!("op {} unsupported", op)))
        }
    }));
    let cap = Capability::open("kv", "online").unwrap();
    assert_eq!(cap.call(1, b"abc").unwrap(), b"cba");
    let err = cap.call(2, b"").unwrap_err();
    assert_eq!(err.status, Status::Unimplemented);
    assert_eq!(err.message, "op 2 unsupported");
    larder_sdk::log(larder_sdk::LogLevel::Warn, "hello");
    assert_eq!(mock::logs(), vec![(larder_sdk::LogLevel::Warn, "hello".to_string())]);
    mock::set_now(42);
    assert_eq!(larder_sdk::now_unix_micros(), 42);
}

#[derive(Default)]
struct Scale {
    factor: f64,
}

impl Transformation for Scale {
    fn init(&mut self, config: &json::Value) -> Result<(), Error> {
        self.factor = config.get("factor").and_then(json::Value::as_f64).unwrap_or(2.0);
        Ok(())
    }
    fn transform(&mut self, function: &str, input: &Batch, out: &mut larder_sdk::BatchBuilder) -> Result<(), Error> {
        if function == "broken" {
            out.column("y", Type::Double)?.push_f64(1.0)?; // one row, whatever the input
            return Ok(());
        }
        let x = input.column("x")?;
        for r in 0..input.rows() {
            let y = out.column("y", Type::Double)?;
            if x.is_null(r) {
                y.push_null()
            } else {
                y.push_f64(x.f64(r)? * self.factor)?
            }
        }
        Ok(())
    }
}

#[test]
fn transform_runs_through_the_mock_host() {
    let mut input = BatchBuilder::new();
    let x = input.column("x", Type::Double).unwrap();
    x.push_f64(1.5).unwrap();
    x.push_null();
    x.push_f64(-4.0).unwrap();
    let out = mock::transform::<Scale>(&input, "transform", &[("y", Type::Double)]).unwrap();
    let y = out.column("y").unwrap();
    assert_eq!((y.f64(0).unwrap(), y.is_null(1), y.f64(2).unwrap()), (3.0, true, -8.0));

    // A wrong row count is caught by the SDK before the host sees it.
    let err = mock::transform::<Scale>(&input, "broken", &[("y", Type::Double)]).unwrap_err();
    assert_eq!(err.status, Status::Internal);
    // A declared output the plugin types differently is an error too.
    let err = mock::transform::<Scale>(&input, "transform", &[("y", Type::Int64)]).unwrap_err();
    assert_eq!(err.status, Status::BadArgument, "{}", err);
}

/// A minimal in-memory online store: (project, view, entity key, feature) -> (value, ts).
#[derive(Default)]
struct MemStore {
    data: HashMap<(String, String, Vec<u8>, String), (Vec<u8>, i64)>,
}

impl OnlineStore for MemStore {
    fn update(&mut self, req: &UpdateRequest) -> Result<(), Error> {
        for t in &req.tables_to_delete {
            self.data.retain(|k, _| !(k.0 == req.project && k.1 == t.name));
        }
        Ok(())
    }
    fn write(&mut self, req: &WriteRequest) -> Result<(), Error> {
        for r in &req.rows {
            for (f, v) in req.features.iter().zip(&r.values) {
                if let Some(v) = v {
                    self.data.insert((req.project.clone(), req.view.clone(), r.entity_key.clone(), f.clone()), (v.clone(), r.event_ts));
                }
            }
        }
        Ok(())
    }
    fn read(&mut self, req: &ReadRequest) -> Result<Vec<Vec<FeatureValue>>, Error> {
        Ok(req
            .views
            .iter()
            .map(|v| {
                v.entity_keys
                    .iter()
                    .flat_map(|k| v.features.iter().map(move |f| (k, f)))
                    .map(|(k, f)| match self.data.get(&(req.project.clone(), v.name.clone(), k.clone(), f.clone())) {
                        Some((val, ts)) => FeatureValue::present(val.clone(), *ts),
                        None => FeatureValue::not_found(),
                    })
                    .collect()
            })
            .collect())
    }
}

#[test]
fn online_store_glue_round_trips() {
    let mut s = mock::Store::<MemStore>::new("{}").unwrap();
    let row = |k: &[u8], v: Option<&[u8]>| WriteRow { entity_key: k.to_vec(), event_ts: 7, created_ts: None, values: vec![v.map(|b| b.to_vec()), Some(b"b".to_vec())] };
    s.write(&WriteRequest {
        project: "p".into(),
        view: "v".into(),
        features: vec!["f1".into(), "f2".into()],
        rows: vec![row(b"k1", Some(b"a")), row(b"k2", None)],
    })
    .unwrap();
    let got = s
        .read(&ReadRequest {
            project: "p".into(),
            views: vec![
                ReadView { name: "v".into(), features: vec!["f1".into(), "f2".into()], entity_keys: vec![b"k2".to_vec(), b"k1".to_vec(), b"zz".to_vec()] },
                ReadView { name: "w".into(), features: vec!["f1".into()], entity_keys: vec![b"k1".to_vec()] },
            ],
        })
        .unwrap();
    assert_eq!(got[0][0], FeatureValue::not_found()); // k2.f1 was written as null
    assert_eq!(got[0][1], FeatureValue::present(b"b".to_vec(), 7));
    assert_eq!(got[0][2], FeatureValue::present(b"a".to_vec(), 7));
    assert_eq!(got[0][4], FeatureValue::not_found());
    assert_eq!(got[1][0], FeatureValue::not_found());
    s.teardown(&UpdateRequest { project: "p".into(), tables_to_keep: vec![], tables_to_delete: vec![Table { name: "v".into(), ..Table::default() }] }).unwrap();
    assert!(s.store.data.is_empty());
}
