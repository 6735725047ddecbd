//! A DNS server on loopback for tests: answers PTR queries from a fixed table, NXDOMAIN for
//! everything else, and counts the queries it saw. Tests never use the machine's resolver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::PTR;
use hickory_resolver::proto::rr::{Name, RData, Record};

pub struct TestDns {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the server on 127.0.0.1 (a free port); it stops when the handle is dropped.
pub fn start(names: &[(&str, &str)]) -> TestDns {
    let table: HashMap<Name, Name> = names
        .iter()
        .map(|(ip, host)| {
            let ip: IpAddr = ip.parse().expect("test ip");
            (Name::from(ip), Name::from_ascii(format!("{host}.")).expect("test host name"))
        })
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    socket.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let queries = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (q, s) = (Arc::clone(&queries), Arc::clone(&stop));
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        // Bounded: a test server never outlives a minute.
        for _ in 0..1200 {
            if s.load(Ordering::Relaxed) {
                return;
            }
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            q.fetch_add(1, Ordering::Relaxed);
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            for query in &request.queries {
                response.add_query(query.clone());
                match table.get(query.name()) {
                    Some(host) => {
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::PTR(PTR(host.clone())),
                        ));
                    }
                    None => response.metadata.response_code = ResponseCode::NXDomain,
                }
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    TestDns { addr, queries, stop }
}
