//! Download against a local HTTP server on 127.0.0.1 that serves a good file, a
//! truncated one and a bit-flipped one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fashion_data::Error;
use fashion_data::{DownloadOptions, Release, sha256_hex};

/// How the server answers a path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Full(Vec<u8>),
    /// 200 announcing the whole length but closing after `cut` bytes.
    Truncated(Vec<u8>, usize),
}

/// Serves `routes` on an ephemeral loopback port until the test process ends;
/// unknown paths get 404. Returns the base URL.
fn serve(routes: HashMap<String, Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                let (body, cut) = match routes.get(&path) {
                    Some(Reply::Full(b)) => (b.clone(), b.len()),
                    Some(Reply::Truncated(b, cut)) => (b.clone(), *cut),
                    None => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[..cut]);
                let _ = stream.flush();
            });
        }
    });
    base
}

fn fast_options(mirrors: &[String]) -> DownloadOptions {
    DownloadOptions {
        mirrors: mirrors.to_vec(),
        attempts_per_mirror: 2,
        retry_delay: Duration::from_millis(10),
        read_timeout: Duration::from_secs(10),
        ..DownloadOptions::default()
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn payload() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn routes(name: &str, good: &[u8]) -> HashMap<String, Reply> {
    let mut flipped = good.to_vec();
    flipped[12_345] ^= 0x04;
    HashMap::from([
        (format!("/good/{name}"), Reply::Full(good.to_vec())),
        (format!("/flip/{name}"), Reply::Full(flipped)),
        (
            format!("/trunc/{name}"),
            Reply::Truncated(good.to_vec(), good.len() / 3),
        ),
    ])
}

#[test]
fn good_file_is_accepted_and_renamed_into_place() {
    let good = payload();
    let base = serve(routes("x.gz", &good));
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let path = fashion_data::download::download_file(
        dir.path(),
        "x.gz",
        &sha256_hex(&good),
        &fast_options(&[format!("{base}/good/")]),
        &mut |p| seen = p.received,
    )
    .unwrap();
    assert_eq!(path, dir.path().join("x.gz"));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(seen, good.len() as u64);
    assert_eq!(entries(dir.path()), vec!["x.gz"]);
}

#[test]
fn bit_flipped_file_is_refused_and_nothing_is_left() {
    let good = payload();
    let base = serve(routes("x.gz", &good));
    let dir = tempfile::tempdir().unwrap();
    let err = fashion_data::download::download_file(
        dir.path(),
        "x.gz",
        &sha256_hex(&good),
        &fast_options(&[format!("{base}/flip")]),
        &mut |_| {},
    )
    .unwrap_err();
    match &err {
        Error::ChecksumMismatch {
            file,
            expected,
            actual,
        } => {
            assert!(
                file.contains("x.gz") && file.contains("/flip/x.gz"),
                "{file}"
            );
            assert_eq!(expected, &sha256_hex(&good));
            assert_ne!(actual, expected);
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected ChecksumMismatch, got {other}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn truncated_file_is_refused_after_retries_and_nothing_is_left() {
    let good = payload();
    let base = serve(routes("x.gz", &good));
    let dir = tempfile::tempdir().unwrap();
    let err = fashion_data::download::download_file(
        dir.path(),
        "x.gz",
        &sha256_hex(&good),
        &fast_options(&[format!("{base}/trunc")]),
        &mut |_| {},
    )
    .unwrap_err();
    match &err {
        Error::Download { file, attempts } => {
            assert_eq!(file, "x.gz");
            assert!(
                attempts.contains("attempt 1") && attempts.contains("attempt 2"),
                "{attempts}"
            );
        }
        other => panic!("expected Download error, got {other}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn mirrors_are_tried_in_order_until_one_verifies() {
    let good = payload();
    let base = serve(routes("x.gz", &good));
    let dir = tempfile::tempdir().unwrap();
    // An existing wrong file is replaced only by a verified one.
    std::fs::write(dir.path().join("x.gz"), b"stale").unwrap();
    let mirrors = [
        format!("{base}/missing"),
        format!("{base}/flip"),
        format!("{base}/trunc"),
        format!("{base}/good"),
    ];
    let path = fashion_data::download::download_file(
        dir.path(),
        "x.gz",
        &sha256_hex(&good),
        &fast_options(&mirrors),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), good);
    assert_eq!(entries(dir.path()), vec!["x.gz"]);
}

#[test]
fn bad_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = fashion_data::download::download_file(
        dir.path(),
        "x.gz",
        "00",
        &fast_options(&["ftp://example".to_string()]),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("`mirrors`"), "{err}");
    let opts = DownloadOptions::default().with_mirror_list(" http://a/ , ,http://b ");
    assert_eq!(opts.mirrors, vec!["http://a/", "http://b"]);
}

/// Serves the real files from FASHION_MNIST_DIR and lets `download_missing` fetch,
/// verify and load all four, recognising their release.
#[test]
fn download_missing_fetches_a_whole_verified_release() {
    let src = std::env::var("FASHION_MNIST_DIR").expect(
        "FASHION_MNIST_DIR must name a directory holding the Fashion-MNIST .gz files \
         (CI sets it; `make test` downloads them first)",
    );
    let mut map = HashMap::new();
    for f in fashion_data::DataFile::ALL {
        let bytes = std::fs::read(Path::new(&src).join(f.file_name()))
            .unwrap_or_else(|e| panic!("{src}/{f}: {e}"));
        map.insert(format!("/real/{}", f.file_name()), Reply::Full(bytes));
    }
    let base = serve(map);
    let found = fashion_data::FashionMnist::load(&src)
        .unwrap()
        .release
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cache");
    let options = DownloadOptions {
        release: found,
        ..fast_options(&[format!("{base}/real/")])
    };
    let written = fashion_data::download_missing(&target, &options, &mut |_| {}).unwrap();
    assert_eq!(written.len(), 4);
    let data = fashion_data::FashionMnist::load(&target).unwrap();
    assert_eq!(data.release, Some(found));
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    // Nothing left to do the second time.
    assert!(
        fashion_data::download_missing(&target, &options, &mut |_| {})
            .unwrap()
            .is_empty()
    );
    // Asking the server for the other release's files is refused by checksum.
    let other = if found == Release::Current {
        Release::Release20170826
    } else {
        Release::Current
    };
    let fresh = dir.path().join("fresh");
    let err = fashion_data::download_missing(
        &fresh,
        &DownloadOptions {
            release: other,
            ..options.clone()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert!(entries(&fresh).is_empty());
}
