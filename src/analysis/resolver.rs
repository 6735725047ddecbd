//! Reverse DNS for logged addresses, on a thread of its own.
//!
//! Resolving is opt-in: every lookup tells the DNS server which addresses the log holds. Only
//! public unicast addresses are ever sent (private, loopback, link-local, unspecified,
//! multicast and broadcast addresses are not); at most `concurrency` lookups run at a time,
//! and each try gives up after `timeout`. Answers and "no name" answers alike are remembered
//! in the shared [`DnsCache`] and not asked again while the same server is in use. A try that
//! gets no answer (timeout, network error, server failure) is not a "no name": the address is
//! asked again after `retry_after`, then after twice that, up to `attempts` tries in all
//! (3 by default: 30 s and 60 s after the first), and only then shown as failed. Starting a
//! resolver begins a new round in the cache (see [`crate::analysis::dns`]): failures are asked
//! again, and so are "no name" answers when the server is not the previous one's.
//! hickory-resolver has no synchronous API, so the thread runs its own single-threaded tokio
//! runtime; callers only send addresses and read the cache.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::analysis::dns::{DnsCache, Forgotten, Lookup, Round};

/// Where and how to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSettings {
    /// DNS servers to ask; empty means the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// How long one try waits for an answer.
    pub timeout: Duration,
    pub concurrency: usize,
    /// Tries per address before it is shown as failed (at least 1).
    pub attempts: u32,
    /// The wait before the second try; each later try waits that much longer again.
    pub retry_after: Duration,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        ResolverSettings {
            servers: Vec::new(),
            timeout: Duration::from_secs(3),
            concurrency: 16,
            attempts: 3,
            retry_after: Duration::from_secs(30),
        }
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
    round: Round,
    forgotten: Forgotten,
}

impl DnsResolver {
    /// Starts the resolver thread and a new round in `cache`: answers still coming from a
    /// resolver started earlier are ignored from now on, failed lookups will be asked again,
    /// and when `settings.servers` differ from the previous start's, "no name" answers too.
    /// Drop the previous resolver first (its thread stops when its handle goes). `on_answer`
    /// runs (on the resolver thread) after each answer, so the app can repaint.
    pub fn start(
        settings: ResolverSettings,
        cache: Arc<DnsCache>,
        on_answer: impl Fn() + Send + Sync + 'static,
    ) -> Result<DnsResolver, ResolverError> {
        let resolver = build(&settings)?;
        let (round, forgotten) = cache.begin(&settings.servers);
        let (tx, rx) = mpsc::unbounded_channel();
        let thread_cache = Arc::clone(&cache);
        std::thread::Builder::new().name("prparser-dns".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    // No runtime, no lookups: every requested address shows as failed.
                    fail_all(rx, &thread_cache, round, &e.to_string());
                    return;
                }
            };
            let lookups = Lookups { resolver: Arc::new(resolver), cache: thread_cache, round, settings };
            runtime.block_on(serve(Arc::new(lookups), rx, Arc::new(on_answer)));
        })?;
        Ok(DnsResolver { tx, cache, round, forgotten })
    }

    /// Asks for the names of these addresses; addresses already known or asked in this
    /// round, and addresses not resolvable, are skipped. Returns how many were sent.
    pub fn request(&self, ips: impl IntoIterator<Item = IpAddr>) -> usize {
        let mut sent = 0;
        for ip in ips {
            if !is_resolvable(ip) || !self.cache.claim(self.round, ip) {
                continue;
            }
            if self.tx.send(ip).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// What starting this resolver made the cache forget, and so will be asked again: for a
    /// confirmation such as "12 addresses will be asked again".
    pub fn forgotten(&self) -> Forgotten {
        self.forgotten
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

/// What every lookup task of one resolver shares.
struct Lookups {
    resolver: Arc<TokioResolver>,
    cache: Arc<DnsCache>,
    round: Round,
    settings: ResolverSettings,
}

/// The outcome of one try.
enum Try {
    Answer(Lookup),
    NoAnswer(String),
}

async fn serve(lookups: Arc<Lookups>, mut rx: mpsc::UnboundedReceiver<IpAddr>, on_answer: Arc<dyn Fn() + Send + Sync>) {
    let permits = Arc::new(Semaphore::new(lookups.settings.concurrency.max(1)));
    while let Some(ip) = rx.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let (lookups, permits, on_answer) = (Arc::clone(&lookups), Arc::clone(&permits), Arc::clone(&on_answer));
        tokio::spawn(async move {
            let answer = resolve(&lookups, &permits, ip, permit).await;
            if lookups.cache.answer(lookups.round, ip, answer) {
                on_answer();
            }
        });
    }
}

/// Asks for one address until it gets an answer or runs out of tries. The concurrency permit
/// is given back while waiting to try again, so retries do not hold up fresh addresses.
async fn resolve(lookups: &Lookups, permits: &Arc<Semaphore>, ip: IpAddr, permit: OwnedSemaphorePermit) -> Lookup {
    let attempts = lookups.settings.attempts.max(1);
    let mut first = Some(permit);
    let mut attempt = 1;
    loop {
        let held = match first.take() {
            Some(p) => p,
            None => match Arc::clone(permits).acquire_owned().await {
                Ok(p) => p,
                Err(e) => return Lookup::Failed(e.to_string()),
            },
        };
        let outcome = try_once(lookups, ip).await;
        drop(held);
        match outcome {
            Try::Answer(answer) => return answer,
            Try::NoAnswer(why) if attempt >= attempts || !lookups.cache.is_current(lookups.round) => {
                return Lookup::Failed(why);
            }
            Try::NoAnswer(_) => {
                tokio::time::sleep(lookups.settings.retry_after.saturating_mul(attempt)).await;
                attempt += 1;
            }
        }
    }
}

async fn try_once(lookups: &Lookups, ip: IpAddr) -> Try {
    // hickory enforces `timeout` itself; the margin only guards against it not doing so.
    let guard = lookups.settings.timeout + Duration::from_millis(500);
    match tokio::time::timeout(guard, lookups.resolver.reverse_lookup(ip)).await {
        Err(_) => Try::NoAnswer("timed out".into()),
        Ok(Ok(lookup)) => Try::Answer(first_name(lookup.answers()).map_or(Lookup::NoName, Lookup::Name)),
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => Try::Answer(Lookup::NoName),
        Ok(Err(e)) => Try::NoAnswer(e.to_string()),
    }
}

fn first_name(records: &[hickory_resolver::proto::rr::Record]) -> Option<String> {
    records.iter().find_map(|r| match &r.data {
        RData::PTR(ptr) => Some(ptr.0.to_utf8().trim_end_matches('.').to_string()),
        _ => None,
    })
}

fn fail_all(mut rx: mpsc::UnboundedReceiver<IpAddr>, cache: &DnsCache, round: Round, why: &str) {
    while let Some(ip) = rx.blocking_recv() {
        cache.answer(round, ip, Lookup::Failed(why.to_string()));
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
