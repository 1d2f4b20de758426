//! The `fashion data …` commands, run as a user would.

use std::process::Command;

fn fashion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashion"))
}

fn real_dir() -> String {
    std::env::var("FASHION_MNIST_DIR").expect(
        "FASHION_MNIST_DIR must name a directory holding the Fashion-MNIST .gz files \
         (CI sets it; `make test` downloads them first)",
    )
}

#[test]
fn verify_prints_checksums_release_and_counts() {
    let out = fashion()
        .args(["data", "verify", "--dir", &real_dir()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    for (line, name) in lines.iter().zip([
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]) {
        let sha = line.split_whitespace().next().unwrap();
        assert_eq!(sha.len(), 64, "{line}");
        assert!(line.contains(name) && line.contains("release "), "{line}");
    }
    assert!(lines[4].starts_with("release: "), "{stdout}");
    assert!(lines
        .iter()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Shirt", "6000", "1000"]));
    assert!(lines
        .iter()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["all", "60000", "10000"]));
}

#[test]
fn verify_fails_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = fashion()
        .args(["data", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("train-images-idx3-ubyte.gz") && stderr.contains("missing data file"),
        "{stderr}"
    );

    // A file with an unknown checksum is refused, and accepted only when asked.
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(
            std::path::Path::new(&real_dir()).join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&labels).unwrap();
    let n = bytes.len();
    bytes[n - 12] ^= 0x01; // inside the deflate stream: breaks the checksum (and the CRC)
    std::fs::write(&labels, &bytes).unwrap();
    let out = fashion()
        .args(["data", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t10k-labels-idx1-ubyte.gz") && stderr.contains("unknown file"),
        "{stderr}"
    );
}

#[test]
fn dir_honours_the_environment() {
    let out = fashion()
        .args(["data", "dir"])
        .env("FASHION_MNIST_DIR", "/some/where")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/some/where");
}

#[test]
fn download_reports_unreachable_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let out = fashion()
        .args([
            "data",
            "download",
            "--quiet",
            "--mirror",
            "http://127.0.0.1:9/",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed on every mirror") && stderr.contains("attempt 3"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
