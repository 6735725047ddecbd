use std::io::Write;

use super::*;

const PORTS_A: &str = "PR-PORTS-26-01-02-10-0-0.log";
const PIDS_A: &str = "PR-PIDS-26-01-02-10-0-0.log";
const PORTS_B: &str = "PR-PORTS-26-01-02-10-5-0.log";

fn header(partner: &str) -> String {
    let mut out = Vec::new();
    ports::write_header(&mut out, "2.0", partner).expect("header");
    String::from_utf8(out).expect("ascii")
}

/// A row whose PID tells rows apart.
fn row(pid: u32) -> String {
    format!("26/1/2,10:0:{},TCP,{},10.0.0.1,443,192.0.2.7,{pid},app.exe,<host\\ann>\r\n", pid % 60, 1024 + pid % 1000)
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

fn pids(batch: &FollowBatch) -> Vec<u32> {
    batch.ports.events.iter().map(|e| e.pid).collect()
}

#[test]
fn partial_lines_wait_for_their_end_and_rows_come_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &header(PIDS_A));
    let mut f = Follower::new(dir.path(), Start::Oldest);
    let first = f.poll();
    assert_eq!(first.notes, vec![FollowNote::Started(a.clone())]);
    assert_eq!(pids(&first), Vec::<u32>::new());
    assert_eq!(first.ports.sources[0].version, Some(header::Version("2.0".into())));
    let two = format!("{}{}", row(1), row(2));
    append(&a, &two[..two.len() - 10]);
    let b = f.poll();
    assert_eq!(pids(&b), vec![1]);
    append(&a, &two[two.len() - 10..]);
    let c = f.poll();
    assert_eq!(pids(&c), vec![2]);
    assert_eq!(c.ports.events[0].line, 6, "lines are the file's own");
    assert_eq!(c.ports.malformed.count(), 0);
    assert!(f.poll().is_empty());
}

#[test]
fn rotation_finishes_the_old_file_then_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join(PORTS_A), dir.path().join(PORTS_B));
    append(&a, &format!("{}{}", header(PIDS_A), row(1)));
    let mut f = Follower::new(dir.path(), Start::Oldest);
    assert_eq!(pids(&f.poll()), vec![1]);
    // The last row of the old file has no line end: taken once the writer has moved on.
    append(&a, row(2).trim_end());
    assert_eq!(pids(&f.poll()), Vec::<u32>::new());
    append(&b, &format!("{}{}", header("PR-PIDS-26-01-02-10-5-0.log"), row(3)));
    let batch = f.poll();
    assert_eq!(pids(&batch), vec![2, 3]);
    assert_eq!(batch.notes, vec![FollowNote::Rotated { from: a.clone(), to: b.clone() }]);
    assert_eq!(batch.ports.sources.iter().map(|s| (s.rows, s.malformed)).collect::<Vec<_>>(), vec![(1, 0), (1, 0)]);
    assert_eq!(f.current(), Some(b.as_path()));
}

#[test]
fn a_cut_last_line_of_a_finished_file_is_reported_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join(PORTS_A), dir.path().join(PORTS_B));
    append(&a, &format!("{}{}{}", header(PIDS_A), row(1), &row(2)[..20]));
    append(&b, &row(3));
    let batch = Follower::new(dir.path(), Start::Oldest).poll();
    assert_eq!(pids(&batch), vec![1, 3]);
    assert_eq!(batch.ports.malformed.count(), 1);
    assert_eq!(batch.ports.malformed[0].line, 6);
    assert_eq!(batch.ports.malformed[0].reason, "truncated last line (the file ends mid-row)");
}

#[test]
fn truncated_and_deleted_files_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &format!("{}{}{}", header(PIDS_A), row(1), row(2)));
    let mut f = Follower::from_file(&a);
    assert_eq!(pids(&f.poll()), vec![1, 2]);
    std::fs::write(&a, row(3)).expect("truncate");
    let batch = f.poll();
    assert_eq!(batch.notes, vec![FollowNote::Truncated(a.clone())]);
    assert_eq!(pids(&batch), vec![3]);
    std::fs::remove_file(&a).expect("remove");
    assert_eq!(f.poll().notes, vec![FollowNote::Gone(a.clone())]);
    assert!(f.poll().is_empty(), "reported once");
}

#[test]
fn links_in_the_folder_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &format!("{}{}", header(PIDS_A), row(1)));
    let secret = outside.path().join("secret.log");
    append(&secret, &row(666));
    std::os::unix::fs::symlink(&secret, dir.path().join(PORTS_B)).expect("symlink");
    let mut f = Follower::new(dir.path(), Start::Oldest);
    assert_eq!(pids(&f.poll()), vec![1]);
    assert_eq!(pids(&f.poll()), Vec::<u32>::new());
    assert_eq!(f.current(), Some(a.as_path()));
}

fn entry(pid: u32, minute: u32) -> String {
    format!(
        "======================================================\r\nLog entry below recorded at: 26/1/2 10:{minute}:0\r\n======================================================\r\nProcess ID: {pid} (app.exe)\r\nUser context: host\\ann\r\nProcess doesn't appear to be a service\r\n"
    )
}

#[test]
fn pids_entries_are_taken_whole_with_their_file_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, p) = (dir.path().join(PORTS_A), dir.path().join(PIDS_A));
    append(&a, &header(PIDS_A));
    let mut head = Vec::new();
    pids::write_header(&mut head, &pids::LogHeader::default()).expect("header");
    let head = String::from_utf8(head).expect("ascii");
    let head_lines = head.matches('\n').count() as u32;
    let one = entry(7, 1);
    append(&p, &format!("{head}{}", &one[..one.len() - 12]));
    let mut f = Follower::new(dir.path(), Start::Oldest);
    let blocks = |b: &FollowBatch| -> Vec<(u32, u32)> {
        b.pids.iter().flat_map(|l| l.blocks.iter().map(|b| (b.pid, b.line))).collect()
    };
    assert_eq!(blocks(&f.poll()), Vec::<(u32, u32)>::new(), "an entry still being written waits");
    append(&p, &format!("{}{}", &one[one.len() - 12..], entry(8, 2)));
    let batch = f.poll();
    assert_eq!(blocks(&batch), vec![(7, head_lines + 4), (8, head_lines + 10)]);
    assert!(batch.pids.iter().all(|l| l.warnings.is_empty()), "{:?}", batch.pids);
    append(&p, &entry(9, 3));
    assert_eq!(blocks(&f.poll()), vec![(9, head_lines + 16)]);
}

#[test]
fn the_last_entry_starts_at_its_separator() {
    let two = format!("{}{}", entry(1, 1), entry(2, 2));
    assert_eq!(last_entry_start(two.as_bytes()), entry(1, 1).len());
    assert_eq!(last_entry_start(entry(1, 1).as_bytes()), 0);
    assert_eq!(last_entry_start(b"no entries here\r\n"), 0);
}

#[test]
fn a_line_longer_than_a_poll_reads_is_reported_not_read_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &format!("{}{}{}\r\n{}", header(PIDS_A), row(1), "x".repeat(MAX_POLL_BYTES + 10), row(2)));
    let mut f = Follower::new(dir.path(), Start::Oldest);
    let mut seen = Vec::new();
    let mut malformed = 0;
    for _ in 0..4 {
        let batch = f.poll();
        seen.extend(pids(&batch));
        malformed += batch.ports.malformed.count();
    }
    assert_eq!(seen, vec![1, 2]);
    assert_eq!(malformed, 2, "the long line, in two pieces");
}
