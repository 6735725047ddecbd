//! Properties over generated input: what the writer emits reads back equal, any bytes give
//! rows and counted problems (never a panic), and exports keep any content intact.

use std::net::IpAddr;
use std::path::Path;

use chrono::NaiveDateTime;
use proptest::prelude::*;
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::export::{write_rows_json, write_table_csv};
use prparser::logs::initial::read_initial_from;
use prparser::logs::pids::read_pids_from;
use prparser::logs::ports::{LoadProgress, PortsLog, RowOut, is_header_line, read_from, write_header, write_row};
use prparser::model::{Address, PortField, Protocol, make_datetime};

/// A row as generated: owned values for [`RowOut`].
#[derive(Debug, Clone)]
struct Row {
    time: NaiveDateTime,
    tcp: bool,
    local_port: u16,
    local_ip: Address,
    remote_port: PortField,
    remote_ip: Address,
    pid: Option<u32>,
    module: String,
    user: Option<String>,
}

/// Text with the characters that break naive CSV and line readers, and any others.
fn nasty_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec![',', '"', '\n', '\r', '<', '>', ' ', '\t', '=', '\u{e9}', '\u{2028}', '\0']),
        4 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(c, 0..24).prop_map(|v| v.into_iter().collect())
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        3 => any::<[u8; 4]>().prop_map(|o| Address::Ip(IpAddr::from(o))),
        3 => any::<[u16; 8]>().prop_map(|g| Address::Ip(IpAddr::from(std::net::Ipv6Addr::from(g)))),
        1 => Just(Address::Any),
        1 => Just(Address::Empty),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    let time = (0u32..70, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60)
        .prop_map(|(y, mo, d, h, mi, s)| make_datetime(y, mo, d, h, mi, s).expect("valid date"));
    let remote_port =
        prop_oneof![3 => any::<u16>().prop_map(PortField::Num), 1 => Just(PortField::Any), 1 => Just(PortField::Empty)];
    let pid = prop_oneof![6 => any::<u32>().prop_filter("NO_PID", |p| *p != u32::MAX).prop_map(Some), 1 => Just(None)];
    let user = prop_oneof![3 => nasty_text().prop_map(Some), 1 => Just(None)];
    (time, any::<bool>(), any::<u16>(), address(), remote_port, address(), pid, nasty_text(), user).prop_map(
        |(time, tcp, local_port, local_ip, remote_port, remote_ip, pid, module, user)| Row {
            time,
            tcp,
            local_port,
            local_ip,
            remote_port,
            remote_ip,
            pid,
            module,
            user,
        },
    )
}

fn write_all(rows: &[Row], header: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if header {
        write_header(&mut out, "1.01", "PR-PIDS-08-06-30-10-17-54.log").expect("write");
    }
    for r in rows {
        let row = RowOut {
            time: r.time,
            protocol: if r.tcp { Protocol::Tcp } else { Protocol::Udp },
            local_port: r.local_port,
            local_ip: r.local_ip,
            remote_port: r.remote_port,
            remote_ip: r.remote_ip,
            pid: r.pid,
            module: r.module.as_bytes(),
            user: r.user.as_deref(),
        };
        write_row(&mut out, &row).expect("write");
    }
    out
}

fn read(bytes: &[u8]) -> PortsLog {
    let mut log = PortsLog::default();
    read_from(&mut log, Path::new("PR-PORTS-prop.log"), bytes, Some(bytes.len() as u64), &LoadProgress::default())
        .expect("in-memory reads do not fail");
    log
}

/// Lines that are neither blank nor header lines.
fn data_lines(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty() && !is_header_line(l))
        .count()
}

/// Bytes that look like log lines, without quotes (which may join lines into one record).
fn rowish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"0123456789/,:.*<>\r\n TCPUDabcf\x00\xff\xe9-";
    prop::collection::vec(prop::sample::select(alphabet.to_vec()), 0..1500)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_row_the_writer_emits_reads_back_equal(rows in prop::collection::vec(row(), 1..12), header in any::<bool>()) {
        let log = read(&write_all(&rows, header));
        prop_assert_eq!(log.malformed.count(), 0, "{:?}", log.malformed);
        prop_assert_eq!(log.events.len(), rows.len());
        for (e, r) in log.events.iter().zip(&rows) {
            prop_assert_eq!(e.time, r.time);
            prop_assert_eq!(e.protocol, if r.tcp { Protocol::Tcp } else { Protocol::Udp });
            prop_assert_eq!(e.local_port, r.local_port);
            prop_assert_eq!(log.local_ip(e), r.local_ip);
            prop_assert_eq!(e.remote_port(), r.remote_port);
            prop_assert_eq!(log.remote_ip(e), r.remote_ip);
            prop_assert_eq!(e.pid(), r.pid);
            if r.pid.is_some() {
                prop_assert_eq!(log.module(e), r.module.as_str());
                prop_assert_eq!(log.user(e), r.user.as_deref().unwrap_or(""));
            }
        }
    }

    #[test]
    fn any_bytes_read_as_ports_give_rows_and_counted_malformed_lines(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let log = read(&bytes);
        prop_assert!(log.malformed.len() as u64 <= log.malformed.count());
        prop_assert_eq!(log.sources[0].rows as usize, log.events.len());
        prop_assert_eq!(log.sources[0].malformed, log.malformed.count());
    }

    #[test]
    fn every_quote_free_line_is_a_row_or_malformed(bytes in rowish_bytes()) {
        prop_assume!(!bytes.starts_with(b"\xff\xfe") && !bytes.starts_with(b"\xfe\xff"));
        let log = read(&bytes);
        prop_assert_eq!(log.events.len() + log.malformed.count() as usize, data_lines(&bytes));
    }

    #[test]
    fn any_bytes_read_as_pids_or_initial_give_warnings_with_real_line_numbers(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let pids = read_pids_from(Path::new("PR-PIDS-prop.log"), 0, bytes.as_slice()).expect("in memory");
        prop_assert!(pids.warnings.iter().all(|w| w.line <= lines), "{:?}", pids.warnings);
        let initial = read_initial_from(Path::new("PR-INITIAL-prop.log"), 0, bytes.as_slice()).expect("in memory");
        prop_assert!(initial.warnings.iter().all(|w| w.line <= lines), "{:?}", initial.warnings);
    }

    #[test]
    fn csv_cells_round_trip_and_formulas_are_neutralised(cells in prop::collection::vec(nasty_text(), 1..6)) {
        let mut out = Vec::new();
        let header = vec!["h"; cells.len()];
        write_table_csv(&mut out, &header, [cells.clone()]).expect("write");
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(out.as_slice());
        let record = reader.records().next().expect("one record").expect("valid CSV");
        let back: Vec<&str> = record.iter().collect();
        let expected: Vec<String> = cells
            .iter()
            .map(|c| if c.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{c}") } else { c.clone() })
            .collect();
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn json_export_is_valid_and_exact_for_any_names(rows in prop::collection::vec(row(), 1..8)) {
        let log = read(&write_all(&rows, false));
        let order: Vec<u32> = (0..log.events.len() as u32).collect();
        let mut out = Vec::new();
        write_rows_json(&mut out, &log, &NoHostNames, &order).expect("write");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        for (i, e) in log.events.iter().enumerate() {
            prop_assert_eq!(v[i]["module"].as_str(), Some(log.module(e)));
            prop_assert_eq!(v[i]["user"].as_str(), Some(log.user(e)));
        }
    }
}
