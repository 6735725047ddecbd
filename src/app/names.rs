//! Reverse DNS in the app: starting the resolver when the person turns it on, asking for the
//! log's remote addresses, and re-filtering and re-flagging as names arrive.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::PrParserApp;
use super::settings::parse_dns_server;
use crate::analysis::criteria::Field;
use crate::analysis::resolver::{DnsResolver, ResolverSettings};

/// Criteria using host names are re-evaluated at most this often while names arrive.
const HOST_REEVALUATION: Duration = Duration::from_secs(1);

impl PrParserApp {
    /// Turns reverse DNS on or off (the setting persists).
    pub fn set_resolve_dns(&mut self, on: bool) {
        self.settings.resolve_dns = on;
        if !on {
            self.names.resolver = None;
            return;
        }
        self.request_names();
    }

    /// Starts the resolver if needed and asks for every remote address of the log.
    pub(super) fn request_names(&mut self) {
        if !self.settings.resolve_dns {
            return;
        }
        let Some(data) = self.data.clone() else {
            return;
        };
        if self.names.resolver.is_none() {
            let Some(servers) = self.settings.dns_servers() else {
                self.error =
                    Some(format!("DNS server {:?} is not an address (ip or ip:port)", self.settings.dns_server));
                return;
            };
            let settings = ResolverSettings { servers, ..ResolverSettings::default() };
            let ctx = self.jobs.context();
            let arrived = Arc::clone(&self.names.arrived);
            match DnsResolver::start(settings, Arc::clone(&self.dns), move || {
                arrived.store(true, Ordering::Relaxed);
                ctx.request_repaint();
            }) {
                Ok(r) => self.names.resolver = Some(Arc::new(r)),
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            }
        }
        if let Some(resolver) = self.names.resolver.clone() {
            // Finding the distinct remote addresses walks every row: not on the UI thread.
            let started = self.jobs.spawn_detached("dns-request", move || {
                let log = &data.set.ports;
                let mut remote = vec![false; log.addrs.len()];
                for e in &log.events {
                    remote[e.remote_ip.0 as usize] = true;
                }
                let ips = log.addrs.iter().filter(|(id, _)| remote[id.0 as usize]).filter_map(|(_, a)| a.ip());
                resolver.request(ips);
            });
            if let Err(e) = started {
                self.not_started(e);
            }
        }
    }

    /// Apply in the DNS server window: a server that reads as an address replaces the one in
    /// use, lookups start again with it (the resolver forgets what the previous server could
    /// not name, and failed lookups), the window closes and the status bar says what happened.
    pub(super) fn apply_dns_server(&mut self) {
        let text = self.names.server_text.trim().to_string();
        if parse_dns_server(&text).is_none() {
            self.names.server_problem = Some(format!("{text:?} is not an address: write an IP address, or ip:port"));
            return;
        }
        let server = if text.is_empty() { "the system's resolver".to_string() } else { text.clone() };
        self.settings.dns_server = text;
        self.open.dns_server = false;
        // The old resolver's thread stops when its handle goes; the next one uses the new server.
        self.names.resolver = None;
        self.request_names();
        self.message.say(match &self.names.resolver {
            Some(resolver) => {
                let again = resolver.forgotten().total();
                format!("DNS server set to {server}; {again} addresses not named before will be asked again")
            }
            None if !self.settings.resolve_dns => {
                format!("DNS server set to {server}; used once View > Resolve remote IPs is on")
            }
            None => format!("DNS server set to {server}"),
        });
    }

    /// New names can flag rows by host-name criteria: re-evaluate, at most once a second.
    pub(super) fn names_maybe_changed(&mut self) {
        if !self.names.arrived.load(Ordering::Relaxed) {
            return;
        }
        let due = self.names.last_evaluation.is_none_or(|t| t.elapsed() >= HOST_REEVALUATION);
        let uses_hosts = self.settings.criteria.criteria.iter().any(|c| c.enabled && c.field == Field::HostName);
        if !due {
            self.jobs.context().request_repaint_after(HOST_REEVALUATION);
            return;
        }
        self.names.arrived.store(false, Ordering::Relaxed);
        self.names.last_evaluation = Some(Instant::now());
        if uses_hosts {
            self.refresh_flags();
        }
        if self.filters.has_text() {
            self.refresh_view();
        }
    }
}
