//! The collector's cost with 10,000 loopback sockets open: one poll's wall and CPU time beside
//! `ss -tunap` (which, like a first poll, reads every process's descriptors), the socket table
//! through netlink and through /proc/net, and the `portreporter` binary's steady-state CPU and
//! memory at the default 500 ms interval. Run with `cargo bench --bench collector_poll`; the
//! figures in README come from it.
//!
//! Everything stays on 127.0.0.1, the sockets are closed when it ends, and it runs a bounded
//! number of rounds.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use prparser::collector::sockets::SocketTable;
use prparser::collector::{Backend, Collector, SystemClock, SystemSource};

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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
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
        ms(t0.elapsed())
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
        println!("| {what} | {} | {} |", ms(cost.wall), ms(cost.cpu));
    }

    let (cpu, rss, peak, mappings) = steady_state()?;
    println!(
        "\nportreporter at 500 ms with these sockets open, {STEADY:?} after a {WARM_UP:?} warm-up: \
         {cpu:.2}% of one core, RSS {rss} KB (peak {peak} KB); its PR-INITIAL listed {mappings} sockets"
    );
    drop(sockets);
    Ok(())
}
