//! Line charts rendered on the server as inline SVG, for the security pages: no script, no
//! external resource and no `style` attribute (the admin CSP refuses inline style), only SVG
//! presentation attributes, which the CSP does not govern.
//!
//! Pure functions: counts per window go into [`buckets`], the buckets into a [`Chart`], the chart
//! into markup with [`figure`] (the SVG with its `<title>` and `<desc>`, then an HTML legend that
//! says each line's peak and average in words). Labels are route templates and client ids, which
//! anyone can influence: every text that reaches the markup goes through [`escape`].

use std::fmt::Write as _;

/// One line: a label and one value per bucket (per minute, already reduced).
pub(crate) struct Line {
    pub(crate) label: String,
    pub(crate) values: Vec<f64>,
    /// Its colour; `None` takes the next of the palette.
    pub(crate) colour: Option<&'static str>,
}

/// A horizontal band behind the lines: a client's usual rate (the baseline's mean) up to the
/// rate that raises an event (its threshold).
pub(crate) struct Band {
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// What the band is, for the legend (`usual rate`, `learning`…).
    pub(crate) label: String,
}

/// A chart of lines over time.
pub(crate) struct Chart {
    /// Unique on the page; only `[a-z0-9-]` is kept (it names the SVG's title and description).
    pub(crate) id: String,
    /// What the chart shows, for its `<title>`.
    pub(crate) title: String,
    /// The unit of the values (`per minute`).
    pub(crate) unit: String,
    /// The start of the first bucket, unix seconds.
    pub(crate) start: i64,
    /// The length of a bucket, seconds.
    pub(crate) step: i64,
    pub(crate) lines: Vec<Line>,
    pub(crate) band: Option<Band>,
    /// Drawn for a whole page width on wide screens (and for half of one on narrow screens,
    /// which the stylesheet picks between).
    pub(crate) wide: bool,
}

/// How the per-minute counts of a bucket become its one value.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Reduce {
    /// The busiest minute of the bucket (what a threshold per minute is compared with).
    Peak,
    /// The average per minute over the bucket (the part of it that has passed, for the last).
    PerMinute,
}

/// Colours of the lines, in order (the last one is kept for "other").
const PALETTE: [&str; 6] = [
    "#2f55d4", "#d9480f", "#0f8a78", "#8e44ad", "#c2255c", "#6b7280",
];
/// The colour of a single line of failures.
pub(crate) const RED: &str = "#b42318";
/// The colour of a single line of refusals.
pub(crate) const AMBER: &str = "#b25e09";

/// The colour of line `index` of `count`: its own, else the palette in order, grey for a last
/// line named "other".
fn colour(index: usize, line: &Line, count: usize) -> &'static str {
    if let Some(colour) = line.colour {
        return colour;
    }
    if line.label == OTHER && index + 1 == count {
        return PALETTE[PALETTE.len() - 1];
    }
    PALETTE[index % (PALETTE.len() - 1)]
}

/// The label of the line that sums every route not shown on its own.
pub(crate) const OTHER: &str = "other";

/// The size of a drawing in SVG user units (it scales to its box) and its text size.
#[derive(Clone, Copy, Debug)]
struct Size {
    width: f64,
    height: f64,
    font: u32,
}

/// Half a desktop page, or a phone: text stays readable when scaled to either.
const NARROW: Size = Size {
    width: 520.0,
    height: 240.0,
    font: 14,
};
/// A whole desktop page.
const WIDE: Size = Size {
    width: 1000.0,
    height: 260.0,
    font: 12,
};

// Margins of the plot inside the drawing.
const LEFT: f64 = 46.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;
/// X-axis labels every three hours, on the hour (UTC).
const TICK_SECS: i64 = 3 * 3600;

/// `n` buckets of `step` seconds from `start`, from per-minute `(window_start, count)` pairs,
/// each reduced by `reduce`; `now` bounds the last bucket's elapsed minutes.
pub(crate) fn buckets(
    counts: impl IntoIterator<Item = (i64, i64)>,
    start: i64,
    step: i64,
    n: usize,
    reduce: Reduce,
    now: i64,
) -> Vec<f64> {
    let mut values = vec![0.0; n];
    if step <= 0 {
        return values;
    }
    for (window, count) in counts {
        if window < start {
            continue;
        }
        let Ok(i) = usize::try_from((window - start) / step) else {
            continue;
        };
        let Some(value) = values.get_mut(i) else {
            continue;
        };
        match reduce {
            Reduce::Peak => *value = value.max(count as f64),
            Reduce::PerMinute => *value += count as f64,
        }
    }
    if reduce == Reduce::PerMinute {
        for (i, value) in values.iter_mut().enumerate() {
            let bucket_start = start + i as i64 * step;
            // Minutes of the bucket that have begun: all of them, except in the current one.
            let elapsed = (now - bucket_start).clamp(1, step);
            let minutes = ((elapsed + 59) / 60).max(1);
            *value /= minutes as f64;
        }
    }
    values
}

/// The chart as a `<figure>`: the SVG (a labelled image whose description is the summary) and
/// a legend naming each line with its peak and average.
pub(crate) fn figure(chart: &Chart) -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("<figure class=\"chart\">");
    if chart.wide {
        // Two drawings; the stylesheet shows one (`display: none` hides the other from
        // assistive technology too).
        out.push_str(&drawing(chart, WIDE, "", Some("chart-wide")));
        out.push_str(&drawing(chart, NARROW, "-narrow", Some("chart-narrow")));
    } else {
        out.push_str(&svg(chart));
    }
    out.push_str("<figcaption>");
    out.push_str(&legend(chart));
    out.push_str("</figcaption></figure>");
    out
}

/// The SVG of `chart`: axes with labels, grid, the band, one polyline per line, and an
/// accessible `<title>` and `<desc>`.
pub(crate) fn svg(chart: &Chart) -> String {
    drawing(chart, NARROW, "", None)
}

/// The SVG of `chart` at `size`; `suffix` makes its ids unique, `class` is its CSS class.
fn drawing(chart: &Chart, size: Size, suffix: &str, class: Option<&str>) -> String {
    let Size {
        width,
        height,
        font,
    } = size;
    let id = format!("{}{suffix}", safe_id(&chart.id));
    let class = class.map(|c| format!(" class=\"{c}\"")).unwrap_or_default();
    let n = chart
        .lines
        .iter()
        .map(|l| l.values.len())
        .max()
        .unwrap_or(0);
    let (top, step) = scale(visible_max(data_max(chart), chart.band.as_ref()));
    let plot_w = width - LEFT - RIGHT;
    let plot_h = height - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (1.0 - (v / top).clamp(0.0, 1.0));
    let x = |i: usize| {
        if n <= 1 {
            LEFT
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\"{class} viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
         font-family=\"system-ui, sans-serif\" font-size=\"{font}\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(&chart.title),
        escape(&summary(chart)),
    );
    // The band first, so that the lines are drawn over it.
    if let Some(band) = &chart.band {
        let (y_high, y_low) = (y(band.high), y(band.low));
        let _ = write!(
            out,
            "<rect x=\"{LEFT}\" y=\"{y_high:.1}\" width=\"{plot_w}\" height=\"{:.1}\" \
             fill=\"#18794e\" fill-opacity=\"0.12\"/>",
            (y_low - y_high).max(0.0)
        );
        if band.high <= top {
            let _ = write!(
                out,
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y_high:.1}\" y2=\"{y_high:.1}\" \
                 stroke=\"{RED}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{RED}\">threshold {}</text>",
                LEFT + plot_w,
                LEFT + plot_w - 4.0,
                y_high - 4.0,
                number(band.high)
            );
        }
    }
    // Horizontal grid with the y labels.
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let ty = y(tick);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#dde2ea\" \
             stroke-width=\"1\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" \
             fill=\"#5b6477\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            ty + 4.0,
            number(tick)
        );
        tick += step;
    }
    // Time labels every three hours (UTC), with a faint vertical line.
    if n > 1 && chart.step > 0 {
        let end = chart.start + (n as i64 - 1) * chart.step;
        let mut t = chart.start.div_euclid(TICK_SECS) * TICK_SECS;
        if t < chart.start {
            t += TICK_SECS;
        }
        while t <= end {
            let tx = LEFT + plot_w * (t - chart.start) as f64 / (end - chart.start) as f64;
            let _ = write!(
                out,
                "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#eef1f5\" \
                 stroke-width=\"1\"/>",
                TOP + plot_h,
            );
            // A label too close to an edge would run out of the drawing or into the next one.
            let room = 2.0 * f64::from(font);
            if tx >= LEFT + room && tx <= LEFT + plot_w - room {
                let _ = write!(
                    out,
                    "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6477\">{}</text>",
                    height - 10.0,
                    clock(t)
                );
            }
            t += TICK_SECS;
        }
    }
    // The axes.
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#5b6477\" stroke-width=\"1\"/>\
         <line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#5b6477\" stroke-width=\"1\"/>",
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    );
    let count = chart.lines.len();
    for (index, line) in chart.lines.iter().enumerate() {
        let mut points = String::with_capacity(line.values.len() * 12);
        for (i, v) in line.values.iter().enumerate() {
            if i > 0 {
                points.push(' ');
            }
            let _ = write!(points, "{:.1},{:.1}", x(i), y(*v));
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\" \
             stroke-linecap=\"round\" points=\"{points}\"><title>{}</title></polyline>",
            colour(index, line, count),
            escape(&line.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// The legend: a swatch, the label, and its peak and average, for each line; then the band.
pub(crate) fn legend(chart: &Chart) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    let count = chart.lines.len();
    for (index, line) in chart.lines.iter().enumerate() {
        let (peak, average) = peak_and_average(&line.values);
        let _ = write!(
            out,
            "<li><svg class=\"swatch\" viewBox=\"0 0 18 10\" width=\"18\" height=\"10\" \
             aria-hidden=\"true\"><line x1=\"1\" x2=\"17\" y1=\"5\" y2=\"5\" stroke=\"{}\" \
             stroke-width=\"3\" stroke-linecap=\"round\"/></svg><span class=\"legend-label\">{}</span> \
             <span class=\"legend-figures\">peak {}, average {} {}</span></li>",
            colour(index, line, count),
            escape(&line.label),
            number(peak),
            number(average),
            escape(&chart.unit)
        );
    }
    if let Some(band) = &chart.band {
        let _ = write!(
            out,
            "<li><svg class=\"swatch\" viewBox=\"0 0 18 10\" width=\"18\" height=\"10\" \
             aria-hidden=\"true\"><rect x=\"1\" y=\"1\" width=\"16\" height=\"8\" fill=\"#18794e\" \
             fill-opacity=\"0.2\"/></svg><span class=\"legend-label\">{}</span> \
             <span class=\"legend-figures\">{} to {} {}{}</span></li>",
            escape(&band.label),
            number(band.low),
            number(band.high),
            escape(&chart.unit),
            if band.high > axis_top(chart) {
                " (the threshold is above the chart)"
            } else {
                ""
            }
        );
    }
    out.push_str("</ul>");
    out
}

/// One sentence per line for the chart's description: its peak (with when) and average.
pub(crate) fn summary(chart: &Chart) -> String {
    if chart
        .lines
        .iter()
        .all(|l| l.values.iter().all(|v| *v == 0.0))
    {
        return format!("{}: nothing counted in this period.", chart.title);
    }
    let mut parts = Vec::with_capacity(chart.lines.len() + 1);
    for line in &chart.lines {
        let (peak, average) = peak_and_average(&line.values);
        let at = line
            .values
            .iter()
            .position(|v| *v == peak)
            .map(|i| clock(chart.start + i as i64 * chart.step))
            .unwrap_or_default();
        parts.push(format!(
            "{}: peak {} {} at {at} UTC, average {}",
            line.label,
            number(peak),
            chart.unit,
            number(average)
        ));
    }
    if let Some(band) = &chart.band {
        parts.push(format!(
            "{}: {} to {} {}",
            band.label,
            number(band.low),
            number(band.high),
            chart.unit
        ));
    }
    format!("{}. {}.", chart.title, parts.join("; "))
}

/// `text` safe inside XML/HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A number as the axes and legend show it: `0`, `2.5`, `42`, `1.2k`, `3.4M`.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_owned();
    }
    let a = v.abs();
    let text = if a >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    // `1.0k` reads better as `1k`, `2.50` as `2.5`.
    if text.contains('.') {
        let (digits, suffix) = text.split_at(text.trim_end_matches(['k', 'M']).len());
        let digits = digits.trim_end_matches('0').trim_end_matches('.');
        format!("{digits}{suffix}")
    } else {
        text
    }
}

/// The largest value of any line.
fn data_max(chart: &Chart) -> f64 {
    chart
        .lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .fold(0.0_f64, f64::max)
}

/// The top of the chart's y axis.
fn axis_top(chart: &Chart) -> f64 {
    scale(visible_max(data_max(chart), chart.band.as_ref())).0
}

/// The highest value the y axis must show: the data, the band's low end, and its high end
/// unless it is far above both (then it is named in the legend, off the chart).
fn visible_max(data_max: f64, band: Option<&Band>) -> f64 {
    let Some(band) = band else {
        return data_max;
    };
    let wanted = data_max.max(band.low);
    if band.high <= (wanted * 3.0).max(10.0) {
        wanted.max(band.high)
    } else {
        wanted
    }
}

/// The top of the y axis and the step between its labels: a step of 1, 2 or 5 × 10ⁿ, and at
/// most five labels above zero.
fn scale(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// The largest value and the mean of `values`.
fn peak_and_average(values: &[f64]) -> (f64, f64) {
    let peak = values.iter().copied().fold(0.0_f64, f64::max);
    let average = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    (peak, average)
}

/// `HH:MM` (UTC) of a unix time.
fn clock(t: i64) -> String {
    let minutes = t.rem_euclid(86_400) / 60;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `id` with only lower-case letters, digits and dashes (it becomes an XML id).
fn safe_id(id: &str) -> String {
    let kept: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("chart-{kept}")
}

#[cfg(test)]
mod tests;
