//! The collector's cost with 10,000 loopback sockets open: one poll's wall and CPU time beside
//! `ss -tunap` (which, like a first poll, reads every process's descriptors), the socket table
//! through netlink and through /proc/net, and the `portreporter` binary's steady-state CPU and
//! memory at the default 500 ms interval. Run with `cargo bench --bench collector_poll`; the
//! figures in README come from it.
//!
//! **Our work beside the kernel's**: the aim is that a steady poll costs at most 10% more than
//! the kernel's sock_diag dump it starts with. Rounds alternate the dump alone and a whole
//! steady `Collector::poll` (its own dump, owners, change detection, events), timed in this
//! thread's CPU time (waiting for the CPU on a busy machine does not count), and the figure is
//! the median of the per-round differences; the owner lookup and the change detection of one
//! more poll are also timed apart. Then again with a forked child holding a copy of every socket: the worst case
//! of the fork fix, one link re-read per holder per poll.
//!
//! Everything stays on 127.0.0.1, the sockets are closed when it ends, and it runs a bounded
//! number of rounds.

#[allow(dead_code)]
mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use prparser::collector::diff::Tracker;
use prparser::collector::owners::Owners;
use prparser::collector::sockets::SocketTable;
use prparser::collector::{Backend, Collector, Observed, SystemClock, SystemSource};

/// Sockets to hold open: TCP connections (two sockets each) and UDP sockets.
const TCP_CONNECTIONS: usize = 2_500;
const UDP_SOCKETS: usize = 5_000;
/// How long the binary runs for the steady-state figures, after a warm-up.
const WARM_UP: Duration = Duration::from_secs(3);
const STEADY: Duration = Duration::from_secs(20);

/// Wall and CPU (user + system) time of one run.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

fn cpu_time(who: UsageWho) -> Result<Duration> {
    let usage = getrusage(who).context("getrusage")?;
    let to = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    Ok(to(usage.user_time()) + to(usage.system_time()))
}

/// The median cost of `rounds` runs of `f`, CPU counted for `who`.
fn median(rounds: usize, who: UsageWho, mut f: impl FnMut() -> Result<()>) -> Result<Cost> {
    let mut costs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (c0, t0) = (cpu_time(who)?, Instant::now());
        f()?;
        costs.push(Cost { wall: t0.elapsed(), cpu: cpu_time(who)? - c0 });
    }
    costs.sort_by_key(|c| c.wall);
    Ok(costs[rounds / 2])
}

/// Opens the loopback sockets; they close when the returned vectors are dropped.
fn open_sockets() -> Result<(Vec<TcpStream>, Vec<UdpSocket>, TcpListener)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("listener")?;
    let at = listener.local_addr()?;
    let mut tcp = Vec::with_capacity(2 * TCP_CONNECTIONS);
    for _ in 0..TCP_CONNECTIONS {
        tcp.push(TcpStream::connect(at).context("connect")?);
        tcp.push(listener.accept().context("accept")?.0);
    }
    let udp = (0..UDP_SOCKETS).map(|_| UdpSocket::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    Ok((tcp, udp, listener))
}

/// CPU ticks (user + system) of a process, from `/proc/PID/stat`.
fn process_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(key)).context("status line")?;
    Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
}

/// This thread's CPU time (user + system), to the nanosecond: the kernel's own count
/// (`CLOCK_THREAD_CPUTIME_ID`), not rusage's, which this kernel keeps in 4 ms ticks per thread.
fn thread_cpu() -> Result<Duration> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given, nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        bail!("clock_gettime: {}", std::io::Error::last_os_error());
    }
    Ok(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

/// Medians over the rounds, in milliseconds of this thread's CPU time.
struct SideBySide {
    dump: f64,
    poll: f64,
    /// The median of each round's `poll - dump`.
    ours: f64,
    owners: f64,
    diff: f64,
    rechecks_per_poll: u64,
    /// `ours` of the polls that listed `/proc` (a PID was given out since the last one) and of
    /// those that did not, with their numbers.
    ours_listing: (Option<f64>, usize),
    ours_quiet: (Option<f64>, usize),
}

fn median_ms(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_and_count(values: Vec<f64>) -> (Option<f64>, usize) {
    let n = values.len();
    ((n > 0).then(|| median_ms(values)), n)
}

fn ms_between(from: Duration, to: Duration) -> f64 {
    (to.as_secs_f64() - from.as_secs_f64()) * 1000.0
}

/// One poll as `SystemSource` and `Collector` chain it — the table read, the owner lookup, the
/// change detection — for the parts' CPU times (ms).
fn steady_poll(
    table: &mut SocketTable,
    sockets: &mut Vec<prparser::collector::Socket>,
    owners: &mut Owners,
    tracker: &mut Tracker,
) -> Result<(f64, f64)> {
    table.read(sockets)?;
    let t0 = thread_cpu()?;
    let found = owners.resolve(sockets);
    let t1 = thread_cpu()?;
    let observed: Vec<Observed> =
        sockets.drain(..).zip(found).map(|(socket, owner)| Observed { socket, owner }).collect();
    tracker.update(observed);
    Ok((ms_between(t0, t1), ms_between(t1, thread_cpu()?)))
}

/// `rounds` rounds of: the dump alone, then a steady `Collector::poll` (its own dump, owners,
/// change detection, events), then the parts of one more poll timed apart.
fn side_by_side(rounds: usize) -> Result<SideBySide> {
    let proc_root = std::path::Path::new("/proc");
    let mut dump_table = SocketTable::open(Backend::Netlink, proc_root)?;
    let mut collector = Collector::new(SystemSource::open(Backend::Netlink)?, SystemClock);
    collector.poll()?;
    let mut table = SocketTable::open(Backend::Netlink, proc_root)?;
    let mut owners = Owners::new(proc_root);
    let mut tracker = Tracker::default();
    let (mut scratch, mut sockets) = (Vec::new(), Vec::new());
    steady_poll(&mut table, &mut sockets, &mut owners, &mut tracker)?;
    let before = collector.source_mut().scan_stats();
    let (mut dumps, mut polls, mut ours, mut owner_times, mut diffs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ours_listing, mut ours_quiet) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let listings = collector.source_mut().scan_stats().listings;
        let t0 = thread_cpu()?;
        dump_table.read(&mut scratch)?;
        let t1 = thread_cpu()?;
        collector.poll()?;
        let t2 = thread_cpu()?;
        let (dump, poll) = (ms_between(t0, t1), ms_between(t1, t2));
        dumps.push(dump);
        polls.push(poll);
        ours.push(poll - dump);
        if collector.source_mut().scan_stats().listings > listings {
            ours_listing.push(poll - dump);
        } else {
            ours_quiet.push(poll - dump);
        }
        let (owner_time, diff_time) = steady_poll(&mut table, &mut sockets, &mut owners, &mut tracker)?;
        owner_times.push(owner_time);
        diffs.push(diff_time);
    }
    Ok(SideBySide {
        dump: median_ms(dumps),
        poll: median_ms(polls),
        ours: median_ms(ours),
        owners: median_ms(owner_times),
        diff: median_ms(diffs),
        rechecks_per_poll: (collector.source_mut().scan_stats().rechecks - before.rechecks) / rounds as u64,
        ours_listing: median_and_count(ours_listing),
        ours_quiet: median_and_count(ours_quiet),
    })
}

fn print_side_by_side(what: &str, r: &SideBySide) {
    println!(
        "| {what} | {:.2} ms | {:.2} ms | {:.2} ms ({:.1}% of the dump) | {:.2} ms | {:.2} ms | {} | {} | {} |",
        r.dump,
        r.poll,
        r.ours,
        100.0 * r.ours / r.dump,
        r.owners,
        r.diff,
        r.rechecks_per_poll,
        by_listing(r.ours_listing, r.dump),
        by_listing(r.ours_quiet, r.dump),
    );
}

/// `0.41 ms (8.2%, 37 polls)`, or `none` when no poll was of that kind.
fn by_listing((ours, polls): (Option<f64>, usize), dump: f64) -> String {
    match ours {
        Some(ours) => format!("{ours:.2} ms ({:.1}%, {polls} polls)", 100.0 * ours / dump),
        None => "none".into(),
    }
}

/// A child holding a copy of every descriptor of this process until it is killed: every
/// socket is then held by two processes. It only waits (a child of a fork may only make
/// system calls).
struct ForkedHolder(Pid);

impl ForkedHolder {
    fn start() -> Result<ForkedHolder> {
        // SAFETY: the child only calls pause(), a system call, and never returns.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => loop {
                nix::unistd::pause();
            },
            nix::unistd::ForkResult::Parent { child } => Ok(ForkedHolder(child)),
        }
    }
}

impl Drop for ForkedHolder {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

/// Runs the real binary for [`STEADY`] seconds and returns its CPU share of one core and its
/// resident memory (now and peak), in KB.
fn steady_state() -> Result<(f64, u64, u64, usize)> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portreporter"))
        .args(["--interval-ms", "500", "--log-dir"])
        .arg(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .context("starting portreporter")?;
    let pid = child.id();
    std::thread::sleep(WARM_UP);
    let (t0, c0) = (Instant::now(), process_ticks(pid)?);
    std::thread::sleep(STEADY);
    let (seconds, ticks) = (t0.elapsed().as_secs_f64(), process_ticks(pid)? - c0);
    let rss = status_kb(pid, "VmRSS:")?;
    let peak = status_kb(pid, "VmHWM:")?;
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("portreporter exited with {status}");
    }
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.context("CLK_TCK")? as f64;
    let initial = std::fs::read_dir(dir.path())?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("PR-INITIAL-"))
        .context("PR-INITIAL")?;
    let text = std::fs::read_to_string(initial.path())?;
    let mappings: usize = text
        .lines()
        .find_map(|l| l.strip_suffix(" mappings found"))
        .and_then(|n| n.trim().parse().ok())
        .context("the mapping count of PR-INITIAL")?;
    Ok((100.0 * ticks as f64 / ticks_per_second / seconds, rss, peak, mappings))
}

fn main() -> Result<()> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let needed = (2 * TCP_CONNECTIONS + UDP_SOCKETS + 200) as u64;
    if hard < needed {
        bail!("RLIMIT_NOFILE allows {hard} descriptors, the benchmark needs {needed}");
    }
    setrlimit(Resource::RLIMIT_NOFILE, needed.max(4096), hard)?;
    let t0 = Instant::now();
    let sockets = open_sockets()?;
    println!(
        "opened {} loopback sockets ({} TCP connections, {} UDP) in {}",
        2 * TCP_CONNECTIONS + UDP_SOCKETS + 1,
        TCP_CONNECTIONS,
        UDP_SOCKETS,
        common::millis(t0.elapsed())
    );

    let mut rows: Vec<(String, Cost)> = Vec::new();
    for backend in [Backend::Netlink, Backend::Procfs] {
        let mut table = SocketTable::open(backend, std::path::Path::new("/proc"))?;
        let mut out = Vec::new();
        rows.push((
            format!("socket table only, {backend}"),
            median(21, UsageWho::RUSAGE_SELF, || Ok(table.read(&mut out)?))?,
        ));
        println!("{backend}: {} sockets in the table", out.len());
    }
    for backend in [Backend::Netlink, Backend::Procfs] {
        rows.push((
            format!("first poll (reads every process's descriptors), {backend}"),
            median(5, UsageWho::RUSAGE_SELF, || {
                let mut collector = Collector::new(SystemSource::open(backend)?, SystemClock);
                collector.poll()?;
                Ok(())
            })?,
        ));
        let mut collector = Collector::new(SystemSource::open(backend)?, SystemClock);
        collector.poll()?;
        let before = collector.source_mut().scan_stats();
        rows.push((
            format!("steady poll (cached owners), {backend}"),
            median(21, UsageWho::RUSAGE_SELF, || {
                collector.poll()?;
                Ok(())
            })?,
        ));
        let after = collector.source_mut().scan_stats();
        println!(
            "{backend}: the first poll read {} descriptor folders and {} links; 21 steady polls read {} and {}",
            before.fd_dirs,
            before.fd_links,
            after.fd_dirs - before.fd_dirs,
            after.fd_links - before.fd_links
        );
    }
    for args in [&["-tunap"][..], &["-tuna"][..]] {
        rows.push((
            format!("ss {}", args.join(" ")),
            median(5, UsageWho::RUSAGE_CHILDREN, || {
                let status = Command::new("ss").args(args).stdout(Stdio::null()).status().context("running ss")?;
                if !status.success() {
                    bail!("ss failed: {status}");
                }
                Ok(())
            })?,
        ));
    }
    println!("\n| what (median) | wall | CPU |\n|---|---:|---:|");
    for (what, cost) in &rows {
        println!("| {what} | {} | {} |", common::millis(cost.wall), common::millis(cost.cpu));
    }

    const ROUNDS: usize = 101;
    println!(
        "\nOur work beside the kernel's dump, netlink, CPU time of this thread, median of {ROUNDS} rounds:\n\
         | sockets held by | dump alone | steady poll | ours (poll - dump) | owners | change detection | re-checks per poll | ours, polls that listed /proc | ours, polls that did not |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    print_side_by_side("one process each", &side_by_side(ROUNDS)?);
    let holder = ForkedHolder::start()?;
    print_side_by_side("two processes each (a forked child holds copies)", &side_by_side(ROUNDS)?);
    drop(holder);

    let (cpu, rss, peak, mappings) = steady_state()?;
    println!(
        "\nportreporter at 500 ms with these sockets open, {STEADY:?} after a {WARM_UP:?} warm-up: \
         {cpu:.2}% of one core, RSS {rss} KB (peak {peak} KB); its PR-INITIAL listed {mappings} sockets"
    );
    drop(sockets);
    Ok(())
}
