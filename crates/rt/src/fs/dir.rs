//! [`read_dir`]: `os.listdir` / `os.scandir` off the loop.

use std::ffi::{OsStr, OsString};
use std::fs::FileType;
use std::io;
use std::path::{Path, PathBuf};

use super::{blocking, PathError};

/// One entry of a directory listing, read on the pool thread with the listing itself.
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    file_type: FileType,
}

impl DirEntry {
    /// The entry's full path (the directory joined with the name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry's name, without the directory (what `os.listdir` returns).
    pub fn file_name(&self) -> &OsStr {
        &self.file_name
    }

    /// Whether it is a file, a directory or a symlink (not following the symlink), as
    /// `os.scandir`'s `is_file()`/`is_dir()` tell.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }
}

/// Lists a directory (`os.listdir`, or `os.scandir` for the types): every entry but `.` and
/// `..`, in the order the file system gives (unsorted, as in Python). The whole listing is
/// read in one trip to the pool thread, so a directory of a million entries makes a vector
/// of a million entries.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    blocking("read_dir", path.as_ref().to_owned(), |dir| {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let file_type =
                entry.file_type().map_err(|e| PathError::wrap("file_type", &path, e))?;
            entries.push(DirEntry { file_name: entry.file_name(), path, file_type });
        }
        Ok(entries)
    })
    .await
}
