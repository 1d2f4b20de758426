//! Checks on the real data set in FASHION_MNIST_DIR (CI always sets it).

use fashion_data::{FashionMnist, Release, SplitConfig, stratified_split};

fn real() -> FashionMnist {
    let dir = std::env::var("FASHION_MNIST_DIR").expect(
        "FASHION_MNIST_DIR must name a directory holding the Fashion-MNIST .gz files \
         (CI sets it; `make test` downloads them first)",
    );
    FashionMnist::load(&dir).unwrap_or_else(|e| panic!("loading {dir}: {e}"))
}

#[test]
fn real_data_has_the_published_shape() {
    let data = real();
    assert_eq!(data.train.images.shape(), &[60_000, 28, 28]);
    assert_eq!(data.test.images.shape(), &[10_000, 28, 28]);
    assert_eq!(data.train.class_counts(), [6_000; 10]);
    assert_eq!(data.test.class_counts(), [1_000; 10]);
    assert!(data.release.is_some());
    // The copy CI uses is the 2017-08-26 release (see its README); a downloaded
    // copy is the current one. Either way all four files agree.
    // FASHION_MNIST_EXPECT_RELEASE (set by CI) pins which one it must be.
    match std::env::var("FASHION_MNIST_EXPECT_RELEASE").as_deref() {
        Ok("2017-08-26") => assert_eq!(data.release, Some(Release::Release20170826)),
        Ok("current") => assert_eq!(data.release, Some(Release::Current)),
        Ok(other) => panic!("FASHION_MNIST_EXPECT_RELEASE={other}: expected 2017-08-26 or current"),
        Err(_) => {}
    }
    assert!(data.files.iter().all(|f| f.release == data.release));
}

#[test]
fn real_split_is_exactly_stratified_and_seeded() {
    let data = real();
    let a = stratified_split(&data.train, &SplitConfig::default()).unwrap();
    assert_eq!(a.train.class_counts(), [4_800; 10]);
    assert_eq!(a.valid.class_counts(), [1_200; 10]);
    let b = stratified_split(&data.train, &SplitConfig::default()).unwrap();
    assert_eq!(a.valid_indices, b.valid_indices);
}
