//! Async files (the `aiofiles` row): whole-file helpers, directory listings, a file handle
//! with async read/write/seek — and errors that name their path and keep their kind.

use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};

use kairos_rt::fs::{self, AsyncSeekExt, File, OpenOptions, PathError};
use kairos_rt::io::{AsyncReadExt, AsyncWriteExt};

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kairos-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn write_append_read_round_trip() {
    let dir = Scratch::new("round-trip");
    let path = dir.join("log.txt");
    kairos_rt::run(async {
        fs::write(&path, "one\n").await.unwrap();
        fs::append(&path, b"two\n").await.unwrap();
        fs::append(dir.join("new.txt"), "created by append").await.unwrap();
        assert_eq!(fs::read_to_string(&path).await.unwrap(), "one\ntwo\n");
        assert_eq!(fs::read(dir.join("new.txt")).await.unwrap(), b"created by append");

        let meta = fs::metadata(&path).await.unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.len(), 8);
        assert!(fs::try_exists(&path).await.unwrap());

        fs::copy(&path, dir.join("copy.txt")).await.unwrap();
        fs::rename(dir.join("copy.txt"), dir.join("moved.txt")).await.unwrap();
        assert_eq!(fs::read(dir.join("moved.txt")).await.unwrap(), b"one\ntwo\n");
        fs::remove_file(dir.join("moved.txt")).await.unwrap();
        assert!(!fs::try_exists(dir.join("moved.txt")).await.unwrap());
    });
}

#[test]
fn a_directory_listing_has_names_and_types() {
    let dir = Scratch::new("listing");
    kairos_rt::run(async {
        fs::create_dir_all(dir.join("sub/deeper")).await.unwrap();
        fs::write(dir.join("a.txt"), "a").await.unwrap();
        fs::write(dir.join("b.txt"), "b").await.unwrap();
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        entries.sort_by(|x, y| x.file_name().cmp(y.file_name()));
        let listed: Vec<_> = entries
            .iter()
            .map(|e| (e.file_name().to_str().unwrap().to_owned(), e.file_type().is_dir()))
            .collect();
        assert_eq!(
            listed,
            [("a.txt".to_owned(), false), ("b.txt".to_owned(), false), ("sub".to_owned(), true)]
        );
        assert_eq!(entries[2].path(), dir.join("sub"));
    });
}

#[test]
fn a_file_handle_reads_writes_and_seeks() {
    let dir = Scratch::new("handle");
    let path = dir.join("data.bin");
    kairos_rt::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"0123456789").await.unwrap();
        file.close().await.unwrap();

        let mut file = OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        let mut head = [0u8; 4];
        file.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"0123");
        // A write goes where the reader stopped.
        file.write_all(b"ab").await.unwrap();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = String::new();
        file.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "0123ab6789");
        assert_eq!(file.metadata().await.unwrap().len(), 10);
        file.set_len(3).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"012");

        let mut appender = OpenOptions::new().append(true).open(&path).await.unwrap();
        appender.write_all(b"+tail").await.unwrap();
        appender.sync_all().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"012+tail");
        assert_eq!(appender.path(), path);
    });
}

#[test]
fn a_megabyte_file_reads_back_whole() {
    let dir = Scratch::new("big");
    let path = dir.join("big.bin");
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    kairos_rt::run(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(&data).await.unwrap(); // more than one 1 MiB trip
        file.close().await.unwrap();
        let mut back = Vec::new();
        File::open(&path).await.unwrap().read_to_end(&mut back).await.unwrap();
        assert!(back == data, "3 MiB came back intact");
    });
}

/// The detail inside an error from this module.
fn detail(err: &std::io::Error) -> &PathError {
    err.get_ref().and_then(|e| e.downcast_ref::<PathError>()).expect("a PathError inside")
}

#[test]
fn a_missing_file_is_not_found_and_the_message_names_it() {
    kairos_rt::run(async {
        let err = File::open("/nope/missing.txt").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "open /nope/missing.txt: No such file or directory (os error 2)"
        );
        assert_eq!(detail(&err).path(), Path::new("/nope/missing.txt"));
        assert_eq!(detail(&err).os_error().raw_os_error(), Some(libc::ENOENT));

        let err = fs::read_to_string("/nope/missing.txt").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().starts_with("read /nope/missing.txt: "), "{err}");
        let err = fs::read_dir("/nope").await.unwrap_err();
        assert!(err.to_string().starts_with("read_dir /nope: "), "{err}");
    });
}

#[test]
fn permission_denied_is_its_own_kind_and_names_the_path() {
    // These tests run as root, which may write to any ordinary file, so "permission denied"
    // needs a place even root cannot write: a read-only sysctl (mode 0444 under /proc/sys,
    // where the kernel checks the owner bits for root too).
    let read_only = "/proc/sys/kernel/osrelease";
    kairos_rt::run(async {
        let err = fs::write(read_only, "6.6.6").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().starts_with("write /proc/sys/kernel/osrelease: Permission denied"));
        assert_eq!(detail(&err).op(), "write");
    });
}

#[test]
fn a_directory_read_as_a_file_is_a_clear_error() {
    let dir = Scratch::new("is-a-dir");
    kairos_rt::run(async {
        let err = fs::read(&dir.0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory);
        assert!(err.to_string().contains("Is a directory"), "{err}");
        assert!(err.to_string().contains(&dir.0.display().to_string()), "{err}");
    });
}
