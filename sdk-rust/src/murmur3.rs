//! MurmurHash3 (seed 0 in Feast), for Feast's online layouts: the x86_32 variant names
//! Redis hash fields (`mmh3.hash(f"{view}:{feature}", signed=False)`, packed little-endian)
//! and the x64_128 variant makes DynamoDB and Datastore entity ids
//! (`mmh3.hash_bytes(serialized_entity_key).hex()`).

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

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3_x64_128 of `data` with `seed`, as the 16 bytes Python's
/// `mmh3.hash_bytes` returns (h1 then h2, each little-endian).
pub fn sum128(data: &[u8], seed: u32) -> [u8; 16] {
    const K1: u64 = 0x87c3_7b91_1142_53d5;
    const K2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (seed as u64, seed as u64);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let mut k1 = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let mut k2 = u64::from_le_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        k1 = k1.wrapping_mul(K1).rotate_left(31).wrapping_mul(K2);
        h1 ^= k1;
        h1 = h1.rotate_left(27).wrapping_add(h2).wrapping_mul(5).wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(K2).rotate_left(33).wrapping_mul(K1);
        h2 ^= k2;
        h2 = h2.rotate_left(31).wrapping_add(h1).wrapping_mul(5).wrapping_add(0x3849_5ab5);
    }
    let tail = chunks.remainder();
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, b) in tail.iter().enumerate() {
        if i < 8 {
            k1 |= (*b as u64) << (8 * i);
        } else {
            k2 |= (*b as u64) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(K2).rotate_left(33).wrapping_mul(K1);
        h2 ^= k2;
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(K1).rotate_left(31).wrapping_mul(K2);
        h1 ^= k1;
    }
    h1 ^= data.len() as u64;
    h2 ^= data.len() as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes());
    out
}

/// Feast's Redis hash field for a feature: the 4 little-endian bytes of
/// `sum32("{view}:{feature}", 0)`.
pub fn redis_field(view: &str, feature: &str) -> [u8; 4] {
    let n = view.len() + 1 + feature.len();
    // Usual names fit on the stack: a read hashes every requested feature, and in a wasm32
    // guest an allocation per name shows in small requests.
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let s: &mut [u8] = if n <= stack.len() {
        &mut stack[..n]
    } else {
        heap.resize(n, 0);
        &mut heap
    };
    s[..view.len()].copy_from_slice(view.as_bytes());
    s[view.len()] = b':';
    s[view.len() + 1..].copy_from_slice(feature.as_bytes());
    sum32(s, 0).to_le_bytes()
}

/// Feast's DynamoDB `entity_id`: lowercase hex of `sum128(serialized entity key, 0)`.
pub fn entity_id_hex(entity_key: &[u8]) -> String {
    let h = sum128(entity_key, 0);
    let mut s = String::with_capacity(32);
    for b in h.iter() {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap());
        s.push(char::from_digit((b & 15) as u32, 16).unwrap());
    }
    s
}
