//! Downloading the data set from the official mirrors, verified by SHA-256.
//!
//! Each file is streamed into a temporary file inside the target directory while its
//! SHA-256 is computed; only a file whose checksum matches is renamed to its final
//! name. A refused or interrupted download leaves nothing behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::release::{DataFile, KNOWN_RELEASES, Release, hex, identify};
use super::{locate, sha256_file};
use crate::error::{Error, ParamError, Result};

/// The official download locations of the current release, tried in order.
pub const OFFICIAL_MIRRORS: [&str; 3] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

/// Environment variable overriding the mirror list (one base URL, or several
/// separated by commas); the file name is appended to each.
pub const MIRROR_ENV: &str = "FASHION_MNIST_MIRROR";

/// Options of [`download_missing`] and [`download_file`].
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Base URLs tried in order; the file name is appended.
    pub mirrors: Vec<String>,
    /// The release to fetch when the directory holds none of its files yet.
    /// When it already holds files of a known release, that release is completed.
    pub release: Release,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Longest wait for any single read (a stalled transfer fails after this).
    pub read_timeout: Duration,
    /// Attempts per mirror for network errors (a checksum mismatch moves on at once).
    pub attempts_per_mirror: u32,
    /// Pause before a retry; doubled after each failed attempt on the same mirror.
    pub retry_delay: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            mirrors: OFFICIAL_MIRRORS.iter().map(|s| s.to_string()).collect(),
            release: Release::Current,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            attempts_per_mirror: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

impl DownloadOptions {
    /// Defaults, with the mirrors taken from `FASHION_MNIST_MIRROR` when it is set.
    pub fn from_env() -> Self {
        let mut opts = Self::default();
        if let Ok(m) = std::env::var(MIRROR_ENV) {
            opts = opts.with_mirror_list(&m);
        }
        opts
    }

    /// Replaces the mirrors by a comma-separated list of base URLs (empty entries ignored).
    pub fn with_mirror_list(mut self, list: &str) -> Self {
        let mirrors: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if !mirrors.is_empty() {
            self.mirrors = mirrors;
        }
        self
    }

    /// Checks the options.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.mirrors.is_empty() {
            return Err(ParamError::new("mirrors", "at least one base URL", "none"));
        }
        if let Some(m) = self
            .mirrors
            .iter()
            .find(|m| !(m.starts_with("http://") || m.starts_with("https://")))
        {
            return Err(ParamError::new("mirrors", "http:// or https:// URLs", m));
        }
        if self.attempts_per_mirror == 0 {
            return Err(ParamError::new("attempts_per_mirror", "at least 1", 0));
        }
        Ok(())
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_per_read(Some(self.read_timeout))
            .user_agent(concat!("fashion/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }
}

/// DownloadProgress of one download, reported as bytes arrive.
#[derive(Debug, Clone, Copy)]
pub struct DownloadProgress<'a> {
    /// The file name.
    pub file: &'a str,
    /// The URL being fetched.
    pub url: &'a str,
    /// Bytes received so far in this attempt.
    pub received: u64,
    /// Total size if the server announced it.
    pub total: Option<u64>,
}

/// Downloads every file of the data set that `dir` does not hold yet (creating
/// `dir` if needed) and returns the paths written. Files already present are left
/// alone (loading verifies them). Missing files are fetched for the release the
/// present files belong to, else for `options.release`.
pub fn download_missing(
    dir: &Path,
    options: &DownloadOptions,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Vec<PathBuf>> {
    options.check()?;
    let mut present_release = None;
    let mut missing = Vec::new();
    for file in DataFile::ALL {
        match locate(dir, file) {
            Ok(path) => {
                if present_release.is_none() {
                    present_release = identify(file, &sha256_file(&path)?, &KNOWN_RELEASES);
                }
            }
            Err(Error::MissingFile { .. }) => missing.push(file),
            Err(e) => return Err(e),
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let release = present_release.unwrap_or(options.release);
    let info = KNOWN_RELEASES
        .iter()
        .find(|r| r.release == release)
        .expect("every Release is in KNOWN_RELEASES");
    let agent = options.agent();
    let mut written = Vec::new();
    for file in missing {
        written.push(fetch(
            &agent,
            options,
            dir,
            file.file_name(),
            info.sha256[file.index()],
            progress,
        )?);
    }
    Ok(written)
}

/// Downloads `file_name` from the first mirror that serves it with SHA-256
/// `expected_sha256`, into `dir/file_name`. An existing file of that name is replaced
/// only by a verified one.
pub fn download_file(
    dir: &Path,
    file_name: &str,
    expected_sha256: &str,
    options: &DownloadOptions,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<PathBuf> {
    options.check()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    fetch(
        &options.agent(),
        options,
        dir,
        file_name,
        expected_sha256,
        progress,
    )
}

fn fetch(
    agent: &ureq::Agent,
    options: &DownloadOptions,
    dir: &Path,
    file_name: &str,
    expected: &str,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<PathBuf> {
    let dest = dir.join(file_name);
    let mut attempts = Vec::new();
    let mut mismatch = None;
    for mirror in &options.mirrors {
        let url = format!("{}/{}", mirror.trim_end_matches('/'), file_name);
        let mut delay = options.retry_delay;
        for attempt in 1..=options.attempts_per_mirror {
            match fetch_once(agent, &url, dir, file_name, expected, progress) {
                Ok(tmp) => {
                    tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
                    return Ok(dest);
                }
                Err(Failure::Local(e)) => return Err(e),
                Err(Failure::Mismatch(e)) => {
                    attempts.push(format!("{url}: {e}"));
                    mismatch.get_or_insert(e);
                    break;
                }
                Err(Failure::Network(reason)) => {
                    attempts.push(format!("{url} (attempt {attempt}): {reason}"));
                    if attempt < options.attempts_per_mirror {
                        std::thread::sleep(delay);
                        delay *= 2;
                    }
                }
            }
        }
    }
    Err(mismatch.unwrap_or(Error::Download {
        file: file_name.to_string(),
        attempts: attempts.join("\n  "),
    }))
}

/// Why one attempt failed.
enum Failure {
    /// Network trouble: worth retrying.
    Network(String),
    /// The server sent other bytes than expected: try the next mirror.
    Mismatch(Error),
    /// Writing locally failed: retrying will not help.
    Local(Error),
}

/// One attempt: stream into a temporary file in `dir`, hashing as it goes. The
/// temporary file is deleted on drop, so every error path leaves nothing behind.
fn fetch_once(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file_name: &str,
    expected: &str,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<tempfile::NamedTempFile, Failure> {
    let net = |e: &dyn std::fmt::Display| Failure::Network(e.to_string());
    let local = |path: &Path, e: std::io::Error| Failure::Local(Error::io(path, e));
    let response = agent.get(url).call().map_err(|e| net(&e))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.into_body().into_reader();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| local(dir, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = body.read(&mut buf).map_err(|e| net(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(|e| local(tmp.path(), e))?;
        received += n as u64;
        progress(&DownloadProgress {
            file: file_name,
            url,
            received,
            total,
        });
    }
    if let Some(total) = total
        && received != total
    {
        return Err(net(&format!(
            "connection closed after {received} of {total} bytes"
        )));
    }
    let actual = hex(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(Failure::Mismatch(Error::ChecksumMismatch {
            file: format!("{file_name} (from {url})"),
            expected: expected.to_string(),
            actual,
        }));
    }
    tmp.as_file().sync_all().map_err(|e| local(tmp.path(), e))?;
    Ok(tmp)
}
