//! A machine's logs with a planted beacon: updater.exe connects to 203.0.113.50:443 every
//! 300 s ± 3 s for 8 hours (97 connections, each a new local port with a state change 2 s
//! later), while iexplore.exe talks to the same address and port irregularly (browsing
//! sessions of 1 to 5 connections a few seconds apart, 2 to 40 minutes between sessions, some
//! sockets written again within 10 minutes). System's NetBIOS rows are there too. Computer
//! WS042; the rows start on 1 Jul 2008 at 09:00:00. Everything comes from a fixed-seed
//! generator, so the figures the tests expect never change.

use std::path::{Path, PathBuf};

/// A tiny fixed-seed generator (PCG's multiplier), enough for jitter.
struct Lcg(u64);

impl Lcg {
    /// A number from `lo` to `hi` inclusive.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + ((self.0 >> 33) % (hi - lo + 1) as u64) as i64
    }
}

/// The first row's time, seconds after midnight of 1 Jul 2008.
const START_S: i64 = 9 * 3600;

/// Seconds the beacon runs.
pub const BEACON_SPAN_S: i64 = 8 * 3600;

fn line(at: i64, local_port: u16, remote: &str, pid: u32, module: &str, user: &str) -> (i64, String) {
    let s = START_S + at;
    let (day, h, m, sec) = (1 + s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    (at, format!("08/7/{day},{h}:{m}:{sec},TCP,{local_port},10.0.0.42,{remote},{pid},{module},<{user}>"))
}

/// The PORTS rows, in time order.
pub fn rows() -> Vec<String> {
    let mut rng = Lcg(42);
    let mut rows = Vec::new();
    for i in 0..=BEACON_SPAN_S / 300 {
        let at = i * 300 + if i == 0 { 0 } else { rng.range(-3, 3) };
        let port = 49_152 + i as u16;
        rows.push(line(at, port, "443,203.0.113.50", 3120, "updater.exe", "NT AUTHORITY\\SYSTEM"));
        rows.push(line(at + 2, port, "443,203.0.113.50", 3120, "updater.exe", "NT AUTHORITY\\SYSTEM"));
    }
    let mut at = 17;
    let mut port = 50_000u16;
    while at < BEACON_SPAN_S {
        for _ in 0..rng.range(1, 5) {
            port += 1;
            rows.push(line(at, port, "443,203.0.113.50", 2200, "iexplore.exe", "WS042\\ann"));
            if rng.range(0, 2) == 0 {
                rows.push(line(at + rng.range(60, 500), port, "443,203.0.113.50", 2200, "iexplore.exe", "WS042\\ann"));
            }
            at += rng.range(1, 20);
        }
        at += rng.range(120, 2400);
    }
    for k in 0..BEACON_SPAN_S / 3600 {
        rows.push(line(k * 3600 + 30, 137, "*,*", 4, "System", ""));
    }
    rows.sort_by_key(|(at, _)| *at);
    rows.into_iter().map(|(_, text)| text).collect()
}

/// Writes WS042's set into `dir`; returns `dir`.
pub fn write_beacon_logs(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let initial = "Port Reporter version 1.01 Log File\r\nService initialization log\r\nSystem Date: Tue Jul 01 09:00:00 2008\r\nLocal computer name:\r\n WS042\r\nOperating System: windows xp\r\n\r\nTCP/UDP Port to Process Mappings at service start-up\r\n0 mappings found\r\n";
    std::fs::write(dir.join("PR-INITIAL-08-07-01-9-0-0.log"), initial).expect("write");
    let mut ports = String::from(
        "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck PR-PIDS-08-07-01-9-0-0.log for corresponding process data\r\n\r\ndate,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context\r\n",
    );
    for row in rows() {
        ports.push_str(&row);
        ports.push_str("\r\n");
    }
    std::fs::write(dir.join("PR-PORTS-08-07-01-9-0-0.log"), ports).expect("write");
    std::fs::write(
        dir.join("PR-PIDS-08-07-01-9-0-0.log"),
        "Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n",
    )
    .expect("write");
    dir.to_path_buf()
}
