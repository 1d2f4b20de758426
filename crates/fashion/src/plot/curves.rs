//! Learning curves: train vs validation accuracy and loss per epoch, two panels.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::counts::SPLIT_COLORS;
use super::{Chart, bold, draw_text, font, plot_err, register_fonts, title_height};
use crate::error::{Error, Result};
use crate::train::History;

const WIDTH: u32 = 980;
const HEIGHT: u32 = 420;
const MARGIN: i32 = 14;
const TITLE_FONT: f64 = 20.0;
const PANEL_TITLE_FONT: f64 = 16.0;
const TICK_FONT: f64 = 13.0;
const LEGEND_FONT: f64 = 14.0;
const LEFT: i32 = 64;
const BOTTOM: i32 = 46;

/// Two panels side by side, like the original project's figure: accuracy (left) and
/// loss (right) per epoch, training in blue and validation in orange, with markers at
/// every epoch and the best validation epoch marked.
///
/// ```
/// use fashion::plot::{render_svg, LearningCurves};
/// use fashion::train::{EpochRecord, History};
/// # fn main() -> fashion::Result<()> {
/// let rec = |epoch, tl, ta, vl, va| EpochRecord {
///     epoch, train_loss: tl, train_accuracy: ta, valid_loss: vl, valid_accuracy: va,
///     learning_rate: 1e-3, seconds: 1.0, images_per_sec: 100.0,
/// };
/// let history = History { epochs: vec![rec(1, 0.6, 0.78, 0.45, 0.84), rec(2, 0.4, 0.86, 0.38, 0.87)] };
/// let svg = render_svg(&LearningCurves::new(&history)?)?;
/// assert!(svg.0.contains("validation") && svg.0.contains("accuracy"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LearningCurves {
    history: History,
    title: String,
}

impl LearningCurves {
    /// Curves of a training history.
    ///
    /// # Errors
    /// [`Error::Params`] if the history has no epoch.
    pub fn new(history: &History) -> Result<LearningCurves> {
        let Some(best) = history.best() else {
            return Err(Error::invalid("history", "at least one epoch", "none"));
        };
        let title = format!(
            "Learning curves ({} epochs; best validation loss {:.4} at epoch {}, accuracy {:.4})",
            history.epochs.len(),
            best.valid_loss,
            best.epoch,
            best.valid_accuracy
        );
        Ok(LearningCurves {
            history: history.clone(),
            title,
        })
    }

    /// Replaces the title.
    pub fn with_title(mut self, title: impl Into<String>) -> LearningCurves {
        self.title = title.into();
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        (x0, y0, x1, y1): (i32, i32, i32, i32),
        name: &str,
        train: &[f64],
        valid: &[f64],
        best: usize,
    ) -> Result<()> {
        let n = train.len();
        let all = train.iter().chain(valid);
        let (mut lo, mut hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(Error::invalid(
                "history",
                "finite losses and accuracies",
                "NaN",
            ));
        }
        let pad = ((hi - lo) * 0.08).max(1e-3);
        lo -= pad;
        hi += pad;
        let (pl, pr, pt, pb) = (x0 + LEFT, x1 - 10, y0 + 28, y1 - BOTTOM);
        let px = |e: f64| -> i32 {
            if n <= 1 {
                (pl + pr) / 2
            } else {
                pl + ((e - 1.0) / (n as f64 - 1.0) * f64::from(pr - pl - 16)) as i32 + 8
            }
        };
        let py = |v: f64| -> i32 { pb - ((v - lo) / (hi - lo) * f64::from(pb - pt)) as i32 };

        draw_text(
            area,
            name,
            ((pl + pr) / 2, y0 + 4),
            &bold(PANEL_TITLE_FONT),
            HPos::Center,
            VPos::Top,
        )?;
        // Horizontal grid with 5 ticks.
        let grid = BLACK.mix(0.12);
        let ticks = font(TICK_FONT);
        for k in 0..=4 {
            let v = lo + (hi - lo) * f64::from(k) / 4.0;
            let y = py(v);
            area.draw(&PathElement::new(vec![(pl, y), (pr, y)], grid))
                .map_err(plot_err)?;
            let label = format!("{v:.3}");
            draw_text(area, &label, (pl - 6, y), &ticks, HPos::Right, VPos::Center)?;
        }
        // Epoch ticks: at most ~10 labels.
        let step = n.div_ceil(10).max(1);
        for e in (1..=n).filter(|e| (e - 1) % step == 0 || *e == n) {
            let x = px(e as f64);
            area.draw(&PathElement::new(vec![(x, pb), (x, pb + 4)], BLACK))
                .map_err(plot_err)?;
            let label = e.to_string();
            draw_text(area, &label, (x, pb + 6), &ticks, HPos::Center, VPos::Top)?;
        }
        draw_text(
            area,
            "epoch",
            ((pl + pr) / 2, pb + 24),
            &font(TICK_FONT + 1.0),
            HPos::Center,
            VPos::Top,
        )?;
        // Best epoch.
        let bx = px(best as f64);
        area.draw(&PathElement::new(
            vec![(bx, pt), (bx, pb)],
            BLACK.mix(0.35).stroke_width(1),
        ))
        .map_err(plot_err)?;
        for (k, series) in [train, valid].into_iter().enumerate() {
            let color = SPLIT_COLORS[k];
            let pts: Vec<(i32, i32)> = series
                .iter()
                .enumerate()
                .map(|(i, &v)| (px(i as f64 + 1.0), py(v)))
                .collect();
            area.draw(&PathElement::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_err)?;
            for p in pts {
                area.draw(&Circle::new(p, 3, color.filled()))
                    .map_err(plot_err)?;
            }
        }
        area.draw(&PathElement::new(vec![(pl, pt), (pl, pb), (pr, pb)], BLACK))
            .map_err(plot_err)?;
        Ok(())
    }
}

impl Chart for LearningCurves {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let mut top = MARGIN;
        draw_text(
            area,
            &self.title,
            ((WIDTH / 2) as i32, top),
            &bold(TITLE_FONT),
            HPos::Center,
            VPos::Top,
        )?;
        top += title_height(&Some(self.title.clone()), TITLE_FONT) as i32;

        // Legend.
        let style = font(LEGEND_FONT);
        let names = ["training", "validation", "best epoch"];
        let mut x = (WIDTH as i32) / 2 - 180;
        let cy = top + 8;
        for (k, name) in names.iter().enumerate() {
            let line = match k {
                0 | 1 => SPLIT_COLORS[k].stroke_width(3),
                _ => BLACK.mix(0.35).stroke_width(1),
            };
            area.draw(&PathElement::new(vec![(x, cy), (x + 24, cy)], line))
                .map_err(plot_err)?;
            draw_text(area, name, (x + 30, cy), &style, HPos::Left, VPos::Center)?;
            x += 30 + style.width(name)? as i32 + 28;
        }
        top += 24;

        let h = &self.history.epochs;
        let best = self.history.best().map_or(1, |b| b.epoch);
        let best_index = h.iter().position(|r| r.epoch == best).unwrap_or(0) + 1;
        let get = |f: fn(&crate::train::EpochRecord) -> f64| h.iter().map(f).collect::<Vec<_>>();
        let half = (WIDTH / 2) as i32;
        self.panel(
            area,
            (MARGIN, top, half, HEIGHT as i32 - MARGIN),
            "accuracy",
            &get(|r| r.train_accuracy),
            &get(|r| r.valid_accuracy),
            best_index,
        )?;
        self.panel(
            area,
            (half, top, WIDTH as i32 - MARGIN, HEIGHT as i32 - MARGIN),
            "loss (cross-entropy)",
            &get(|r| r.train_loss),
            &get(|r| r.valid_loss),
            best_index,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::svg_texts;
    use super::super::{render_png, render_svg};
    use super::*;
    use crate::train::EpochRecord;

    fn history(n: usize) -> History {
        History {
            epochs: (1..=n)
                .map(|e| {
                    let t = e as f64;
                    EpochRecord {
                        epoch: e,
                        train_loss: 1.0 / t,
                        train_accuracy: 1.0 - 0.5 / t,
                        valid_loss: 0.8 / t + 0.02 * t,
                        valid_accuracy: 0.9 - 0.1 / t,
                        learning_rate: 1e-3,
                        seconds: 1.0,
                        images_per_sec: 10.0,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn titles_legend_ticks_and_best_epoch() {
        // valid loss 0.8/t + 0.02t is lowest at t = √40 ≈ 6.3: epoch 6.
        let chart = LearningCurves::new(&history(12)).unwrap();
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert!(
            texts[0].contains("12 epochs") && texts[0].contains("at epoch 6"),
            "{}",
            texts[0]
        );
        for t in [
            "training",
            "validation",
            "best epoch",
            "accuracy",
            "loss (cross-entropy)",
            "epoch",
            "12",
        ] {
            assert!(texts.iter().any(|x| x == t), "missing {t}: {texts:?}");
        }
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some((WIDTH, HEIGHT)));
    }

    #[test]
    fn single_epoch_and_empty_history() {
        assert!(render_png(&LearningCurves::new(&history(1)).unwrap()).is_ok());
        assert!(LearningCurves::new(&History::default()).is_err());
    }
}
