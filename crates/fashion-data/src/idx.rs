//! IDX file parsing (the format of the MNIST family), gzip-compressed or raw.
//!
//! Images: magic `0x00000803`, then big-endian `u32` dimensions `N, 28, 28`, then `N·784`
//! pixel bytes. Labels: magic `0x00000801`, then `N`, then `N` label bytes in `0..=9`.
//! Every way a file can be malformed is its own [`Error`] variant naming the file.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use ndarray::{Array1, Array3};

use crate::error::{Error, Result};

/// Magic number of an IDX image file (unsigned bytes, 3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file (unsigned bytes, 1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Image height and width of Fashion-MNIST.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// Reads everything from `reader`, transparently decompressing gzip (detected by its
/// magic bytes `1f 8b`).
fn read_all(mut reader: impl Read, name: &str) -> Result<Vec<u8>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = reader.read(&mut head[got..]).map_err(|e| io_err(name, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let chained = head[..got].chain(reader);
    let mut out = Vec::new();
    if got == 2 && head == [0x1f, 0x8b] {
        MultiGzDecoder::new(chained)
            .read_to_end(&mut out)
            .map_err(|e| Error::Gzip {
                file: name.to_string(),
                reason: e.to_string(),
            })?;
    } else {
        let mut chained = chained;
        chained.read_to_end(&mut out).map_err(|e| io_err(name, e))?;
    }
    Ok(out)
}

fn io_err(name: &str, source: std::io::Error) -> Error {
    Error::io(name, source)
}

fn header(bytes: &[u8], name: &str, magic: u32, ndims: usize) -> Result<Vec<usize>> {
    let len = 4 * (1 + ndims);
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 {
        return Err(Error::TruncatedHeader {
            file: name.to_string(),
            expected: len,
            found: bytes.len(),
        });
    }
    let found = be(0);
    if found != magic {
        return Err(Error::BadMagic {
            file: name.to_string(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < len {
        return Err(Error::TruncatedHeader {
            file: name.to_string(),
            expected: len,
            found: bytes.len(),
        });
    }
    Ok((0..ndims).map(|d| be(4 + 4 * d) as usize).collect())
}

fn check_body(bytes: &[u8], name: &str, header_len: usize, expected: u64) -> Result<()> {
    let found = (bytes.len() - header_len) as u64;
    if found != expected {
        return Err(Error::BodyLength {
            file: name.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Parses an IDX image file (gzip or raw) into an `N × 28 × 28` array of pixels.
///
/// `name` is used in error messages (usually the file name).
///
/// ```
/// # fn main() -> fashion_data::Result<()> {
/// let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28];
/// bytes.extend(std::iter::repeat(7u8).take(28 * 28));
/// let images = fashion_data::idx::parse_images(&bytes[..], "tiny")?;
/// assert_eq!(images.shape(), &[1, 28, 28]);
/// assert_eq!(images[[0, 27, 27]], 7);
/// # Ok(()) }
/// ```
pub fn parse_images(reader: impl Read, name: &str) -> Result<Array3<u8>> {
    let bytes = read_all(reader, name)?;
    let dims = header(&bytes, name, IMAGES_MAGIC, 3)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows != IMAGE_SIDE || cols != IMAGE_SIDE {
        return Err(Error::BadDimensions {
            file: name.to_string(),
            expected_rows: IMAGE_SIDE,
            expected_cols: IMAGE_SIDE,
            rows,
            cols,
        });
    }
    check_body(&bytes, name, 16, (n * rows * cols) as u64)?;
    let mut bytes = bytes;
    bytes.drain(..16);
    Array3::from_shape_vec((n, rows, cols), bytes).map_err(|e| Error::BodyLength {
        file: format!("{name} ({e})"),
        expected: (n * rows * cols) as u64,
        found: 0,
    })
}

/// Parses an IDX label file (gzip or raw); every label must be in `0..=9`.
///
/// ```
/// # fn main() -> fashion_data::Result<()> {
/// let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4];
/// let labels = fashion_data::idx::parse_labels(&bytes[..], "tiny")?;
/// assert_eq!(labels.to_vec(), vec![9, 0, 4]);
/// # Ok(()) }
/// ```
pub fn parse_labels(reader: impl Read, name: &str) -> Result<Array1<u8>> {
    let bytes = read_all(reader, name)?;
    let dims = header(&bytes, name, LABELS_MAGIC, 1)?;
    check_body(&bytes, name, 8, dims[0] as u64)?;
    if let Some((index, &label)) = bytes[8..]
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= NUM_CLASSES)
    {
        return Err(Error::LabelOutOfRange {
            file: name.to_string(),
            index,
            label,
        });
    }
    Ok(Array1::from(bytes[8..].to_vec()))
}

/// Encodes images as a raw (uncompressed) IDX image file. Used to write fixtures.
pub fn encode_images(images: &Array3<u8>) -> Vec<u8> {
    let (n, r, c) = images.dim();
    let mut out = Vec::with_capacity(16 + images.len());
    for v in [IMAGES_MAGIC, n as u32, r as u32, c as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend(images.iter().copied());
    out
}

/// Encodes labels as a raw (uncompressed) IDX label file. Used to write fixtures.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Compresses bytes with gzip (default level). Used to write fixtures.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    enc.write_all(bytes).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(n: usize) -> (Array3<u8>, Vec<u8>) {
        let images =
            Array3::from_shape_fn((n, 28, 28), |(i, r, c)| ((i * 31 + r * 7 + c) % 256) as u8);
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        (images, labels)
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let (images, labels) = fixture(25);
        let raw = encode_images(&images);
        assert_eq!(parse_images(&raw[..], "raw").unwrap(), images);
        assert_eq!(parse_images(&gzip(&raw)[..], "gz").unwrap(), images);
        let raw = encode_labels(&labels);
        assert_eq!(parse_labels(&raw[..], "raw").unwrap().to_vec(), labels);
        assert_eq!(
            parse_labels(&gzip(&raw)[..], "gz").unwrap().to_vec(),
            labels
        );
    }

    #[test]
    fn bad_magic() {
        let (images, labels) = fixture(2);
        let mut raw = encode_images(&images);
        raw[3] = 0x01;
        let err = parse_images(&raw[..], "imgs").unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadMagic {
                    expected: 0x803,
                    found: 0x801,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("imgs: bad magic"), "{err}");
        // A label file handed to the image parser is refused the same way.
        let err = parse_images(&encode_labels(&labels)[..], "labels").unwrap_err();
        assert!(matches!(err, Error::BadMagic { .. }), "{err}");
    }

    #[test]
    fn truncated_body() {
        let (images, labels) = fixture(3);
        let raw = encode_images(&images);
        let err = parse_images(&raw[..raw.len() - 5], "imgs").unwrap_err();
        assert!(
            matches!(
                err,
                Error::BodyLength {
                    expected: 2352,
                    found: 2347,
                    ..
                }
            ),
            "{err}"
        );
        let raw = encode_labels(&labels);
        let err = parse_labels(&raw[..raw.len() - 1], "lbls").unwrap_err();
        assert!(
            matches!(
                err,
                Error::BodyLength {
                    expected: 3,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        // Trailing garbage is refused as well.
        let mut long = encode_labels(&labels);
        long.push(1);
        assert!(matches!(
            parse_labels(&long[..], "lbls").unwrap_err(),
            Error::BodyLength {
                expected: 3,
                found: 4,
                ..
            }
        ));
        // A header cut short.
        assert!(matches!(
            parse_images(&encode_images(&images)[..6], "imgs").unwrap_err(),
            Error::TruncatedHeader { .. }
        ));
    }

    #[test]
    fn wrong_dimensions() {
        let images = Array3::<u8>::zeros((2, 32, 28));
        let err = parse_images(&encode_images(&images)[..], "imgs").unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadDimensions {
                    rows: 32,
                    cols: 28,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("expected 28x28, found 32x28"),
            "{err}"
        );
    }

    #[test]
    fn label_out_of_range() {
        let err = parse_labels(&encode_labels(&[1, 2, 10, 3])[..], "lbls").unwrap_err();
        assert!(
            matches!(
                err,
                Error::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn broken_gzip() {
        let (images, _) = fixture(4);
        let gz = gzip(&encode_images(&images));
        // Cut the stream in the middle.
        let err = parse_images(&gz[..gz.len() / 2], "imgs.gz").unwrap_err();
        assert!(matches!(err, Error::Gzip { .. }), "{err}");
        // Corrupt the deflate data (the CRC check catches what the decoder does not).
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        let err = parse_images(&bad[..], "imgs.gz").unwrap_err();
        assert!(matches!(err, Error::Gzip { .. }), "{err}");
    }
}
