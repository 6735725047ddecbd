//! Memory stays bounded by what is kept: measured with a counting allocator (this test binary
//! has it to itself, so it runs its cases one after another in one test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use prparser::logs::pids::read_pids;
use prparser::logs::ports::{LoadProgress, PortsLog, read_into};
use prparser::report;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised for `ptr` and `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised for `ptr`, `layout` and `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap bytes above what was live before `f`, and its result.
fn peak_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed) - base, out)
}

const MIB: usize = 1 << 20;

/// Rows of `bytes` bytes or more, distinct enough to look like a real log: a mebibyte of rows
/// made once and written again (the reader keeps every row, repeated or not).
fn write_rows(w: &mut impl Write, bytes: usize) -> usize {
    let mut block = Vec::new();
    let mut rows = 0;
    while block.len() < bytes.min(MIB) {
        let line = format!(
            "08/6/30,{}:{}:{},TCP,{},192.168.1.{},{},10.0.{}.{},{},proc{}.exe,<CORP\\user{}>\r\n",
            rows / 3600 % 24,
            rows / 60 % 60,
            rows % 60,
            1024 + rows % 30_000,
            rows % 200,
            rows % 1000,
            rows % 250,
            rows % 97,
            rows % 5000,
            rows % 40,
            rows % 12
        );
        block.extend_from_slice(line.as_bytes());
        rows += 1;
    }
    let copies = bytes.div_ceil(block.len());
    for _ in 0..copies {
        w.write_all(&block).expect("write");
    }
    rows * copies
}

fn read_ports(path: &Path) -> PortsLog {
    let mut log = PortsLog::default();
    read_into(&mut log, path, &LoadProgress::default()).expect("read");
    log
}

#[test]
fn memory_is_a_small_multiple_of_the_rows_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let row_bytes = std::mem::size_of::<prparser::model::PortEvent>();

    // 48 MiB of ordinary rows: the rows, and the reader's fixed buffers.
    let path = dir.path().join("PR-PORTS-08-06-30-0-0-0.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let rows = write_rows(&mut w, 48 * MIB);
    drop(w);
    let (peak, log) = peak_during(|| read_ports(&path));
    assert_eq!((log.events.len(), log.malformed.count()), (rows, 0));
    let kept = rows * row_bytes;
    println!("48 MiB, {rows} rows ({} MiB of rows): peak heap {} MiB", kept / MIB, peak / MIB);
    assert!(peak < 2 * kept + 16 * MIB, "peak {peak} bytes for {kept} bytes of rows");
    drop(log);

    // `prparser report` keeps no rows: its peak for 48 MiB is that for 8 MiB of the same rows (the
    // same distinct values), give or take a reader's block buffer growing once (2 MiB blocks),
    // and far below the rows it counted.
    let small = dir.path().join("small").join("PR-PORTS-08-06-30-0-0-0.log");
    std::fs::create_dir_all(small.parent().expect("folder")).expect("mkdir");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&small).expect("create"));
    let small_rows = write_rows(&mut w, 8 * MIB);
    drop(w);
    let analyse = |path: &Path| {
        let criteria = prparser::analysis::criteria::CriteriaSet::default();
        let options = report::Options { process: Some("proc7.exe".into()), ..Default::default() };
        peak_during(|| report::run(&[path.to_path_buf()], &criteria, &options, &LoadProgress::default()))
    };
    let (peak_small, got) = analyse(&small);
    assert_eq!(got.expect("report").rows, small_rows as u64);
    let (peak_large, got) = analyse(&path);
    assert_eq!(got.expect("report").rows, rows as u64);
    println!("report: peak heap {} KiB for 8 MiB, {} KiB for 48 MiB", peak_small >> 10, peak_large >> 10);
    assert!(peak_large < peak_small + 4 * MIB, "peak {peak_large} bytes for 48 MiB, {peak_small} for 8 MiB");
    assert!(peak_large < kept * 3 / 4, "peak {peak_large} bytes for {kept} bytes of rows");

    // A thousand rows, then 64 MiB without a line end: memory for the rows kept, not for the
    // rows a file of that size could hold (the reader reserves at most `ROWS_AHEAD` rows
    // beyond those it holds, 64 MiB, whatever the file's size says).
    let path = dir.path().join("PR-PORTS-08-06-30-0-0-1.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let rows = write_rows(&mut w, 100_000);
    let chunk = vec![b'9'; MIB];
    for _ in 0..64 {
        w.write_all(&chunk).expect("write");
    }
    drop(w);
    let (peak, log) = peak_during(|| read_ports(&path));
    assert_eq!((log.events.len(), log.malformed.count()), (rows, 1));
    println!("{rows} rows then a 64 MiB line: peak heap {} MiB", peak / MIB);
    let ahead = prparser::logs::ports::ROWS_AHEAD * row_bytes;
    assert!(peak < 2 * rows * row_bytes + ahead + 16 * MIB, "peak {peak} bytes for {rows} rows");

    // PIDS: 16 MiB of lines the reader cannot place: warnings are capped, the text is never
    // held whole.
    let path = dir.path().join("PR-PIDS-08-06-30-0-0-0.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    write_rows(&mut w, 16 * MIB);
    drop(w);
    let (peak, log) = peak_during(|| read_pids(&path, 0).expect("read"));
    assert_eq!(log.warnings.len(), 10_001, "10,000 warnings and a note of the rest");
    println!("16 MiB of unplaceable PIDS lines: peak heap {} MiB", peak / MIB);
    assert!(peak < 16 * MIB, "peak {peak} bytes");
}
