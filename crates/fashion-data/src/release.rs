//! The known Fashion-MNIST releases and their SHA-256 checksums.

use std::fmt;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One of the four files of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFile {
    /// `train-images-idx3-ubyte.gz`
    TrainImages,
    /// `train-labels-idx1-ubyte.gz`
    TrainLabels,
    /// `t10k-images-idx3-ubyte.gz`
    TestImages,
    /// `t10k-labels-idx1-ubyte.gz`
    TestLabels,
}

impl DataFile {
    /// All four files, in the order they are listed and downloaded.
    pub const ALL: [DataFile; 4] = [
        DataFile::TrainImages,
        DataFile::TrainLabels,
        DataFile::TestImages,
        DataFile::TestLabels,
    ];

    /// The file name as published (gzip-compressed).
    pub fn file_name(self) -> &'static str {
        match self {
            DataFile::TrainImages => "train-images-idx3-ubyte.gz",
            DataFile::TrainLabels => "train-labels-idx1-ubyte.gz",
            DataFile::TestImages => "t10k-images-idx3-ubyte.gz",
            DataFile::TestLabels => "t10k-labels-idx1-ubyte.gz",
        }
    }

    /// Index of this file in [`DataFile::ALL`] and in a [`ReleaseInfo`] table.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DataFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// A published release of Fashion-MNIST, recognised by the checksums of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Release {
    /// The current release (2017-08-31, duplicates removed), served by the official mirrors.
    Current,
    /// The 2017-08-26 release ("shuffling the dataset"), also the content of the Kaggle CSVs.
    Release20170826,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Release::Current => "current (2017-08-31)",
            Release::Release20170826 => "2017-08-26",
        })
    }
}

/// The checksums of one release's four files, in [`DataFile::ALL`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// Which release.
    pub release: Release,
    /// SHA-256 (lower-case hex) of each file as published (gzip).
    pub sha256: [&'static str; 4],
}

/// The releases this crate recognises.
pub const KNOWN_RELEASES: [ReleaseInfo; 2] = [
    ReleaseInfo {
        release: Release::Current,
        sha256: [
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ],
    },
    ReleaseInfo {
        release: Release::Release20170826,
        sha256: [
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        ],
    },
];

/// Which release a file with this checksum belongs to, if any.
pub fn identify(file: DataFile, sha256: &str, releases: &[ReleaseInfo]) -> Option<Release> {
    releases
        .iter()
        .find(|r| r.sha256[file.index()].eq_ignore_ascii_case(sha256))
        .map(|r| r.release)
}

/// Describes the known checksums of `file`, for error messages.
pub(crate) fn describe_known(file: DataFile, releases: &[ReleaseInfo]) -> String {
    releases
        .iter()
        .map(|r| format!("{} ({})", r.sha256[file.index()], r.release))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower-case hex SHA-256 of a byte slice.
///
/// ```
/// assert_eq!(
///     fashion_data::sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_each_release_and_nothing_else() {
        for info in KNOWN_RELEASES {
            for file in DataFile::ALL {
                assert_eq!(
                    identify(file, info.sha256[file.index()], &KNOWN_RELEASES),
                    Some(info.release)
                );
            }
        }
        // A train-images hash is not a test-images hash.
        assert_eq!(
            identify(
                DataFile::TestImages,
                KNOWN_RELEASES[0].sha256[0],
                &KNOWN_RELEASES
            ),
            None
        );
        assert_eq!(
            identify(DataFile::TrainImages, &sha256_hex(b""), &KNOWN_RELEASES),
            None
        );
    }
}
