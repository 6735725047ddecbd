use std::borrow::Cow;
use std::net::IpAddr;

use chrono::NaiveDateTime;

use super::block::*;
use super::fast::*;
use super::general::*;
use super::*;
use crate::logs::text::trim_cr;
use crate::model::{AddrId, PortField, Protocol, RowShape, Symbol, TcpState, make_datetime};

fn ip(s: &str) -> Address {
    Address::Ip(s.parse::<IpAddr>().expect("test ip"))
}

fn load(text: &[u8]) -> PortsLog {
    let mut log = PortsLog::default();
    read_from(&mut log, Path::new("PR-PORTS-test.log"), text, Some(text.len() as u64), &LoadProgress::default())
        .expect("in-memory read");
    log
}

/// (date-time, protocol, local port, local ip, remote port, remote ip, pid, module, user, line)
type Flat = (String, Protocol, u16, Address, PortField, Address, Option<u32>, String, String, u32);

fn flat(log: &PortsLog) -> Vec<Flat> {
    log.events
        .iter()
        .map(|e| {
            (
                e.time.format("%Y-%m-%dT%H:%M:%S").to_string(),
                e.protocol,
                e.local_port,
                log.local_ip(e),
                e.remote_port(),
                log.remote_ip(e),
                e.pid(),
                log.module(e).to_string(),
                log.user(e).to_string(),
                e.line,
            )
        })
        .collect()
}

const HEADER_101: &str = "Port Reporter Version 1.01 Log File - Port usage log\nCheck PR-PIDS-08-06-30-10-17-54.log for corresponding process data\nLog format:\ndate,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context\n";

#[test]
fn every_quirk_of_the_seed_rows() {
    let text = format!(
        "{HEADER_101}08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>\n\
04/1/24,8:52:22,UDP,55441,169.254.66.8,*,*,3764,msmsgs.exe,<MYDOMAIN\\user>\n\
04/1/24,22:06:2,TCP,2698,0.0.0.0,12390,0.0.0.0,4,System,\n\
04/1/24,22:04:35,TCP,2691,0.0.0.0,18644,0.0.0.0,1260,svchost.exe\n\
4/1/24,21:36:2,TCP,2682,169.254.66.8,445,169.254.133.55,4,System,\n\
04/1/24,22:04:9,TCP,2690,169.254.66.8,389,169.254.133.55,0,System Idle,\n\
04/1/24,22:03:15,UDP,2686,0.0.0.0,*,*,2424,Virtual PC.exe,<MYDOMAIN\\user>\n\
05/7/6,13:52:1,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>\n"
    );
    let log = load(text.as_bytes());
    assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
    let sys = "NT AUTHORITY\\SYSTEM".to_string();
    let user = "MYDOMAIN\\user".to_string();
    assert_eq!(
        flat(&log),
        vec![
            (
                "2008-06-30T10:17:58".into(),
                Protocol::Tcp,
                1447,
                ip("192.168.1.103"),
                PortField::Num(80),
                ip("65.55.200.252"),
                Some(1900),
                "svchost.exe".into(),
                sys.clone(),
                5
            ),
            (
                "2004-01-24T08:52:22".into(),
                Protocol::Udp,
                55441,
                ip("169.254.66.8"),
                PortField::Any,
                Address::Any,
                Some(3764),
                "msmsgs.exe".into(),
                user.clone(),
                6
            ),
            (
                "2004-01-24T22:06:02".into(),
                Protocol::Tcp,
                2698,
                ip("0.0.0.0"),
                PortField::Num(12390),
                ip("0.0.0.0"),
                Some(4),
                "System".into(),
                String::new(),
                7
            ),
            (
                "2004-01-24T22:04:35".into(),
                Protocol::Tcp,
                2691,
                ip("0.0.0.0"),
                PortField::Num(18644),
                ip("0.0.0.0"),
                Some(1260),
                "svchost.exe".into(),
                String::new(),
                8
            ),
            (
                "2004-01-24T21:36:02".into(),
                Protocol::Tcp,
                2682,
                ip("169.254.66.8"),
                PortField::Num(445),
                ip("169.254.133.55"),
                Some(4),
                "System".into(),
                String::new(),
                9
            ),
            (
                "2004-01-24T22:04:09".into(),
                Protocol::Tcp,
                2690,
                ip("169.254.66.8"),
                PortField::Num(389),
                ip("169.254.133.55"),
                Some(0),
                "System Idle".into(),
                String::new(),
                10
            ),
            (
                "2004-01-24T22:03:15".into(),
                Protocol::Udp,
                2686,
                ip("0.0.0.0"),
                PortField::Any,
                Address::Any,
                Some(2424),
                "Virtual PC.exe".into(),
                user,
                11
            ),
            (
                "2005-07-06T13:52:01".into(),
                Protocol::Tcp,
                3389,
                ip("0.0.0.0"),
                PortField::Empty,
                ip("0.0.0.0"),
                Some(1096),
                "svchost.exe".into(),
                sys,
                12
            ),
        ]
    );
    let shapes: Vec<RowShape> = log.events.iter().map(|e| e.shape()).collect();
    assert_eq!(shapes[2], RowShape::Full);
    assert_eq!(shapes[3], RowShape::NoUser);
    let src = &log.sources[0];
    assert_eq!(src.version, Some(Version("1.01".into())));
    assert_eq!(src.partner, Some(Ok("PR-PIDS-08-06-30-10-17-54.log".into())));
    assert_eq!((src.rows, src.malformed), (8, 0));
}

#[test]
fn windows_2000_rows_have_seven_fields() {
    let log = load(b"04/1/24,8:52:21,TCP,4873,169.254.66.8,80,63.208.107.43\n");
    assert_eq!(log.malformed.count(), 0);
    let e = log.events[0];
    assert_eq!((e.shape(), e.pid(), log.module(&e), log.user(&e)), (RowShape::W2k, None, "", ""));
    assert_eq!(log.remote_ip(&e), ip("63.208.107.43"));
}

#[test]
fn crlf_and_a_repeated_header_mid_file() {
    let text = format!("{HEADER_101}08/6/30,10:17:58,TCP,1,1.2.3.4,80,5.6.7.8,1,a.exe,<u>\r\n{HEADER_101}08/6/30,10:17:59,UDP,2,1.2.3.4,*,*,1,a.exe,<u>\r\n")
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let log = load(text.as_bytes());
    assert_eq!((log.events.len(), log.malformed.count()), (2, 0));
    assert_eq!(log.events[1].line, 10);
    assert_eq!(log.module(&log.events[1]), "a.exe");
    assert_eq!(log.user(&log.events[1]), "u");
}

#[test]
fn ipv6_addresses_bare_bracketed_and_zoned() {
    let log = load(
        b"08/6/30,11:2:7,TCP,49201,2001:db8::10,443,2001:db8:85a3::8a2e:370:7334,3312,iexplore.exe,<PC\\u>\n\
08/6/30,11:2:8,UDP,53,::,*,*,4,System,\n\
08/6/30,11:2:9,TCP,80,[::1],5000,fe80::1%eth0,4,System,\n",
    );
    assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
    assert_eq!(log.local_ip(&log.events[0]), ip("2001:db8::10"));
    assert_eq!(log.remote_ip(&log.events[0]), ip("2001:db8:85a3::8a2e:370:7334"));
    assert_eq!(log.local_ip(&log.events[1]), ip("::"));
    assert_eq!(log.local_ip(&log.events[2]), ip("::1"));
    assert_eq!(log.remote_ip(&log.events[2]), ip("fe80::1"));
}

#[test]
fn rfc4180_quoting_and_unquoted_commas_in_modules() {
    let log = load(
        b"08/6/30,10:0:0,TCP,1,1.1.1.1,2,2.2.2.2,2900,\"Acme Agent, v2.exe\",<PC\\u>\n\
08/6/30,10:0:1,TCP,1,1.1.1.1,2,2.2.2.2,2900,\"say \"\"hi\"\".exe\",\"<a,b>\"\n\
08/6/30,10:0:2,TCP,1,1.1.1.1,2,2.2.2.2,2900,Acme Agent, v2.exe,<PC\\u>\n\
08/6/30,10:0:3,TCP,1,1.1.1.1,2,2.2.2.2,2900,\"two\nlines.exe\",<PC\\u>\n\
08/6/30,10:0:4,TCP,1,1.1.1.1,2,2.2.2.2,2900,x.exe,<PC\\u>\n",
    );
    assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
    let names: Vec<(&str, &str, u32)> = log.events.iter().map(|e| (log.module(e), log.user(e), e.line)).collect();
    assert_eq!(
        names,
        vec![
            ("Acme Agent, v2.exe", "PC\\u", 1),
            ("say \"hi\".exe", "a,b", 2),
            ("Acme Agent, v2.exe", "PC\\u", 3),
            ("two\nlines.exe", "PC\\u", 4),
            ("x.exe", "PC\\u", 6),
        ]
    );
}

#[test]
fn malformed_lines_are_counted_and_the_rest_loads() {
    let log = load(
        b"08/13/45,10:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n\
08/6/30,25:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n\
08/6/30,10:0:0,ICMP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n\
08/6/30,10:0:0,TCP,http,1.1.1.1,2,2.2.2.2,1,a,<u>\n\
08/6/30,10:0:0,TCP,1,1.1.1.999,2,2.2.2.2,1,a,<u>\n\
08/6/30,10:0:0,TCP,1,1.1.1.1,70000,2.2.2.2,1,a,<u>\n\
08/6/30,10:0:0,TCP,1,1.1.1.1,2,host,1,a,<u>\n\
08/6/30,10:0:0,TCP,1,1.1.1.1,2,2.2.2.2,-1,a,<u>\n\
08/6/30,10:0:0,TCP,1\n\
#### corrupted ####\n\
08/6/30,10:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,a,\"<u>\n\
\n\
08/6/30,10:0:9,TCP,1,1.1.1.1,2,2.2.2.2,1,ok.exe,<u>\n\
08/6/30,10:0:9,TCP,15",
    );
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.events[0].line, 13);
    let got: Vec<(u32, String)> = log.malformed.iter().map(|m| (m.line, m.reason.clone())).collect();
    let want: Vec<(u32, String)> = [
        (1, Malformed::Date),
        (2, Malformed::Time),
        (3, Malformed::Protocol),
        (4, Malformed::LocalPort),
        (5, Malformed::LocalIp),
        (6, Malformed::RemotePort),
        (7, Malformed::RemoteIp),
        (8, Malformed::Pid),
        (9, Malformed::FieldCount(4)),
        (10, Malformed::FieldCount(1)),
        (11, Malformed::UnterminatedQuote),
        (14, Malformed::Truncated),
    ]
    .into_iter()
    .map(|(l, r)| (l, r.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(log.malformed.count(), 12);
    assert_eq!(log.malformed[9].excerpt, "#### corrupted ####");
    assert_eq!(&*log.malformed[0].file, Path::new("PR-PORTS-test.log"));
}

#[test]
fn a_complete_last_line_without_newline_is_a_row() {
    let log = load(b"08/6/30,10:0:9,TCP,1,1.1.1.1,2,2.2.2.2,1,ok.exe,<u>");
    assert_eq!((log.events.len(), log.malformed.count()), (1, 0));
}

#[test]
fn encodings_utf16_and_windows_1252() {
    let text =
        format!("{HEADER_101}08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,café.exe,<PC\\José>\r\n");
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    let mut ansi = HEADER_101.as_bytes().to_vec();
    ansi.extend_from_slice(
        b"08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,caf\xE9.exe,<PC\\Jos\xE9>\n",
    );
    let mut bom8 = b"\xEF\xBB\xBF".to_vec();
    bom8.extend_from_slice(text.as_bytes());
    for (raw, enc) in [
        (le, text::Encoding::Utf16Le),
        (be, text::Encoding::Utf16Be),
        (ansi, text::Encoding::Utf8OrAnsi),
        (bom8, text::Encoding::Utf8Bom),
    ] {
        let log = load(&raw);
        assert_eq!(log.malformed.count(), 0, "{enc:?}: {:?}", log.malformed);
        assert_eq!(log.sources[0].encoding, enc);
        assert_eq!(log.sources[0].version, Some(Version("1.01".into())), "{enc:?}");
        let e = log.events[0];
        assert_eq!((log.module(&e), log.user(&e), e.line), ("café.exe", "PC\\José", 5), "{enc:?}");
    }
}

#[test]
fn many_blocks_and_pieces_keep_line_numbers_exact() {
    let mut text = String::from(HEADER_101);
    let n = 300_000;
    for i in 0..n {
        text.push_str(&format!(
            "08/6/30,{}:{}:{},TCP,{},10.0.{}.{},80,1.2.3.4,{},m{}.exe,<u{}>\n",
            i / 3600 % 24,
            i / 60 % 60,
            i % 60,
            i % 65536,
            i % 250,
            i % 200,
            i % 97,
            i % 13,
            i % 7
        ));
        if i == 12_345 {
            text.push_str("garbage\n");
        }
    }
    let log = load(text.as_bytes());
    assert_eq!(log.events.len(), n);
    assert_eq!(log.malformed.count(), 1);
    assert_eq!(log.malformed[0].line, 4 + 12_346 + 1);
    for (i, e) in log.events.iter().enumerate() {
        let expected_line = 5 + i as u32 + u32::from(i > 12_345);
        assert_eq!(e.line, expected_line, "row {i}");
        assert_eq!(e.local_port as usize, i % 65536);
        assert_eq!(log.module(e), format!("m{}.exe", i % 13));
    }
}

#[test]
fn an_endless_line_is_skipped_with_bounded_memory() {
    let mut raw = b"08/6/30,10:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n".to_vec();
    raw.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE_BYTES + 17));
    raw.extend_from_slice(b"\n08/6/30,10:0:1,TCP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n");
    let log = load(&raw);
    assert_eq!(log.events.len(), 2);
    assert_eq!(log.events[1].line, 3);
    assert_eq!(log.malformed.count(), 1);
    assert_eq!(log.malformed[0].line, 2);
}

#[test]
fn empty_and_header_only_files() {
    let log = load(b"");
    assert_eq!((log.events.len(), log.malformed.count(), log.sources.len()), (0, 0, 1));
    let log = load(HEADER_101.as_bytes());
    assert_eq!((log.events.len(), log.malformed.count()), (0, 0));
    assert_eq!(log.sources[0].version, Some(Version("1.01".into())));
}

#[test]
fn written_rows_read_back_equal() {
    let t = make_datetime(8, 6, 30, 10, 17, 58).expect("date");
    let names = ["plain.exe", "a,b", "say \"hi\"", "two\nlines", "cr\rlf", " lead", "<x>", "x>", ""];
    let mut out = Vec::new();
    write_header(&mut out, "1.01", "PR-PIDS-08-06-30-10-17-54.log").expect("write");
    for (i, name) in names.iter().enumerate() {
        let row = RowOut {
            time: t,
            protocol: if i % 2 == 0 { Protocol::Tcp } else { Protocol::Udp },
            local_port: 1000 + i as u16,
            local_ip: ip("::1"),
            remote_port: if i % 2 == 0 { PortField::Num(443) } else { PortField::Any },
            remote_ip: if i % 2 == 0 { ip("2001:db8::1") } else { Address::Any },
            pid: Some(i as u32),
            module: name.as_bytes(),
            user: Some(name),
        };
        write_row(&mut out, &row).expect("write");
    }
    let log = load(&out);
    assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
    let back: Vec<(&str, &str)> = log.events.iter().map(|e| (log.module(e), log.user(e))).collect();
    let want: Vec<(&str, &str)> = names.iter().map(|n| (*n, *n)).collect();
    assert_eq!(back, want);
    assert_eq!(log.events[1].remote_port(), PortField::Any);
    let _ = TcpState::Listening;
}

#[test]
fn random_bytes_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"0123456789/:,.*<>\"\r\n TCPUDP:abcdef[]%\xFF\xFE\x00";
    for _ in 0..3000 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let log = load(&bytes);
        assert!(log.malformed.len() as u64 <= log.malformed.count());
    }
}

/// The fast path ([`ChunkTables::fast_row`]) is only a shortcut: on any line it takes, it must
/// give exactly what the general path (`split_fields` + [`ChunkTables::row`]) gives, and a
/// line it refuses must leave its tables as they were, so that the general path then reads it
/// as if alone. (It may refuse lines the general path takes: those are its fallback.)
mod fast_path_agrees_with_general_path {
    use proptest::prelude::*;

    use super::*;

    /// An event with its ids resolved: what the two paths must agree on.
    type Resolved =
        (NaiveDateTime, Protocol, u16, Address, PortField, Address, Option<u32>, Vec<u8>, Vec<u8>, RowShape);

    fn resolve(t: &ChunkTables<'_>, e: &PortEvent) -> Resolved {
        // With no `Known` table, every id is the chunk's own.
        let addr = |id: AddrId| {
            assert_ne!(id.0 & LOCAL, 0, "a chunk-local address id");
            t.addr_list[(id.0 & !LOCAL) as usize]
        };
        let name = |list: &[Cow<'_, [u8]>], s: Symbol| match s.0 {
            0 => Vec::new(),
            n => {
                assert_ne!(n & LOCAL, 0, "a chunk-local symbol");
                list[(n & !LOCAL) as usize - 1].to_vec()
            }
        };
        (
            e.time,
            e.protocol,
            e.local_port,
            addr(e.local_ip),
            e.remote_port(),
            addr(e.remote_ip),
            e.pid(),
            name(&t.module_list, e.module),
            name(&t.user_list, e.user),
            e.shape(),
        )
    }

    fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::sample::select(items).prop_map(String::from)
    }

    // Each field often comes from a few values, so that the fast path's caches, which key on
    // repeated text, both hit and narrowly miss.

    fn date() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => pick(&["08/6/30", "08/6/3", "08/6/31", "8/6/30", "08/7/1"]),
            3 => (0u32..100, 1u32..13, 1u32..32, any::<bool>())
                .prop_map(|(y, m, d, pad)| if pad { format!("{y:02}/{m:02}/{d:02}") } else { format!("{y:02}/{m}/{d}") }),
            1 => (0u32..200, 0u32..15, 0u32..34).prop_map(|(y, m, d)| format!("{y}/{m}/{d}")),
            1 => pick(&["08/6/30", "4/1/24", "04/1/24", " 08/6/30", "08/6/30 ", "", "08/6", "08/6/30/1", "x/y/z",
                "2008/06/30", "08//30", "00000000008/6/30", "08/6/30\r"]),
        ]
    }

    fn time() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0u32..3, 0u32..3, 0u32..63, any::<bool>())
                .prop_map(|(h, m, s, pad)| if pad { format!("{h:02}:{m:02}:{s:02}") } else { format!("{h}:{m}:{s}") }),
            2 => (0u32..27, 0u32..63, 0u32..63, any::<bool>())
                .prop_map(|(h, m, s, pad)| if pad { format!("{h:02}:{m:02}:{s:02}") } else { format!("{h}:{m}:{s}") }),
            1 => pick(&["1:2", "", " 1:2:3", "1:2:3 ", "1:2:3:4", "99999999999:0:0", "4294967296:0:0",
                "0000000001:0:0", "00000000001:0:0", "a:b:c", "1::3", "23:59:60", "12345678:0:0"]),
        ]
    }

    fn port() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0u32..70_000).prop_map(|p| p.to_string()),
            1 => pick(&["*", "", "0080", " 80", "80 ", "-1", "65535", "65536", "4294967295", "4294967296",
                "99999999999", "1*", "**", "+1"]),
        ]
    }

    fn address() -> impl Strategy<Value = String> {
        let octet = (0u32..300, prop::bool::weighted(0.05))
            .prop_map(|(o, zero)| if zero { format!("0{o}") } else { o.to_string() });
        prop_oneof![
            3 => [octet.clone(), octet.clone(), octet.clone(), octet].prop_map(|o| o.join(".")),
            3 => pick(&["1.2.3.4", "1.2.3.40", "1.2.3.4\r", "10.0.0.1", "10.0.0.10", "::1", "::10"]),
            2 => pick(&["*", "", "0.0.0.0", "192.168.1.103", "::", "::1", "[::1]", "fe80::1%eth0", "fe80::1%1",
                "2001:db8::10", "2001:db8:0:10::103", "2001:db8:85a3::8a2e:370:7334", "::ffff:1.2.3.4", " 1.2.3.4",
                "1.2.3.4 ", "host", "1.2.3", "1.2.3.4.5", "[1.2.3.4]", "1.2.3.04", "01.2.3.4", "256.1.1.1",
                "1.2.3.4%x", "[::1", "1234567890123456", "255.255.255.255"]),
        ]
    }

    fn pid() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => pick(&["4", "8", "1260", "3480"]),
            3 => (0u64..5_000_000_000).prop_map(|p| p.to_string()),
            1 => pick(&["", "-1", " 4", "4 ", "0004", "*", "00000000004"]),
        ]
    }

    /// Names with what may trip a reader: blanks, commas, brackets, CR, non-ASCII (no quotes:
    /// a quoted line never reaches the fast path), and rows too long for the reader's window.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            20 => pick(&["svchost.exe", "svchost.ex", "svchost.exe ", "System", "a", "", "caf\u{e9}.exe"]),
            10 => "[a-zA-Z0-9 .,<>\\\\_\r\t\u{e9}\u{65e5}-]{0,16}",
            1 => "[a-z]{200,300}",
        ]
    }

    fn user() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => name().prop_map(|n| format!("<{n}>")),
            1 => name(),
            2 => pick(&["", "<>", "<a", "a>", "<NT AUTHORITY\\NETWORK SERVICE>", "<NT AUTHORITY\\NETWORK SERVICE >",
                "<NT AUTHORITY\\SYSTEM>"]),
        ]
    }

    /// A data row of 7, 8, 9, 10, 11 or 12 fields.
    fn row() -> impl Strategy<Value = String> {
        let head = (date(), time(), pick(&["TCP", "UDP", "TCP", "UDP", "tcp", "Udp", " TCP", "TCP ", "ICMP", ""]));
        let socket = (port(), address(), port(), address());
        (head, socket, pid(), name(), user(), name(), 0u8..8).prop_map(
            |((date, time, proto), (lport, lip, rport, rip), pid, module, user, extra, shape)| {
                let mut f = vec![date, time, proto, lport, lip, rport, rip, pid, module, user];
                match shape {
                    0 => f.truncate(7),
                    1 => f.truncate(8),
                    2 | 3 => f.truncate(9),
                    4 => f.insert(9, extra),
                    5 => f.push(extra),
                    _ => {}
                }
                f.join(",")
            },
        )
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            10 => row(),
            1 => pick(&["Port Reporter Version 1.01 Log File - Port usage log", "Log format:", "", "   ",
                "date,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context",
                "garbage", ",", "08/6/30", "08/6/30,10:17:58"]),
        ]
    }

    /// Lines joined with LF or CRLF; the last one maybe without its line end.
    fn text() -> impl Strategy<Value = Vec<u8>> {
        (prop::collection::vec((line(), any::<bool>()), 1..40), any::<bool>()).prop_map(|(lines, last_ended)| {
            let mut text = Vec::new();
            for (line, crlf) in &lines {
                text.extend_from_slice(line.as_bytes());
                text.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            if !last_ended {
                let end = text.len() - if lines.last().is_some_and(|l| l.1) { 2 } else { 1 };
                text.truncate(end);
            }
            text
        })
    }

    /// Reads every line of `text` both ways, the fast path with one set of tables throughout
    /// (so that its caches carry over from line to line, as in a chunk).
    fn check_lines(text: &[u8]) -> Result<usize, TestCaseError> {
        let known = Known::default();
        let mut fast = ChunkTables::default();
        let mut taken = 0;
        let mut start = 0;
        while start < text.len() {
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i + 1);
            let line = trim_cr(text[start..end].strip_suffix(b"\n").unwrap_or(&text[start..end]));
            let mut general = ChunkTables::default();
            let mut fields = Vec::new();
            let want = split_fields(line, &mut fields).and_then(|()| general.row(&mut fields));
            let sizes = (fast.addr_list.len(), fast.module_list.len(), fast.user_list.len());
            let shown = String::from_utf8_lossy(line);
            // With no slots of its own, the sink keeps what it is given in `extra`.
            let mut sink = Sink::new(&mut [], 7, 3);
            let taken_now = fast.fast_row(&known, text, start, &mut sink, 2);
            let events = sink.extra;
            match taken_now {
                Some(next) => {
                    prop_assert_eq!(next, end, "{:?}", shown);
                    prop_assert_eq!(events.len(), 1);
                    prop_assert_eq!((events[0].line, events[0].source), (9, 3));
                    let want = want.map(|e| resolve(&general, &e));
                    prop_assert_eq!(Ok(resolve(&fast, &events[0])), want, "{:?}", shown);
                    taken += 1;
                }
                None => {
                    prop_assert!(events.is_empty());
                    let after = (fast.addr_list.len(), fast.module_list.len(), fast.user_list.len());
                    prop_assert_eq!(after, sizes, "a refused line changed the tables: {:?}", shown);
                }
            }
            start = end;
        }
        Ok(taken)
    }

    /// Rows as Port Reporter writes them, which the fast path exists for.
    fn usual_row() -> impl Strategy<Value = String> {
        let date = prop_oneof![
            3 => pick(&["08/6/30", "08/6/3", "8/6/30", "08/7/1"]),
            1 => (0u32..100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:02}/{m}/{d}")),
        ];
        let time = prop_oneof![
            3 => (0u32..3, 0u32..3, 0u32..60).prop_map(|(h, m, s)| format!("{h}:{m}:{s}")),
            1 => (0u32..24, 0u32..60, 0u32..60).prop_map(|(h, m, s)| format!("{h}:{m}:{s}")),
        ];
        let ip = prop_oneof![
            2 => pick(&["0.0.0.0", "1.2.3.4", "1.2.3.40", "::", "::1", "fe80::1%eth0", "2001:db8:85a3::8a2e:370:7334"]),
            1 => any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
            1 => any::<[u16; 8]>().prop_map(|g| std::net::Ipv6Addr::from(g).to_string()),
        ];
        let remote_ip = prop_oneof![3 => ip.clone(), 1 => pick(&["*", ""])];
        let remote_port = prop_oneof![3 => any::<u16>().prop_map(|p| p.to_string()), 1 => pick(&["*", ""])];
        let pid = prop_oneof![3 => pick(&["4", "8", "1260"]), 1 => any::<u32>().prop_map(|p| p.to_string())];
        let module = prop_oneof![
            30 => pick(&["svchost.exe", "svchost.exe ", "svchost.ex", "System", ""]),
            10 => "[a-zA-Z0-9 ._\u{e9}-]{0,16}",
            1 => "[a-z]{150,300}",
        ];
        let user = prop_oneof![
            3 => pick(&["<NT AUTHORITY\\SYSTEM>", "<NT AUTHORITY\\NETWORK SERVICE>", "<NT AUTHORITY\\NETWORK SERVICE >",
                "<CORP\\alice>", "<>", ""]),
            1 => "[a-zA-Z0-9 .\\\\\u{e9}]{0,30}".prop_map(|u| format!("<{u}>")),
        ];
        // No tail: a Windows 2000 row of seven fields.
        let tail = prop_oneof![
            3 => (module.clone(), user).prop_map(|(m, u)| Some(format!("{m},{u}"))),
            1 => module.prop_map(Some),
            1 => Just(None),
        ];
        (date, time, any::<bool>(), any::<u16>(), ip, remote_port, remote_ip, pid, tail).prop_map(
            |(date, time, tcp, lport, lip, rport, rip, pid, tail)| {
                let proto = if tcp { "TCP" } else { "UDP" };
                match tail {
                    Some(tail) => format!("{date},{time},{proto},{lport},{lip},{rport},{rip},{pid},{tail}"),
                    None => format!("{date},{time},{proto},{lport},{lip},{rport},{rip}"),
                }
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn on_any_line(text in text()) {
            check_lines(&text)?;
        }

        #[test]
        fn and_takes_the_usual_rows(rows in prop::collection::vec((usual_row(), any::<bool>()), 1..30)) {
            let text: String = rows.iter().map(|(r, crlf)| format!("{r}{}", if *crlf { "\r\n" } else { "\n" })).collect();
            prop_assert_eq!(check_lines(text.as_bytes())?, rows.len());
        }
    }

    /// Usual rows, mostly read by the fast path (also through the reader's window).
    fn usual_text() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec((usual_row(), any::<bool>()), 1..40).prop_map(|rows| {
            rows.iter().flat_map(|(r, crlf)| [r.as_bytes(), if *crlf { b"\r\n" } else { b"\n" }].concat()).collect()
        })
    }

    /// `text` read as quote-free text (the fast path and pieces) and, with a quoted row every
    /// 50 lines (so every block holds one), with quoting (the general path, one piece).
    fn both_ways(body: &[u8]) -> (PortsLog, PortsLog) {
        let mut plain = Vec::new();
        let mut quoted = Vec::new();
        for (i, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
            if i % 50 == 0 {
                plain.extend_from_slice(b"08/6/30,0:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,q,<u>\n");
                quoted.extend_from_slice(b"08/6/30,0:0:0,TCP,1,1.1.1.1,2,2.2.2.2,1,\"q\",<u>\n");
            }
            plain.extend_from_slice(line);
            quoted.extend_from_slice(line);
        }
        (load(&plain), load(&quoted))
    }

    fn issues(log: &PortsLog) -> (u64, Vec<(u32, String)>) {
        (log.malformed.count(), log.malformed.iter().map(|m| (m.line, m.reason.clone())).collect())
    }

    /// Records with quoted fields: names with commas, escaped quotes and line breaks (LF or
    /// CRLF), a quoted address, and now and then a quote never closed.
    fn quoted_line() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            4 => pick(&["\"evil, inc.exe\"", "\"a\"\"b\"\".exe\"", "\"two\nlines.exe\"", "\"cr\r\nlf.exe\"",
                "\"x.exe\"", "\"\"", "\"a,\n\n,b\"", "\"trail\"er.exe"]),
            1 => pick(&["\"never closed", "\"closed\" late\n\"open"]),
        ];
        let user = pick(&["<u>", "\"<NT AUTHORITY\\SYSTEM>\"", "\"<a\nb>\"", ""]);
        let addr = pick(&["1.2.3.4", "\"1.2.3.4\"", "::1", "\"fe80::1%eth0\""]);
        (0u32..60, any::<u16>(), addr, name, user).prop_map(|(s, port, addr, name, user)| {
            format!("08/6/30,10:0:{s},TCP,{port},{addr},80,5.6.7.8,{port},{name},{user}")
        })
    }

    /// Plain and quoted lines mixed, quoted ones at any position.
    fn mixed_text() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![6 => line(), 3 => usual_row(), 2 => quoted_line()];
        (prop::collection::vec((line, any::<bool>()), 1..60), any::<bool>()).prop_map(|(lines, last_ended)| {
            let mut text = Vec::new();
            for (i, (line, crlf)) in lines.iter().enumerate() {
                text.extend_from_slice(line.as_bytes());
                if i + 1 < lines.len() || last_ended {
                    text.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
                }
            }
            text
        })
    }

    /// A read's rows resolved, with their lines and files.
    fn resolved_rows(log: &PortsLog, rows: &[PortEvent]) -> Vec<(Flat, u16)> {
        let one = |e: &PortEvent| PortsLog { events: vec![*e], ..PortsLog::default() };
        rows.iter()
            .map(|e| {
                let mut single = one(e);
                single.modules = log.modules.clone();
                single.users = log.users.clone();
                single.addrs = log.addrs.clone();
                (flat(&single).remove(0), e.source)
            })
            .collect()
    }

    /// A row as both readers must give it: (line, time, protocol, ports and addresses, PID,
    /// module, user, shape).
    type Row = (u32, Resolved);

    /// `text` read record by record by the general path alone, in one piece: what the reader
    /// must give, however it cuts and whichever path reads each record.
    fn general_only(text: &[u8]) -> (Vec<Row>, Vec<(u32, String)>) {
        let mut out =
            ChunkOut { events: Sink::new(&mut [], 1, 0), tables: ChunkTables::default(), issues: Vec::new(), lines: 0 };
        let mut fields = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            match general_record(&mut out, &text[pos..], true, &mut fields) {
                Some(len) => pos += len,
                None => break,
            }
        }
        let rows = out.events.extra.iter().map(|e| (e.line, resolve(&out.tables, e))).collect();
        let issues = out.issues.iter().map(|&(line, reason, _)| (line + 1, reason.to_string())).collect();
        (rows, issues)
    }

    fn read_rows(log: &PortsLog) -> Vec<Row> {
        log.events
            .iter()
            .map(|e| {
                let name = |s: &str| s.as_bytes().to_vec();
                (
                    e.line,
                    (
                        e.time,
                        e.protocol,
                        e.local_port,
                        log.local_ip(e),
                        e.remote_port(),
                        log.remote_ip(e),
                        e.pid(),
                        name(log.module(e)),
                        name(log.user(e)),
                        e.shape(),
                    ),
                )
            })
            .collect()
    }

    /// A quoted record long enough that the cuts between pieces fall inside it: the pieces
    /// that guessed wrong are read again from where it ends.
    #[test]
    fn a_record_spanning_the_cuts_between_pieces() {
        let row = |i: u32| format!("08/6/30,10:0:{},TCP,{i},1.2.3.4,80,5.6.7.8,{i},m.exe,<u>\n", i % 60);
        let mut text: String = (0..40).map(row).collect();
        text.push_str("08/6/30,10:0:0,TCP,7,1.2.3.4,80,5.6.7.8,7,\"");
        for i in 0..40 {
            // Lines that would each be a row, were they not inside the quotes.
            text.push_str(&row(1000 + i).replace('"', ""));
        }
        text.push_str("end.exe\",<u>\n");
        text.extend((40..80).map(row));
        let pieces = piece_bounds(text.as_bytes(), rayon::current_num_threads() * 4);
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        let (want_rows, want_issues) = general_only(text.as_bytes());
        assert_eq!((want_rows.len(), want_issues.len()), (81, 0));
        let log = load(text.as_bytes());
        assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
        assert_eq!(read_rows(&log), want_rows);
        assert_eq!(log.events[40].line, 41);
        assert_eq!(log.events[41].line, 82);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Per-record fallback: blocks mixing quoted records (anywhere: across block ends,
        /// across the cuts between pieces, spanning line breaks) with plain ones give exactly
        /// the rows, line numbers and malformed lines of the general path alone, whatever the
        /// block size.
        #[test]
        fn mixed_blocks_read_as_the_general_path_reads_them(
            text in mixed_text(),
            block_bytes in prop_oneof![8usize..64, 64usize..1024, 1024usize..65536],
        ) {
            let (want_rows, want_issues) = general_only(&text);
            let mut log = PortsLog::default();
            read_blocks(&mut log, Path::new("PR-PORTS-test.log"), &text[..], None, &LoadProgress::default(), block_bytes)
                .expect("read");
            let got_issues: Vec<(u32, String)> = log.malformed.iter().map(|m| (m.line, m.reason.clone())).collect();
            prop_assert_eq!(got_issues, want_issues);
            prop_assert_eq!(read_rows(&log), want_rows);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// A streaming consumer sees exactly the rows, lines and malformed lines of the full
        /// read, whatever the block size (blocks down to a few bytes, so that records, quoted
        /// ones spanning lines included, fall across block ends).
        #[test]
        fn a_stream_gives_what_the_full_read_gives(
            text in prop_oneof![mixed_text(), text(), usual_text()],
            block_bytes in prop_oneof![8usize..64, 64usize..512, 512usize..8192],
        ) {
            let full = load(&text);
            let mut streamed = PortsLog::default();
            let mut rows = Vec::new();
            let mut blocks = 0;
            block::stream(
                &mut streamed,
                Path::new("PR-PORTS-test.log"),
                &text[..],
                &LoadProgress::default(),
                block_bytes,
                &mut |_: &PortsLog, b: &RowBlock<'_>| {
                    blocks += 1;
                    rows.extend_from_slice(b.rows);
                },
            )
            .expect("stream");
            prop_assert!(streamed.events.is_empty());
            prop_assert_eq!(issues(&streamed), issues(&full));
            prop_assert_eq!(rows.len(), full.events.len());
            prop_assert!(resolved_rows(&streamed, &rows) == resolved_rows(&full, &full.events), "rows differ");
            prop_assert_eq!(streamed.addrs.iter().collect::<Vec<_>>(), full.addrs.iter().collect::<Vec<_>>());
            prop_assert_eq!(streamed.modules.iter().collect::<Vec<_>>(), full.modules.iter().collect::<Vec<_>>());
            prop_assert_eq!(streamed.users.iter().collect::<Vec<_>>(), full.users.iter().collect::<Vec<_>>());
            prop_assert_eq!((streamed.sources[0].rows, streamed.sources[0].malformed), (full.sources[0].rows, full.sources[0].malformed));

            let mut small = PortsLog::default();
            read_blocks(&mut small, Path::new("PR-PORTS-test.log"), &text[..], None, &LoadProgress::default(), block_bytes)
                .expect("read");
            prop_assert!(resolved_rows(&small, &small.events) == resolved_rows(&full, &full.events), "small blocks differ");
            prop_assert_eq!(issues(&small), issues(&full));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

        /// Also across blocks (a text repeated past the first few blocks), where pieces look
        /// addresses up in what earlier blocks found, and the log's tables fill in line order.
        #[test]
        fn whether_or_not_the_text_holds_quotes(text in prop_oneof![text(), usual_text()], long in prop::bool::weighted(0.2)) {
            let mut body = text.clone();
            while long && body.len() < 200_000 {
                if body.last() != Some(&b'\n') {
                    body.push(b'\n');
                }
                body.extend_from_slice(&text);
            }
            let (plain, quoted) = both_ways(&body);
            prop_assert_eq!(issues(&plain), issues(&quoted));
            prop_assert!(flat(&plain) == flat(&quoted), "events differ");
            prop_assert_eq!(plain.addrs.iter().collect::<Vec<_>>(), quoted.addrs.iter().collect::<Vec<_>>());
            prop_assert_eq!(plain.modules.iter().collect::<Vec<_>>(), quoted.modules.iter().collect::<Vec<_>>());
            prop_assert_eq!(plain.users.iter().collect::<Vec<_>>(), quoted.users.iter().collect::<Vec<_>>());
        }
    }
}

/// Progress counts the file's own bytes, so that it ends at the file's size in every
/// encoding (UTF-16 was counted after transcoding, and stopped near half).
#[test]
fn progress_ends_at_the_file_size_in_every_encoding() {
    let text =
        format!("{HEADER_101}08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,caf\u{e9}.exe,<u>\r\n")
            .repeat(2_000);
    let utf16le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let utf16be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
    let bomless: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let bom8 = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    for raw in [text.as_bytes().to_vec(), bom8, utf16le, utf16be, bomless] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("PR-PORTS-08-06-30-10-17-54.log");
        std::fs::write(&path, &raw).expect("write");
        let progress = LoadProgress::default();
        let mut log = PortsLog::default();
        read_into(&mut log, &path, &progress).expect("read");
        assert_eq!(log.events.len(), 2_000);
        let done = progress.bytes_done.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(done, raw.len() as u64, "{:?}", log.sources[0].encoding);
        assert_eq!(progress.rows.load(std::sync::atomic::Ordering::Relaxed), 2_000);
    }
}

/// A consumer of [`stream_from`] sees each block's rows once, in file order, with the names
/// and addresses they point to already in the log's tables.
#[test]
fn a_stream_hands_out_rows_in_file_order_without_keeping_them() {
    let mut text = String::from(HEADER_101);
    for i in 0..50_000 {
        text.push_str(&format!(
            "08/6/30,10:17:{},TCP,{i},10.0.0.{},80,1.2.3.4,{i},m{}.exe,<u>\n",
            i % 60,
            i % 250,
            i % 9
        ));
    }
    let mut log = PortsLog::default();
    let (mut blocks, mut seen) = (0, Vec::new());
    let progress = LoadProgress::default();
    stream_from(
        &mut log,
        Path::new("PR-PORTS-test.log"),
        text.as_bytes(),
        &progress,
        &mut |log: &PortsLog, block: &RowBlock<'_>| {
            blocks += 1;
            for e in block.rows {
                assert_eq!(
                    log.source_path(e).map(|p| p.to_path_buf()),
                    Some(std::path::PathBuf::from("PR-PORTS-test.log"))
                );
                seen.push((e.line, e.local_port, log.module(e).to_string()));
            }
        },
    )
    .expect("stream");
    assert!(log.events.is_empty(), "a stream keeps no rows");
    assert!(blocks > 1, "{blocks} blocks");
    let want: Vec<_> = (0..50_000).map(|i| (5 + i as u32, i as u16, format!("m{}.exe", i % 9))).collect();
    assert_eq!(seen, want);
    assert_eq!((log.sources[0].rows, log.sources[0].version.clone()), (50_000, Some(Version("1.01".into()))));
    assert_eq!(log.modules.len(), 10, "9 names and the empty one");
}

/// A block may end just after a line end inside a quoted record: the record waits for the
/// next block (it was once reported as a quote never closed).
#[test]
fn a_quoted_record_cut_at_a_line_end_by_a_block_end_is_whole() {
    let text: &[u8] = b"08/6/30,10:0:27,TCP,1,::1,80,5.6.7.8,2,\"a,\n\n,b\",<u>\n08/6/30,10:0:28,TCP,3,::1,80,5.6.7.8,4,\"c\nd\",<u>\n";
    for block_bytes in 8..=text.len() + 1 {
        let mut log = PortsLog::default();
        read_blocks(&mut log, Path::new("x"), text, None, &LoadProgress::default(), block_bytes).expect("read");
        assert_eq!(log.malformed.count(), 0, "blocks of {block_bytes}: {:?}", log.malformed);
        let rows: Vec<_> = log.events.iter().map(|e| (e.line, log.module(e).to_string())).collect();
        assert_eq!(rows, vec![(1, "a,\n\n,b".to_string()), (4, "c\nd".to_string())], "blocks of {block_bytes}");
    }
}
