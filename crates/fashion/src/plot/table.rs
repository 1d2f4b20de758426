//! HTML tables for polars DataFrames (evcxr shows DataFrames only as text).

use std::fmt::Write as _;

use polars::prelude::{AnyValue, Column, DataFrame};

use super::Html;

/// How [`html_table_with`] renders a DataFrame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// At most this many rows are shown; a longer frame shows its first and last rows
    /// around a row of ellipses (default 20).
    pub max_rows: usize,
    /// Digits after the decimal point for floats (default 4); very small or large
    /// magnitudes use scientific notation with as many digits.
    pub float_decimals: usize,
    /// Show each column's data type under its name (default `true`).
    pub show_dtypes: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            max_rows: 20,
            float_decimals: 4,
            show_dtypes: true,
        }
    }
}

impl TableOptions {
    /// Default options with another row limit.
    pub fn max_rows(max_rows: usize) -> Self {
        TableOptions {
            max_rows,
            ..TableOptions::default()
        }
    }
}

/// Renders `df` as an HTML table with the default [`TableOptions`].
///
/// ```
/// use fashion::polars::prelude::*;
/// let df = df!("class" => ["Bag", "Coat"], "share" => [0.123456, 0.5]).unwrap();
/// let html = fashion::plot::html_table(&df);
/// assert!(html.0.contains("<td class=\"num\">0.1235</td>"));
/// assert!(html.0.contains("(2 rows × 2 columns)"));
/// // In a notebook: html.evcxr_display();
/// ```
pub fn html_table(df: &DataFrame) -> Html {
    html_table_with(df, &TableOptions::default())
}

/// Renders `df` as a self-contained HTML table: column names with their data types,
/// numbers right-aligned, floats rounded, nulls shown as a grey `null`, all text
/// HTML-escaped, at most `options.max_rows` rows, and a caption with the shape.
pub fn html_table_with(df: &DataFrame, options: &TableOptions) -> Html {
    const CLASS: &str = "fashion-df";
    let (height, width) = df.shape();
    let mut h = String::new();
    h.push_str("<div class=\"fashion-df\"><style>");
    let _ = write!(
        h,
        ".{CLASS} table {{ border-collapse: collapse; border: none; font-size: 13px; \
         font-family: sans-serif; color: #111; background: #fff; margin: 0; }}\n\
         .{CLASS} th, .{CLASS} td {{ padding: 3px 10px; border: none; \
         border-bottom: 1px solid #e4e4e4; text-align: left; white-space: nowrap; \
         vertical-align: bottom; }}\n\
         .{CLASS} thead th {{ border-bottom: 2px solid #555; font-weight: bold; }}\n\
         .{CLASS} th .dtype {{ display: block; font-weight: normal; font-size: 11px; \
         color: #777; }}\n\
         .{CLASS} tbody tr:nth-child(even) {{ background: #f6f6f6; }}\n\
         .{CLASS} tbody tr:hover {{ background: #e8f0fb; }}\n\
         .{CLASS} .num {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .{CLASS} .null {{ color: #999; font-style: italic; }}\n\
         .{CLASS} td.long {{ white-space: normal; min-width: 16em; max-width: 34em; }}\n\
         .{CLASS} .more td {{ color: #777; text-align: center; }}\n\
         .{CLASS} caption {{ caption-side: bottom; text-align: left; color: #555; \
         font-size: 12px; padding-top: 4px; }}\n"
    );
    h.push_str("</style><table>");
    let _ = write!(
        h,
        "<caption>({height} {} × {width} {})</caption>",
        plural(height, "row", "rows"),
        plural(width, "column", "columns")
    );

    h.push_str("<thead><tr>");
    for col in df.columns() {
        let align = if is_numeric(col) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(h, "<th{align}>{}", escape(col.name().as_str()));
        if options.show_dtypes {
            let _ = write!(
                h,
                "<span class=\"dtype\">{}</span>",
                escape(&col.dtype().to_string())
            );
        }
        h.push_str("</th>");
    }
    h.push_str("</tr></thead><tbody>");

    let (head, tail) = if height > options.max_rows {
        let head = options.max_rows.div_ceil(2);
        (head, options.max_rows - head)
    } else {
        (height, 0)
    };
    for row in 0..head {
        push_row(&mut h, df, row, options);
    }
    if head + tail < height {
        h.push_str("<tr class=\"more\">");
        for _ in 0..width.max(1) {
            h.push_str("<td>…</td>");
        }
        h.push_str("</tr>");
    }
    for row in height - tail..height {
        push_row(&mut h, df, row, options);
    }
    h.push_str("</tbody></table></div>");
    Html(h)
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn is_numeric(col: &Column) -> bool {
    col.dtype().is_primitive_numeric()
}

/// Text cells longer than this many characters wrap (the others stay on one line).
const LONG_TEXT: usize = 60;

fn push_row(h: &mut String, df: &DataFrame, row: usize, options: &TableOptions) {
    h.push_str("<tr>");
    for col in df.columns() {
        let (class, text) = match col.get(row) {
            Ok(AnyValue::Null) => ("null", "null".to_string()),
            Ok(v) => {
                let text = cell_text(&v, options.float_decimals);
                let class = if is_numeric(col) {
                    "num"
                } else if text.chars().count() > LONG_TEXT {
                    "long"
                } else {
                    ""
                };
                (class, text)
            }
            Err(e) => ("null", format!("error: {e}")),
        };
        if class.is_empty() {
            let _ = write!(h, "<td>{}</td>", escape(&text));
        } else {
            let _ = write!(h, "<td class=\"{class}\">{}</td>", escape(&text));
        }
    }
    h.push_str("</tr>");
}

/// The text of one cell: strings without quotes, floats rounded, the rest as polars
/// prints them.
fn cell_text(v: &AnyValue<'_>, decimals: usize) -> String {
    match v {
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float32(x) => format_float(*x as f64, decimals),
        AnyValue::Float64(x) => format_float(*x, decimals),
        other => other.to_string(),
    }
}

/// `decimals` digits after the point; scientific notation below 1e-4 or from 1e9 on.
pub(crate) fn format_float(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e9).contains(&a) {
        format!("{x:.decimals$e}")
    } else {
        format!("{x:.decimals$}")
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    /// The `<tbody>` rows, each as the list of its cells' inner HTML.
    fn body_rows(html: &str) -> Vec<Vec<String>> {
        let body = html.split("<tbody>").nth(1).unwrap();
        let body = body.split("</tbody>").next().unwrap();
        body.split("</tr>")
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.split("</td>")
                    .filter_map(|c| c.rfind('>').map(|i| c[i + 1..].to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn escapes_text_shows_nulls_and_formats_floats() {
        let df = df!(
            "name <b>" => ["a<b", "R&D", "\"q\""],
            "x" => [Some(1.0f64), None, Some(0.000012345)],
            "n" => [Some(1i64), Some(-20), None],
        )
        .unwrap();
        let html = html_table(&df).0;
        assert!(
            html.contains("<th>name &lt;b&gt;<span class=\"dtype\">str</span></th>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"dtype\">f64</span>"));
        assert!(html.contains("<span class=\"dtype\">i64</span>"));
        assert!(!html.contains("a<b") && !html.contains("<b>"));
        assert_eq!(
            body_rows(&html),
            [
                ["a&lt;b", "1.0000", "1"],
                ["R&amp;D", "null", "-20"],
                ["&quot;q&quot;", "1.2345e-5", "null"],
            ]
        );
        assert!(html.contains("<td class=\"null\">null</td>"));
        assert!(html.contains("<caption>(3 rows × 3 columns)</caption>"));
        // Styles are scoped by the wrapper's class.
        assert!(html.starts_with("<div class=\"fashion-df\"><style>.fashion-df table"));
    }

    #[test]
    fn long_frames_show_head_ellipsis_tail() {
        let df = df!("i" => (0..11u32).collect::<Vec<_>>()).unwrap();
        let html = html_table_with(&df, &TableOptions::max_rows(5)).0;
        let rows = body_rows(&html);
        let firsts: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(firsts, ["0", "1", "2", "…", "9", "10"]);
        assert!(html.contains("<tr class=\"more\">"));
        assert!(html.contains("(11 rows × 1 column)"));

        // Exactly max_rows rows: no ellipsis.
        let html = html_table_with(&df, &TableOptions::max_rows(11)).0;
        assert_eq!(body_rows(&html).len(), 11);
        assert!(!html.contains("…"));
        // max_rows 0: only the ellipsis row.
        let html = html_table_with(&df, &TableOptions::max_rows(0)).0;
        assert_eq!(body_rows(&html), [["…"]]);
    }

    #[test]
    fn options_change_digits_and_dtypes() {
        let df = df!("v" => [2.0f32 / 3.0], "big" => [1.5e12f64]).unwrap();
        let opts = TableOptions {
            float_decimals: 2,
            show_dtypes: false,
            ..TableOptions::default()
        };
        let html = html_table_with(&df, &opts).0;
        assert_eq!(body_rows(&html), [["0.67", "1.50e12"]]);
        assert!(!html.contains("dtype\">"));
        assert!(html.contains("(1 row × 2 columns)"));
    }

    #[test]
    fn float_formatting() {
        assert_eq!(format_float(0.0, 4), "0.0000");
        assert_eq!(format_float(-12.34567, 4), "-12.3457");
        assert_eq!(format_float(123456.0, 4), "123456.0000");
        assert_eq!(format_float(f64::NAN, 4), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY, 4), "-inf");
        assert_eq!(format_float(-0.00005, 3), "-5.000e-5");
    }

    #[test]
    fn empty_frame_still_renders() {
        let df = DataFrame::empty();
        let html = html_table(&df).0;
        assert!(html.contains("(0 rows × 0 columns)"));
        assert!(html.ends_with("</tbody></table></div>"));
    }
}
