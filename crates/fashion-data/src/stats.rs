//! Summary tables of a data set, as polars DataFrames.

use polars::prelude::*;

use super::{CLASS_NAMES, Dataset, NUM_CLASSES};
use crate::error::Result;

/// Images per class for each named split: columns `label`, `class`, then one count
/// column per split, plus a last row `all` with the totals.
///
/// ```
/// # use fashion_data::{class_counts_table, Dataset};
/// # use ndarray::{Array1, Array3};
/// let d = Dataset::new(Array3::zeros((3, 28, 28)), Array1::from(vec![0u8, 0, 9])).unwrap();
/// let t = class_counts_table(&[("train", &d)]).unwrap();
/// assert_eq!(t.shape(), (11, 3));
/// ```
pub fn class_counts_table(splits: &[(&str, &Dataset)]) -> Result<DataFrame> {
    let mut labels: Vec<String> = (0..NUM_CLASSES).map(|l| l.to_string()).collect();
    labels.push("".into());
    let mut names: Vec<&str> = CLASS_NAMES.to_vec();
    names.push("all");
    let mut columns = vec![
        Column::new("label".into(), labels),
        Column::new("class".into(), names),
    ];
    for (name, data) in splits {
        let mut counts: Vec<u64> = data.class_counts().iter().map(|&c| c as u64).collect();
        counts.push(data.len() as u64);
        columns.push(Column::new((*name).into(), counts));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// Pixel statistics per class: number of images, mean and standard deviation of the
/// scaled pixel values (`[0, 1]`), the share of non-zero ("ink") pixels, and the
/// mean ink per image; a last row `all` covers the whole set.
pub fn pixel_stats_table(data: &Dataset) -> Result<DataFrame> {
    let mut sum = [0f64; NUM_CLASSES + 1];
    let mut sum_sq = [0f64; NUM_CLASSES + 1];
    let mut nonzero = [0u64; NUM_CLASSES + 1];
    let mut count = [0u64; NUM_CLASSES + 1];
    for (img, &l) in data.images.outer_iter().zip(data.labels.iter()) {
        let (mut s, mut sq, mut nz) = (0f64, 0f64, 0u64);
        for &p in img.iter() {
            let v = p as f64 / 255.0;
            s += v;
            sq += v * v;
            nz += (p > 0) as u64;
        }
        for k in [l as usize, NUM_CLASSES] {
            sum[k] += s;
            sum_sq[k] += sq;
            nonzero[k] += nz;
            count[k] += 1;
        }
    }
    let px = (data.images.len() / data.len().max(1)) as f64;
    let mut mean = Vec::new();
    let mut std = Vec::new();
    let mut ink = Vec::new();
    for k in 0..=NUM_CLASSES {
        let n = count[k] as f64 * px;
        if n == 0.0 {
            mean.push(None);
            std.push(None);
            ink.push(None);
            continue;
        }
        let m = sum[k] / n;
        mean.push(Some(m));
        std.push(Some((sum_sq[k] / n - m * m).max(0.0).sqrt()));
        ink.push(Some(nonzero[k] as f64 / n));
    }
    let mut names: Vec<&str> = CLASS_NAMES.to_vec();
    names.push("all");
    Ok(df!(
        "class" => names,
        "images" => count.to_vec(),
        "mean" => mean,
        "std" => std,
        "ink_share" => ink,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::synthetic;
    use ndarray::{Array1, Array3};

    #[test]
    fn counts_table_has_totals() {
        let d = synthetic(3, 0);
        let t = class_counts_table(&[("train", &d), ("test", &d)]).unwrap();
        assert_eq!(t.shape(), (11, 4));
        let train = t.column("train").unwrap().u64().unwrap().to_vec();
        assert_eq!(train[0], Some(3));
        assert_eq!(train[10], Some(30));
    }

    #[test]
    fn pixel_stats_by_hand() {
        // Two images: class 0 all 255, class 1 half 0 / half 255.
        let mut images = Array3::<u8>::zeros((2, 28, 28));
        images.slice_mut(ndarray::s![0, .., ..]).fill(255);
        images.slice_mut(ndarray::s![1, ..14, ..]).fill(255);
        let d = Dataset::new(images, Array1::from(vec![0u8, 1])).unwrap();
        let t = pixel_stats_table(&d).unwrap();
        let mean = t.column("mean").unwrap().f64().unwrap().to_vec();
        let std = t.column("std").unwrap().f64().unwrap().to_vec();
        let ink = t.column("ink_share").unwrap().f64().unwrap().to_vec();
        assert_eq!(mean[0], Some(1.0));
        assert_eq!(std[0], Some(0.0));
        assert_eq!(mean[1], Some(0.5));
        assert!((std[1].unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(ink[1], Some(0.5));
        assert_eq!(mean[2], None);
        assert_eq!(mean[10], Some(0.75));
        assert!((std[10].unwrap() - 0.1875f64.sqrt()).abs() < 1e-12);
    }
}
