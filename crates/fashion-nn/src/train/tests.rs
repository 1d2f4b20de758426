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

/// Options that stop a run after `epochs` epochs, as if interrupted.
fn stop_after<'a>(epochs: usize) -> TrainOptions<'a> {
    TrainOptions {
        stop_after: Some(epochs),
        ..TrainOptions::default()
    }
}

/// Options that resume the run in the directory.
fn resuming<'a>() -> TrainOptions<'a> {
    TrainOptions {
        resume: true,
        ..TrainOptions::default()
    }
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
                valid_subset: Some(0),
                ..base.clone()
            },
            "valid_subset",
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
        (
            TrainConfig {
                label_smoothing: 1.0,
                ..base.clone()
            },
            "label_smoothing",
        ),
        (
            TrainConfig {
                label_smoothing: -0.1,
                ..base.clone()
            },
            "label_smoothing",
        ),
        (
            TrainConfig {
                schedule: LrSchedule::OneCycle { warmup: 1.0 },
                ..base.clone()
            },
            "schedule.warmup",
        ),
        (
            TrainConfig {
                schedule: LrSchedule::OneCycle { warmup: f64::NAN },
                ..base.clone()
            },
            "schedule.warmup",
        ),
        (
            TrainConfig {
                max_shift: 28,
                ..base.clone()
            },
            "max_shift",
        ),
    ];
    for (config, field) in cases {
        let err = config.check().unwrap_err();
        assert_eq!(err.name, field, "{err}");
    }
    base.check().unwrap();
}

/// A `config.json` written before the schedule, label smoothing and shift fields
/// existed reads as the recipe it was trained with (the first one, now
/// `TrainConfig::long`), so such runs still load and resume.
#[test]
fn an_older_configuration_file_reads_as_the_first_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let mut json: serde_json::Value = serde_json::to_value(TrainConfig::long()).unwrap();
    for key in ["schedule", "label_smoothing", "max_shift"] {
        json.as_object_mut().unwrap().remove(key).expect(key);
    }
    let path = dir.path().join(CONFIG_FILE);
    fs::write(&path, json.to_string()).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap(), TrainConfig::long());
    // And the new fields round-trip.
    TrainConfig::default().save(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap(), TrainConfig::default());
    // `valid_subset` is left out of the file when `None`, so that the files of runs
    // trained before it existed read and write back unchanged, and kept when set.
    assert!(!fs::read_to_string(&path).unwrap().contains("valid_subset"));
    let quick = TrainConfig {
        valid_subset: Some(30),
        ..TrainConfig::default()
    };
    quick.save(&path).unwrap();
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains("\"valid_subset\": 30")
    );
    assert_eq!(TrainConfig::load(&path).unwrap(), quick);
    // `model.test_time_flip` likewise: written when on (the default recipe's), left
    // out when off, so the long recipe's file has no such key and reads back as off.
    TrainConfig::default().save(&path).unwrap();
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains("\"test_time_flip\": true")
    );
    TrainConfig::long().save(&path).unwrap();
    assert!(
        !fs::read_to_string(&path)
            .unwrap()
            .contains("test_time_flip")
    );
    assert!(!TrainConfig::load(&path).unwrap().model.test_time_flip);
}

/// `train_subset` and `valid_subset` cut the split's two parts to the first images of
/// each class, in split order, and leave the rest of the split as it is; a subset larger
/// than its part changes nothing.
#[test]
fn subsets_take_the_first_images_of_each_class_of_their_split() {
    let data = data();
    let (train_all, valid_all) = step::split(&tiny(1), &data).unwrap();
    assert_eq!(
        (train_all.len(), valid_all.len()),
        (40, 10),
        "5 images of each class, 20 % held out"
    );
    let cut = TrainConfig {
        train_subset: Some(15),
        valid_subset: Some(5),
        ..tiny(1)
    };
    let (train, valid) = step::split(&cut, &data).unwrap();
    assert_eq!((train.len(), valid.len()), (15, 5));
    for (part, all, per_class) in [(&train, &train_all, 2), (&valid, &valid_all, 1)] {
        // Each image of the subset is one of its part's, and no class has more than
        // its share, ⌈k / 10⌉.
        for i in 0..part.len() {
            let img = part.images.index_axis(ndarray::Axis(0), i);
            assert!(
                (0..all.len()).any(|j| all.images.index_axis(ndarray::Axis(0), j) == img
                    && all.labels[j] == part.labels[i])
            );
        }
        for c in 0..NUM_CLASSES {
            assert!(part.indices_of_class(c).len() <= per_class);
        }
    }
    // Every class is in the 5-image validation subset at most once: 5 distinct classes.
    let mut classes: Vec<u8> = valid.labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    assert_eq!(classes.len(), 5);
    let whole = TrainConfig {
        train_subset: Some(1000),
        valid_subset: Some(1000),
        ..tiny(1)
    };
    let (train, valid) = step::split(&whole, &data).unwrap();
    assert_eq!((train.len(), valid.len()), (40, 10));
}

/// Label smoothing moves ε of each target's mass onto the ten classes evenly; every row
/// still sums to 1, and ε = 0 gives the plain one-hot rows.
#[test]
fn smoothed_targets_keep_their_mass() {
    let dev = Cpu::default();
    let plain = one_hot(&dev, &[2, 0], 0.0).unwrap().as_vec();
    assert_eq!(&plain[..10], &[0., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
    let smooth = one_hot(&dev, &[2, 0], 0.1).unwrap().as_vec();
    for row in smooth.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{row:?}");
    }
    assert!((smooth[2] - 0.91).abs() < 1e-6 && (smooth[3] - 0.01).abs() < 1e-6);
    assert!((smooth[10] - 0.91).abs() < 1e-6 && (smooth[12] - 0.01).abs() < 1e-6);
}

#[test]
fn the_long_recipe_s_learning_rate_follows_a_cosine_to_one_percent() {
    let c = TrainConfig {
        epochs: 5,
        learning_rate: 1.0,
        ..TrainConfig::long()
    };
    let lrs: Vec<f64> = (1..=5).map(|e| c.learning_rate_at(e, 0, 10)).collect();
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
    let t1 = train(&tiny(3), &d, part.path(), stop_after(1)).unwrap();
    assert!(!t1.finished);
    assert_eq!(t1.history.epochs.len(), 1);
    let t2 = train(&tiny(3), &d, part.path(), resuming()).unwrap();
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
    train(&tiny(2), &d, dir.path(), stop_after(1)).unwrap();
    let other = TrainConfig {
        batch_size: 4,
        ..tiny(2)
    };
    let err = train(&other, &d, dir.path(), resuming()).unwrap_err();
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
    // A single bright pixel moves by at most `max_shift` rows and (after flipping)
    // columns; with 0 it is only ever mirrored.
    for max_shift in [0, MAX_SHIFT, 2] {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut flipped, mut moved) = (0, 0);
        let m = max_shift as i64;
        for _ in 0..50 {
            let mut x = Array2::<f32>::zeros((1, 784));
            x[[0, 10 * 28 + 5]] = 1.0;
            augment(&mut x, max_shift, &mut rng);
            let pos = x
                .iter()
                .position(|&v| v == 1.0)
                .expect("pixel stays inside");
            assert_eq!(x.sum(), 1.0);
            let (r, c) = ((pos / 28) as i64, (pos % 28) as i64);
            assert!((r - 10).abs() <= m, "shift {max_shift}: row {r}");
            let plain = (c - 5).abs() <= m;
            let mirrored = (c - 22).abs() <= m;
            assert!(plain || mirrored, "shift {max_shift}: column {c}");
            flipped += usize::from(mirrored);
            moved += usize::from(r != 10 || (c != 5 && c != 22));
        }
        assert!((10..=40).contains(&flipped), "{flipped} of 50 flipped");
        assert_eq!(
            moved > 0,
            max_shift > 0,
            "shift {max_shift}: {moved} of 50 moved"
        );
    }
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
        (
            run.config.epochs,
            run.config.train_subset,
            run.config.valid_subset
        ),
        (2, Some(4000), Some(QUICK_VALID_SUBSET))
    );
    assert_eq!(shared_run_in(&root, false).dir, root.join("small-default"));
}

/// One batch per epoch: the step's loss is computed before the update, so a blow-up in
/// the last update of an epoch only shows in the weights and the validation loss.
fn one_batch_per_epoch(epochs: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 64,
        ..tiny(epochs)
    }
}

fn state_text(dir: &Path) -> String {
    fs::read_to_string(dir.join(STATE_FILE)).unwrap()
}

#[test]
fn an_epoch_ending_in_non_finite_values_is_not_saved() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        learning_rate: 1e30,
        ..one_batch_per_epoch(2)
    };
    let err = train(&config, &d, dir.path(), TrainOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NonFinite { epoch: 1, .. }), "{err}");
    assert!(
        err.to_string().contains("nothing of epoch 1 was saved"),
        "{err}"
    );
    assert!(
        !dir.path().join(BEST_FILE).exists(),
        "non-finite weights saved as best"
    );
    assert!(!resume_dir(dir.path(), 1).exists());
    let state = state_text(dir.path());
    assert!(!state.contains("null"), "{state}");
    assert_eq!(read_state(dir.path()).unwrap().epochs_done, 0);
}

#[test]
fn a_later_non_finite_epoch_leaves_the_last_good_checkpoint_loadable() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let config = one_batch_per_epoch(2);
    train(&config, &d, dir.path(), stop_after(1)).unwrap();
    let best = fs::read(dir.path().join(BEST_FILE)).unwrap();
    let history = fs::read(dir.path().join(HISTORY_FILE)).unwrap();
    // Poison the optimiser's moments: epoch 2's only update turns every weight to NaN
    // after its (finite) loss was computed.
    let opt = resume_dir(dir.path(), 1).join(OPTIMIZER_FILE);
    let mut adam = Adam::from_bytes(&fs::read(&opt).unwrap(), &opt).unwrap();
    adam.m.iter_mut().flatten().for_each(|m| *m = f32::NAN);
    fs::write(&opt, adam.to_bytes()).unwrap();

    let err = train(&config, &d, dir.path(), resuming()).unwrap_err();
    match &err {
        Error::NonFinite { epoch, what, value } => {
            assert_eq!(*epoch, 2);
            assert!(what.starts_with("parameter tensor "), "{what}");
            assert!(value.is_nan());
        }
        e => panic!("expected NonFinite, got {e}"),
    }
    assert_eq!(fs::read(dir.path().join(BEST_FILE)).unwrap(), best);
    assert_eq!(fs::read(dir.path().join(HISTORY_FILE)).unwrap(), history);
    let state = read_state(dir.path()).unwrap();
    assert_eq!((state.epochs_done, state.best_epoch), (1, Some(1)));
    assert!(!resume_dir(dir.path(), 2).exists());
    assert!(!state_text(dir.path()).contains("null"));
    let loaded = load_checkpoint(dir.path()).unwrap();
    assert_eq!(loaded.history.epochs.len(), 1);
}

#[test]
fn a_state_with_a_non_finite_number_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = RunState {
        epochs_done: 0,
        best_epoch: None,
        best_valid_loss: None,
        finished: false,
        history: History::default(),
    };
    write_state(dir.path(), &state).unwrap();
    assert!(!state_text(dir.path()).contains("null"));
    state.best_valid_loss = Some(f64::NAN);
    let err = write_state(dir.path(), &state).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { path, .. } if path.ends_with(STATE_FILE)),
        "{err}"
    );
    // The previous file is untouched.
    assert_eq!(read_state(dir.path()).unwrap().best_valid_loss, None);
}

#[test]
fn training_into_a_directory_holding_a_run_needs_resume_or_overwrite() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap();
    let best = fs::read(dir.path().join(BEST_FILE)).unwrap();
    let err = train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap_err();
    match &err {
        Error::RunExists { dir: d, what } => {
            assert_eq!(d, dir.path());
            assert_eq!(what, "a finished run (1 epoch) of the same configuration");
        }
        e => panic!("expected RunExists, got {e}"),
    }
    let other = TrainConfig { seed: 8, ..tiny(1) };
    let err = train(&other, &d, dir.path(), TrainOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("of another configuration"),
        "{err}"
    );
    assert_eq!(fs::read(dir.path().join(BEST_FILE)).unwrap(), best);

    // Overwriting removes the old run's files, stale ones included, and nothing else.
    fs::create_dir(resume_dir(dir.path(), 7)).unwrap();
    fs::write(dir.path().join("test_predictions.csv"), "stale").unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let stopped = TrainOptions {
        overwrite: true,
        stop_after: Some(0),
        ..TrainOptions::default()
    };
    train(&other, &d, dir.path(), stopped).unwrap();
    assert!(!resume_dir(dir.path(), 7).exists());
    assert!(!dir.path().join("test_predictions.csv").exists());
    assert!(!dir.path().join(BEST_FILE).exists());
    assert!(dir.path().join("notes.txt").exists());
    assert_eq!(
        TrainConfig::load(&dir.path().join(CONFIG_FILE)).unwrap(),
        other
    );
}

#[test]
fn train_or_load_never_trains_over_a_run_it_cannot_read() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap();
    let best = fs::read(dir.path().join(BEST_FILE)).unwrap();
    for (file, text) in [(CONFIG_FILE, "{ \"epochs\": "), (STATE_FILE, "not json")] {
        let path = dir.path().join(file);
        let good = fs::read(&path).unwrap();
        fs::write(&path, text).unwrap();
        let err = train_or_load(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Checkpoint { path: p, .. } if p == &path),
            "{file}: {err}"
        );
        assert!(err.to_string().contains("not training over it"), "{err}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text,
            "{file} was replaced"
        );
        assert_eq!(fs::read(dir.path().join(BEST_FILE)).unwrap(), best);
        fs::write(&path, good).unwrap();
    }
    fs::remove_file(dir.path().join(CONFIG_FILE)).unwrap();
    let err = train_or_load(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap_err();
    assert!(err.to_string().contains(CONFIG_FILE), "{err}");
    assert_eq!(fs::read(dir.path().join(BEST_FILE)).unwrap(), best);
}

#[test]
fn a_second_writer_is_refused_naming_the_holder_and_a_stale_lock_is_taken_over() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let lock = RunLock::acquire(dir.path()).unwrap();
    let err = train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap_err();
    match &err {
        Error::Locked { path, holder } => {
            assert_eq!(path, &dir.path().join(LOCK_FILE));
            assert!(
                holder.starts_with(&format!("pid {} on host ", std::process::id())),
                "{holder}"
            );
        }
        e => panic!("expected Locked, got {e}"),
    }
    assert!(
        !dir.path().join(CONFIG_FILE).exists(),
        "the refused run wrote files"
    );
    drop(lock);
    // A lock file left behind by a process that died holds no lock: it is stale.
    fs::write(
        dir.path().join(LOCK_FILE),
        "pid 4000000 on host elsewhere\n",
    )
    .unwrap();
    train(&tiny(1), &d, dir.path(), TrainOptions::default()).unwrap();
}

/// Every `.tmp` file under `dir`, recursively.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            found.extend(temporaries(&p));
        } else if p.extension().is_some_and(|x| x == "tmp") {
            found.push(p);
        }
    }
    found
}

#[test]
fn a_full_disk_during_a_checkpoint_names_the_file_and_the_run_resumes_intact() {
    use fashion_data::io::fault::fail_writes_after;
    let d = data();
    let full = tempfile::tempdir().unwrap();
    train(&tiny(2), &d, full.path(), TrainOptions::default()).unwrap();
    let probe = tempfile::tempdir().unwrap();
    train(&tiny(2), &d, probe.path(), stop_after(1)).unwrap();
    let weights_len = fs::read(probe.path().join(BEST_FILE)).unwrap().len();
    // Epoch 2 writes its weights, then the optimiser state (twice their size): each of
    // these budgets runs out inside one of the two, before best weights and state.
    for after in [0, weights_len / 2, weights_len + 10, 2 * weights_len] {
        let dir = tempfile::tempdir().unwrap();
        train(&tiny(2), &d, dir.path(), stop_after(1)).unwrap();
        let best = fs::read(dir.path().join(BEST_FILE)).unwrap();
        let guard = fail_writes_after(after);
        let err = train(&tiny(2), &d, dir.path(), resuming()).unwrap_err();
        drop(guard);
        let Error::Data(fashion_data::Error::Io { path, source }) = &err else {
            panic!("{after}: expected an I/O error, got {err}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{err}");
        assert!(path.starts_with(dir.path()), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(temporaries(dir.path()), Vec::<PathBuf>::new(), "{after}");
        assert_eq!(read_state(dir.path()).unwrap().epochs_done, 1, "{after}");
        assert_eq!(fs::read(dir.path().join(BEST_FILE)).unwrap(), best);
        // With space again, the run resumes and ends exactly as an uninterrupted one.
        let t = train(&tiny(2), &d, dir.path(), resuming()).unwrap();
        assert!(t.finished);
        assert_eq!(weights(dir.path(), 2), weights(full.path(), 2), "{after}");
    }
}

#[test]
fn a_training_epoch_is_bit_identical_with_one_and_two_threads() {
    let d = data();
    for kind in [ModelKind::Small, ModelKind::Seed, ModelKind::ResNet] {
        let config = TrainConfig {
            model: ModelConfig {
                kind,
                ..ModelConfig::default()
            },
            ..tiny(1)
        };
        let run = |threads: usize| {
            let dir = tempfile::tempdir().unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let t = pool
                .install(|| train(&config, &d, dir.path(), TrainOptions::default()))
                .unwrap();
            (
                fs::read(dir.path().join(BEST_FILE)).unwrap(),
                untimed(&t.history),
            )
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.1, two.1, "{kind}: history differs");
        assert!(
            one.0 == two.0,
            "{kind}: weights differ between 1 and 2 threads"
        );
        // Called from this thread, outside any pool: each step is handed to the global
        // pool (crate::on_pool).
        assert!(rayon::current_thread_index().is_none());
        let dir = tempfile::tempdir().unwrap();
        let t = train(&config, &d, dir.path(), TrainOptions::default()).unwrap();
        assert_eq!(untimed(&t.history), one.1, "{kind}: history differs");
        assert!(
            fs::read(dir.path().join(BEST_FILE)).unwrap() == one.0,
            "{kind}: weights differ when the steps are handed to the global pool"
        );
    }
}

#[test]
fn the_checkpoint_readers_never_panic_and_name_the_file() {
    use fashion_data::fuzz::{Budget, fuzz};
    use fuzzing::CheckpointReaders;
    let mut readers = CheckpointReaders::new().unwrap();
    for (i, target) in CheckpointReaders::TARGETS.into_iter().enumerate() {
        let seed = readers.seed(target).to_vec();
        readers.read(target, &seed).unwrap();
        let file = CheckpointReaders::file_name(target);
        let n = if target == "weights" { 400 } else { 2000 };
        let r = fuzz(target, &[seed], file, Budget::inputs(n), i as u64, |b| {
            readers.read(target, b)
        });
        assert_eq!(r.inputs, n);
        assert!(r.refused > n / 4, "{r}");
    }
}

#[test]
fn optimiser_state_of_another_shape_is_refused() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    train(&tiny(2), &d, dir.path(), stop_after(1)).unwrap();
    let opt = resume_dir(dir.path(), 1).join(OPTIMIZER_FILE);
    let mut adam = Adam::from_bytes(&fs::read(&opt).unwrap(), &opt).unwrap();
    adam.m[0].pop();
    adam.v[0].pop();
    fs::write(&opt, adam.to_bytes()).unwrap();
    let err = train(&tiny(2), &d, dir.path(), resuming()).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { path, .. } if path == &opt),
        "{err}"
    );
    assert!(err.to_string().contains("does not fit the model"), "{err}");
    // A length field claiming more than the file holds, or than usize can hold.
    let mut bytes = Adam::default().to_bytes();
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(Adam::from_bytes(&bytes, &opt).is_err());
}
