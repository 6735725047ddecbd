//! What the PIDS and INITIAL headers say about the machine: `Local computer name:` and
//! `Operating System:`, read the way `hostname` and `/etc/os-release` tell them.

use crate::logs::header::Version;
use crate::logs::pids::LogHeader;

/// The layout version the collector writes: 1.01's (computer name on its own line, an
/// `Operating System:` line), which every reader of the original's logs knows.
pub const FORMAT_VERSION: &str = "1.01";

/// The header of this machine's PIDS and INITIAL logs; the writer sets `System Date:` per file.
pub fn log_header() -> LogHeader {
    LogHeader {
        version: Some(Version(FORMAT_VERSION.to_string())),
        system_date: None,
        computer_name: read_trimmed("/proc/sys/kernel/hostname"),
        operating_system: Some(operating_system()),
    }
}

/// `Debian GNU/Linux 13 (trixie), Linux 6.12.1`: the distribution's pretty name and the kernel.
fn operating_system() -> String {
    let distribution = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| pretty_name(&text))
        .unwrap_or_else(|| "Linux".to_string());
    match read_trimmed("/proc/sys/kernel/osrelease") {
        Some(kernel) => format!("{distribution}, Linux {kernel}"),
        None => distribution,
    }
}

/// `PRETTY_NAME="Debian GNU/Linux 13 (trixie)"` → the value without its quotes.
fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty()).then(|| value.to_string())
}

/// Capability numbers from `linux/capability.h`.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;

/// Why the collector cannot see every process, if it cannot: neither root nor holding both
/// CAP_SYS_PTRACE (to read other processes' descriptors and mappings) and CAP_DAC_READ_SEARCH
/// (to list their descriptor folders).
pub fn limited_visibility() -> Option<String> {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        return None;
    }
    let capabilities = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| effective_capabilities(&s));
    let needed = (1u64 << CAP_SYS_PTRACE) | (1u64 << CAP_DAC_READ_SEARCH);
    if capabilities.is_some_and(|c| c & needed == needed) {
        return None;
    }
    let name = nix::unistd::User::from_uid(euid).ok().flatten().map_or_else(|| euid.to_string(), |u| u.name);
    Some(format!(
        "running as user {name} (uid {euid}) without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: it sees only \
         that user's processes; sockets of other users are logged as PID 0 System Idle with their user"
    ))
}

/// The `CapEff:` mask of `/proc/self/status`, in hexadecimal.
fn effective_capabilities(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_names_lose_their_quotes() {
        assert_eq!(
            pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n").as_deref(),
            Some("Debian GNU/Linux 13 (trixie)")
        );
        assert_eq!(pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn capabilities_from_status() {
        assert_eq!(effective_capabilities("Name:\tx\nCapEff:\t0000000000080004\n"), Some(0x80004));
        assert_eq!(effective_capabilities("Name:\tx\n"), None);
    }

    #[test]
    fn this_machine_has_a_header() {
        let header = log_header();
        assert_eq!(header.version, Some(Version("1.01".into())));
        assert!(header.operating_system.is_some_and(|os| os.contains("Linux")));
    }
}
