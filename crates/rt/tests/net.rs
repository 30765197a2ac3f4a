//! Sockets over loopback: TCP echo, vectored writes, shutdown, refused connects, UDP.

use std::io::IoSlice;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};
use kairos_rt::net::{TcpListener, TcpStream, UdpSocket};
use kairos_rt::{spawn, timeout};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn tcp_echo_round_trip_with_many_clients() {
    kairos_rt::run(async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            for _ in 0..20 {
                let (mut conn, _) = listener.accept().await.unwrap();
                spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = conn.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        conn.write_all(&buf[..n]).await.unwrap();
                    }
                })
                .detach();
            }
        });
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                spawn(async move {
                    let s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    // Larger than a socket buffer, so both sides must wait on readiness.
                    let payload = vec![i; 512 * 1024];
                    let mut echoed = vec![0u8; payload.len()];
                    let (mut r, mut w) = futures::io::AsyncReadExt::split(s);
                    let send = async {
                        w.write_all(&payload).await.unwrap();
                        w.close().await.unwrap();
                    };
                    let recv = async { r.read_exact(&mut echoed).await.unwrap() };
                    kairos_sync::gather!(send, recv).await;
                    assert!(echoed.iter().all(|&b| b == i));
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}

#[test]
fn vectored_writes_and_half_close() {
    kairos_rt::run(async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let parts = [IoSlice::new(b"hello, "), IoSlice::new(b"world")];
            let n = s.write_vectored(&parts).await.unwrap();
            assert_eq!(n, 12);
            s.shutdown(Shutdown::Write).unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).await.unwrap();
            reply
        });
        let (mut conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), addr.ip());
        let mut got = String::new();
        conn.read_to_string(&mut got).await.unwrap(); // ends at the client's half-close
        assert_eq!(got, "hello, world");
        conn.write_all(b"bye").await.unwrap();
        drop(conn);
        assert_eq!(client.await.unwrap(), "bye");
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    kairos_rt::run(async {
        // Bind and drop to find a port nobody listens on.
        let addr = std::net::TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
        let result = timeout(Duration::from_secs(5), TcpStream::connect(addr)).await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn sockets_deregister_when_dropped() {
    kairos_rt::run(async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert_eq!(kairos_rt::stats().io_sources, 3);
        drop((stream, accepted, listener));
        assert_eq!(kairos_rt::stats().io_sources, 0);
    });
}

#[test]
fn udp_round_trip() {
    kairos_rt::run(async {
        let a = UdpSocket::bind(loopback()).unwrap();
        let b = UdpSocket::bind(loopback()).unwrap();
        let b_addr = b.local_addr().unwrap();
        let echo = spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            b.send_to(&buf[..n], from).await.unwrap();
        });
        a.connect(b_addr).unwrap();
        a.send(b"datagram").await.unwrap();
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"datagram");
        echo.await.unwrap();
    });
}

#[test]
fn several_tasks_can_wait_on_one_socket() {
    // Two receivers share one socket: an edge must wake both, not only the last to poll.
    kairos_rt::run(async {
        let socket = std::rc::Rc::new(UdpSocket::bind(loopback()).unwrap());
        let addr = socket.local_addr().unwrap();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let socket = std::rc::Rc::clone(&socket);
                spawn(async move {
                    let mut buf = [0u8; 16];
                    socket.recv_from(&mut buf).await.unwrap().0
                })
            })
            .collect();
        kairos_rt::yield_now().await; // both are parked on the socket now
        let sender = UdpSocket::bind(loopback()).unwrap();
        sender.send_to(b"one", addr).await.unwrap();
        sender.send_to(b"two", addr).await.unwrap();
        for r in receivers {
            let n = timeout(Duration::from_secs(5), r).await.expect("both receivers woke").unwrap();
            assert_eq!(n, 3);
        }
    });
}
