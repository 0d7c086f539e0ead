//! Feast's Redis layout (feast-wire-formats.md §3.2), byte for byte:
//!
//! - one hash per (entity key, project): key = serialized entity key ‖ project (UTF-8);
//! - a feature's field = 4 LE bytes of murmur3_x86_32("{view}:{feature}"), value = the
//!   serialized `feast.types.Value`;
//! - one `_ts:{view}` field per view holding a serialized `google.protobuf.Timestamp`.



/// The hash key of an entity in a project.
pub fn redis_key(out: &mut Vec<u8>, entity_key: &[u8], project: &str) {
    out.clear();
    out.extend_from_slice(entity_key);
    out.extend_from_slice(project.as_bytes());
}

/// The timestamp field of a view.
pub fn ts_field(view: &str) -> Vec<u8> {
    let mut f = b"_ts:".to_vec();
    f.extend_from_slice(view.as_bytes());
    f
}

/// The field of a feature.
pub fn feature_field(view: &str, feature: &str) -> [u8; 4] {
    larder_sdk::murmur3::redis_field(view, feature)
}

/// Prefix of every serialized entity key with these join keys (Feast's
/// `serialize_entity_key_prefix`): v3 = u32 N, then per key sorted by UTF-8 bytes
/// `u32 2 (STRING) | u32 len | key`; v2 has no N and no length.
pub fn entity_key_prefix(join_keys: &[String], version: u32) -> Vec<u8> {
    let mut keys: Vec<&str> = join_keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    let mut out = Vec::new();
    if version > 2 {
        out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    }
    for k in keys {
        out.extend_from_slice(&2u32.to_le_bytes());
        if version > 2 {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(k.as_bytes());
    }
    out
}

/// A `google.protobuf.Timestamp` (seconds = 1, nanos = 2) from microseconds since the epoch.
/// Zero fields are omitted, as proto3 serializers do, so the bytes equal Feast's.
pub fn encode_timestamp(micros: i64) -> Vec<u8> {
    let seconds = micros.div_euclid(1_000_000);
    let nanos = (micros.rem_euclid(1_000_000) * 1000) as i32;
    let mut out = Vec::with_capacity(16);
    if seconds != 0 {
        out.push(0x08);
        varint(&mut out, seconds as u64);
    }
    if nanos != 0 {
        out.push(0x10);
        varint(&mut out, nanos as i64 as u64);
    }
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Nanoseconds since the epoch of a serialized `google.protobuf.Timestamp`; unknown fields
/// are skipped, malformed bytes are an error.
pub fn decode_timestamp_nanos(b: &[u8]) -> Result<i128, String> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    let mut p = b;
    while !p.is_empty() {
        let (tag, rest) = read_varint(p)?;
        p = rest;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                let (v, rest) = read_varint(p)?;
                p = rest;
                match field {
                    1 => seconds = v as i64,
                    2 => nanos = v as i64 as i32 as i64,
                    _ => {}
                }
            }
            1 => p = p.get(8..).ok_or("truncated fixed64")?,
            2 => {
                let (l, rest) = read_varint(p)?;
                p = rest.get(l as usize..).ok_or("truncated length-delimited field")?;
            }
            5 => p = p.get(4..).ok_or("truncated fixed32")?,
            w => return Err(format!("wire type {} in a Timestamp", w)),
        }
    }
    Ok(seconds as i128 * 1_000_000_000 + nanos as i128)
}

fn read_varint(b: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        v |= ((c & 0x7f) as u64) << (7 * i);
        if c < 0x80 {
            return Ok((v, &b[i + 1..]));
        }
    }
    Err("truncated or overlong varint".into())
}

/// Microseconds since the epoch from nanoseconds (floor), saturating.
pub fn nanos_to_micros(n: i128) -> i64 {
    let m = n.div_euclid(1000);
    m.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{:02x}", x)).collect()
    }

    #[test]
    fn timestamps_round_trip_like_protobuf() {
        // 2021-04-12T10:59:42Z: seconds 1618225182.
        assert_eq!(hex(&encode_timestamp(1_618_225_182_000_000)), "089ed0d08306");
        // With sub-second part: nanos 123456000.
        assert_eq!(hex(&encode_timestamp(1_618_225_182_123_456)), "089ed0d08306108094ef3a");
        // Negative: seconds -2, nanos 500000000 (protobuf's normal form).
        assert_eq!(hex(&encode_timestamp(-1_500_000)), "08feffffffffffffffff011080cab5ee01");
        assert_eq!(encode_timestamp(0), Vec::<u8>::new());
        for &m in &[0i64, 1, 999_999, 1_618_225_182_123_456, -1, -1_500_000, i64::MAX / 1000] {
            assert_eq!(nanos_to_micros(decode_timestamp_nanos(&encode_timestamp(m)).unwrap()), m, "{}", m);
        }
        // Unknown fields are skipped; garbage is refused.
        let mut with_extra = encode_timestamp(5_000_000);
        with_extra.extend_from_slice(&[0x1a, 0x02, 0xff, 0xff]);
        assert_eq!(decode_timestamp_nanos(&with_extra).unwrap(), 5_000_000_000);
        assert!(decode_timestamp_nanos(&[0x08]).is_err());
        assert!(decode_timestamp_nanos(&[0x0b]).is_err());
    }

    #[test]
    fn keys_and_prefixes() {
        // {driver_id: int64 1001}, v3 (feast-wire-formats.md §3.1), then the project.
        let ek = [
            0x01, 0, 0, 0, 0x02, 0, 0, 0, 0x09, 0, 0, 0, b'd', b'r', b'i', b'v', b'e', b'r', b'_', b'i', b'd', 0x04, 0, 0, 0, 0x08, 0, 0, 0,
            0xe9, 0x03, 0, 0, 0, 0, 0, 0,
        ];
        let mut k = Vec::new();
        redis_key(&mut k, &ek, "proj");
        assert!(k.ends_with(b"proj") && k.starts_with(&ek));
        let p = entity_key_prefix(&["driver_id".to_string()], 3);
        assert!(ek.starts_with(&p), "{} is not a prefix of the key", hex(&p));
        let p2 = entity_key_prefix(&["b".to_string(), "a".to_string()], 3);
        assert_eq!(hex(&p2), "020000000200000001000000610200000001000000".to_string() + "62");
        assert_eq!(entity_key_prefix(&["ab".to_string()], 2), b"\x02\x00\x00\x00ab".to_vec());
        assert_eq!(ts_field("fv"), b"_ts:fv".to_vec());
    }
}
