//! A case folder of three machines' logs, for the tests of computers in one dataset:
//! - `alpha-logs/`: ALPHA's set of 30 Jun (its PR-INITIAL names ALPHA) and the set its
//!   service started at midnight (no PR-INITIAL of its own: ALPHA by the latest earlier one);
//! - `beta-logs/`: BETA's set (PR-INITIAL names BETA);
//! - `gamma/`: a set without any PR-INITIAL (the computer is named like the folder).
//!
//! ALPHA and BETA both run PID 1234 as app.exe, from different folders and as different
//! users. BETA's block is recorded after ALPHA's and before ALPHA's rows, so a PID looked up
//! without its computer would take BETA's block for ALPHA's rows.

use std::path::{Path, PathBuf};

use super::logs::{ports, write};

const PIDS_HEADER: &str = "Port Reporter Version 1.01 Log File\r\nProcess detail log\r\n";

fn initial(computer: &str, date: &str) -> String {
    format!(
        "Port Reporter version 1.01 Log File\r\nService initialization log\r\nSystem Date: {date}\r\nLocal computer name:\r\n {computer}\r\nOperating System: windows xp\r\n\r\nTCP/UDP Port to Process Mappings at service start-up\r\n0 mappings found\r\n"
    )
}

fn block(at: &str, pid: u32, process: &str, user: &str, image: &str) -> String {
    format!(
        "======================================================\r\nLog entry below recorded at: {at}\r\n======================================================\r\nProcess ID: {pid} ({process})\r\nUser context: {user}\r\nProcess doesn't appear to be a service\r\nLoaded modules:\r\n{image} (0x00400000)\r\n"
    )
}

/// Writes the case folder into `root`; returns it.
pub fn write_fleet(root: &Path) -> PathBuf {
    let alpha = root.join("alpha-logs");
    write(&alpha, "PR-INITIAL-08-06-30-10-0-0.log", &initial("ALPHA", "Mon Jun 30 10:00:00 2008"));
    write(
        &alpha,
        "PR-PORTS-08-06-30-10-0-0.log",
        &ports(
            "PR-PIDS-08-06-30-10-0-0.log",
            &[
                "08/6/30,10:0:10,TCP,1025,10.0.0.1,443,192.0.2.10,1234,app.exe,<ALPHA\\ann>",
                "08/6/30,10:0:20,TCP,1026,10.0.0.1,443,192.0.2.10,1234,app.exe,<ALPHA\\ann>",
                "08/6/30,10:0:30,TCP,445,10.0.0.1,0,0.0.0.0,4,System,",
            ],
        ),
    );
    write(
        &alpha,
        "PR-PIDS-08-06-30-10-0-0.log",
        &format!("{PIDS_HEADER}{}", block("08/6/30 10:0:0", 1234, "app.exe", "ALPHA\\ann", "C:\\alpha\\app.exe")),
    );
    write(
        &alpha,
        "PR-PORTS-08-07-01-0-0-0.log",
        &ports(
            "PR-PIDS-08-07-01-0-0-0.log",
            &[
                "08/7/1,0:0:5,TCP,1027,10.0.0.1,443,192.0.2.11,1234,app.exe,<ALPHA\\ann>",
                "08/7/1,0:0:6,UDP,137,10.0.0.1,*,*,4,System,",
            ],
        ),
    );
    write(&alpha, "PR-PIDS-08-07-01-0-0-0.log", PIDS_HEADER);

    let beta = root.join("beta-logs");
    write(&beta, "PR-INITIAL-08-06-30-10-0-0.log", &initial("BETA", "Mon Jun 30 10:00:00 2008"));
    write(
        &beta,
        "PR-PORTS-08-06-30-10-0-0.log",
        &ports(
            "PR-PIDS-08-06-30-10-0-0.log",
            &[
                "08/6/30,10:0:5,TCP,2001,10.0.0.2,80,198.51.100.7,1234,app.exe,<BETA\\bob>",
                "08/6/30,10:0:40,TCP,2002,10.0.0.2,80,198.51.100.7,1234,app.exe,<BETA\\bob>",
            ],
        ),
    );
    write(
        &beta,
        "PR-PIDS-08-06-30-10-0-0.log",
        &format!("{PIDS_HEADER}{}", block("08/6/30 10:0:5", 1234, "app.exe", "BETA\\bob", "C:\\beta\\app.exe")),
    );

    let gamma = root.join("gamma");
    write(
        &gamma,
        "PR-PORTS-08-06-30-12-0-0.log",
        &ports(
            "PR-PIDS-08-06-30-12-0-0.log",
            &["08/6/30,12:0:0,TCP,3001,10.0.0.3,22,203.0.113.5,99,ssh.exe,<GAMMA\\cy>"],
        ),
    );
    root.to_path_buf()
}
