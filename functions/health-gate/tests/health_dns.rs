//! Finding AWS Health's active endpoint through a real DNS lookup, against a small DNS server on
//! 127.0.0.1 that answers as Route 53 does for `global.health.amazonaws.com`.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use health_gate::health::{DNS_TIMEOUT, active_region};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::{Message, MessageType, OpCode};
use hickory_resolver::proto::rr::rdata::{A, CNAME};
use hickory_resolver::proto::rr::{Name, RData, Record};

/// What the test DNS server answers to every query.
#[derive(Clone, Copy)]
enum Answer {
    Cname(&'static str),
    OnlyAddress,
    Silence,
}

/// A DNS server on a free 127.0.0.1 UDP port; stopped when the returned flag is set (or the
/// test process ends).
fn dns_server(answer: Answer) -> (u16, Arc<AtomicBool>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port on 127.0.0.1");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let port = socket.local_addr().expect("local address").port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stopped.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut response =
                Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            let Some(question) = query.queries.first().cloned() else {
                continue;
            };
            let name = question.name().clone();
            response.add_query(question);
            match answer {
                Answer::Silence => continue,
                Answer::Cname(target) => {
                    let target = Name::from_str(target).expect("a DNS name");
                    response.add_answer(Record::from_rdata(name, 10, RData::CNAME(CNAME(target))));
                }
                Answer::OnlyAddress => {
                    response.add_answer(Record::from_rdata(
                        name,
                        10,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
                    ));
                }
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    (port, stop)
}

fn resolver(port: u16) -> TokioResolver {
    let mut server = NameServerConfig::udp(IpAddr::V4(Ipv4Addr::LOCALHOST));
    for connection in &mut server.connections {
        connection.port = port;
    }
    let mut options = ResolverOpts::default();
    options.attempts = 1;
    options.cache_size = 0;
    TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .expect("a resolver")
}

#[tokio::test]
async fn the_cname_of_the_global_endpoint_names_the_active_region() {
    let (port, stop) = dns_server(Answer::Cname("health.us-east-2.amazonaws.com."));
    assert_eq!(
        active_region(&resolver(port)).await.as_deref(),
        Some("us-east-2")
    );
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test]
async fn an_answer_without_a_cname_names_no_region() {
    let (port, stop) = dns_server(Answer::OnlyAddress);
    assert_eq!(active_region(&resolver(port)).await, None);
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test]
async fn a_dns_server_that_never_answers_gives_up_after_the_short_timeout() {
    let (port, stop) = dns_server(Answer::Silence);
    let started = Instant::now();
    assert_eq!(active_region(&resolver(port)).await, None);
    let took = started.elapsed();
    assert!(
        took <= DNS_TIMEOUT + Duration::from_millis(500),
        "took {took:?}"
    );
    stop.store(true, Ordering::Relaxed);
}
