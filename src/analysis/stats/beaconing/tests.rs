use super::*;
use crate::analysis::aggregate::over_rows;
use crate::analysis::test_support::set_from;

/// A PORTS line at `s` seconds after 2008-06-30 10:00:00.
fn row(s: u32, proto: &str, local_port: u16, remote: &str, pid: u32, module: &str) -> String {
    let (h, m, sec) = (10 + s / 3600, s / 60 % 60, s % 60);
    let (remote_port, remote_ip) = remote.split_once(' ').unwrap_or(("*", "*"));
    format!(
        "08/6/30,{h}:{m}:{sec},{proto},{local_port},192.168.1.103,{remote_port},{remote_ip},{pid},{module},<PC\\u>\n"
    )
}

/// - beacon.exe: 7 connections a minute apart to 198.51.100.7:443, each on its own local
///   port with a state change 5 s later, and one more row of the first socket 9 min after
///   its last (still that connection);
/// - poller.exe: one local port to 198.51.100.7:80, a row every 700 s (each past the window:
///   6 connections), then rows 300 s apart (state changes of the last);
/// - chatty.exe: 5 connections only;
/// - rows that are no candidates: UDP to `*`, a listener, a row without a process.
fn log_text() -> String {
    let mut text = String::new();
    for i in 0..7 {
        text += &row(i * 60, "TCP", 5000 + i as u16, "443 198.51.100.7", 100, "beacon.exe");
        text += &row(i * 60 + 5, "TCP", 5000 + i as u16, "443 198.51.100.7", 100, "beacon.exe");
    }
    text += &row(5 + 540, "TCP", 5000, "443 198.51.100.7", 100, "beacon.exe");
    for i in 0..6 {
        text += &row(i * 700, "TCP", 6000, "80 198.51.100.7", 200, "poller.exe");
    }
    text += &row(5 * 700 + 300, "TCP", 6000, "80 198.51.100.7", 200, "poller.exe");
    text += &row(5 * 700 + 600, "TCP", 6000, "80 198.51.100.7", 200, "poller.exe");
    for i in 0..5 {
        text += &row(i * 10, "TCP", 7000 + i as u16, "443 198.51.100.7", 300, "chatty.exe");
    }
    for i in 0..8 {
        text += &row(i * 60, "UDP", 137, "* *", 4, "System");
        text += &row(i * 60, "TCP", 445, "0 0.0.0.0", 4, "System");
    }
    text += "08/6/30,10:0:1,TCP,4873,169.254.66.8,80,63.208.107.43\n";
    text
}

fn found(list: &[Beacon]) -> Vec<(&str, String, u16, u64, f64, f64)> {
    list.iter()
        .map(|b| {
            (b.process.as_str(), b.remote_ip.to_string(), b.remote_port, b.connections, b.median_interval_s, b.score)
        })
        .collect()
}

#[test]
fn connections_are_first_rows_of_a_socket_and_state_changes_are_not_counted() {
    let set = set_from(&log_text(), None);
    let list = beaconing(&set.ports, None);
    // Span: 10:00:00 .. 11:08:20 (poller's last row), 4100 s.
    // beacon.exe: gaps 60 x6; coverage 7 * 60 / 4100: (1 + 59 / 60) / 4 + 0.0512 = 0.547.
    // poller.exe: gaps 700 x5; coverage 6 * 700 / 4100 > 1: (1 + 699 / 700) / 4 + 0.5.
    assert_eq!(
        found(&list),
        vec![
            ("poller.exe", "198.51.100.7".to_string(), 80, 6, 700.0, 1.0),
            ("beacon.exe", "198.51.100.7".to_string(), 443, 7, 60.0, 0.547),
        ]
    );
    assert_eq!(list[0].computer, "");
}

#[test]
fn a_subset_is_scored_over_its_own_span() {
    let set = set_from(&log_text(), None);
    let beacon_rows: Vec<u32> = (0..set.ports.events.len() as u32)
        .filter(|&i| set.ports.module(&set.ports.events[i as usize]) == "beacon.exe")
        .collect();
    // Span 10:00:00 .. 10:09:05 (545 s): 7 * 60 covers 420 / 545 of it.
    let expected = (((1.0 + 59.0 / 60.0) / 4.0 + 420.0 / 545.0 / 2.0) * 1000.0_f64).round() / 1000.0;
    assert_eq!(
        found(&beaconing(&set.ports, Some(&beacon_rows))),
        vec![("beacon.exe", "198.51.100.7".to_string(), 443, 7, 60.0, expected)]
    );
    assert_eq!(expected, 0.881);
}

#[test]
fn any_split_of_the_rows_finds_the_same_connections() {
    let set = set_from(&log_text(), None);
    let tables = Tables::of(&set.ports);
    let whole = beaconing(&set.ports, None);
    let events = &set.ports.events;
    for size in [1, 2, 3, 7] {
        let mut accs: Vec<Beaconing> = events
            .chunks(size)
            .map(|part| {
                let mut a = Beaconing::default();
                a.add(&Batch::new(tables, part));
                a
            })
            .collect();
        let mut acc = accs.pop().unwrap_or_default();
        while let Some(earlier) = accs.pop() {
            acc.merge(earlier);
        }
        assert_eq!(acc.finish(tables), whole, "parts of {size} rows");
    }
    assert_eq!(over_rows(Batch::new(tables, events), Beaconing::default).finish(tables), whole);
}

#[test]
fn many_sockets_seen_twice_are_one_connection_each_and_keep_at_most_twice_their_runs() {
    // 5000 sockets, each seen twice 2 s apart, and a beacon whose sockets are seen again
    // 9 minutes later; then those sockets come back past the window.
    let mut text = String::new();
    for i in 0..5000u32 {
        let port = 10_000 + i as u16;
        text += &row(i / 2, "TCP", port, "443 203.0.113.9", 400, "many.exe");
        text += &row(i / 2 + 2, "TCP", port, "443 203.0.113.9", 400, "many.exe");
    }
    for i in 0..6u32 {
        text += &row(3000 + i * 700, "TCP", 10_000 + i as u16, "443 203.0.113.9", 400, "many.exe");
    }
    let set = set_from(&text, None);
    let mut acc = Beaconing::default();
    let tables = Tables::of(&set.ports);
    for part in set.ports.events.chunks(100) {
        acc.add(&Batch::new(tables, part));
    }
    let kept: usize = acc.candidates.iter().map(|(_, r)| r.narrow.runs.len() + r.wide.runs.len()).sum();
    assert!(kept <= 2 * 5006, "{kept} runs kept");
    let list = acc.finish(tables);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].connections, 5006);
}

#[test]
fn rows_read_again_keep_no_more_than_twice_the_connections() {
    // The same rows ten times over (a log whose times go back, as a copied file's do): the
    // connections are those of one copy, and so are the runs kept.
    let set = set_from(&log_text(), None);
    let tables = Tables::of(&set.ports);
    let mut acc = Beaconing::default();
    let once = beaconing(&set.ports, None);
    for _ in 0..10 {
        acc.add(&Batch::new(tables, &set.ports.events));
    }
    let kept: usize = acc.candidates.iter().map(|(_, r)| r.narrow.runs.len() + r.wide.runs.len()).sum();
    // beacon.exe 7, poller.exe 6, chatty.exe 5 connections.
    assert!(kept <= 2 * 18, "{kept} runs kept");
    assert_eq!(acc.finish(tables), once);
}

#[test]
fn times_before_1970_and_after_2106_are_kept_exactly() {
    // A socket whose rows straddle 1970-01-01 (one connection) and 2106-02-07 (two), then six
    // connections an hour apart in 2200: 1 + 2 + 6 connections on one candidate.
    let line = |date: &str, time: &str, port: u16| {
        format!("{date},{time},TCP,{port},192.168.1.103,443,198.51.100.7,500,edge.exe,<PC\\u>\n")
    };
    let mut text = line("1969/12/31", "23:58:0", 7000);
    text += &line("1970/1/1", "0:3:0", 7000);
    text += &line("2106/2/7", "6:20:0", 7001);
    text += &line("2106/2/7", "6:29:0", 7001);
    text += &line("2106/2/7", "6:40:0", 7001);
    for h in 0..6 {
        text += &line("2200/1/1", &format!("{h}:0:0"), 7002 + h as u16);
        text += &line("2200/1/1", &format!("{h}:5:0"), 7002 + h as u16);
    }
    let set = set_from(&text, None);
    let tables = Tables::of(&set.ports);
    let whole = beaconing(&set.ports, None);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].connections, 9);
    for size in [1, 2, 5] {
        let mut acc = Beaconing::default();
        for part in set.ports.events.chunks(size).rev() {
            acc.add(&Batch::new(tables, part));
        }
        assert_eq!(acc.finish(tables), whole, "parts of {size} rows, last first");
    }
}
