use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::*;
use crate::analysis::test_support::fleet_from;
use crate::logs::initial::parse_initial;
use crate::logs::text::shared_path;
use crate::model::{Address, PortField, TcpState};

fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2008, 6, 30).and_then(|d| d.and_hms_opt(h, m, s)).expect("time")
}

/// A PR-INITIAL of `computer` taken at `time` (`10:00:00`) with these mapping rows.
fn initial_text(computer: &str, time: &str, rows: &[&str]) -> String {
    format!(
        "Port Reporter version 1.01 Log File\r\nService initialization log\r\nSystem Date: Mon Jun 30 {time} 2008\r\n\
         Local computer name:\r\n{computer}\r\nOperating System: windows xp\r\n\
         TCP/UDP Port to Process Mappings at service start-up\r\n{} mappings found\r\n\r\n\
         PID:Process\t\tPort\t\tLocal IP\tState\t\t Remote IP:Port\r\n{}\r\n",
        rows.len(),
        rows.join("\r\n")
    )
}

fn add_initial(set: &mut LogSet, computer: &str, stamp: &str, text: &str) {
    let path = Path::new(computer).join(format!("PR-INITIAL-{stamp}.log"));
    set.ports.computers.assign(&path, computer);
    set.initials.push(parse_initial(&shared_path(&path), set.initials.len() as u16, text.as_bytes()));
}

const PC1_INITIAL: &[&str] = &[
    "4:System\t\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
    "4:System\t\tUDP 137  \t192.168.1.5 \t\t\t *:*",
    "1900:svchost.exe\tTCP 1447  \t192.168.1.5 \tESTABLISHED\t 65.55.200.252:80",
];

const PC1_ROWS: &str = "\
08/6/30,10:05:00,TCP,4444,0.0.0.0,,0.0.0.0,3100,nc.exe,<PC1\\eve>
08/6/30,10:05:30,TCP,4444,192.168.1.5,51000,10.0.0.9,3100,nc.exe,<PC1\\eve>
08/6/30,10:06:00,TCP,445,0.0.0.0,,0.0.0.0,3200,evil.exe,<PC1\\eve>
08/6/30,10:07:00,TCP,1500,0.0.0.0,34567,0.0.0.0,2000,iexplore.exe,<PC1\\bob>
08/6/30,10:07:00,TCP,1500,192.168.1.5,80,65.55.200.252,2000,iexplore.exe,<PC1\\bob>
08/6/30,10:07:10,TCP,1501,0.0.0.0,4225,0.0.0.0,2000,iexplore.exe,<PC1\\bob>
08/6/30,10:07:13,TCP,1501,192.168.1.5,80,65.55.200.252,2000,iexplore.exe,<PC1\\bob>
08/6/30,10:08:00,TCP,1447,192.168.1.5,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:09:00,TCP,1448,192.168.1.5,443,65.55.200.253,1900,SVCHOST.EXE,<NT AUTHORITY\\SYSTEM>
08/6/30,10:11:00,TCP,5000,0.0.0.0,2064,0.0.0.0,1228,svchost.exe
08/6/30,10:12:00,UDP,137,192.168.1.5,*,*,4,System,
";

const PC2_ROWS: &str = "\
08/6/30,10:20:00,TCP,4444,0.0.0.0,,0.0.0.0,700,NC.EXE,<PC2\\admin>
08/6/30,10:21:00,TCP,3389,0.0.0.0,,0.0.0.0,1096,svchost.exe,<NT AUTHORITY\\SYSTEM>
";

/// PC1: an INITIAL with System on TCP 445, then nc.exe listening on 4444, 445 taken by
/// evil.exe, a browser's XP quirk rows. PC2: an INITIAL where nc.exe already listened on 4444.
fn two_computers() -> LogSet {
    let mut set = fleet_from(&[("PC1", PC1_ROWS), ("PC2", PC2_ROWS)]);
    add_initial(&mut set, "PC1", "08-06-30-10-0-0", &initial_text("PC1", "10:00:00", PC1_INITIAL));
    let pc2 = [
        "4:System\t\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
        "700:nc.exe\t\tTCP 4444  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
    ];
    add_initial(&mut set, "PC2", "08-06-30-10-0-0", &initial_text("PC2", "10:00:00", &pc2));
    set
}

fn changes(baseline: Baseline, range: TimeRange, set: &LogSet) -> Changes {
    let mut scanner = ChangeScanner::new(baseline, range);
    scanner.scan_set(Role::Loaded, set, None);
    scanner.finish(&set.ports.addrs)
}

/// A new TCP listener.
fn listener(
    computer: &str,
    port: u16,
    process: &str,
    pid: Option<u32>,
    user: &str,
    first: NaiveDateTime,
    rows: u64,
) -> NewListener {
    NewListener {
        computer: computer.into(),
        protocol: Protocol::Tcp,
        port,
        process: process.into(),
        pid,
        user: user.into(),
        first_seen: first,
        rows,
    }
}

#[test]
fn the_default_baseline_is_each_computers_earliest_initial() {
    let got = changes(Baseline::Initial, TimeRange::default(), &two_computers());
    assert_eq!(
        got.baseline,
        BaselineOut::Initial {
            files: vec!["PC1/PR-INITIAL-08-06-30-10-0-0.log".into(), "PC2/PR-INITIAL-08-06-30-10-0-0.log".into()]
        }
    );
    // The browser's quirk rows (1500, 1501) are no listeners; nc.exe on PC2 was in its
    // baseline; a listening row with a random remote port and no connection is a listener.
    assert_eq!(
        got.new_listeners,
        vec![
            listener("PC1", 4444, "nc.exe", Some(3100), "PC1\\eve", at(10, 5, 0), 1),
            listener("PC1", 445, "evil.exe", Some(3200), "PC1\\eve", at(10, 6, 0), 1),
            listener("PC1", 5000, "svchost.exe", Some(1228), "", at(10, 11, 0), 1),
            listener("PC2", 3389, "svchost.exe", Some(1096), "NT AUTHORITY\\SYSTEM", at(10, 21, 0), 1),
        ]
    );
    assert_eq!(
        got.owner_changes,
        vec![OwnerChange {
            computer: "PC1".into(),
            protocol: Protocol::Tcp,
            port: 445,
            baseline_processes: vec!["System".into()],
            process: "evil.exe".into(),
            pid: Some(3200),
            first_seen: at(10, 6, 0),
        }]
    );
    let process = |computer: &str, process: &str, first: NaiveDateTime, rows: u64, users: &[&str]| NewProcess {
        computer: computer.into(),
        process: process.into(),
        first_seen: first,
        rows,
        users: users.iter().map(|u| u.to_string()).collect(),
    };
    // svchost.exe (written SVCHOST.EXE once) was in PC1's snapshot; on PC2 it was not.
    assert_eq!(
        got.new_processes,
        vec![
            process("PC1", "nc.exe", at(10, 5, 0), 2, &["PC1\\eve"]),
            process("PC1", "evil.exe", at(10, 6, 0), 1, &["PC1\\eve"]),
            process("PC1", "iexplore.exe", at(10, 7, 0), 4, &["PC1\\bob"]),
            process("PC2", "svchost.exe", at(10, 21, 0), 1, &["NT AUTHORITY\\SYSTEM"]),
        ]
    );
    let endpoint = |process: &str, ip: &str, port: u16, first: NaiveDateTime, rows: u64| NewEndpoint {
        computer: "PC1".into(),
        process: process.into(),
        remote_ip: ip.parse().expect("ip"),
        remote_port: port,
        first_seen: first,
        rows,
    };
    // svchost.exe to 65.55.200.252:80 was in the snapshot; a name is shown as first met.
    assert_eq!(
        got.new_remote_endpoints,
        vec![
            endpoint("iexplore.exe", "65.55.200.252", 80, at(10, 7, 0), 2),
            endpoint("nc.exe", "10.0.0.9", 51000, at(10, 5, 30), 1),
            endpoint("svchost.exe", "65.55.200.253", 443, at(10, 9, 0), 1),
        ]
    );
}

#[test]
fn a_quirk_row_pairs_only_with_its_own_connection_within_seconds() {
    let rows = "\
08/6/30,10:00:00,TCP,1600,0.0.0.0,111,0.0.0.0,10,a.exe,
08/6/30,10:00:04,TCP,1600,192.168.1.5,80,1.2.3.4,10,a.exe,
08/6/30,10:01:00,TCP,1601,0.0.0.0,222,0.0.0.0,10,a.exe,
08/6/30,10:01:00,TCP,1601,192.168.1.5,80,1.2.3.4,11,b.exe,
08/6/30,10:02:00,TCP,1602,192.168.1.5,80,1.2.3.4,10,a.exe,
08/6/30,10:02:00,TCP,1602,0.0.0.0,333,0.0.0.0,10,a.exe,
08/6/30,10:03:00,TCP,1603,0.0.0.0,,0.0.0.0,10,a.exe,
08/6/30,10:03:01,TCP,1603,192.168.1.5,5555,1.2.3.5,10,a.exe,
";
    let set = fleet_from(&[("PC1", rows)]);
    let got = changes(Baseline::Initial, TimeRange::default(), &set);
    let ports: Vec<(u16, u64)> = got.new_listeners.iter().map(|l| (l.port, l.rows)).collect();
    // 1600: its connection came 4 s later; 1601: another PID's connection; 1602: the
    // connection was written first in the same second (quirk); 1603: an empty remote port is a
    // real listener (1.01) even with a connection right after.
    assert_eq!(ports, vec![(1600, 1), (1601, 1), (1603, 1)]);
}

#[test]
fn a_snapshots_quirk_entries_are_no_listeners() {
    let text = initial_text(
        "PC1",
        "08:49:30",
        &[
            "664:iexplore.exe\tTCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225",
            "664:iexplore.exe\tTCP 4867  \t169.254.66.8 \tESTABLISHED\t 169.254.44.123:80",
            "664:iexplore.exe\tTCP 4870  \t0.0.0.0 \tLISTENING\t 0.0.0.0:45070",
            "664:iexplore.exe\tUDP 4817  \t127.0.0.1 \t\t\t *:*",
            "3764:msmsgs.exe\tTCP 16521  \t169.254.66.8 \tLISTENING\t 0.0.0.0:45294",
            "0:System Idle\t\tTCP 4857  \t169.254.66.8 \tTIME WAIT\t 169.254.44.123:80",
        ],
    );
    let log = parse_initial(&shared_path(Path::new("PR-INITIAL-t.log")), 0, text.as_bytes());
    assert_eq!(log.mappings.len(), 6);
    assert_eq!(log.mappings[0].state, Some(TcpState::Listening));
    assert_eq!(log.mappings[0].remote_port, PortField::Num(4225));
    assert_eq!(log.mappings[3].remote_ip, Address::Any);
    // 4867 pairs with its ESTABLISHED entry; 4870 has none, so it listens.
    assert_eq!(listeners::table_listeners(&log.mappings), vec![2, 3, 4]);
}

#[test]
fn a_later_snapshot_is_after_the_baseline() {
    let mut set = two_computers();
    let restart = [
        "4:System\t\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
        "3100:nc.exe\t\tTCP 4444  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
        "812:ftpd.exe\t\tTCP 21  \t0.0.0.0 \tLISTENING\t 0.0.0.0",
    ];
    add_initial(&mut set, "PC1", "08-06-30-12-0-0", &initial_text("PC1", "12:00:00", &restart));
    let got = changes(Baseline::Initial, TimeRange::default(), &set);
    let pc1: Vec<(&str, u16, NaiveDateTime, u64)> = got
        .new_listeners
        .iter()
        .filter(|l| l.computer == "PC1")
        .map(|l| (l.process.as_str(), l.port, l.first_seen, l.rows))
        .collect();
    assert_eq!(
        pc1,
        vec![
            ("nc.exe", 4444, at(10, 5, 0), 1),
            ("evil.exe", 445, at(10, 6, 0), 1),
            ("svchost.exe", 5000, at(10, 11, 0), 1),
            ("ftpd.exe", 21, at(12, 0, 0), 0)
        ]
    );
    assert_eq!(
        got.baseline,
        BaselineOut::Initial {
            files: vec!["PC1/PR-INITIAL-08-06-30-10-0-0.log".into(), "PC2/PR-INITIAL-08-06-30-10-0-0.log".into()]
        }
    );
}

#[test]
fn until_takes_the_rows_before_it_and_the_range_limits_what_came_after() {
    let set = two_computers();
    let got = changes(Baseline::Until(at(10, 7, 0)), TimeRange::default(), &set);
    assert_eq!(got.baseline, BaselineOut::Until { until: at(10, 7, 0) });
    let listeners: Vec<(&str, &str, u16)> =
        got.new_listeners.iter().map(|l| (l.computer.as_str(), l.process.as_str(), l.port)).collect();
    // nc.exe and evil.exe listened before 10:07; PC2's INITIAL and rows are all before or after.
    assert_eq!(listeners, vec![("PC1", "svchost.exe", 5000), ("PC2", "svchost.exe", 3389)]);
    assert_eq!(got.owner_changes, vec![]);
    let processes: Vec<(&str, &str)> =
        got.new_processes.iter().map(|p| (p.computer.as_str(), p.process.as_str())).collect();
    assert_eq!(processes, vec![("PC1", "iexplore.exe"), ("PC2", "svchost.exe")]);

    let range = TimeRange::new(Some(at(10, 10, 0)), None).expect("range");
    let got = changes(Baseline::Until(at(10, 7, 0)), range, &set);
    let processes: Vec<(&str, &str)> =
        got.new_processes.iter().map(|p| (p.computer.as_str(), p.process.as_str())).collect();
    assert_eq!(processes, vec![("PC2", "svchost.exe")]);
    assert_eq!(got.new_remote_endpoints, vec![]);
}

#[test]
fn another_set_is_the_baseline_and_one_computer_stands_for_all() {
    let baseline = fleet_from(&[(
        "march",
        "08/5/1,9:00:00,TCP,4444,0.0.0.0,,0.0.0.0,1,nc.exe,\n08/5/1,9:00:01,TCP,1500,192.168.1.5,80,65.55.200.252,2,IEXPLORE.EXE,\n",
    )]);
    let loaded = two_computers();
    let mut scanner = ChangeScanner::new(Baseline::Paths(vec![PathBuf::from("march")]), TimeRange::default());
    scanner.scan_set(Role::Baseline, &baseline, None);
    scanner.scan_set(Role::Loaded, &loaded, None);
    let got = scanner.finish(&loaded.ports.addrs);
    assert_eq!(got.baseline, BaselineOut::Path { paths: vec!["march".into()] });
    // Everything loaded came after, its INITIALs too; the march logs' one computer is every
    // computer's baseline.
    let listeners: Vec<(&str, &str, u16)> =
        got.new_listeners.iter().map(|l| (l.computer.as_str(), l.process.as_str(), l.port)).collect();
    assert_eq!(
        listeners,
        vec![
            ("PC1", "System", 445),
            ("PC1", "System", 137),
            ("PC2", "System", 445),
            ("PC1", "evil.exe", 445),
            ("PC1", "svchost.exe", 5000),
            ("PC2", "svchost.exe", 3389),
        ]
    );
    let endpoints: Vec<(&str, u16)> =
        got.new_remote_endpoints.iter().map(|e| (e.process.as_str(), e.remote_port)).collect();
    assert_eq!(endpoints, vec![("nc.exe", 51000), ("svchost.exe", 80), ("svchost.exe", 443)]);
}

#[test]
fn only_the_rows_counted_came_after_but_all_pair_and_form_the_baseline() {
    let set = two_computers();
    // PC1's rows are 0..11 in time order, PC2's 11 and 12 (after PC1's by time).
    let time_of = |i: usize| set.ports.events[i].time;
    assert_eq!((time_of(3), time_of(4), time_of(11)), (at(10, 7, 0), at(10, 7, 0), at(10, 20, 0)));
    let mut scanner = ChangeScanner::new(Baseline::Initial, TimeRange::default());
    // Only the quirk row of 10:07:00 (index 3) and PC2's rows: its connection (4) is not
    // counted, yet pairs it.
    scanner.scan_set(Role::Loaded, &set, Some(&[3, 11, 12]));
    let got = scanner.finish(&set.ports.addrs);
    let listeners: Vec<(&str, u16)> = got.new_listeners.iter().map(|l| (l.process.as_str(), l.port)).collect();
    assert_eq!(listeners, vec![("svchost.exe", 3389)]);
    let processes: Vec<(&str, u64)> = got.new_processes.iter().map(|p| (p.process.as_str(), p.rows)).collect();
    assert_eq!(processes, vec![("iexplore.exe", 1), ("svchost.exe", 1)]);
}

/// Rows waiting for their connection are let go when their computer's next file starts
/// earlier: they are listeners, and a connection of that older file does not pair them.
#[test]
fn waiting_rows_are_let_go_when_their_computers_time_goes_back() {
    let mut pairing: listeners::Pairing<u32> = listeners::Pairing::default();
    let mut done = Vec::new();
    let socket = |computer| listeners::Socket { computer, port: 1600, pid: 10 };
    let quirk = listeners::RowKind::MaybeQuirk;
    let connection = listeners::RowKind::Connection;
    pairing.row(at(12, 0, 0), socket(1), quirk, 1, &mut |l| done.push(l));
    pairing.row(at(12, 0, 1), socket(1), connection, 0, &mut |l| done.push(l));
    pairing.row(at(12, 0, 2), socket(1), quirk, 2, &mut |l| done.push(l));
    assert_eq!(done, Vec::<u32>::new(), "1 paired, 2 waits");
    pairing.row(at(10, 0, 0), socket(2), quirk, 3, &mut |l| done.push(l));
    assert_eq!(done, Vec::<u32>::new(), "another computer's time is its own");
    pairing.row(at(10, 0, 2), socket(2), connection, 0, &mut |l| done.push(l));
    pairing.row(at(10, 0, 3), socket(1), quirk, 4, &mut |l| done.push(l));
    assert_eq!(done, vec![2], "computer 1's time went back: 2 is a listener");
    pairing.row(at(12, 0, 3), socket(1), connection, 0, &mut |l| done.push(l));
    pairing.finish(&mut |l| done.push(l));
    assert_eq!(done, vec![2, 4], "3 paired with its own computer's connection; 4 found none in 3 s");
}

/// A quirk row just before midnight pairs with its connection in the file started at
/// midnight even when another computer's rows are read between the two (files are read in
/// the order of their stamps, and both computers rotated at midnight).
#[test]
fn another_computers_rows_between_a_quirk_row_and_its_connection_do_not_part_them() {
    let mut pairing: listeners::Pairing<u32> = listeners::Pairing::default();
    let mut done = Vec::new();
    let socket = |computer| listeners::Socket { computer, port: 1501, pid: 2000 };
    let (quirk, connection) = (listeners::RowKind::MaybeQuirk, listeners::RowKind::Connection);
    pairing.row(at(23, 59, 58), socket(1), quirk, 1, &mut |l| done.push(l));
    let midnight = at(0, 0, 12) + chrono::TimeDelta::days(1);
    pairing.row(midnight, socket(2), quirk, 2, &mut |l| done.push(l));
    pairing.row(midnight + chrono::TimeDelta::seconds(60), socket(2), connection, 0, &mut |l| done.push(l));
    assert_eq!(done, vec![2], "computer 2's row found no connection within 3 s");
    pairing.row(at(0, 0, 1) + chrono::TimeDelta::days(1), socket(1), connection, 0, &mut |l| done.push(l));
    pairing.finish(&mut |l| done.push(l));
    assert_eq!(done, vec![2], "computer 1's quirk row is paired");
}
