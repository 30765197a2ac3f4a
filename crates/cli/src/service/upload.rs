//! `POST /upload`: the index page's upload form (FastAPI's `UploadFile`). The file arrives as
//! an [`UploadFile`] — in memory up to 1 MiB, spooled to a temporary file past it, so a large
//! upload never sits in memory — and the answer says how big it was and its SHA-256, hashed on
//! a pool thread: hashing 16 MB takes tens of milliseconds of CPU, which the loop must not spend.

use std::io::Read;

use kairos::web::{FormData, HttpError, Json};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What `POST /upload` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Uploaded {
    /// The file's name, as the browser sent it.
    filename: Option<String>,
    /// Its type, as the browser sent it.
    content_type: Option<String>,
    /// Its size in bytes.
    size: u64,
    /// Its SHA-256, in hex.
    sha256: String,
    /// Whether it was spooled to a temporary file (past 1 MiB) rather than kept in memory.
    spooled_to_disk: bool,
}

/// Receives the form's `file` field and reports its size and SHA-256.
pub(crate) async fn upload(mut form: FormData) -> Result<Json<Uploaded>, HttpError> {
    let file = form.take_file("file")?;
    let digest = match file.path() {
        Some(path) => {
            let path = path.to_owned();
            // `file` stays alive (its temporary file with it) until the hash is done.
            kairos::rt::to_thread(move || hash_file(&path)).await
        }
        None => {
            let bytes = file.bytes().await.map_err(read_failed)?;
            kairos::rt::to_thread(move || Ok(Sha256::digest(&bytes).to_vec())).await
        }
    };
    let digest =
        digest.map_err(|error| read_failed(std::io::Error::other(error)))?.map_err(read_failed)?;
    Ok(Json(Uploaded {
        filename: file.filename().map(str::to_owned),
        content_type: file.content_type().map(str::to_owned),
        size: file.size(),
        sha256: digest.iter().map(|byte| format!("{byte:02x}")).collect(),
        spooled_to_disk: !file.is_in_memory(),
    }))
}

fn hash_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hasher.finalize().to_vec()),
            n => hasher.update(&buffer[..n]),
        }
    }
}

fn read_failed(error: std::io::Error) -> HttpError {
    tracing::error!(target: "kairos::serve", "reading an upload back failed: {error}");
    HttpError::internal()
}
