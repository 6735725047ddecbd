//! A machine's logs for the Changes view: PC1's set of 30 Jun 22:00 (its PR-INITIAL has
//! System listening on TCP 445 and UDP 137, and svchost.exe talking to 65.55.200.252:80), then
//! the set its service started at midnight. After the snapshot: the XP quirk rows of a browser
//! (one pair written in one second, one pair cut by the midnight rotation), nc.exe listening
//! on TCP 4444 and accepting a connection, evil.exe taking TCP 445, and svchost.exe reaching
//! a new endpoint (its name in capitals).

use std::path::Path;

use super::logs::{ports, write};

const PIDS_HEADER: &str = "Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n";

const INITIAL: &str = "Port Reporter version 1.01 Log File\r\nService initialization log\r\n\
System Date: Mon Jun 30 22:00:00 2008\r\nLocal computer name:\r\nPC1\r\nOperating System: windows xp\r\n\
TCP/UDP Port to Process Mappings at service start-up\r\n3 mappings found\r\n\r\n\
PID:Process\t\tPort\t\tLocal IP\tState\t\t Remote IP:Port\r\n\
4:System\t\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0\r\n\
4:System\t\tUDP 137  \t192.168.1.5 \t\t\t *:*\r\n\
1900:svchost.exe\tTCP 1447  \t192.168.1.5 \tESTABLISHED\t 65.55.200.252:80\r\n";

pub const FIRST_DAY: &[&str] = &[
    "08/6/30,22:10:0,TCP,1500,0.0.0.0,34567,0.0.0.0,2000,iexplore.exe,<PC1\\bob>",
    "08/6/30,22:10:0,TCP,1500,192.168.1.5,80,65.55.200.252,2000,iexplore.exe,<PC1\\bob>",
    "08/6/30,23:30:0,TCP,4444,0.0.0.0,,0.0.0.0,3100,nc.exe,<PC1\\eve>",
    "08/6/30,23:59:58,TCP,1501,0.0.0.0,4225,0.0.0.0,2000,iexplore.exe,<PC1\\bob>",
];

pub const SECOND_DAY: &[&str] = &[
    "08/7/1,0:0:1,TCP,1501,192.168.1.5,80,65.55.200.253,2000,iexplore.exe,<PC1\\bob>",
    "08/7/1,0:5:0,TCP,4444,192.168.1.5,51000,10.0.0.9,3100,nc.exe,<PC1\\eve>",
    "08/7/1,0:10:0,TCP,445,0.0.0.0,,0.0.0.0,3200,evil.exe,<PC1\\eve>",
    "08/7/1,0:20:0,TCP,1448,192.168.1.5,443,65.55.200.253,1900,SVCHOST.EXE,<NT AUTHORITY\\SYSTEM>",
];

/// Writes the first set (PR-INITIAL, PORTS and PIDS of 30 Jun 22:00) into `dir`.
pub fn write_first_day(dir: &Path) {
    write(dir, "PR-INITIAL-08-06-30-22-0-0.log", INITIAL);
    write(dir, "PR-PORTS-08-06-30-22-0-0.log", &ports("PR-PIDS-08-06-30-22-0-0.log", FIRST_DAY));
    write(dir, "PR-PIDS-08-06-30-22-0-0.log", PIDS_HEADER);
}

/// Writes the midnight set (no PR-INITIAL of its own) into `dir`.
pub fn write_second_day(dir: &Path) {
    write(dir, "PR-PORTS-08-07-01-0-0-0.log", &ports("PR-PIDS-08-07-01-0-0-0.log", SECOND_DAY));
    write(dir, "PR-PIDS-08-07-01-0-0-0.log", PIDS_HEADER);
}
