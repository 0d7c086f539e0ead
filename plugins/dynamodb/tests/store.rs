//! The plugin's requests, captured by a mock capability; conformance/dynamodb_test.go runs
//! the built .wasm against dynalite.

use larder_sdk::mock::{self, Store};
use larder_sdk::online::{WriteRequest, WriteRow};
use larder_sdk::{Error, Status};
use plugin::DynamoStore;
use std::cell::RefCell;
use std::rc::Rc;

fn driver(id: i64) -> Vec<u8> {
    let mut k = vec![1, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0];
    k.extend_from_slice(b"driver_id");
    k.extend_from_slice(&[4, 0, 0, 0, 8, 0, 0, 0]);
    k.extend_from_slice(&id.to_le_bytes());
    k
}

#[test]
fn writes_feasts_item_layout() {
    mock::reset();
    let seen: Rc<RefCell<Vec<(u32, String)>>> = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    mock::grant("dynamodb", "online", Box::new(move |op, req| {
        s2.borrow_mut().push((op, String::from_utf8(req.to_vec()).unwrap()));
        match op {
            1 => Ok(b"{\"items\":[null]}".to_vec()),
            2 => Ok(b"{\"written\":1}".to_vec()),
            _ => Err(Error::new(Status::Unimplemented, "not in this test")),
        }
    }));
    let mut s = Store::<DynamoStore>::new("{}").unwrap();
    let row = |ts: i64, v: &[u8]| WriteRow { entity_key: driver(1001), event_ts: ts, created_ts: None, values: vec![Some(v.to_vec())] };
    s.write(&WriteRequest {
        project: "proj".into(),
        view: "driver_hourly_stats".into(),
        features: vec!["conv_rate".into()],
        // The latest row per entity wins, whatever the order.
        rows: vec![row(1_618_225_182_000_000, b"\x01\x02\x03"), row(1_618_225_181_000_000, b"old")],
    })
    .unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "a GET_ITEMS (to merge), then a PUT_ITEMS");
    assert_eq!(seen[0].1, "{\"table\":\"proj.driver_hourly_stats\",\"key\":\"entity_id\",\"consistent\":false,\"keys\":[{\"S\":\"f3cfd4a822f245b63975464763babaec\"}]}");
    assert_eq!(
        seen[1].1,
        "{\"table\":\"proj.driver_hourly_stats\",\"key\":\"entity_id\",\"items\":[{\"entity_id\":{\"S\":\"f3cfd4a822f245b63975464763babaec\"},\
\"event_ts\":{\"S\":\"2021-04-12 10:59:42+00:00\"},\"values\":{\"M\":{\"conv_rate\":{\"B\":\"AQID\"}}}}]}"
    );
}

#[test]
fn config_is_checked() {
    mock::reset();
    assert!(Store::<DynamoStore>::new(r#"{"table_name_template": "{project}.{table_name}", "region": "us-west-2", "consistent_reads": true}"#).is_ok());
    assert_eq!(Store::<DynamoStore>::new(r#"{"table_name_template": "fixed"}"#).err().unwrap().status, Status::BadArgument);
    assert_eq!(Store::<DynamoStore>::new(r#"{"consistent_reads": "yes"}"#).err().unwrap().status, Status::BadArgument);
}
