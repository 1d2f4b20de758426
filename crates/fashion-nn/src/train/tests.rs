//! Tests of the training module.

use super::*;
use crate::ModelKind;
use fashion_data::fixtures::synthetic;

fn data() -> FashionMnist {
    FashionMnist {
        train: synthetic(5, 0),
        test: synthetic(2, 3),
        release: None,
        files: Vec::new(),
    }
}

fn tiny(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        valid_fraction: 0.2,
        seed: 5,
        ..TrainConfig::default()
    }
}

/// History without the timing columns, which legitimately differ between runs.
fn untimed(h: &History) -> Vec<[f64; 6]> {
    h.epochs
        .iter()
        .map(|r| {
            let e = r.epoch as f64;
            [
                e,
                r.train_loss,
                r.train_accuracy,
                r.valid_loss,
                r.valid_accuracy,
                r.learning_rate,
            ]
        })
        .collect()
}

fn weights(dir: &Path, epoch: usize) -> Vec<u8> {
    fs::read(resume_dir(dir, epoch).join(WEIGHTS_FILE)).unwrap()
}

#[test]
fn invalid_configurations_name_the_field() {
    let base = TrainConfig::default();
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                epochs: 0,
                ..base.clone()
            },
            "epochs",
        ),
        (
            TrainConfig {
                batch_size: 0,
                ..base.clone()
            },
            "batch_size",
        ),
        (
            TrainConfig {
                learning_rate: 0.0,
                ..base.clone()
            },
            "learning_rate",
        ),
        (
            TrainConfig {
                learning_rate: -1e-3,
                ..base.clone()
            },
            "learning_rate",
        ),
        (
            TrainConfig {
                learning_rate: f64::NAN,
                ..base.clone()
            },
            "learning_rate",
        ),
        (
            TrainConfig {
                weight_decay: -1.0,
                ..base.clone()
            },
            "weight_decay",
        ),
        (
            TrainConfig {
                valid_fraction: 0.0,
                ..base.clone()
            },
            "valid_fraction",
        ),
        (
            TrainConfig {
                valid_fraction: 1.0,
                ..base.clone()
            },
            "valid_fraction",
        ),
        (
            TrainConfig {
                train_subset: Some(0),
                ..base.clone()
            },
            "train_subset",
        ),
        (
            TrainConfig {
                model: ModelConfig {
                    dropout: 1.0,
                    ..base.model
                },
                ..base.clone()
            },
            "dropout",
        ),
    ];
    for (config, field) in cases {
        let err = config.check().unwrap_err();
        assert!(err.parameter() == Some(field), "{field}: {err}");
    }
    base.check().unwrap();
}

#[test]
fn learning_rate_follows_a_cosine_to_one_percent() {
    let c = TrainConfig {
        epochs: 5,
        learning_rate: 1.0,
        ..TrainConfig::default()
    };
    let lrs: Vec<f64> = (1..=5).map(|e| c.learning_rate_at(e)).collect();
    assert_eq!(lrs[0], 1.0);
    assert!((lrs[2] - 0.505).abs() < 1e-12, "{lrs:?}");
    assert!((lrs[4] - 0.01).abs() < 1e-12, "{lrs:?}");
    assert!(lrs.windows(2).all(|w| w[1] < w[0]));
}

#[test]
fn same_seed_gives_identical_history_and_weights() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let d = data();
    let ta = train(&tiny(2), &d, a.path(), TrainOptions::default()).unwrap();
    let tb = train(&tiny(2), &d, b.path(), TrainOptions::default()).unwrap();
    assert_eq!(untimed(&ta.history), untimed(&tb.history));
    assert_eq!(weights(a.path(), 2), weights(b.path(), 2));
    assert!(ta.finished);
    // Another seed takes another path.
    let c = tempfile::tempdir().unwrap();
    let tc = train(
        &TrainConfig { seed: 6, ..tiny(2) },
        &d,
        c.path(),
        TrainOptions::default(),
    )
    .unwrap();
    assert_ne!(untimed(&ta.history), untimed(&tc.history));
}

#[test]
fn resumed_run_ends_where_an_uninterrupted_one_does() {
    let d = data();
    let full = tempfile::tempdir().unwrap();
    let t_full = train(&tiny(3), &d, full.path(), TrainOptions::default()).unwrap();

    let part = tempfile::tempdir().unwrap();
    let stopped = TrainOptions {
        stop_after: Some(1),
        ..TrainOptions::default()
    };
    let t1 = train(&tiny(3), &d, part.path(), stopped).unwrap();
    assert!(!t1.finished);
    assert_eq!(t1.history.epochs.len(), 1);
    let resumed = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let t2 = train(&tiny(3), &d, part.path(), resumed).unwrap();
    assert!(t2.finished);
    assert_eq!(untimed(&t_full.history), untimed(&t2.history));
    assert_eq!(weights(full.path(), 3), weights(part.path(), 3));
    // Only the last resume point is kept.
    assert!(!resume_dir(part.path(), 1).exists());
}

#[test]
fn resume_refuses_another_configuration() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let stopped = TrainOptions {
        stop_after: Some(1),
        ..TrainOptions::default()
    };
    train(&tiny(2), &d, dir.path(), stopped).unwrap();
    let resumed = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let other = TrainConfig {
        batch_size: 4,
        ..tiny(2)
    };
    let err = train(&other, &d, dir.path(), resumed).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { path, .. } if path.ends_with(CONFIG_FILE)),
        "{err}"
    );
}

#[test]
fn train_or_load_reuses_a_matching_checkpoint_and_retrains_otherwise() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let first = train_or_load(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap();
    let mut epochs_run = 0;
    let mut count = |_: &EpochRecord| epochs_run += 1;
    let again = train_or_load(
        &tiny(1),
        &d,
        dir.path(),
        TrainOptions {
            on_epoch: Some(&mut count),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        epochs_run, 0,
        "a matching finished run must be loaded, not retrained"
    );
    assert_eq!(first.history, again.history);
    let x = d.test.scaled();
    assert_eq!(
        first.model.features_of(&x, 7).unwrap(),
        again.model.features_of(&x, 7).unwrap()
    );

    let changed = TrainConfig { seed: 9, ..tiny(1) };
    let mut epochs_run = 0;
    let mut count = |_: &EpochRecord| epochs_run += 1;
    let retrained = train_or_load(
        &changed,
        &d,
        dir.path(),
        TrainOptions {
            on_epoch: Some(&mut count),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(epochs_run, 1);
    assert_eq!(retrained.config, changed);
    assert_eq!(
        TrainConfig::load(&dir.path().join(CONFIG_FILE)).unwrap(),
        changed
    );
}

#[test]
fn diverging_training_stops_with_epoch_and_batch() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        learning_rate: 1e30,
        ..tiny(2)
    };
    let err = train(&config, &d, dir.path(), TrainOptions::default()).unwrap_err();
    match err {
        Error::NonFiniteLoss { epoch, batch, loss } => {
            assert_eq!(epoch, 1);
            assert!(batch >= 2, "the first batch starts from finite weights");
            assert!(!loss.is_finite());
        }
        e => panic!("expected NonFiniteLoss, got {e}"),
    }
}

#[test]
fn bad_checkpoints_are_named_errors() {
    let d = data();
    let missing = load_checkpoint(Path::new("/nonexistent/checkpoint")).unwrap_err();
    assert!(matches!(missing, Error::Checkpoint { .. }), "{missing}");

    let dir = tempfile::tempdir().unwrap();
    train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap();
    load_checkpoint(dir.path()).unwrap();

    // Corrupt weights.
    let best = dir.path().join(BEST_FILE);
    let good = fs::read(&best).unwrap();
    fs::write(&best, b"not a safetensors file").unwrap();
    let err = load_checkpoint(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { path, .. } if path == &best),
        "{err}"
    );

    // Weights of another shape: the config now says SeedCnn.
    fs::write(&best, &good).unwrap();
    let mut config = TrainConfig::load(&dir.path().join(CONFIG_FILE)).unwrap();
    config.model.kind = ModelKind::Seed;
    config.save(&dir.path().join(CONFIG_FILE)).unwrap();
    let err = load_checkpoint(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { path, .. } if path == &best),
        "{err}"
    );

    // A corrupt configuration.
    fs::write(dir.path().join(CONFIG_FILE), "{ \"epochs\": ").unwrap();
    let err = load_checkpoint(dir.path()).unwrap_err();
    assert!(err.to_string().contains(CONFIG_FILE), "{err}");

    // Corrupt optimiser state is refused on resume.
    let bytes = Adam {
        step: 3,
        m: vec![vec![1.0; 4]],
        v: vec![vec![2.0; 4]],
    }
    .to_bytes();
    let p = Path::new("optimizer.bin");
    assert_eq!(Adam::from_bytes(&bytes, p).unwrap().step, 3);
    assert!(Adam::from_bytes(&bytes[..bytes.len() - 1], p).is_err());
    assert!(Adam::from_bytes(b"FMADAM02", p).is_err());
}

#[test]
fn evaluation_counts_and_saves_predictions() {
    let d = data();
    let model = Model::new(&ModelConfig::default(), 1).unwrap();
    let eval = evaluate(&model, &d.test, 6).unwrap();
    assert_eq!(eval.predicted.len(), d.test.len());
    let correct = eval
        .labels
        .iter()
        .zip(&eval.predicted)
        .filter(|(a, b)| a == b)
        .count();
    assert_eq!(eval.accuracy, correct as f64 / d.test.len() as f64);
    for row in eval.probs.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
    // The predicted class is the most probable one.
    for (row, &p) in eval.probs.rows().into_iter().zip(&eval.predicted) {
        assert!(row.iter().all(|&q| q <= row[p as usize]));
    }
    let dir = tempfile::tempdir().unwrap();
    eval.save(dir.path()).unwrap();
    let csv = fs::read_to_string(dir.path().join("test_predictions.csv")).unwrap();
    assert_eq!(csv.lines().count(), d.test.len() + 1);
    assert!(csv.starts_with("index,label,predicted,correct,p_0"));
    let empty = Dataset::new(
        ndarray::Array3::zeros((0, 28, 28)),
        ndarray::Array1::zeros(0),
    )
    .unwrap();
    assert!(evaluate(&model, &empty, 6).is_err());
}

#[test]
fn augmentation_flips_and_shifts_within_max_shift() {
    // A single bright pixel moves by at most MAX_SHIFT rows and (after flipping) columns.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut flipped = 0;
    for _ in 0..50 {
        let mut x = Array2::<f32>::zeros((1, 784));
        x[[0, 10 * 28 + 5]] = 1.0;
        augment(&mut x, &mut rng);
        let pos = x
            .iter()
            .position(|&v| v == 1.0)
            .expect("pixel stays inside");
        assert_eq!(x.sum(), 1.0);
        let (r, c) = ((pos / 28) as i64, (pos % 28) as i64);
        assert!((r - 10).abs() <= MAX_SHIFT);
        let plain = (c - 5).abs() <= MAX_SHIFT;
        let mirrored = (c - 22).abs() <= MAX_SHIFT;
        assert!(plain || mirrored, "column {c}");
        flipped += usize::from(mirrored);
    }
    assert!((10..=40).contains(&flipped), "{flipped} of 50 flipped");
}

#[test]
fn bench_reports_throughput() {
    let r = bench(&ModelConfig::default(), BenchMode::Train, 4, 2, 1, 0).unwrap();
    assert_eq!(r.images, 8);
    assert!(r.images_per_sec > 0.0 && r.seconds > 0.0);
    assert!(bench(&ModelConfig::default(), BenchMode::Infer, 0, 2, 0, 0).is_err());
    assert!(bench(&ModelConfig::default(), BenchMode::Infer, 2, 0, 0, 0).is_err());
}

#[test]
fn checkpoints_root_search_order() {
    let ws = tempfile::tempdir().unwrap();
    fs::write(ws.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    // A member crate's own Cargo.toml (no [workspace] table) is passed over.
    let member = ws.path().join("crates/x");
    fs::create_dir_all(&member).unwrap();
    fs::write(member.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let root = ws.path().join("target/checkpoints");
    assert_eq!(checkpoints_root(None, &member), root);
    assert_eq!(checkpoints_root(None, ws.path()), root);
    // An empty override is no override.
    assert_eq!(checkpoints_root(Some("".as_ref()), &member), root);
    assert_eq!(
        checkpoints_root(Some("/elsewhere".as_ref()), &member),
        Path::new("/elsewhere")
    );
    // Outside any workspace: not next to the current directory's files, not in the
    // workspace this crate was compiled in.
    let lone = tempfile::tempdir().unwrap();
    let found = checkpoints_root(None, lone.path());
    assert!(!found.starts_with(ws.path()), "{}", found.display());
    assert!(
        found.ends_with("target/checkpoints") || found.ends_with("fashion-mnist-rs/checkpoints")
    );
    let run = shared_run_in(&root, true);
    assert_eq!(run.dir, root.join("small-fast"));
    assert_eq!(
        (run.config.epochs, run.config.train_subset),
        (2, Some(4000))
    );
    assert_eq!(shared_run_in(&root, false).dir, root.join("small-default"));
}
