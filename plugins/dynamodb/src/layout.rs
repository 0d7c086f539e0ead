//! Feast's DynamoDB layout (feast-wire-formats.md §3.5): one table per view named by
//! `table_name_template` (default `{project}.{table_name}`), items keyed by `entity_id` (S) =
//! lowercase hex of MurmurHash3_x64_128 of the serialized entity key, with `event_ts` (S) =
//! Python's `str()` of the UTC event time and `values` (M) = feature → serialized Value (B).

/// The table of a view.
pub fn table_name(template: &str, project: &str, view: &str) -> String {
    template.replace("{project}", project).replace("{table_name}", view)
}

/// Python's `str(datetime)` of a UTC instant: `2021-04-12 10:59:42+00:00`, with
/// `.ffffff` when the microseconds are not zero.
pub fn format_ts(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", y, m, d, sod / 3600, sod % 3600 / 60, sod % 60);
    if us != 0 {
        s.push_str(&format!(".{:06}", us));
    }
    s.push_str("+00:00");
    s
}

/// Parses what `format_ts` writes, and the ISO forms Python's `fromisoformat` reads
/// (`T` separator, `Z`, fractions of 1 to 6 digits, any `±HH:MM` offset, no offset = UTC).
pub fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse::<i64>().ok() };
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut us = 0i64;
    if i < b.len() && b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 6 {
            return None;
        }
        us = frac.parse::<i64>().ok()? * 10i64.pow(6 - frac.len() as u32);
    }
    let mut offset = 0i64;
    match &s[i..] {
        "" | "Z" => {}
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            offset = (oh * 3600 + om * 60) * if rest.starts_with('-') { -1 } else { 1 };
        }
        _ => return None,
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1_000_000 + us)
}

// Howard Hinnant's civil-from-days algorithms (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (DynamoDB JSON's B).
pub fn b64_encode(data: &[u8], out: &mut String) {
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
}

/// Decodes standard base64 with padding; None on anything else.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, q) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = if last { q.iter().rev().take_while(|&&c| c == b'=').count() } else { 0 };
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (j, &c) in q.iter().enumerate() {
            n = n << 6 | if j >= 4 - pad { 0 } else { val(c)? };
        }
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_of_datetimes() {
        // str(datetime(2021, 4, 12, 10, 59, 42, tzinfo=timezone.utc)) and with microseconds.
        assert_eq!(format_ts(1_618_225_182_000_000), "2021-04-12 10:59:42+00:00");
        assert_eq!(format_ts(1_618_225_182_123_456), "2021-04-12 10:59:42.123456+00:00");
        assert_eq!(format_ts(1_618_225_182_000_001), "2021-04-12 10:59:42.000001+00:00");
        assert_eq!(format_ts(0), "1970-01-01 00:00:00+00:00");
        assert_eq!(format_ts(-1), "1969-12-31 23:59:59.999999+00:00");
        assert_eq!(format_ts(951_782_400_000_000), "2000-02-29 00:00:00+00:00");
        for &m in &[0i64, -1, 1, 1_618_225_182_123_456, 951_782_400_000_000, 253_402_300_799_999_999] {
            assert_eq!(parse_ts(&format_ts(m)), Some(m), "{}", m);
        }
        assert_eq!(parse_ts("2021-04-12T10:59:42.5Z"), Some(1_618_225_182_500_000));
        assert_eq!(parse_ts("2021-04-12 12:59:42+02:00"), Some(1_618_225_182_000_000));
        assert_eq!(parse_ts("2021-04-12 10:59:42"), Some(1_618_225_182_000_000));
        for bad in ["", "2021-04-12", "2021-13-12 10:59:42+00:00", "2021-04-12 10:59:42.1234567+00:00", "2021-04-12 10:59:42+0000", "x021-04-12 10:59:42"] {
            assert_eq!(parse_ts(bad), None, "{}", bad);
        }
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..40usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            let mut s = String::new();
            b64_encode(&data, &mut s);
            assert_eq!(b64_decode(&s), Some(data), "{}", s);
        }
        let mut s = String::new();
        b64_encode(b"\x01\x02\x03", &mut s);
        assert_eq!(s, "AQID");
        for bad in ["A", "AQ=", "A===", "AQ==AQ==", "AQ!D"] {
            assert_eq!(b64_decode(bad), None, "{}", bad);
        }
        assert_eq!(table_name("{project}.{table_name}", "p", "v"), "p.v");
    }
}
