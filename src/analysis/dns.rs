//! Host names for addresses, as the analysis sees them: a cache that the resolver (in the
//! app, on its own thread) fills and that host-name criteria and the remote-IP view read.
//! Nothing here sends a packet.

use std::net::IpAddr;
use std::sync::RwLock;

use rustc_hash::FxHashMap;

/// What is known of an address's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Asked, no answer yet.
    Pending,
    Name(String),
    /// The server answered that the address has no name (remembered, not asked again).
    NoName,
    /// No answer (timeout, network error): shown as unresolved.
    Failed(String),
}

/// Anything that can name an address: the DNS cache, or nothing at all.
pub trait HostNames: Sync {
    fn host_name(&self, ip: IpAddr) -> Option<String>;
}

/// For runs without DNS (the default: resolving leaks addresses to the DNS server).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHostNames;

impl HostNames for NoHostNames {
    fn host_name(&self, _: IpAddr) -> Option<String> {
        None
    }
}

/// Shared between the resolver thread (writer) and the analysis (readers).
#[derive(Debug, Default)]
pub struct DnsCache {
    entries: RwLock<FxHashMap<IpAddr, Lookup>>,
}

impl DnsCache {
    pub fn get(&self, ip: IpAddr) -> Option<Lookup> {
        self.entries.read().ok()?.get(&ip).cloned()
    }

    pub fn insert(&self, ip: IpAddr, lookup: Lookup) {
        if let Ok(mut map) = self.entries.write() {
            map.insert(ip, lookup);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn only_answers_with_names_name_an_address() {
        let cache = DnsCache::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        cache.insert(a, Lookup::Name("www.example.com".into()));
        cache.insert(b, Lookup::NoName);
        assert_eq!(cache.host_name(a).as_deref(), Some("www.example.com"));
        assert_eq!(cache.host_name(b), None);
        assert_eq!(cache.get(b), Some(Lookup::NoName));
        assert_eq!(NoHostNames.host_name(a), None);
    }
}
