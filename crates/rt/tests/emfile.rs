//! Accept under file-descriptor exhaustion: errors reach the caller, the CPU does not spin —
//! on a TCP listener and on a Unix one, which share the back-off.
//! In a test binary of its own, because it lowers the process's descriptor limit.

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use kairos_rt::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Calls `accept` back to back for 300 ms, as a naive server loop would (retrying at once
/// on every error), and returns how many times it failed; every failure must be EMFILE.
async fn failed_accepts<F, Fut>(accept: F) -> u32
where
    F: Fn() -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let started = Instant::now();
    let mut errors = 0u32;
    while started.elapsed() < Duration::from_millis(300) {
        match accept().await {
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                errors += 1;
            }
            Ok(()) => panic!("accept cannot succeed without a free descriptor"),
        }
    }
    errors
}

#[test]
fn accept_under_emfile_backs_off_instead_of_spinning() {
    kairos_rt::run(async {
        let tcp = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = tcp.local_addr().unwrap();
        let path = std::env::temp_dir().join(format!("kairos-emfile-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = UnixListener::bind(&path).unwrap();
        // Connections wait in the backlogs, so accept has something to (fail to) take.
        let _tcp_clients: Vec<_> =
            (0..4).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        let _unix_clients: Vec<_> =
            (0..4).map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap()).collect();

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

        // Back-off 5, 10, 20, 40, 80, 160 ms...: a handful of attempts in 300 ms, not
        // millions. A busy retry would make thousands; a loaded machine makes fewer, never more.
        let tcp_errors = failed_accepts(|| async { tcp.accept().await.map(drop) }).await;
        assert!((1..=12).contains(&tcp_errors), "{tcp_errors} TCP accept attempts in 300 ms");
        let unix_errors = failed_accepts(|| async { unix.accept().await.map(drop) }).await;
        assert!((1..=12).contains(&unix_errors), "{unix_errors} Unix accept attempts in 300 ms");

        // Free descriptors: the listeners recover by themselves.
        drop(hoard);
        // SAFETY: as above.
        unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0) };
        let (stream, _) = tcp.accept().await.expect("TCP accept works again");
        drop(stream);
        let _ = TcpStream::connect(addr).await.unwrap();
        drop(unix.accept().await.expect("Unix accept works again"));
        let _ = UnixStream::connect(&path).await.unwrap();
        let _ = std::fs::remove_file(&path);
    });
}
