//! Is there a desktop file dialog to ask? The question is put to the session bus itself
//! (xdg-desktop-portal's `org.freedesktop.portal.FileChooser`), not guessed from an empty
//! answer: a dialog that never appeared and one the person cancelled both pick nothing.
//!
//! Nothing here knows egui: the app runs [`probe`] on a job thread and keeps its answer.

use std::sync::Arc;
use std::time::Duration;

use zbus::blocking::Connection;
use zbus::blocking::fdo::{DBusProxy, PropertiesProxy};
use zbus::names::{BusName, InterfaceName, WellKnownName};

const DESTINATION: &str = "org.freedesktop.portal.Desktop";
const PATH: &str = "/org/freedesktop/portal/desktop";
const FILE_CHOOSER: &str = "org.freedesktop.portal.FileChooser";

/// Long enough for a portal started on demand (D-Bus activation), short enough that a hung
/// service does not hold a pick for D-Bus's default 25 s.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the session bus said about a file dialog service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Portal {
    /// FileChooser answered; its interface version.
    Available { version: u32 },
    /// No session bus could be reached (none running, as in a bare X session or over ssh).
    NoBus(String),
    /// The bus runs, but no service offers FileChooser (no portal, or a portal with no
    /// file-chooser backend).
    NoFileChooser,
    /// FileChooser is there but a call to it failed (not a cancel: an error or no answer).
    Failed(String),
}

/// How the app finds out about the portal: [`probe`] on the real session bus, or, in the
/// app's own tests, a fixed answer.
pub type PortalCheck = Arc<dyn Fn() -> Portal + Send + Sync>;

/// The check the app uses: the session bus of this login.
pub fn session_check() -> PortalCheck {
    Arc::new(|| probe(None))
}

/// Asks the bus at `address` (the session bus when `None`) whether FileChooser answers.
pub fn probe(address: Option<&str>) -> Portal {
    let builder = match address {
        Some(a) => zbus::blocking::connection::Builder::address(a),
        None => zbus::blocking::connection::Builder::session(),
    };
    let connection = match builder.map(|b| b.method_timeout(TIMEOUT)).and_then(|b| b.build()) {
        Ok(c) => c,
        Err(e) => return Portal::NoBus(e.to_string()),
    };
    match portal_service(&connection) {
        Ok(true) => {}
        Ok(false) => return Portal::NoFileChooser,
        Err(e) => return Portal::Failed(e.to_string()),
    }
    file_chooser_version(&connection)
}

/// Whether a portal service runs or can be started on demand.
fn portal_service(connection: &Connection) -> zbus::Result<bool> {
    let dbus = DBusProxy::new(connection)?;
    let name: BusName = WellKnownName::from_static_str_unchecked(DESTINATION).into();
    if dbus.name_has_owner(name.clone())? {
        return Ok(true);
    }
    Ok(dbus.list_activatable_names()?.iter().any(|n| n.as_str() == DESTINATION))
}

/// Reads FileChooser's `version` property: an answer proves the interface is served.
fn file_chooser_version(connection: &Connection) -> Portal {
    let read = || -> Result<u32, zbus::fdo::Error> {
        let properties = PropertiesProxy::builder(connection).destination(DESTINATION)?.path(PATH)?.build()?;
        let value = properties.get(InterfaceName::from_static_str_unchecked(FILE_CHOOSER), "version")?;
        u32::try_from(value).map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
    };
    classify(read())
}

/// The answer to the `version` read, as the app needs it. A portal without a file-chooser
/// backend answers that it does not know the interface (older ones: the property).
fn classify(read: Result<u32, zbus::fdo::Error>) -> Portal {
    use zbus::fdo::Error as E;
    match read {
        Ok(version) => Portal::Available { version },
        Err(E::UnknownInterface(_) | E::UnknownProperty(_) | E::UnknownObject(_) | E::InvalidArgs(_)) => {
            Portal::NoFileChooser
        }
        Err(e) => Portal::Failed(e.to_string()),
    }
}

/// Which dialog a pick uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The desktop's dialog, through the portal.
    Native,
    /// The app's own dialog; `why` is the status-bar line when it was not the person's choice.
    BuiltIn { why: Option<String> },
    /// The portal has not been asked yet.
    Ask,
}

/// The one decision every picker goes through.
pub fn choose(prefer_builtin: bool, portal: Option<&Portal>) -> Choice {
    if prefer_builtin {
        return Choice::BuiltIn { why: None };
    }
    let why = match portal {
        None => return Choice::Ask,
        Some(Portal::Available { .. }) => return Choice::Native,
        Some(Portal::NoBus(_) | Portal::NoFileChooser) => {
            "no desktop file dialog service is running: using the built-in dialog".to_string()
        }
        Some(Portal::Failed(e)) => format!("the desktop file dialog service failed ({e}): using the built-in dialog"),
    };
    Choice::BuiltIn { why: Some(why) }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use super::*;

    const NOT_RUNNING: &str = "no desktop file dialog service is running: using the built-in dialog";

    /// The portal check injected, as the app receives it.
    fn choice_with(check: PortalCheck, prefer_builtin: bool) -> Choice {
        choose(prefer_builtin, Some(&check()))
    }

    #[test]
    fn the_native_dialog_is_used_only_where_file_chooser_answers() {
        let bus_absent: PortalCheck = Arc::new(|| Portal::NoBus("no session bus address".into()));
        let no_chooser: PortalCheck = Arc::new(|| Portal::NoFileChooser);
        let failed: PortalCheck = Arc::new(|| Portal::Failed("org.freedesktop.DBus.Error.NoReply: timed out".into()));
        let present: PortalCheck = Arc::new(|| Portal::Available { version: 4 });

        assert_eq!(choice_with(bus_absent.clone(), false), Choice::BuiltIn { why: Some(NOT_RUNNING.into()) });
        assert_eq!(choice_with(no_chooser.clone(), false), Choice::BuiltIn { why: Some(NOT_RUNNING.into()) });
        assert_eq!(
            choice_with(failed.clone(), false),
            Choice::BuiltIn {
                why: Some(
                    "the desktop file dialog service failed (org.freedesktop.DBus.Error.NoReply: timed out): \
                     using the built-in dialog"
                        .into()
                )
            }
        );
        assert_eq!(choice_with(present.clone(), false), Choice::Native);
        for check in [bus_absent, no_chooser, failed, present] {
            assert_eq!(choice_with(check, true), Choice::BuiltIn { why: None }, "the person's choice wins");
        }
        assert_eq!(choose(false, None), Choice::Ask);
    }

    #[test]
    fn a_portal_without_a_file_chooser_backend_is_told_from_a_failing_one() {
        use zbus::fdo::Error as E;
        assert_eq!(classify(Ok(3)), Portal::Available { version: 3 });
        let unknown = "No such interface “org.freedesktop.portal.FileChooser”".to_string();
        assert_eq!(classify(Err(E::UnknownInterface(unknown.clone()))), Portal::NoFileChooser);
        assert_eq!(classify(Err(E::InvalidArgs(unknown))), Portal::NoFileChooser);
        assert_eq!(
            classify(Err(E::NoReply("timed out".into()))),
            Portal::Failed("org.freedesktop.DBus.Error.NoReply: timed out".into())
        );
        assert_eq!(
            classify(Err(E::ServiceUnknown("activation failed".into()))),
            Portal::Failed("org.freedesktop.DBus.Error.ServiceUnknown: activation failed".into())
        );
    }

    #[test]
    fn an_address_with_no_bus_behind_it_is_no_bus() {
        let dir = tempfile::tempdir().expect("tempdir");
        let address = format!("unix:path={}", dir.path().join("no-bus").display());
        assert!(matches!(probe(Some(&address)), Portal::NoBus(_)));
    }

    /// A private bus with no service to start on demand, as on a desktop without
    /// xdg-desktop-portal (whatever this machine has installed).
    struct PrivateBus {
        daemon: Child,
        address: String,
        _dir: tempfile::TempDir,
    }

    impl PrivateBus {
        fn start() -> PrivateBus {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = dir.path().join("bus.conf");
            let text = format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:dir={}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy>\
                 </busconfig>\n",
                dir.path().display()
            );
            std::fs::write(&config, text).expect("bus config");
            let mut daemon = Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--nopidfile", "--print-address=1"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("dbus-daemon (Debian package dbus-daemon) runs");
            let mut address = String::new();
            let stdout = daemon.stdout.take().expect("stdout");
            BufReader::new(stdout).read_line(&mut address).expect("the bus address");
            PrivateBus { daemon, address: address.trim().to_string(), _dir: dir }
        }
    }

    impl Drop for PrivateBus {
        fn drop(&mut self) {
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
        }
    }

    #[test]
    fn a_bus_without_a_portal_has_no_file_chooser() {
        let bus = PrivateBus::start();
        assert!(!bus.address.is_empty());
        assert_eq!(probe(Some(&bus.address)), Portal::NoFileChooser);
    }
}
