//! Specs for `kairos_rt::io::Async`: any file descriptor on the loop's reactor.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use kairos_rt::io::{Async, AsyncReadExt, AsyncWriteExt};

#[test]
fn a_read_waits_for_data_without_blocking_the_loop() {
    kairos_rt::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Async::new(a).unwrap();
        let writer = kairos_rt::spawn(async move {
            // The reader is suspended meanwhile, so this task gets to run.
            kairos_rt::sleep(Duration::from_millis(20)).await;
            let mut b = b;
            b.write_all(b"hello").unwrap();
            b
        });
        let mut buf = [0u8; 5];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        drop(writer.await.unwrap());
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "end of file once the peer is closed");
    });
}

#[test]
fn readiness_is_kept_until_an_operation_would_block() {
    kairos_rt::run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        b.write_all(b"xy").unwrap();
        a.readable().await.unwrap();
        a.readable().await.unwrap(); // nothing was read: still readable
        let mut one = [0u8; 1];
        assert_eq!(a.read_with(|mut s| s.read(&mut one)).await.unwrap(), 1);
        assert_eq!(a.read_with(|mut s| s.read(&mut one)).await.unwrap(), 1);
        assert_eq!(&one, b"y");

        // Drained: a raw read would block; after clearing, readable() waits for new data.
        assert_eq!(a.get_ref().read(&mut one).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        a.clear_readable();
        let waited = kairos_rt::timeout(Duration::from_millis(30), a.readable()).await;
        assert!(waited.is_err(), "no new edge, so readable() waits");
        b.write_all(b"z").unwrap();
        a.readable().await.unwrap();
        assert_eq!(a.read_with(|mut s| s.read(&mut one)).await.unwrap(), 1);
        assert_eq!(&one, b"z");
    });
}

#[test]
fn a_full_pipe_makes_the_writer_wait_for_the_reader() {
    kairos_rt::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Async::new(a).unwrap();
        let mut b = Async::new(b).unwrap();
        let payload = vec![7u8; 4 << 20]; // far more than a socket buffer holds
        let len = payload.len();
        let writer = kairos_rt::spawn(async move {
            a.write_all(&payload).await.unwrap();
            a.flush().await.unwrap();
        });
        let mut got = vec![0u8; len];
        b.read_exact(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got.iter().all(|&byte| byte == 7));
    });
}

#[test]
fn registration_follows_the_value() {
    kairos_rt::run(async {
        let before = kairos_rt::stats().io_sources;
        let (a, b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let b = Async::new(b).unwrap();
        assert_eq!(kairos_rt::stats().io_sources, before + 2);
        drop(a);
        assert_eq!(kairos_rt::stats().io_sources, before + 1);
        let mut b = b.into_inner();
        assert_eq!(kairos_rt::stats().io_sources, before, "into_inner deregisters");
        // The descriptor stays open and non-blocking: the closed peer reads as end of file.
        assert_eq!(b.read(&mut [0u8; 1]).unwrap(), 0);
    });
}

#[test]
fn outside_a_loop_it_is_an_error_not_a_panic() {
    let (a, _b) = UnixStream::pair().unwrap();
    let err = Async::new(a).unwrap_err();
    assert!(err.to_string().contains("need a running event loop"), "{err}");
}

#[test]
fn try_current_tells_whether_a_loop_runs_here() {
    assert!(kairos_rt::Handle::try_current().is_none());
    let id = kairos_rt::run(async { kairos_rt::Handle::try_current().map(|h| h.loop_id()) });
    assert!(id.is_some());
}
