use std::net::IpAddr;

use super::*;
use crate::model::TcpState;

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
    assert_eq!(log.malformed_count, 0, "{:?}", log.malformed);
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
    assert_eq!(log.malformed_count, 0);
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
    assert_eq!((log.events.len(), log.malformed_count), (2, 0));
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
    assert_eq!(log.malformed_count, 0, "{:?}", log.malformed);
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
    assert_eq!(log.malformed_count, 0, "{:?}", log.malformed);
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
    assert_eq!(log.malformed_count, 12);
    assert_eq!(log.malformed[9].excerpt, "#### corrupted ####");
    assert_eq!(&*log.malformed[0].file, Path::new("PR-PORTS-test.log"));
}

#[test]
fn a_complete_last_line_without_newline_is_a_row() {
    let log = load(b"08/6/30,10:0:9,TCP,1,1.1.1.1,2,2.2.2.2,1,ok.exe,<u>");
    assert_eq!((log.events.len(), log.malformed_count), (1, 0));
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
        assert_eq!(log.malformed_count, 0, "{enc:?}: {:?}", log.malformed);
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
    assert_eq!(log.malformed_count, 1);
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
    assert_eq!(log.malformed_count, 1);
    assert_eq!(log.malformed[0].line, 2);
}

#[test]
fn empty_and_header_only_files() {
    let log = load(b"");
    assert_eq!((log.events.len(), log.malformed_count, log.sources.len()), (0, 0, 1));
    let log = load(HEADER_101.as_bytes());
    assert_eq!((log.events.len(), log.malformed_count), (0, 0));
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
            module: name,
            user: Some(name),
        };
        write_row(&mut out, &row).expect("write");
    }
    let log = load(&out);
    assert_eq!(log.malformed_count, 0, "{:?}", log.malformed);
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
        assert!(log.malformed.len() as u64 <= log.malformed_count);
    }
}
