//! Writing the tests' hand-made logs: a PR-PORTS file's text (a version 1.01 header naming
//! its PIDS log, then the rows as given) and files in a folder made when missing.

use std::path::Path;

/// A version 1.01 PR-PORTS log of `rows`, CRLF line ends, naming `pids_file` as its partner.
pub fn ports(pids_file: &str, rows: &[&str]) -> String {
    let mut text = format!(
        "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck {pids_file} for corresponding process data\r\n\r\ndate,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context\r\n"
    );
    for row in rows {
        text.push_str(row);
        text.push_str("\r\n");
    }
    text
}

/// Writes `text` as `dir/name`, creating `dir` first.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(name), text).expect("write");
}
