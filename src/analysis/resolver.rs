//! Reverse DNS for logged addresses, on a thread of its own.
//!
//! Resolving is opt-in: every lookup tells the DNS server which addresses the log holds. Only
//! public unicast addresses are ever sent (private, loopback, link-local, unspecified,
//! multicast and broadcast addresses are not); each address is asked once, answers and "no
//! name" answers alike are remembered in the shared [`DnsCache`], at most `concurrency`
//! lookups run at a time, and each gives up after `timeout`. hickory-resolver has no
//! synchronous API, so the thread runs its own single-threaded tokio runtime; callers only
//! send addresses and read the cache.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::sync::{Semaphore, mpsc};

use crate::analysis::dns::{DnsCache, Lookup};

/// Where and how to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSettings {
    /// DNS servers to ask; empty means the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        ResolverSettings { servers: Vec::new(), timeout: Duration::from_secs(3), concurrency: 16 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConfig(String),
    #[error("cannot start the DNS thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// True for addresses worth (and safe) to send to a DNS server.
pub fn is_resolvable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_resolvable(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The handle the app keeps: send addresses, read names from the cache.
pub struct DnsResolver {
    tx: mpsc::UnboundedSender<IpAddr>,
    cache: Arc<DnsCache>,
}

impl DnsResolver {
    /// Starts the resolver thread. `on_answer` runs (on that thread) after each answer, so the
    /// app can repaint.
    pub fn start(
        settings: ResolverSettings,
        cache: Arc<DnsCache>,
        on_answer: impl Fn() + Send + Sync + 'static,
    ) -> Result<DnsResolver, ResolverError> {
        let resolver = build(&settings)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let thread_cache = Arc::clone(&cache);
        std::thread::Builder::new().name("prparser-dns".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    // No runtime, no lookups: every requested address shows as failed.
                    fail_all(rx, &thread_cache, &e.to_string());
                    return;
                }
            };
            runtime.block_on(serve(resolver, rx, thread_cache, settings, Arc::new(on_answer)));
        })?;
        Ok(DnsResolver { tx, cache })
    }

    /// Asks for the names of these addresses; addresses already known (or asked) or not
    /// resolvable are skipped.
    pub fn request(&self, ips: impl IntoIterator<Item = IpAddr>) -> usize {
        let mut sent = 0;
        for ip in ips {
            if !is_resolvable(ip) || self.cache.get(ip).is_some() {
                continue;
            }
            self.cache.insert(ip, Lookup::Pending);
            if self.tx.send(ip).is_ok() {
                sent += 1;
            }
        }
        sent
    }
}

fn build(settings: &ResolverSettings) -> Result<TokioResolver, ResolverError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = settings.timeout;
    opts.attempts = 1;
    let builder = if settings.servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| ResolverError::SystemConfig(e.to_string()))?
    } else {
        let mut config = ResolverConfig::default();
        for server in &settings.servers {
            let mut udp = ConnectionConfig::udp();
            udp.port = server.port();
            config.add_name_server(NameServerConfig::new(server.ip(), true, vec![udp]));
        }
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
    };
    builder.with_options(opts).build().map_err(|e| ResolverError::SystemConfig(e.to_string()))
}

async fn serve(
    resolver: TokioResolver,
    mut rx: mpsc::UnboundedReceiver<IpAddr>,
    cache: Arc<DnsCache>,
    settings: ResolverSettings,
    on_answer: Arc<dyn Fn() + Send + Sync>,
) {
    let resolver = Arc::new(resolver);
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    while let Some(ip) = rx.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let (resolver, cache, on_answer) = (Arc::clone(&resolver), Arc::clone(&cache), Arc::clone(&on_answer));
        let timeout = settings.timeout;
        tokio::spawn(async move {
            let answer =
                match tokio::time::timeout(timeout + Duration::from_millis(500), resolver.reverse_lookup(ip)).await {
                    Err(_) => Lookup::Failed("timed out".into()),
                    Ok(Ok(lookup)) => first_name(lookup.answers()).map_or(Lookup::NoName, Lookup::Name),
                    Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => Lookup::NoName,
                    Ok(Err(e)) => Lookup::Failed(e.to_string()),
                };
            cache.insert(ip, answer);
            on_answer();
            drop(permit);
        });
    }
}

fn first_name(records: &[hickory_resolver::proto::rr::Record]) -> Option<String> {
    records.iter().find_map(|r| match &r.data {
        RData::PTR(ptr) => Some(ptr.0.to_utf8().trim_end_matches('.').to_string()),
        _ => None,
    })
}

fn fail_all(mut rx: mpsc::UnboundedReceiver<IpAddr>, cache: &DnsCache, why: &str) {
    while let Some(ip) = rx.blocking_recv() {
        cache.insert(ip, Lookup::Failed(why.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_sent() {
        for ip in ["203.0.113.66", "65.55.200.252", "2001:db8::1", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(is_resolvable(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.103",
            "169.254.66.8",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(!is_resolvable(ip.parse().expect("ip")), "{ip}");
        }
    }
}
