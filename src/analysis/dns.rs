//! Host names for addresses, as the analysis sees them: a cache that the resolver (in the
//! app, on its own thread) fills and that host-name criteria and the remote-IP view read.
//! Nothing here sends a packet.
//!
//! Answers belong to the DNS server that gave them. Each start of a resolver begins a new
//! *round* ([`DnsCache::begin`]): answers still arriving from an earlier round are dropped, so
//! a server the user has just replaced cannot write into the cache any more. A round forgets
//! what was never answered (lookups still pending, lookups that failed: a timeout says
//! nothing about the address), and when the servers differ from the previous round's it also
//! forgets "no name" answers, which only that server gave. Names are kept: a name from the
//! previous server is still the best thing to show until someone asks again.

use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

use rustc_hash::FxHashMap;

use crate::analysis::geoip::Place;

/// What is known of an address's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Asked, no final answer yet (this includes waiting to ask again after a timeout).
    Pending,
    Name(String),
    /// The server answered that the address has no name (remembered while the same server
    /// is in use).
    NoName,
    /// No answer after every allowed try (timeout, network error): shown as unresolved,
    /// asked again when a resolver starts next.
    Failed(String),
}

/// What is known of a remote address without asking anyone about it: its name from the DNS
/// cache and, when GeoIP databases are open, its country and network
/// ([`Located`](crate::analysis::geoip::Located) adds those to a cache). Criteria, the grid's
/// columns and the statistics read addresses through this.
pub trait HostNames: Sync {
    fn host_name(&self, ip: IpAddr) -> Option<String>;

    /// The address's country and network; `None` when no database is open (or, on the UI
    /// thread, when the address was not looked up yet).
    fn place(&self, _ip: IpAddr) -> Option<Place> {
        None
    }
}

/// For runs without DNS (the default: resolving leaks addresses to the DNS server).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHostNames;

impl HostNames for NoHostNames {
    fn host_name(&self, _: IpAddr) -> Option<String> {
        None
    }
}

/// Which resolver start an answer belongs to; see [`DnsCache::begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round(u64);

/// What a new round forgot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forgotten {
    /// Earlier "no name" answers dropped because the servers changed.
    pub no_name: usize,
    /// Failed lookups and lookups the previous resolver never finished.
    pub unanswered: usize,
}

impl Forgotten {
    /// Addresses that a request will send again.
    pub fn total(&self) -> usize {
        self.no_name + self.unanswered
    }
}

#[derive(Debug, Default)]
struct Entries {
    map: FxHashMap<IpAddr, Lookup>,
    round: u64,
    /// The servers of the current round (`None` before the first).
    servers: Option<Vec<SocketAddr>>,
}

/// Shared between the resolver thread (writer) and the analysis (readers).
#[derive(Debug, Default)]
pub struct DnsCache {
    entries: RwLock<Entries>,
}

impl DnsCache {
    pub fn get(&self, ip: IpAddr) -> Option<Lookup> {
        self.entries.read().ok()?.map.get(&ip).cloned()
    }

    /// Sets what is known of an address, whatever the round (for answers that come from
    /// elsewhere than a resolver, such as a saved cache or a test).
    pub fn insert(&self, ip: IpAddr, lookup: Lookup) {
        if let Ok(mut entries) = self.entries.write() {
            entries.map.insert(ip, lookup);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a round of lookups against `servers` (empty: the system's): answers of earlier
    /// rounds are refused from now on; pending and failed lookups are forgotten, and "no name"
    /// answers too when the servers are not the previous round's.
    pub fn begin(&self, servers: &[SocketAddr]) -> (Round, Forgotten) {
        let Ok(mut entries) = self.entries.write() else {
            return (Round(u64::MAX), Forgotten::default());
        };
        let new_servers = entries.servers.as_deref().is_some_and(|previous| previous != servers);
        let mut forgotten = Forgotten::default();
        entries.map.retain(|_, lookup| match lookup {
            Lookup::Name(_) => true,
            Lookup::NoName if !new_servers => true,
            Lookup::NoName => {
                forgotten.no_name += 1;
                false
            }
            Lookup::Pending | Lookup::Failed(_) => {
                forgotten.unanswered += 1;
                false
            }
        });
        entries.round += 1;
        entries.servers = Some(servers.to_vec());
        (Round(entries.round), forgotten)
    }

    /// Marks an address as asked in this round; false when it is known or already asked, or
    /// when the round is over (a later one began).
    pub fn claim(&self, round: Round, ip: IpAddr) -> bool {
        let Ok(mut entries) = self.entries.write() else {
            return false;
        };
        if entries.round != round.0 || entries.map.contains_key(&ip) {
            return false;
        }
        entries.map.insert(ip, Lookup::Pending);
        true
    }

    /// Records an answer of this round; an answer of an earlier round is dropped (false).
    pub fn answer(&self, round: Round, ip: IpAddr, lookup: Lookup) -> bool {
        let Ok(mut entries) = self.entries.write() else {
            return false;
        };
        if entries.round != round.0 {
            return false;
        }
        entries.map.insert(ip, lookup);
        true
    }

    /// True while no later round has begun.
    pub fn is_current(&self, round: Round) -> bool {
        self.entries.read().is_ok_and(|e| e.round == round.0)
    }
}

impl HostNames for DnsCache {
    fn host_name(&self, ip: IpAddr) -> Option<String> {
        match self.get(ip)? {
            Lookup::Name(name) => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn server(s: &str) -> SocketAddr {
        s.parse().expect("server")
    }

    #[test]
    fn only_answers_with_names_name_an_address() {
        let cache = DnsCache::default();
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        cache.insert(a, Lookup::Name("www.example.com".into()));
        cache.insert(b, Lookup::NoName);
        assert_eq!(cache.host_name(a).as_deref(), Some("www.example.com"));
        assert_eq!(cache.host_name(b), None);
        assert_eq!(cache.get(b), Some(Lookup::NoName));
        assert_eq!(NoHostNames.host_name(a), None);
    }

    #[test]
    fn a_new_round_forgets_what_was_not_answered_and_refuses_late_answers() {
        let cache = DnsCache::default();
        let one = server("127.0.0.1:5353");
        let (first, forgotten) = cache.begin(&[one]);
        assert_eq!(forgotten, Forgotten::default());
        for (addr, answer) in [
            ("192.0.2.1", Some(Lookup::Name("a.example".into()))),
            ("192.0.2.2", Some(Lookup::NoName)),
            ("192.0.2.3", Some(Lookup::Failed("timed out".into()))),
            ("192.0.2.4", None),
        ] {
            assert!(cache.claim(first, ip(addr)));
            assert!(!cache.claim(first, ip(addr)), "asked once per round");
            if let Some(answer) = answer {
                assert!(cache.answer(first, ip(addr), answer));
            }
        }

        // Same server again: only the failed and the unfinished lookups go.
        let (second, forgotten) = cache.begin(&[one]);
        assert_eq!(forgotten, Forgotten { no_name: 0, unanswered: 2 });
        assert!(!cache.is_current(first));
        assert!(!cache.answer(first, ip("192.0.2.4"), Lookup::NoName), "a late answer of the first round");
        assert!(!cache.claim(first, ip("192.0.2.4")));
        assert_eq!(cache.get(ip("192.0.2.4")), None);
        assert_eq!(cache.get(ip("192.0.2.3")), None);
        assert_eq!(cache.get(ip("192.0.2.2")), Some(Lookup::NoName));
        assert!(cache.claim(second, ip("192.0.2.3")));

        // Another server: "no name" goes too; names stay.
        let (_, forgotten) = cache.begin(&[server("127.0.0.1:5354")]);
        assert_eq!(forgotten, Forgotten { no_name: 1, unanswered: 1 });
        assert_eq!(forgotten.total(), 2);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(ip("192.0.2.1")), Some(Lookup::Name("a.example".into())));
    }
}
