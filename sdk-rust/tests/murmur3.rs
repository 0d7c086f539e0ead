use larder_sdk::murmur3::{entity_id_hex, redis_field, sum128, sum32};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

#[test]
fn feast_reference_vectors() {
    // feast-wire-formats.md §3.2 and §3.5.
    assert_eq!(hex(&redis_field("driver_hourly_stats", "conv_rate")), "6160e3da");
    assert_eq!(hex(&redis_field("driver_hourly_stats", "acc_rate")), "fa5e58ad");
    assert_eq!(hex(&redis_field("driver_hourly_stats", "avg_daily_trips")), "18a5e5a3");
    let ek = [
        0x01, 0, 0, 0, 0x02, 0, 0, 0, 0x09, 0, 0, 0, b'd', b'r', b'i', b'v', b'e', b'r', b'_', b'i', b'd', 0x04, 0, 0, 0, 0x08, 0, 0, 0, 0xe9,
        0x03, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(entity_id_hex(&ek), "f3cfd4a822f245b63975464763babaec");
    // mmh3 README: hash("foo") = -156908512, hash_bytes("foo").
    assert_eq!(sum32(b"foo", 0) as i32, -156908512);
    assert_eq!(hex(&sum128(b"foo", 0)), "6145f501578671e2877dba2be487af7e");
}

/// Every vector the Python mmh3 package produced (host/feast/testdata): all tail lengths,
/// seeds 0 and 42, both variants.
#[test]
fn python_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../host/feast/testdata/python_vectors.json");
    let text = std::fs::read_to_string(path).expect("reading the Python vectors");
    let doc = larder_sdk::json::parse(&text).unwrap();
    let vs = doc.get("murmur").unwrap().as_array();
    assert!(vs.len() >= 10, "only {} vectors", vs.len());
    for v in vs {
        let h = v.get("hex").unwrap().as_str().unwrap();
        let data: Vec<u8> = (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert_eq!(sum32(&data, 0) as i64, v.get("x86_32").unwrap().as_i64().unwrap(), "{}", h);
        assert_eq!(hex(&sum128(&data, 0)), v.get("x64_128").unwrap().as_str().unwrap(), "{}", h);
        if let Some(s42) = v.get("x86_32_seed42").and_then(|x| x.as_i64()) {
            assert_eq!(sum32(&data, 42) as i64, s42, "{} seed 42", h);
        }
        if let Some(s42) = v.get("x64_128_seed42").and_then(|x| x.as_str()) {
            assert_eq!(hex(&sum128(&data, 42)), s42, "{} seed 42", h);
        }
    }
}

#[test]
fn redis_field_hashes_long_names_too() {
    // Names up to 256 bytes are hashed from a stack buffer, longer ones from the heap:
    // both must hash "{view}:{feature}".
    for len in [0usize, 1, 200, 254, 255, 256, 257, 1000] {
        let view = "v".repeat(len);
        let want = sum32(format!("{}:f", view).as_bytes(), 0).to_le_bytes();
        assert_eq!(redis_field(&view, "f"), want, "view of {} bytes", len);
    }
}
