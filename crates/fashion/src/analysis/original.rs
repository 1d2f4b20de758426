//! The original project's own figures and claims: reference data, kept in this one place
//! with their source. Nothing here is computed by us; every comparison with our runs is
//! computed ([`Scorecard`](super::Scorecard)).
//!
//! The original is a Keras + R study of Fashion-MNIST: a CNN, then similarity graphs of
//! 100 test images (Pearson correlation, a lasso score function, kNN) on pixels, scaled
//! pixels, the last feature map and the dense layer, drawn in R with node size by
//! betweenness. Its claims are stated in its README next to its figures; the wording of
//! [`CLAIMS`] is our paraphrase of them.

/// Where the reference data come from.
pub const SOURCE: &str =
    "the original Keras + R project's README and figures (claims paraphrased by us)";

/// The original CNN's test accuracy on the 10 000 official test images, as its README
/// reports it.
pub const TEST_ACCURACY: f64 = 0.891;

/// Which claim of the original a [`Scorecard`](super::Scorecard) row checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Its CNN's test accuracy ([`TEST_ACCURACY`]).
    TestAccuracy,
    /// Shirt is the weakest class (confused with T-shirt/top, Pullover and Coat).
    WeakestClass,
    /// The dense (FC) layer separates the classes best.
    DenseSeparatesBest,
    /// Correlation groups clothes by type (tops with tops, footwear with footwear).
    CorrelationGroupsByType,
    /// Images with high betweenness or degree are the ones the CNN misclassifies.
    CentralityMarksErrors,
}

/// The claims in scorecard order, each with our paraphrase of the original's statement.
pub const CLAIMS: [(Claim, &str); 5] = [
    (Claim::TestAccuracy, "its CNN reaches 89.1 % test accuracy"),
    (
        Claim::WeakestClass,
        "Shirt is the weakest class (confused with T-shirt/top, Pullover, Coat)",
    ),
    (
        Claim::DenseSeparatesBest,
        "the FC (dense) layer separates the classes best",
    ),
    (
        Claim::CorrelationGroupsByType,
        "correlation graphs group clothes by type",
    ),
    (
        Claim::CentralityMarksErrors,
        "high-betweenness / high-degree images are the misclassified ones",
    ),
];

/// Class index of Shirt, the original's weakest class.
pub const WEAKEST_CLASS: u8 = 6;
