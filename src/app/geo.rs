//! GeoIP in the app: View › GeoIP databases... (a country and an ASN database, chosen with
//! the file dialog and remembered), and the names-and-places every job and the grid read.
//!
//! Databases are opened and checked off the UI thread (a city database is tens of MiB, and
//! every record is verified once); a file that cannot be used is refused with its reason and
//! leaves the databases in use as they were. Once open, a background job looks up every
//! remote address of the log (each distinct one once; the [`GeoIp`] remembers them); the
//! grid's Country and AS cells read only what is known, so drawing a frame never searches a
//! database. Background jobs (filters, sorting, criteria, statistics, exports) look up what
//! they need themselves.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;

use super::jobs::{Done, Pick};
use super::{PrParserApp, grid};
use crate::analysis::dns::{DnsCache, HostNames};
use crate::analysis::geoip::{GeoIp, Place};
use crate::analysis::view::{Column, Drill};

/// The databases in use and the jobs about them.
#[derive(Debug, Default)]
pub(super) struct GeoState {
    pub geo: Option<Arc<GeoIp>>,
    /// Of the latest open request; an older one's answer is dropped.
    generation: u64,
    opening: bool,
    locating: bool,
    /// Rows arrived while a look-up ran: look up again when it ends.
    locate_again: bool,
    /// Why the last database chosen could not be used.
    pub problem: Option<String>,
    pub window: bool,
}

impl GeoState {
    pub fn is_idle(&self) -> bool {
        !self.opening && !self.locating
    }
}

/// Host names from the DNS cache and places from the GeoIP databases: what jobs and the grid
/// read of a remote address.
#[derive(Clone)]
pub(super) struct Hosts {
    dns: Arc<DnsCache>,
    geo: Option<Arc<GeoIp>>,
    /// False on the UI thread: only addresses looked up already are placed.
    look_up: bool,
}

impl HostNames for Hosts {
    fn host_name(&self, ip: IpAddr) -> Option<String> {
        self.dns.host_name(ip)
    }

    fn place(&self, ip: IpAddr) -> Option<Place> {
        let geo = self.geo.as_ref()?;
        if self.look_up { Some(geo.locate(ip)) } else { geo.known(ip) }
    }
}

impl PrParserApp {
    /// Names and places for a background job.
    pub(super) fn job_hosts(&self) -> Hosts {
        Hosts { dns: Arc::clone(&self.dns), geo: self.geo.geo.clone(), look_up: true }
    }

    /// Names and places for drawing: nothing is looked up.
    pub(super) fn ui_hosts(&self) -> Hosts {
        Hosts { dns: Arc::clone(&self.dns), geo: self.geo.geo.clone(), look_up: false }
    }

    /// The grid's columns (and the CSV export's): Country and AS while a database is open.
    pub(super) fn shown_columns(&self) -> Vec<Column> {
        Column::shown(self.geo.geo.is_some())
    }

    /// Opens the databases the settings name (on start).
    pub(super) fn open_saved_geoip(&mut self) {
        let (country, asn) = (self.settings.geoip_country.clone(), self.settings.geoip_asn.clone());
        if country.is_some() || asn.is_some() {
            self.open_geoip(country, asn);
        }
    }

    /// Opens `country` and `asn` in the background; none at all closes the databases.
    fn open_geoip(&mut self, country: Option<PathBuf>, asn: Option<PathBuf>) {
        self.geo.generation += 1;
        self.geo.problem = None;
        if country.is_none() && asn.is_none() {
            self.geo.opening = false;
            self.settings.geoip_country = None;
            self.settings.geoip_asn = None;
            self.geoip_changed(None);
            return;
        }
        let generation = self.geo.generation;
        let started = self.jobs.spawn("geoip-open", move || Done::GeoIpOpened {
            generation,
            result: GeoIp::open(country.as_deref(), asn.as_deref()),
            country,
            asn,
        });
        match started {
            Ok(()) => self.geo.opening = true,
            Err(e) => self.not_started(e),
        }
    }

    /// The databases of the latest request opened, or why not (the ones in use stay).
    pub(super) fn geoip_opened(
        &mut self,
        generation: u64,
        paths: (Option<PathBuf>, Option<PathBuf>),
        result: Result<GeoIp, crate::analysis::geoip::GeoIpError>,
    ) {
        if generation != self.geo.generation {
            return;
        }
        self.geo.opening = false;
        match result {
            Ok(geo) => {
                (self.settings.geoip_country, self.settings.geoip_asn) = paths;
                self.geoip_changed(Some(Arc::new(geo)));
            }
            Err(e) => {
                self.geo.problem = Some(e.to_string());
                self.geo.window = true;
            }
        }
    }

    /// Other databases are in use: whatever read places is computed again.
    fn geoip_changed(&mut self, geo: Option<Arc<GeoIp>>) {
        self.geo.geo = geo;
        if self.settings.criteria.criteria.iter().any(|c| c.enabled && c.field.reads_geoip()) {
            self.refresh_flags();
        }
        let sorted_by_place = self.settings.sort.is_some_and(|s| matches!(s.column, Column::Country | Column::Asn));
        let drilled_by_place = matches!(self.filters.drill, Some(Drill::Country(_) | Drill::Asn(_)));
        if self.filters.has_text() || sorted_by_place || drilled_by_place {
            self.refresh_view();
        }
        self.stats_dirty = true;
        self.locate_places();
    }

    /// Looks up every remote address of the log not looked up yet, in the background.
    pub(super) fn locate_places(&mut self) {
        let (Some(geo), Some(data)) = (self.geo.geo.clone(), self.data.clone()) else {
            return;
        };
        if self.geo.locating {
            self.geo.locate_again = true;
            return;
        }
        let started = self.jobs.spawn("geoip-locate", move || {
            let log = &data.set.ports;
            let mut remote = vec![false; log.addrs.len()];
            for e in &log.events {
                remote[e.remote_ip.0 as usize] = true;
            }
            let ips: Vec<IpAddr> = log
                .addrs
                .iter()
                .filter(|(id, a)| remote[id.0 as usize] && a.is_specific())
                .filter_map(|(_, a)| a.ip())
                .collect();
            geo.locate_all(&ips);
            Done::GeoIpLocated
        });
        match started {
            Ok(()) => self.geo.locating = true,
            Err(e) => self.not_started(e),
        }
    }

    pub(super) fn geoip_located(&mut self) {
        self.geo.locating = false;
        if std::mem::take(&mut self.geo.locate_again) {
            self.locate_places();
        }
    }

    /// A database file was chosen: it replaces the one of its role once it opens.
    pub(super) fn geoip_chosen(&mut self, purpose: Pick, path: PathBuf) {
        let path = std::path::absolute(&path).unwrap_or(path);
        let (mut country, mut asn) = (self.settings.geoip_country.clone(), self.settings.geoip_asn.clone());
        match purpose {
            Pick::GeoIpAsn => asn = Some(path),
            _ => country = Some(path),
        }
        self.open_geoip(country, asn);
    }

    /// The GeoIP databases window.
    pub(super) fn geoip_window(&mut self, ctx: &egui::Context) {
        let mut open = self.geo.window;
        let mut choose = None;
        let mut remove = None;
        egui::Window::new("GeoIP databases").open(&mut open).default_width(520.0).show(ctx, |ui| {
            ui.label(
                "MaxMind-format (.mmdb) databases you have (GeoLite2, DB-IP lite, IPinfo) fill the Country and AS \
                 columns, the Remote countries and Remote ASNs statistics and country and AS criteria. They are \
                 read on this computer: no address is sent anywhere.",
            );
            ui.separator();
            let roles = [
                ("Country database", &self.settings.geoip_country, Pick::GeoIpCountry, "country"),
                ("ASN database", &self.settings.geoip_asn, Pick::GeoIpAsn, "ASN"),
            ];
            let databases =
                self.geo.geo.as_ref().map(|g| (g.country_database().cloned(), g.network_database().cloned()));
            for (k, (title, path, pick, role)) in roles.into_iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.strong(title);
                    let in_use = databases.as_ref().and_then(|d| if k == 0 { d.0.clone() } else { d.1.clone() });
                    match (in_use, path) {
                        (Some(db), _) => ui.label(db.summary()).on_hover_text(db.path().display().to_string()),
                        (None, Some(path)) => ui.label(path.display().to_string()),
                        (None, None) => ui.label(RichText::new("none").weak()),
                    };
                });
                ui.horizontal(|ui| {
                    if ui.button(format!("Choose {role} database...")).clicked() {
                        choose = Some(pick);
                    }
                    if path.is_some() && ui.button(format!("Remove {role} database")).clicked() {
                        remove = Some(pick);
                    }
                });
            }
            if self.geo.opening {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Opening and checking the database...");
                });
            }
            if let Some(problem) = &self.geo.problem {
                ui.colored_label(grid::FLAGGED, problem);
            }
        });
        self.geo.window = open;
        if let Some(pick) = choose {
            self.pick(pick);
        }
        if let Some(pick) = remove {
            let (mut country, mut asn) = (self.settings.geoip_country.clone(), self.settings.geoip_asn.clone());
            match pick {
                Pick::GeoIpAsn => asn = None,
                _ => country = None,
            }
            self.open_geoip(country, asn);
        }
    }
}
