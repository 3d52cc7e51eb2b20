//! A strict parser of the Prometheus text exposition format 0.0.4, for the `/metrics` tests.
//!
//! Why not a crate: `prometheus-parse` 0.2.5, the usual choice, silently ignores any sample
//! whose label value holds `{` or `}`, which the format allows and which every route template
//! label (`/admin/clients/{client_id}`) holds. This parser fails on anything it does not
//! understand instead: a line that is neither `# HELP`, `# TYPE`, a sample nor empty; a metric
//! name or label name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`; an unterminated or badly escaped
//! label value; a repeated label; a value that is not a float; a sample of a family whose
//! `# TYPE` did not come first; a family typed twice; and a histogram whose buckets are not
//! cumulative or whose `+Inf` bucket differs from its `_count`.

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed scrape: samples in order, and each family's type.
#[derive(Debug)]
pub(crate) struct Scrape {
    pub(crate) samples: Vec<Sample>,
    pub(crate) types: HashMap<String, String>,
}

impl Scrape {
    /// The sum of the samples named `name` whose labels include `labels` (0 when none).
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The samples named `name` whose labels include `labels`.
    pub(crate) fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// Parses `text`, panicking with the offending line on any departure from the format.
pub(crate) fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape {
        samples: Vec::new(),
        types: HashMap::new(),
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(is_name(name, true), "bad metric name in {line:?}");
            match kind {
                "HELP" => {}
                "TYPE" => {
                    let ty = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty),
                        "bad type in {line:?}"
                    );
                    let previous = scrape.types.insert(name.to_owned(), ty.to_owned());
                    assert!(previous.is_none(), "family typed twice: {line:?}");
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "bad comment {line:?}");
        let sample = sample(line).unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let family = family(&sample.name, &scrape.types);
        assert!(
            scrape.types.contains_key(family),
            "no # TYPE before {line:?}"
        );
        scrape.samples.push(sample);
    }
    check_histograms(&scrape);
    scrape
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` belong to it.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

fn is_name(name: &str, colons: bool) -> bool {
    let mut chars = name.chars();
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(|c| !c.is_ascii_digit() && ok(c)) && chars.all(ok)
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find('=')?;
            let key = &inner[..eq];
            if !is_name(key, false) {
                return None;
            }
            let mut chars = inner[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return None;
            }
            inner = &inner[eq + 1..][end + 2..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let mut fields = rest.strip_prefix(' ')?.split(' ');
    let value = match fields.next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A histogram bucket: its `le` bound and cumulative count.
type Bucket = (f64, f64);

/// Buckets rise with `le` and the `+Inf` bucket equals `_count`, series by series.
fn check_histograms(scrape: &Scrape) {
    for (family, _) in scrape.types.iter().filter(|(_, t)| *t == "histogram") {
        let mut series: BTreeMap<Vec<(String, String)>, Vec<Bucket>> = BTreeMap::new();
        let bucket = format!("{family}_bucket");
        for s in scrape.samples.iter().filter(|s| s.name == bucket) {
            let le: f64 = match s.labels.get("le").map(String::as_str) {
                Some("+Inf") => f64::INFINITY,
                Some(le) => le.parse().expect("le"),
                None => panic!("{bucket} without le"),
            };
            let key = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series.entry(key).or_default().push((le, s.value));
        }
        for (key, buckets) in series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family} {key:?}: buckets not cumulative"
            );
            let (le, total) = *buckets.last().unwrap();
            assert_eq!(le, f64::INFINITY, "{family} {key:?}: no +Inf bucket");
            let labels: Vec<(&str, &str)> =
                key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let count_name = format!("{family}_count");
            let count = scrape
                .matching(&count_name, &labels)
                .find(|s| s.labels.len() == labels.len())
                .unwrap_or_else(|| panic!("{family} {key:?}: no _count"));
            assert_eq!(
                count.value, total,
                "{family} {key:?}: +Inf bucket != _count"
            );
        }
    }
}
