//! Accept under file-descriptor exhaustion: errors reach the caller, the CPU does not spin.
//! In a test binary of its own, because it lowers the process's descriptor limit.

use std::time::{Duration, Instant};

use kairos_rt::net::{TcpListener, TcpStream};

#[test]
fn accept_under_emfile_backs_off_instead_of_spinning() {
    kairos_rt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Connections wait in the backlog, so accept has something to (fail to) take.
        let _clients: Vec<_> =
            (0..4).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();

        // Use up the descriptors: lower the limit to what is open now plus a few, fill them.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit write to / read from a valid rlimit we own.
        unsafe { assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0) };
        let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let lowered = libc::rlimit { rlim_cur: open_now + 8, rlim_max: limit.rlim_max };
        // SAFETY: as above.
        unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0) };
        let mut hoard = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hoard.push(f);
        }

        // A naive server loop: retry at once on every error. Count the attempts in 300 ms.
        let started = Instant::now();
        let mut errors = 0u32;
        while started.elapsed() < Duration::from_millis(300) {
            match listener.accept().await {
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    errors += 1;
                }
                Ok(_) => panic!("accept cannot succeed without a free descriptor"),
            }
        }
        // Back-off 5, 10, 20, 40, 80, 160 ms...: a handful of attempts, not millions.
        // A busy retry would make thousands; a loaded machine makes fewer, never more.
        assert!((1..=12).contains(&errors), "{errors} accept attempts in 300 ms");

        // Free descriptors: the listener recovers by itself.
        drop(hoard);
        // SAFETY: as above.
        unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0) };
        let (stream, _) = listener.accept().await.expect("accept works again");
        drop(stream);
        let _ = TcpStream::connect(addr).await.unwrap();
    });
}
