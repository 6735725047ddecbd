//! The resolver against a DNS server on loopback: names arrive in the cache, "no name"
//! answers are remembered, private addresses are never sent, nothing is asked twice.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prparser::analysis::dns::{DnsCache, Lookup};
use prparser::analysis::resolver::{DnsResolver, ResolverSettings};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn names_arrive_and_nothing_private_or_repeated_is_sent() {
    let server = support::dns::start(&[("203.0.113.66", "irc.example.net"), ("2001:db8::1", "v6.example.net")]);
    let cache = Arc::new(DnsCache::default());
    let settings = ResolverSettings { servers: vec![server.addr], timeout: Duration::from_secs(2), concurrency: 4 };
    let resolver = DnsResolver::start(settings, Arc::clone(&cache), || {}).expect("start");
    let asked = [ip("203.0.113.66"), ip("198.51.100.20"), ip("2001:db8::1"), ip("192.168.1.1"), ip("127.0.0.1")];
    assert_eq!(resolver.request(asked), 3);

    let deadline = Instant::now() + Duration::from_secs(10);
    while [asked[0], asked[1], asked[2]].iter().any(|a| cache.get(*a) == Some(Lookup::Pending)) {
        assert!(Instant::now() < deadline, "no answers from the loopback server");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cache.get(asked[0]), Some(Lookup::Name("irc.example.net".into())));
    assert_eq!(cache.get(asked[1]), Some(Lookup::NoName));
    assert_eq!(cache.get(asked[2]), Some(Lookup::Name("v6.example.net".into())));
    assert_eq!(cache.get(asked[3]), None, "private addresses are not sent");
    assert_eq!(cache.get(asked[4]), None, "loopback addresses are not sent");
    let seen = server.queries.load(Ordering::Relaxed);
    assert_eq!(seen, 3);

    assert_eq!(resolver.request(asked), 0, "known answers are not asked again");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.queries.load(Ordering::Relaxed), seen);
}

#[test]
fn an_unanswering_server_times_out_as_failed() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let cache = Arc::new(DnsCache::default());
    let settings = ResolverSettings {
        servers: vec![silent.local_addr().expect("addr")],
        timeout: Duration::from_millis(200),
        concurrency: 2,
    };
    let resolver = DnsResolver::start(settings, Arc::clone(&cache), || {}).expect("start");
    resolver.request([ip("203.0.113.7")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.get(ip("203.0.113.7")) == Some(Lookup::Pending) {
        assert!(Instant::now() < deadline, "the lookup never gave up");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(cache.get(ip("203.0.113.7")), Some(Lookup::Failed(_))), "{:?}", cache.get(ip("203.0.113.7")));
}
