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

fn pids_head() -> String {
    let mut head = Vec::new();
    pids::write_header(&mut head, &pids::LogHeader::default()).expect("header");
    String::from_utf8(head).expect("ascii")
}

/// The blocks of a batch as (PID, line).
fn blocks(batch: &FollowBatch) -> Vec<(u32, u32)> {
    batch.pids.iter().flat_map(|l| l.blocks.iter().map(|b| (b.pid, b.line))).collect()
}

/// Dates the file's last change an hour back: it has stood still long enough.
fn quiet(path: &Path) {
    set_modified(path, std::time::SystemTime::now() - Duration::from_secs(3600));
}

/// Dates the file's last change an hour ahead: however slow this machine, it never looks quiet.
fn busy(path: &Path) {
    set_modified(path, std::time::SystemTime::now() + Duration::from_secs(3600));
}

fn set_modified(path: &Path, time: std::time::SystemTime) {
    std::fs::File::options().append(true).open(path).expect("open").set_modified(time).expect("set mtime");
}

#[test]
fn pids_entries_are_taken_whole_with_their_file_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, p) = (dir.path().join(PORTS_A), dir.path().join(PIDS_A));
    append(&a, &header(PIDS_A));
    let head = pids_head();
    let head_lines = head.matches('\n').count() as u32;
    let one = entry(7, 1);
    append(&p, &format!("{head}{}", &one[..one.len() - 12]));
    quiet(&p);
    let mut f = Follower::new(dir.path(), Start::Oldest);
    assert_eq!(blocks(&f.poll()), Vec::<(u32, u32)>::new(), "an entry cut mid-line waits, quiet or not");
    append(&p, &format!("{}{}", &one[one.len() - 12..], entry(8, 2)));
    busy(&p);
    let batch = f.poll();
    assert_eq!(blocks(&batch), vec![(7, head_lines + 4)], "the last entry waits for the next or for quiet");
    assert!(batch.pids.iter().all(|l| l.warnings.is_empty()), "{:?}", batch.pids);
    append(&p, &entry(9, 3));
    busy(&p);
    assert_eq!(blocks(&f.poll()), vec![(8, head_lines + 10)]);
    quiet(&p);
    assert_eq!(blocks(&f.poll()), vec![(9, head_lines + 16)]);
    assert!(f.poll().is_empty());
}

#[test]
fn an_entry_written_line_by_line_is_one_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, p) = (dir.path().join(PORTS_A), dir.path().join(PIDS_A));
    append(&a, &header(PIDS_A));
    append(&p, &pids_head());
    let mut f = Follower::new(dir.path(), Start::Oldest);
    let mut taken = Vec::new();
    // Each piece ends on a line end; the writer is still at it.
    for line in entry(7, 1).split_inclusive('\n') {
        append(&p, line);
        busy(&p);
        taken.extend(f.poll().pids);
    }
    assert_eq!(taken.iter().map(|l| l.blocks.len()).sum::<usize>(), 0, "not quiet yet: {taken:?}");
    quiet(&p);
    taken.extend(f.poll().pids);
    let block = taken.iter().flat_map(|l| &l.blocks).collect::<Vec<_>>();
    assert_eq!(block.len(), 1);
    assert_eq!(
        (block[0].pid, block[0].process.as_str(), block[0].line),
        (7, "app.exe", 4 + pids_head().matches('\n').count() as u32)
    );
    assert_eq!(block[0].recorded_at.map(|t| t.to_string()).as_deref(), Some("2026-01-02 10:01:00"));
    assert_eq!(block[0].user.as_deref(), Some("host\\ann"));
    assert!(taken.iter().all(|l| l.warnings.is_empty()), "{taken:?}");
}

#[test]
fn the_last_entry_starts_at_its_separator() {
    let two = format!("{}{}", entry(1, 1), entry(2, 2));
    assert_eq!(last_entry_start(two.as_bytes()), entry(1, 1).len());
    assert_eq!(last_entry_start(entry(1, 1).as_bytes()), 0);
    assert_eq!(last_entry_start(b"no entries here\r\n"), 0);
}

/// Follows a file holding row 1, a line of `long` bytes, then row 2; returns the PIDs read and
/// the malformed lines reported.
fn follow_long_line(long: usize) -> (Vec<u32>, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join(PORTS_A);
    append(&a, &format!("{}{}{}\r\n{}", header(PIDS_A), row(1), "x".repeat(long), row(2)));
    let mut f = Follower::new(dir.path(), Start::Oldest);
    let mut seen = Vec::new();
    let mut malformed = 0;
    for _ in 0..6 {
        let batch = f.poll();
        seen.extend(pids(&batch));
        malformed += batch.ports.malformed.count();
    }
    (seen, malformed)
}

#[test]
fn a_line_longer_than_a_poll_reads_is_reported_not_held_forever() {
    assert_eq!(follow_long_line(MAX_POLL_BYTES + 10), (vec![1, 2], 1), "held across two reads, reported once");
    assert_eq!(follow_long_line(2 * MAX_POLL_BYTES + 10), (vec![1, 2], 2), "held up to a poll's read, then in pieces");
}
