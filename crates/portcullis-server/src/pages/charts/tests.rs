//! The charts' unit tests: escaping, the accessible name, axes, bands, buckets and numbers.

use super::*;

fn chart(lines: Vec<Line>, band: Option<Band>) -> Chart {
    Chart {
        id: "requests".into(),
        title: "Requests per minute".into(),
        unit: "per minute".into(),
        start: 86_400,
        step: 600,
        lines,
        band,
        wide: false,
    }
}

fn line(label: &str, values: &[f64]) -> Line {
    Line {
        label: label.into(),
        values: values.to_vec(),
        colour: None,
    }
}

#[test]
fn labels_and_titles_are_escaped_everywhere() {
    let hostile = "<script>alert(1)</script>\"&'";
    let mut c = chart(
        vec![line(hostile, &[1.0, 2.0, 3.0])],
        Some(Band {
            low: 1.0,
            high: 2.0,
            label: hostile.into(),
        }),
    );
    c.title = hostile.into();
    c.unit = hostile.into();
    c.id = "x\" onload=\"y".into();
    let markup = figure(&c);
    assert!(!markup.contains("<script"), "{markup}");
    assert!(!markup.contains("\"&'"), "{markup}");
    assert!(!markup.contains("onload=\""), "{markup}");
    assert!(markup.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;"));
    assert!(markup.contains("id=\"chart-x--onload--y-title\""));
    assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
}

#[test]
fn the_svg_has_an_accessible_name_axes_and_one_polyline_per_line() {
    let c = chart(
        vec![
            line("/token", &[0.0, 4.0, 8.0]),
            line(OTHER, &[1.0, 1.0, 1.0]),
        ],
        None,
    );
    let svg = svg(&c);
    assert!(svg.starts_with("<svg "));
    assert!(svg.contains("role=\"img\""));
    assert!(svg.contains("aria-labelledby=\"chart-requests-title chart-requests-desc\""));
    assert!(svg.contains("<title id=\"chart-requests-title\">Requests per minute</title>"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    // Y labels 0 to 8 in steps of 2; the last point of /token at the top of the plot.
    for label in [">0<", ">2<", ">8<"] {
        assert!(svg.contains(label), "{label}");
    }
    assert!(svg.contains(&format!("{:.1},{TOP:.1}", NARROW.width - RIGHT)));
    // "other" is grey.
    assert!(svg.contains("stroke=\"#6b7280\""));
    // No style attribute (the CSP refuses inline style).
    assert!(!svg.contains("style="));
    let text = summary(&c);
    assert!(
        text.contains("/token: peak 8 per minute at 00:20 UTC, average 4"),
        "{text}"
    );
}

#[test]
fn a_wide_chart_has_a_narrow_twin_with_its_own_ids() {
    let c = Chart {
        wide: true,
        ..chart(vec![line("a", &[1.0, 2.0])], None)
    };
    let markup = figure(&c);
    assert_eq!(markup.matches("role=\"img\"").count(), 2);
    assert!(markup.contains("class=\"chart-wide\" viewBox=\"0 0 1000 260\""));
    assert!(markup.contains("class=\"chart-narrow\" viewBox=\"0 0 520 240\""));
    assert!(markup.contains("id=\"chart-requests-narrow-title\""));
    assert_eq!(markup.matches("id=\"chart-requests-title\"").count(), 1);
}

#[test]
fn time_labels_fall_on_three_hour_boundaries() {
    let c = Chart {
        start: 86_400 + 600,
        ..chart(vec![line("a", &vec![1.0; 144])], None)
    };
    let svg = svg(&c);
    for label in ["03:00", "06:00", "21:00"] {
        assert!(svg.contains(&format!(">{label}</text>")), "{label}");
    }
    // 00:00 of the first day is before the start; that of the next day is the last point,
    // too close to the edge for a label.
    assert!(!svg.contains(">00:00</text>"));
}

#[test]
fn a_band_far_above_the_data_is_left_off_the_axis_but_named() {
    let c = chart(
        vec![line("token", &[2.0, 3.0])],
        Some(Band {
            low: 2.0,
            high: 3000.0,
            label: "usual to threshold".into(),
        }),
    );
    let svg = svg(&c);
    assert!(!svg.contains("threshold 3k"), "off the chart");
    assert!(
        svg.contains(">3</text>") && !svg.contains(">5</text>"),
        "the axis fits the data"
    );
    assert!(
        legend(&c).contains("2 to 3k per minute (the threshold is above the chart)"),
        "{}",
        legend(&c)
    );
    let near = chart(
        vec![line("token", &[40.0, 60.0])],
        Some(Band {
            low: 50.0,
            high: 150.0,
            label: "usual".into(),
        }),
    );
    assert!(svg_contains(&near, "threshold 150"));
}

fn svg_contains(c: &Chart, text: &str) -> bool {
    svg(c).contains(text)
}

#[test]
fn buckets_average_per_minute_or_keep_the_busiest_minute() {
    let counts = [(0, 10), (60, 20), (540, 30), (600, 5), (1200, 7), (-60, 99)];
    let mean = buckets(counts, 0, 600, 3, Reduce::PerMinute, 1230);
    // 60 over 10 minutes; 5 over 10; 7 over the 1 minute begun of the last bucket.
    assert_eq!(mean, [6.0, 0.5, 7.0]);
    let peak = buckets(counts, 0, 600, 3, Reduce::Peak, 1230);
    assert_eq!(peak, [30.0, 5.0, 7.0]);
    assert_eq!(buckets([(9_999, 1)], 0, 600, 3, Reduce::Peak, 0), [0.0; 3]);
}

#[test]
fn numbers_read_short() {
    let cases = [
        (0.0, "0"),
        (2.5, "2.5"),
        (0.25, "0.25"),
        (42.0, "42"),
        (150.4, "150"),
        (1000.0, "1k"),
        (1240.0, "1.2k"),
        (25_000.0, "25k"),
        (3_400_000.0, "3.4M"),
        (f64::NAN, "0"),
    ];
    for (v, text) in cases {
        assert_eq!(number(v), text, "{v}");
    }
    assert_eq!(scale(0.0), (1.0, 0.5));
    assert_eq!(scale(7.0), (8.0, 2.0));
    assert_eq!(scale(130.0), (150.0, 50.0));
}
