//! Fashion-MNIST data: IDX parsing, verified loading, download with checksums,
//! stratified train/validation split, pixel scaling and batching.
//!
//! ```no_run
//! # fn main() -> fashion_data::Result<()> {
//! // Downloads what is missing into FASHION_MNIST_DIR (or the platform cache dir),
//! // verifies every file's SHA-256 and loads train (60 000) and test (10 000).
//! let data = fashion_data::FashionMnist::load_default()?;
//! println!("{} train images, release {:?}", data.train.len(), data.release);
//! # Ok(()) }
//! ```

mod error;
pub mod io;

pub mod download;
pub mod fuzz;
pub mod idx;
mod release;
mod split;
mod stats;

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};

pub use download::{DownloadOptions, DownloadProgress, OFFICIAL_MIRRORS, download_missing};
pub use idx::{IMAGE_SIDE, NUM_CLASSES};
pub use release::{
    DataFile, KNOWN_RELEASES, Release, ReleaseInfo, identify, sha256_file, sha256_hex,
};
pub use split::{
    Batch, BatchIter, Preprocess, SplitConfig, Standardizer, TrainValid, stratified_split,
};
pub use stats::{class_counts_table, pixel_stats_table};

pub use error::{Error, ParamError, Result};
/// Re-exported so the crates above and notebooks use the same polars.
pub use polars;

/// Number of pixels per image (28 × 28).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// The ten class names, indexed by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Environment variable naming the data directory.
pub const DIR_ENV: &str = "FASHION_MNIST_DIR";

/// The data directory: `FASHION_MNIST_DIR` if set, else `<platform cache dir>/fashion-mnist`
/// (e.g. `~/.cache/fashion-mnist` on Linux).
pub fn default_dir() -> Result<PathBuf> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::cache_dir()
            .map(|d| d.join("fashion-mnist"))
            .ok_or(Error::NoCacheDir),
    }
}

/// A set of labelled images (train, test, or a part of one).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Pixels, `N × 28 × 28`, values `0..=255`.
    pub images: Array3<u8>,
    /// Labels, `N`, values `0..=9` (see [`CLASS_NAMES`]).
    pub labels: Array1<u8>,
}

impl Dataset {
    /// Builds a data set, checking that there is one label per image and that every
    /// label is a class.
    pub fn new(images: Array3<u8>, labels: Array1<u8>) -> Result<Self> {
        if images.len_of(Axis(0)) != labels.len() {
            return Err(Error::CountMismatch {
                images_file: "images".into(),
                images: images.len_of(Axis(0)),
                labels_file: "labels".into(),
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= 10) {
            return Err(Error::LabelOutOfRange {
                file: "labels".into(),
                index,
                label,
            });
        }
        Ok(Dataset { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` as a 28 × 28 view.
    pub fn image(&self, i: usize) -> ArrayView2<'_, u8> {
        self.images.slice(s![i, .., ..])
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Indices of the images of class `class`, in order.
    pub fn indices_of_class(&self, class: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels[i] as usize == class)
            .collect()
    }

    /// A new data set made of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid(
                "indices",
                format!("indices below {}", self.len()),
                bad,
            ));
        }
        Ok(Dataset {
            images: self.images.select(Axis(0), indices),
            labels: self.labels.select(Axis(0), indices),
        })
    }

    /// Pixels scaled to `[0, 1]` (÷ 255), one row of 784 per image.
    pub fn scaled(&self) -> Array2<f32> {
        let flat = self
            .images
            .view()
            .into_shape_with_order((self.len(), IMAGE_PIXELS))
            .expect("images are contiguous N×28×28");
        flat.mapv(|p| p as f32 / 255.0)
    }

    /// Mean image of each class, scaled to `[0, 1]`, as `10 × 28 × 28`
    /// (a class without images gives zeros).
    pub fn class_means(&self) -> Array3<f32> {
        let mut sums = Array3::<f64>::zeros((NUM_CLASSES, IMAGE_SIDE, IMAGE_SIDE));
        let counts = self.class_counts();
        for (img, &l) in self.images.outer_iter().zip(self.labels.iter()) {
            let mut acc = sums.slice_mut(s![l as usize, .., ..]);
            acc.zip_mut_with(&img, |a, &p| *a += p as f64);
        }
        let mut out = Array3::<f32>::zeros(sums.raw_dim());
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                let denom = 255.0 * count as f64;
                out.slice_mut(s![c, .., ..])
                    .assign(&sums.slice(s![c, .., ..]).mapv(|v| (v / denom) as f32));
            }
        }
        out
    }
}

/// How one file of a data directory was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// Which file.
    pub file: DataFile,
    /// Where it was read.
    pub path: PathBuf,
    /// Its SHA-256 (lower-case hex).
    pub sha256: String,
    /// The release whose checksum it matches; `None` when unknown (allowed only with
    /// [`LoadOptions::allow_unverified`]).
    pub release: Option<Release>,
}

/// The environment variable that, set to `1`, accepts data files of no known release
/// wherever the data set is loaded ([`LoadOptions::from_env`]): the notebooks, and every
/// `fashion` subcommand (which also take `--allow-unverified`).
pub const ALLOW_UNVERIFIED_ENV: &str = "FASHION_MNIST_ALLOW_UNVERIFIED";

/// Options for [`FashionMnist::load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Accept files whose checksum matches no known release (uncompressed copies, for
    /// instance: only the `.gz` files have published checksums). Mixing two known
    /// releases is refused even then, since their indexes do not pair.
    pub allow_unverified: bool,
}

impl LoadOptions {
    /// The options the environment asks for: `allow_unverified` if
    /// `FASHION_MNIST_ALLOW_UNVERIFIED=1` ([`ALLOW_UNVERIFIED_ENV`]).
    pub fn from_env() -> Self {
        LoadOptions {
            allow_unverified: std::env::var(ALLOW_UNVERIFIED_ENV).is_ok_and(|v| v == "1"),
        }
    }
}

/// The whole data set: train and test sets plus where they came from.
#[derive(Debug, Clone)]
pub struct FashionMnist {
    /// The 60 000 training images.
    pub train: Dataset,
    /// The 10 000 official test images.
    pub test: Dataset,
    /// The release all four files belong to; `None` when unverified files were allowed.
    pub release: Option<Release>,
    /// One report per file, in [`DataFile::ALL`] order.
    pub files: Vec<FileReport>,
}

impl FashionMnist {
    /// Class names, indexed by label.
    pub fn class_names(&self) -> &'static [&'static str; NUM_CLASSES] {
        &CLASS_NAMES
    }

    /// Loads and verifies the four files in `dir`: each must match a known release,
    /// all the same one, unless `FASHION_MNIST_ALLOW_UNVERIFIED=1`
    /// ([`LoadOptions::from_env`]) lets files of no known release through.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(dir, &LoadOptions::from_env())
    }

    /// Loads the four files in `dir` with explicit options.
    pub fn load_with(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        load_dir(dir.as_ref(), options, &KNOWN_RELEASES)
    }

    /// Downloads any missing file into [`default_dir`] (mirrors from
    /// `FASHION_MNIST_MIRROR` if set), then loads and verifies everything.
    pub fn load_default() -> Result<Self> {
        let dir = default_dir()?;
        download_missing(&dir, &DownloadOptions::from_env(), &mut |_| {})?;
        Self::load(dir)
    }
}

/// Finds a data file in `dir`: the published `.gz` name, else the same name without `.gz`.
pub fn locate(dir: &Path, file: DataFile) -> Result<PathBuf> {
    let gz = dir.join(file.file_name());
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(file.file_name().trim_end_matches(".gz"));
    if raw.is_file() {
        return Ok(raw);
    }
    Err(Error::MissingFile { path: gz })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn check_reports(
    dir: &Path,
    reports: &[FileReport],
    options: &LoadOptions,
    releases: &[ReleaseInfo],
) -> Result<Option<Release>> {
    if !options.allow_unverified
        && let Some(r) = reports.iter().find(|r| r.release.is_none())
    {
        return Err(Error::UnknownRelease {
            file: r.path.display().to_string(),
            sha256: r.sha256.clone(),
            known: release::describe_known(r.file, releases),
        });
    }
    let mut seen: Vec<Release> = reports.iter().filter_map(|r| r.release).collect();
    seen.sort_by_key(|r| *r as u8);
    seen.dedup();
    if seen.len() > 1 {
        let details = reports
            .iter()
            .map(|r| {
                let rel = r.release.map_or("unknown".to_string(), |x| x.to_string());
                format!("{}: {rel}", r.file)
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::MixedReleases {
            dir: dir.to_path_buf(),
            details,
        });
    }
    Ok(if reports.iter().all(|r| r.release.is_some()) {
        seen.first().copied()
    } else {
        None
    })
}

pub(crate) fn load_dir(
    dir: &Path,
    options: &LoadOptions,
    releases: &[ReleaseInfo],
) -> Result<FashionMnist> {
    let mut reports = Vec::new();
    let mut contents = Vec::new();
    for file in DataFile::ALL {
        let path = locate(dir, file)?;
        let bytes = read_file(&path)?;
        let sha256 = sha256_hex(&bytes);
        reports.push(FileReport {
            release: identify(file, &sha256, releases),
            file,
            path,
            sha256,
        });
        contents.push(bytes);
    }
    let release = check_reports(dir, &reports, options, releases)?;
    let name = |i: usize| reports[i].path.display().to_string();
    let set = |img: usize, lbl: usize| -> Result<Dataset> {
        let images = idx::parse_images(&contents[img][..], &name(img))?;
        let labels = idx::parse_labels(&contents[lbl][..], &name(lbl))?;
        if images.len_of(Axis(0)) != labels.len() {
            return Err(Error::CountMismatch {
                images_file: name(img),
                images: images.len_of(Axis(0)),
                labels_file: name(lbl),
                labels: labels.len(),
            });
        }
        Ok(Dataset { images, labels })
    };
    let train = set(0, 1)?;
    let test = set(2, 3)?;
    Ok(FashionMnist {
        train,
        test,
        release,
        files: reports,
    })
}

#[doc(hidden)]
pub mod fixtures {
    //! Not part of the API: synthetic data sets for the tests of the crates above.
    //! Small synthetic data directories for tests.
    use super::*;

    /// A synthetic data set with `per_class` images of each class; class `c`'s
    /// images are bright in column band `c`.
    pub fn synthetic(per_class: usize, salt: u8) -> Dataset {
        let n = per_class * NUM_CLASSES;
        let labels = Array1::from_shape_fn(n, |i| (i % NUM_CLASSES) as u8);
        let images = Array3::from_shape_fn((n, 28, 28), |(i, r, c)| {
            let class = i % NUM_CLASSES;
            if c / 3 == class {
                200u8
                    .wrapping_add((i / NUM_CLASSES) as u8)
                    .wrapping_add(salt)
            } else {
                ((r + c + i) % 7) as u8
            }
        });
        Dataset { images, labels }
    }

    /// Writes train/test sets as the four gzip files into `dir`.
    pub fn write_dir(dir: &Path, train: &Dataset, test: &Dataset) -> [Vec<u8>; 4] {
        let files = [
            idx::gzip(&idx::encode_images(&train.images)),
            idx::gzip(&idx::encode_labels(train.labels.as_slice().unwrap())),
            idx::gzip(&idx::encode_images(&test.images)),
            idx::gzip(&idx::encode_labels(test.labels.as_slice().unwrap())),
        ];
        for (file, bytes) in DataFile::ALL.iter().zip(&files) {
            std::fs::write(dir.join(file.file_name()), bytes).unwrap();
        }
        files
    }

    /// A release table that knows exactly these four files.
    pub fn release_of(files: &[Vec<u8>; 4], release: Release) -> ReleaseInfo {
        let leak = |b: &Vec<u8>| -> &'static str { Box::leak(sha256_hex(b).into_boxed_str()) };
        ReleaseInfo {
            release,
            sha256: [
                leak(&files[0]),
                leak(&files[1]),
                leak(&files[2]),
                leak(&files[3]),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn loads_a_known_release_and_refuses_unknown_files() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (synthetic(6, 0), synthetic(2, 1));
        let files = write_dir(dir.path(), &train, &test);
        let table = [release_of(&files, Release::Current)];
        let data = load_dir(dir.path(), &LoadOptions::default(), &table).unwrap();
        assert_eq!(data.train, train);
        assert_eq!(data.test, test);
        assert_eq!(data.release, Some(Release::Current));
        assert_eq!(data.files[0].sha256, sha256_hex(&files[0]));

        // The real release table knows none of these synthetic files.
        let err = FashionMnist::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::UnknownRelease { .. }), "{err}");
        assert!(err.to_string().contains("allow_unverified"), "{err}");
        let data = FashionMnist::load_with(
            dir.path(),
            &LoadOptions {
                allow_unverified: true,
            },
        )
        .unwrap();
        assert_eq!(data.release, None);
        assert_eq!(data.train.len(), 60);
    }

    #[test]
    fn wrong_checksum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_dir(dir.path(), &synthetic(3, 0), &synthetic(1, 0));
        let table = [release_of(&files, Release::Current)];
        // Replace the test labels by another valid label file: parses fine, wrong hash.
        let other = idx::gzip(&idx::encode_labels(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 8]));
        std::fs::write(dir.path().join(DataFile::TestLabels.file_name()), &other).unwrap();
        let err = load_dir(dir.path(), &LoadOptions::default(), &table).unwrap_err();
        match &err {
            Error::UnknownRelease {
                file,
                sha256,
                known,
            } => {
                assert!(file.ends_with("t10k-labels-idx1-ubyte.gz"));
                assert_eq!(sha256, &sha256_hex(&other));
                assert!(known.contains(table[0].sha256[3]));
            }
            other => panic!("expected UnknownRelease, got {other}"),
        }
    }

    #[test]
    fn mixed_releases_are_refused_even_when_unverified_is_allowed() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let files_a = write_dir(a.path(), &synthetic(3, 0), &synthetic(1, 0));
        let files_b = write_dir(b.path(), &synthetic(4, 9), &synthetic(2, 9));
        let table = [
            release_of(&files_a, Release::Current),
            release_of(&files_b, Release::Release20170826),
        ];
        std::fs::copy(
            b.path().join(DataFile::TrainLabels.file_name()),
            a.path().join(DataFile::TrainLabels.file_name()),
        )
        .unwrap();
        let opts = LoadOptions {
            allow_unverified: true,
        };
        let err = load_dir(a.path(), &opts, &table).unwrap_err();
        assert!(matches!(err, Error::MixedReleases { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("train-labels-idx1-ubyte.gz: 2017-08-26"),
            "{err}"
        );
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &synthetic(3, 0), &synthetic(1, 0));
        let labels = idx::gzip(&idx::encode_labels(&[1; 29]));
        std::fs::write(dir.path().join(DataFile::TrainLabels.file_name()), labels).unwrap();
        let opts = LoadOptions {
            allow_unverified: true,
        };
        let err = FashionMnist::load_with(dir.path(), &opts).unwrap_err();
        match err {
            Error::CountMismatch {
                images,
                labels,
                images_file,
                labels_file,
            } => {
                assert_eq!((images, labels), (30, 29));
                assert!(images_file.ends_with("train-images-idx3-ubyte.gz"));
                assert!(labels_file.ends_with("train-labels-idx1-ubyte.gz"));
            }
            other => panic!("expected CountMismatch, got {other}"),
        }
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = FashionMnist::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }), "{err}");
        assert!(
            err.to_string().contains("train-images-idx3-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn dataset_helpers() {
        let ds = synthetic(4, 0);
        assert_eq!(ds.class_counts(), [4; 10]);
        assert_eq!(ds.indices_of_class(3), vec![3, 13, 23, 33]);
        let sub = ds.select(&[3, 13]).unwrap();
        assert_eq!(sub.labels.to_vec(), vec![3, 3]);
        assert!(ds.select(&[40]).is_err());
        let scaled = ds.scaled();
        assert_eq!(scaled.dim(), (40, 784));
        assert_eq!(scaled[[0, 0]], ds.images[[0, 0, 0]] as f32 / 255.0);
        let means = ds.class_means();
        // Class 2 is bright in columns 6..9.
        assert!(means[[2, 10, 7]] > 0.7 && means[[2, 10, 20]] < 0.1);
        assert!(Dataset::new(ds.images.clone(), Array1::from(vec![0u8; 3])).is_err());
    }
}
