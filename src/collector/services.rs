//! The systemd service a process runs in: the unit from `/proc/PID/cgroup`, its `Description=`
//! as the display name — the Linux reading of the original's `Service Name:` / `Display Name:`
//! lines. A process in no `.service` unit (a login session's, a container's) "doesn't appear
//! to be a service".
//!
//! Descriptions come from the unit file (no process to start, works under
//! `ProtectSystem=strict`), else from `systemctl show`, and are cached per unit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustc_hash::FxHashMap;

use crate::model::Service;

/// Where systemd looks for system units, in its order of precedence.
const UNIT_DIRS: [&str; 7] = [
    "/etc/systemd/system",
    "/run/systemd/transient",
    "/run/systemd/system",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Unit descriptions, looked up once per unit.
#[derive(Debug)]
pub struct Services {
    unit_dirs: Vec<PathBuf>,
    /// Whether to ask `systemctl` when no unit file has a description.
    ask_systemctl: bool,
    descriptions: FxHashMap<String, Option<String>>,
}

impl Services {
    /// The system's unit folders, with `systemctl` as the last resort.
    pub fn system() -> Services {
        Services {
            unit_dirs: UNIT_DIRS.iter().map(PathBuf::from).collect(),
            ask_systemctl: true,
            descriptions: FxHashMap::default(),
        }
    }

    /// The services of a process, from the text of its `/proc/PID/cgroup`.
    pub fn of(&mut self, cgroup: &str) -> Vec<Service> {
        let Some(unit) = unit_from_cgroup(cgroup) else {
            return Vec::new();
        };
        let display_name = match self.descriptions.get(unit) {
            Some(known) => known.clone(),
            None => {
                let found = self.describe(unit);
                self.descriptions.insert(unit.to_string(), found.clone());
                found
            }
        };
        vec![Service { name: unit.to_string(), display_name, service_type: None }]
    }

    fn describe(&self, unit: &str) -> Option<String> {
        let (template, instance) = match unit.split_once('@') {
            Some((head, tail)) => {
                let (instance, suffix) = tail.rsplit_once('.').unwrap_or((tail, "service"));
                (Some(format!("{head}@.{suffix}")), instance)
            }
            None => (None, ""),
        };
        let from_files = self.unit_dirs.iter().find_map(|dir| {
            read_description(&dir.join(unit)).or_else(|| {
                let template = template.as_ref()?;
                read_description(&dir.join(template)).map(|d| d.replace("%i", instance).replace("%I", instance))
            })
        });
        from_files.or_else(|| self.ask_systemctl.then(|| systemctl_description(unit)).flatten())
    }
}

/// The innermost `.service` unit of the process's cgroup path: `ssh.service` in
/// `0::/system.slice/ssh.service`, a user's unit below `user@1000.service`, and for the
/// cgroup v1 layout the `name=systemd` hierarchy.
pub fn unit_from_cgroup(cgroup: &str) -> Option<&str> {
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| cgroup.lines().find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p)))?;
    path.split('/').rev().find(|part| part.ends_with(".service") && part.len() > ".service".len())
}

/// The last `Description=` of a unit file's `[Unit]` section.
fn read_description(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_description(&text)
}

fn parse_description(text: &str) -> Option<String> {
    let mut in_unit = false;
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_unit = line == "[Unit]";
        } else if in_unit && let Some(value) = line.strip_prefix("Description=") {
            found = Some(value.trim().to_string());
        }
    }
    found.filter(|d| !d.is_empty())
}

fn systemctl_description(unit: &str) -> Option<String> {
    let output = Command::new("systemctl")
        .args(["show", "-p", "Description", "--value", "--", unit])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_cgroup_paths() {
        assert_eq!(unit_from_cgroup("0::/system.slice/ssh.service\n"), Some("ssh.service"));
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service\n"),
            Some("pipewire.service")
        );
        assert_eq!(unit_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), None);
        assert_eq!(unit_from_cgroup("0::/init.scope\n"), None);
        assert_eq!(unit_from_cgroup("12:cpu:/\n1:name=systemd:/system.slice/cron.service\n"), Some("cron.service"));
        assert_eq!(unit_from_cgroup("0::/system.slice/.service\n"), None);
    }

    #[test]
    fn descriptions_from_unit_files_and_templates() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("ssh.service"),
            "[Unit]\nDescription=OpenBSD Secure Shell server\n\n[Service]\nDescription=not this\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("getty@.service"), "[Unit]\nDescription=Getty on %I\n").expect("write");
        let mut services = Services {
            unit_dirs: vec![dir.path().to_path_buf()],
            ask_systemctl: false,
            descriptions: Default::default(),
        };
        let found = services.of("0::/system.slice/ssh.service\n");
        assert_eq!(found[0].name, "ssh.service");
        assert_eq!(found[0].display_name.as_deref(), Some("OpenBSD Secure Shell server"));
        let getty = services.of("0::/system.slice/system-getty.slice/getty@tty1.service\n");
        assert_eq!(getty[0].display_name.as_deref(), Some("Getty on tty1"));
        let unknown = services.of("0::/system.slice/nothing.service\n");
        assert_eq!(unknown[0].display_name, None);
        assert!(services.of("0::/user.slice/session-1.scope\n").is_empty());
    }
}
