//! MurmurHash3 x86_32 (seed 0 in Feast): the hash behind Feast's Redis hash-field names,
//! `mmh3.hash(f"{view}:{feature}", signed=False)` packed little-endian.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3_x86_32 of `data` with `seed`.
pub fn sum32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= (*b as u32) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Feast's Redis hash field for a feature: the 4 little-endian bytes of
/// `sum32("{view}:{feature}", 0)`.
pub fn field_name(view: &str, feature: &str) -> [u8; 4] {
    let mut s = Vec::with_capacity(view.len() + 1 + feature.len());
    s.extend_from_slice(view.as_bytes());
    s.push(b':');
    s.extend_from_slice(feature.as_bytes());
    sum32(&s, 0).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{:02x}", x)).collect()
    }

    #[test]
    fn feast_field_names() {
        // Reference vectors (feast-wire-formats.md §3.2).
        assert_eq!(hex(&field_name("driver_hourly_stats", "conv_rate")), "6160e3da");
        assert_eq!(hex(&field_name("driver_hourly_stats", "acc_rate")), "fa5e58ad");
        assert_eq!(hex(&field_name("driver_hourly_stats", "avg_daily_trips")), "18a5e5a3");
    }

    #[test]
    fn mmh3_readme_vectors() {
        assert_eq!(sum32(b"foo", 0) as i32, -156908512);
        assert_eq!(sum32(b"", 0), 0);
    }

    /// Every x86_32 vector the Python mmh3 package produced (host/feast/testdata), all tail
    /// lengths and seeds included.
    #[test]
    fn python_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/feast/testdata/python_vectors.json");
        let text = std::fs::read_to_string(path).expect("reading the Python vectors");
        let doc = larder_sdk::json::parse(&text).unwrap();
        let vs = doc.get("murmur").unwrap().as_array();
        assert!(vs.len() >= 10, "only {} vectors", vs.len());
        for v in vs {
            let h = v.get("hex").unwrap().as_str().unwrap();
            let data: Vec<u8> = (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect();
            assert_eq!(sum32(&data, 0) as i64, v.get("x86_32").unwrap().as_i64().unwrap(), "{}", h);
            if let Some(s42) = v.get("x86_32_seed42").and_then(|x| x.as_i64()) {
                assert_eq!(sum32(&data, 42) as i64, s42, "{} seed 42", h);
            }
        }
    }
}
