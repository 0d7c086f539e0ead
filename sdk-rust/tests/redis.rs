use larder_sdk::redis::{decode_request, Command, Pipeline, Redis, Reply, Response};
use larder_sdk::{mock, Status};

#[test]
fn request_encoding_matches_the_spec() {
    // The same vector as abi/redis_test.go: DEL "ab".
    let mut p = Pipeline::new();
    p.del(b"ab");
    assert_eq!(p.bytes(), &b"LRQ1\x01\x00\x00\x00\x05\x00\x01\x00\x02\x00\x00\x00ab"[..]);

    let mut p = Pipeline::new();
    p.hmget(b"k", &[&b"f1"[..], b"f2"])
        .hset(b"k", &[(&b"f"[..], &b"v"[..])])
        .expire(b"k", 60)
        .pexpireat(b"k", 1_700_000_000_000)
        .hgetall(b"k")
        .hdel(b"k", &[b"f"])
        .exists(b"k");
    let mut w = p.start(Command::Hmget, b"k2");
    w.push_arg(b"a");
    w.push_arg(b"b");
    w.finish();
    assert_eq!(p.len(), 8);
    let cmds = decode_request(p.bytes()).unwrap();
    assert_eq!(cmds.len(), 8);
    assert_eq!(cmds[0], (Command::Hmget, vec![&b"k"[..], b"f1", b"f2"]));
    assert_eq!(cmds[2], (Command::Expire, vec![&b"k"[..], &60i64.to_le_bytes()[..]]));
    assert_eq!(cmds[7], (Command::Hmget, vec![&b"k2"[..], b"a", b"b"]));
    p.clear();
    assert!(p.is_empty());
    assert_eq!(p.bytes().len(), 8);
}

#[test]
fn memory_redis_serves_the_commands() {
    mock::reset();
    mock::set_now(1_000_000_000); // 1000 s
    let server = mock::grant_redis("online");
    let r = Redis::open("online").unwrap();
    let mut p = Pipeline::new();
    p.hset(b"a", &[(&b"f"[..], &b"1"[..]), (b"g", b"2")])
        .hset(b"b", &[(&b"f"[..], &b"3"[..])])
        .hmget(b"a", &[&b"f"[..], b"x", b"g"])
        .hmget(b"zz", &[b"f"])
        .expire(b"a", 10)
        .exists(b"b")
        .hdel(b"b", &[b"f"])
        .exists(b"b")
        .del(b"nope");
    let resp = r.exec(&p).unwrap();
    let rs = resp.replies().unwrap();
    assert_eq!(rs[0], Reply::Int(2));
    assert_eq!(rs[2], Reply::Array(vec![Reply::Bulk(b"1"), Reply::Nil, Reply::Bulk(b"2")]));
    assert_eq!(rs[3].array().unwrap(), &[Reply::Nil]);
    assert_eq!((rs[4].int().unwrap(), rs[5].int().unwrap(), rs[6].int().unwrap(), rs[7].int().unwrap(), rs[8].int().unwrap()), (1, 1, 1, 0, 0));
    assert_eq!(server.borrow().expiry(b"a"), Some(1_010_000));
    mock::set_now(1_011_000_000);
    assert!(server.borrow().hash(b"a").is_none(), "key a should have expired");

    // SCAN walks every key with a cursor.
    let mut p = Pipeline::new();
    for i in 0..25u8 {
        p.hset(&[b'k', i, b'p'], &[(&b"f"[..], &b"v"[..])]);
    }
    p.hset(b"kxq", &[(&b"f"[..], &b"v"[..])]);
    r.exec(&p).unwrap();
    let (mut cursor, mut found) = (0u64, 0);
    loop {
        let mut p = Pipeline::new();
        p.scan(cursor, 7, b"k", b"p");
        let resp = r.exec(&p).unwrap();
        let rs = resp.replies().unwrap();
        let a = rs[0].array().unwrap();
        found += a.len() - 1;
        cursor = a[0].int().unwrap() as u64;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(found, 25);

    // Failures surface with their status.
    server.borrow_mut().fail = Some((Status::Unavailable, "connection refused".into()));
    let mut p = Pipeline::new();
    p.del(b"a");
    let err = r.exec(&p).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert!(err.message.contains("connection refused"), "{}", err);
}

#[test]
fn scan_must_not_mix() {
    mock::reset();
    let _server = mock::grant_redis("online");
    let r = Redis::open("online").unwrap();
    let mut p = Pipeline::new();
    p.scan(0, 10, b"", b"").del(b"x");
    assert_eq!(r.exec(&p).unwrap_err().status, Status::BadArgument);
}

#[test]
fn redis_is_denied_unless_granted() {
    mock::reset();
    assert_eq!(Redis::open("online").unwrap_err().status, Status::PermissionDenied);
}

#[test]
fn response_decoding_rejects_corruption() {
    let mut good = b"LRR1\x02\x00\x00\x00".to_vec();
    good.extend_from_slice(&[3, 2, 0, 0, 0, 2, 1, 0, 0, 0, b'v', 0]); // ARRAY [BULK "v", NIL]
    good.extend_from_slice(&[4, 2, 0, 0, 0, b'n', b'o']); // ERROR "no"
    let ok = Response::new(good.clone(), 2);
    let rs = ok.replies().unwrap();
    assert_eq!(rs[1], Reply::Error("no"));
    assert!(rs[1].int().unwrap_err().message.contains("no"));
    assert!(Response::new(good.clone(), 3).replies().is_err());
    for i in 0..good.len() {
        let _ = Response::new(good[..i].to_vec(), 2).replies();
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let _ = Response::new(b, 2).replies();
    }
    // Nested arrays and errors inside arrays are refused.
    let nested = b"LRR1\x01\x00\x00\x00\x03\x01\x00\x00\x00\x03\x00\x00\x00\x00".to_vec();
    assert!(Response::new(nested, 1).replies().is_err());
}

/// Reads `r` as [ARRAY of BULK|NIL, anything] with the streaming reader.
fn stream_shape(r: &Response) -> Result<(Vec<Option<Vec<u8>>>, String), larder_sdk::Error> {
    let mut s = r.stream()?;
    let n = s.array()?;
    let mut vals = Vec::new();
    for _ in 0..n {
        vals.push(s.bulk()?.map(|b| b.to_vec()));
    }
    let second = format!("{:?}", s.next_reply()?);
    s.finish()?;
    Ok((vals, second))
}

#[test]
fn reply_stream_agrees_with_replies() {
    let mut good = b"LRR1\x02\x00\x00\x00".to_vec();
    good.extend_from_slice(&[3, 2, 0, 0, 0, 2, 1, 0, 0, 0, b'v', 0]); // ARRAY [BULK "v", NIL]
    good.extend_from_slice(&[4, 2, 0, 0, 0, b'n', b'o']); // ERROR "no"
    let (vals, second) = stream_shape(&Response::new(good.clone(), 2)).unwrap();
    assert_eq!(vals, vec![Some(b"v".to_vec()), None]);
    assert_eq!(second, format!("{:?}", Reply::Error("no")));

    // An ERROR where an array is wanted is the command's error, as Reply::array says.
    let r = Response::new(good.clone(), 2);
    let mut s = r.stream().unwrap();
    s.array().unwrap();
    s.bulk().unwrap();
    s.bulk().unwrap();
    assert!(s.bulk().is_err(), "read past the end of the array");
    assert!(s.array().unwrap_err().message.contains("no"));
    s.finish().unwrap();

    // Misuse: a new reply while elements are unread, finishing early, too many replies.
    let mut s = r.stream().unwrap();
    s.array().unwrap();
    assert!(s.array().is_err());
    let mut s = r.stream().unwrap();
    s.array().unwrap();
    assert!(s.finish().is_err());
    let mut s = r.stream().unwrap();
    s.next_reply().unwrap();
    s.next_reply().unwrap();
    assert!(s.next_reply().is_err());
    // Counts and trailing bytes are checked like replies() does.
    assert!(Response::new(good.clone(), 3).stream().is_err());
    let mut extra = good.clone();
    extra.push(0);
    assert!(stream_shape(&Response::new(extra, 2)).is_err());
    // An INT inside an array is not bytes.
    let int = b"LRR1\x01\x00\x00\x00\x03\x01\x00\x00\x00\x01\x07\x00\x00\x00\x00\x00\x00\x00".to_vec();
    let r = Response::new(int, 1);
    let mut s = r.stream().unwrap();
    assert_eq!(s.array().unwrap(), 1);
    assert!(s.bulk().is_err());

    // Every truncation fails; every one-byte corruption either fails or reads exactly
    // what replies() decodes from the same bytes.
    for i in 0..good.len() {
        assert!(stream_shape(&Response::new(good[..i].to_vec(), 2)).is_err(), "truncated at {}", i);
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let r = Response::new(b, 2);
        if let Ok((vals, second)) = stream_shape(&r) {
            let all = r.replies().expect("stream accepted what replies() refuses");
            let want: Vec<Option<Vec<u8>>> = all[0].array().unwrap().iter().map(|x| x.bulk().unwrap().map(|b| b.to_vec())).collect();
            assert_eq!(vals, want);
            assert_eq!(second, format!("{:?}", all[1]));
        }
    }
}

#[test]
fn pre_encoded_args_encode_like_plain_ones() {
    use larder_sdk::redis::Args;
    let fields: [&[u8]; 3] = [b"_ts:v", b"\x01\x02\x03\x04", b""];
    let args = Args::new(&fields);
    assert_eq!((args.len(), args.encoded_len()), (3, 3 * 4 + 5 + 4));
    let (mut a, mut b) = (Pipeline::new(), Pipeline::with_capacity(0));
    for key in [&b"k1"[..], b"key-2"] {
        a.hmget(key, &fields);
        b.hmget_args(key, &args);
    }
    assert_eq!(a.bytes(), b.bytes());
    let cmds = decode_request(b.bytes()).unwrap();
    assert_eq!(cmds[1], (Command::Hmget, vec![&b"key-2"[..], b"_ts:v", b"\x01\x02\x03\x04", b""]));
}

#[test]
fn args_built_one_by_one_equal_args_from_a_slice() {
    use larder_sdk::redis::Args;
    let fields: [&[u8]; 3] = [b"_ts:v", b"\x01\x02\x03\x04", b""];
    let mut a = Args::default();
    for f in fields {
        a.push(f);
    }
    assert_eq!(a, Args::new(&fields));
}
