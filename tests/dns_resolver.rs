//! The resolver against DNS servers on loopback (dnsmasq, a silent socket, a lossy relay):
//! names arrive in the cache, "no name" answers are remembered while the server stays the
//! same, private addresses are never sent, nothing is asked twice, a timeout is asked again a
//! bounded number of times, and a new server asks again what the previous one could not name.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prparser::analysis::dns::{DnsCache, Forgotten, Lookup};
use prparser::analysis::resolver::{DnsResolver, ResolverSettings};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn settings(server: std::net::SocketAddr) -> ResolverSettings {
    ResolverSettings {
        servers: vec![server],
        timeout: Duration::from_millis(300),
        concurrency: 4,
        attempts: 3,
        retry_after: Duration::from_millis(10),
    }
}

/// Waits until none of `ips` is pending.
fn settle(cache: &DnsCache, ips: &[IpAddr]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ips.iter().any(|a| cache.get(*a) == Some(Lookup::Pending)) {
        assert!(Instant::now() < deadline, "lookups never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn name(s: &str) -> Option<Lookup> {
    Some(Lookup::Name(s.into()))
}

#[test]
fn names_arrive_and_nothing_private_or_repeated_is_sent() {
    let server = support::dns::start(&[("203.0.113.66", "irc.example.net"), ("2001:db8::1", "v6.example.net")]);
    let cache = Arc::new(DnsCache::default());
    let resolver = DnsResolver::start(settings(server.addr), Arc::clone(&cache), || {}).expect("start");
    let asked = [ip("203.0.113.66"), ip("198.51.100.20"), ip("2001:db8::1"), ip("192.168.1.1"), ip("127.0.0.1")];
    assert_eq!(resolver.request(asked), 3);
    settle(&cache, &asked);
    assert_eq!(cache.get(asked[0]), name("irc.example.net"));
    assert_eq!(cache.get(asked[1]), Some(Lookup::NoName));
    assert_eq!(cache.get(asked[2]), name("v6.example.net"));
    assert_eq!(cache.get(asked[3]), None, "private addresses are not sent");
    assert_eq!(cache.get(asked[4]), None, "loopback addresses are not sent");
    assert_eq!(server.queries(), 3);

    assert_eq!(resolver.request(asked), 0, "known answers are not asked again");
    assert_eq!(server.queries(), 3);
}

#[test]
fn an_unanswering_server_is_tried_a_bounded_number_of_times_then_failed() {
    let silent = support::dns::Silent::new();
    let cache = Arc::new(DnsCache::default());
    let resolver = DnsResolver::start(settings(silent.addr), Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.request([ip("203.0.113.7")]), 1);
    settle(&cache, &[ip("203.0.113.7")]);
    assert!(matches!(cache.get(ip("203.0.113.7")), Some(Lookup::Failed(_))), "{:?}", cache.get(ip("203.0.113.7")));
    assert_eq!(silent.queries(), 3, "three tries, then it gives up");
    assert_eq!(resolver.request([ip("203.0.113.7")]), 0, "not asked again by the same resolver");
    assert_eq!(silent.queries(), 3);
}

#[test]
fn a_query_lost_on_the_way_is_asked_again_and_answered() {
    let server = support::dns::start(&[("203.0.113.66", "irc.example.net")]);
    let link = support::dns::LossyLink::new(server.addr);
    let cache = Arc::new(DnsCache::default());
    let resolver = DnsResolver::start(settings(link.addr), Arc::clone(&cache), || {}).expect("start");
    resolver.request([ip("203.0.113.66")]);
    settle(&cache, &[ip("203.0.113.66")]);
    assert_eq!(cache.get(ip("203.0.113.66")), name("irc.example.net"), "a timeout is not \"no name\"");
    assert_eq!(link.queries(), 2);
    assert_eq!(server.queries(), 1);
}

#[test]
fn a_new_server_asks_again_what_the_previous_one_could_not_name() {
    let first = support::dns::start(&[("203.0.113.66", "irc.example.net")]);
    let second = support::dns::start(&[("198.51.100.20", "late.example.net"), ("203.0.113.66", "other.example.net")]);
    let silent = support::dns::Silent::new();
    let (named, unnamed, timed_out) = (ip("203.0.113.66"), ip("198.51.100.20"), ip("192.0.2.200"));
    let all = [named, unnamed, timed_out];
    let cache = Arc::new(DnsCache::default());

    let resolver = DnsResolver::start(settings(first.addr), Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.request([named, unnamed]), 2);
    settle(&cache, &all);
    drop(resolver);
    let once = ResolverSettings { attempts: 1, ..settings(silent.addr) };
    let resolver = DnsResolver::start(once, Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.forgotten(), Forgotten { no_name: 1, unanswered: 0 });
    assert_eq!(resolver.request([timed_out]), 1);
    settle(&cache, &all);
    assert!(matches!(cache.get(timed_out), Some(Lookup::Failed(_))));
    assert_eq!(silent.queries(), 1);
    drop(resolver);

    // Back to the first server: its "no name" was forgotten when the silent one came in, the
    // failure is forgotten on every start; both are asked again. The name stays.
    let resolver = DnsResolver::start(settings(first.addr), Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.forgotten(), Forgotten { no_name: 0, unanswered: 1 });
    assert_eq!(resolver.request(all), 2);
    settle(&cache, &all);
    assert_eq!(cache.get(named), name("irc.example.net"));
    assert_eq!(cache.get(unnamed), Some(Lookup::NoName));
    assert_eq!(cache.get(timed_out), Some(Lookup::NoName));
    assert_eq!(first.queries(), 4);
    assert_eq!(resolver.request(all), 0, "the same server is not asked twice");
    drop(resolver);

    // The same server once more: "no name" is kept.
    let resolver = DnsResolver::start(settings(first.addr), Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.forgotten(), Forgotten::default());
    assert_eq!(resolver.request(all), 0);
    drop(resolver);

    // A new server: both "no name" answers are asked again and one gets a name.
    let resolver = DnsResolver::start(settings(second.addr), Arc::clone(&cache), || {}).expect("start");
    assert_eq!(resolver.forgotten(), Forgotten { no_name: 2, unanswered: 0 });
    assert_eq!(resolver.request(all), 2);
    settle(&cache, &all);
    assert_eq!(cache.get(unnamed), name("late.example.net"));
    assert_eq!(cache.get(timed_out), Some(Lookup::NoName));
    assert_eq!(cache.get(named), name("irc.example.net"), "names are kept, not asked again");
    assert_eq!(second.queries(), 2);
    assert_eq!(first.queries(), 4);
}
