//! `/admin/security`: the deployment's security monitoring at a glance (issue 11). Counters (events
//! of the last 24 hours by severity and kind, unacknowledged events, requests, authentication
//! failures and 429s in the last hour and day), charts of the last 24 hours drawn on the server
//! (`pages::charts`), the events with filters and paging, and the webhook delivery log.
//! Acknowledging an event (`security_events`) is a form with the session's CSRF token, written
//! to the audit trail.
//!
//! Every figure is deployment-wide: the counts are the totals of every server process
//! (`security::detect`), read from the database.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::Timestamp;
use portcullis_store::StoreError;
use portcullis_store::security::{CountRow, DeliveryRecord, EventFilter};

use super::query;
use super::security_events::{Filter, event_line, notice};
use crate::config::Webhook;
use crate::error::AdminError;
use crate::extract::AdminSession;
use crate::pages::admin::{relative, when};
use crate::pages::charts::{self, Chart, Line, Reduce};
use crate::pages::security::{ChartView, DeliveryLine, EventsPager, KindCount, SecurityPage, Stat};
use crate::pages::{BRAND, render_admin};
use crate::security::Severity;
use crate::security::detect::{AUTH_FAILURES, RATE_LIMITED, REQUESTS};
use crate::state::AppState;

/// Events per page.
pub(crate) const PAGE_SIZE: u32 = 25;
/// The period the counters and charts cover, seconds.
pub(crate) const DAY: i64 = 86_400;
/// The charts' bucket, seconds: 144 points a day.
pub(crate) const STEP: i64 = 600;
/// Routes drawn on their own in the requests chart; the others are summed as "other".
const TOP_ROUTES: usize = 5;
/// Unacknowledged events counted at most (beyond, the page says "1000+").
const UNACKNOWLEDGED_COUNTED: u32 = 1000;
/// Deliveries listed.
const DELIVERIES_SHOWN: u32 = 20;

/// GET: `?kind=&severity=&client=&unacknowledged=1&page=`.
pub(crate) async fn get(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    let query = query(raw.as_deref());
    let filter = Filter::parse(&query);
    let now = state.clock.now();
    let (start, buckets) = day_of_buckets(now);
    let store = &state.store;
    let read = |e: StoreError| {
        tracing::error!(error = %e, "reading security events failed");
        session.store_failure(&e)
    };
    let offset = (filter.page - 1).saturating_mul(PAGE_SIZE);
    let mut events = store
        .security_events(&filter.store_filter(), PAGE_SIZE + 1, offset)
        .await
        .map_err(read)?;
    let has_next = events.len() > PAGE_SIZE as usize;
    events.truncate(PAGE_SIZE as usize);
    let by_kind = store
        .security_event_counts(now.plus(-DAY))
        .await
        .map_err(read)?;
    let unacknowledged = store
        .security_events(
            &EventFilter {
                unacknowledged: true,
                ..EventFilter::default()
            },
            UNACKNOWLEDGED_COUNTED,
            0,
        )
        .await
        .map_err(read)?
        .len();
    let requests =
        series(store.security_counts(REQUESTS, None, start).await, REQUESTS).map_err(read)?;
    let failures = series(
        store.security_counts(AUTH_FAILURES, None, start).await,
        AUTH_FAILURES,
    )
    .map_err(read)?;
    let limited = series(
        store.security_counts(RATE_LIMITED, None, start).await,
        RATE_LIMITED,
    )
    .map_err(read)?;
    let deliveries = store
        .security_deliveries(None, DELIVERIES_SHOWN)
        .await
        .map_err(read)?;

    let shown = events.len() as u64;
    let first = u64::from(offset) + 1;
    let pager = EventsPager {
        first: if shown == 0 { 0 } else { first },
        last: u64::from(offset) + shown,
        prev: (filter.page > 1).then(|| filter.link(filter.page - 1)),
        next: has_next.then(|| filter.link(filter.page + 1)),
    };
    let kinds_of: HashMap<&str, &str> = events
        .iter()
        .map(|e| (e.id.as_str(), e.kind.as_str()))
        .collect();
    let deliveries = deliveries
        .iter()
        .map(|d| delivery_line(d, &kinds_of, &state.config.alerts.webhooks, now))
        .collect();
    let mut stats = vec![Stat {
        label: "Open",
        value: if unacknowledged >= UNACKNOWLEDGED_COUNTED as usize {
            format!("{UNACKNOWLEDGED_COUNTED}+")
        } else {
            unacknowledged.to_string()
        },
        detail: "unacknowledged events".to_owned(),
        tone: if unacknowledged > 0 { "warning" } else { "" },
        link: Some("/admin/security?unacknowledged=1#events".to_owned()),
    }];
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let total: i64 = by_kind
            .iter()
            .filter(|(_, s, _)| s == severity.as_str())
            .map(|(_, _, n)| n)
            .sum();
        stats.push(Stat {
            label: match severity {
                Severity::Critical => "Critical",
                Severity::Warning => "Warnings",
                Severity::Info => "Info",
            },
            value: total.to_string(),
            detail: "events, last 24 h".to_owned(),
            tone: match severity {
                Severity::Critical if total > 0 => "critical",
                Severity::Warning if total > 0 => "warning",
                _ => "",
            },
            link: Some(format!(
                "/admin/security?severity={}#events",
                severity.as_str()
            )),
        });
    }
    let hour_ago = now.unix() - 3600;
    for (label, rows) in [
        ("Requests", &requests),
        ("Authentication failures", &failures),
        ("429 responses", &limited),
    ] {
        let (hour, day) = totals(rows, hour_ago);
        stats.push(Stat {
            label,
            value: charts::number(hour as f64),
            detail: format!("last hour · {} in 24 h", charts::number(day as f64)),
            tone: "",
            link: None,
        });
    }
    let requests_chart = ChartView {
        id: "requests",
        heading: "Requests per minute, by endpoint".to_owned(),
        help: format!(
            "Every answered request by route, averaged per minute over 10 minutes: the {TOP_ROUTES} busiest routes, the rest as \u{201c}other\u{201d}. Last 24 hours, UTC."
        ),
        markup: charts::figure(&requests_chart(&requests, start, buckets, now)),
    };
    let charts = vec![
        ChartView {
            id: "failures",
            heading: "Authentication failures per minute".to_owned(),
            help:
                "Failed client authentications and sign-ins, averaged per minute over 10 minutes."
                    .to_owned(),
            markup: charts::figure(&single_chart(
                ("failures", "Authentication failures per minute"),
                "authentication failures",
                charts::RED,
                &failures,
                (start, buckets, now),
            )),
        },
        ChartView {
            id: "limited",
            heading: "429 responses per minute".to_owned(),
            help: "Requests refused by a rate limit, averaged per minute over 10 minutes."
                .to_owned(),
            markup: charts::figure(&single_chart(
                ("limited", "429 responses per minute"),
                "429 responses",
                charts::AMBER,
                &limited,
                (start, buckets, now),
            )),
        },
    ];
    let page = SecurityPage {
        brand: BRAND,
        nav: session.nav("security"),
        notice: notice(&query),
        csrf_token: session.record.csrf_token.clone(),
        monitoring_enabled: state.config.monitoring.enabled,
        stats,
        kinds: kind_counts(&by_kind),
        requests_chart,
        charts,
        filter: filter.view(),
        events: events.iter().map(|e| event_line(e, now)).collect(),
        back: filter.link(filter.page),
        pager,
        deliveries,
        webhooks: state.config.alerts.webhooks.len(),
    };
    Ok(render_admin(StatusCode::OK, &page))
}

/// The charts' period: the start of the first of the day's 10-minute buckets (the last one holds
/// `now`) and how many there are.
pub(crate) fn day_of_buckets(now: Timestamp) -> (i64, usize) {
    let n = (DAY / STEP) as usize;
    let end = now.unix().div_euclid(STEP) * STEP + STEP;
    (end - DAY, n)
}

/// The rows of exactly `name` (the store matches a prefix).
fn series(
    rows: Result<Vec<CountRow>, StoreError>,
    name: &str,
) -> Result<Vec<CountRow>, StoreError> {
    Ok(rows?.into_iter().filter(|r| r.series == name).collect())
}

/// The counts of windows starting at or after `since`, and of all `rows`.
fn totals(rows: &[CountRow], since: i64) -> (i64, i64) {
    rows.iter().fold((0, 0), |(recent, all), r| {
        let recent = if r.window_start >= since {
            recent + r.count
        } else {
            recent
        };
        (recent, all + r.count)
    })
}

/// One line per busy route, the rest summed as "other".
fn requests_chart(rows: &[CountRow], start: i64, n: usize, now: Timestamp) -> Chart {
    let mut by_route: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for r in rows {
        by_route
            .entry(r.subject.as_str())
            .or_default()
            .push((r.window_start, r.count));
    }
    let mut routes: Vec<(&str, Vec<(i64, i64)>)> = by_route.into_iter().collect();
    routes.sort_by_key(|(route, counts)| {
        (
            std::cmp::Reverse(counts.iter().map(|(_, c)| c).sum::<i64>()),
            *route,
        )
    });
    let rest: Vec<(i64, i64)> = routes
        .iter()
        .skip(TOP_ROUTES)
        .flat_map(|(_, counts)| counts.iter().copied())
        .collect();
    let mut lines: Vec<Line> = routes
        .iter()
        .take(TOP_ROUTES)
        .map(|(route, counts)| Line {
            label: (*route).to_owned(),
            values: charts::buckets(
                counts.iter().copied(),
                start,
                STEP,
                n,
                Reduce::PerMinute,
                now.unix(),
            ),
            colour: None,
        })
        .collect();
    if !rest.is_empty() {
        lines.push(Line {
            label: charts::OTHER.to_owned(),
            values: charts::buckets(rest, start, STEP, n, Reduce::PerMinute, now.unix()),
            colour: None,
        });
    }
    if lines.is_empty() {
        lines.push(Line {
            label: "requests".to_owned(),
            values: vec![0.0; n],
            colour: None,
        });
    }
    Chart {
        id: "requests".to_owned(),
        title: "Requests per minute by endpoint, last 24 hours".to_owned(),
        unit: "per minute".to_owned(),
        start,
        step: STEP,
        lines,
        band: None,
        wide: true,
    }
}

/// A chart of one line: every row summed.
fn single_chart(
    (id, title): (&str, &str),
    label: &str,
    colour: &'static str,
    rows: &[CountRow],
    (start, n, now): (i64, usize, Timestamp),
) -> Chart {
    let values = charts::buckets(
        rows.iter().map(|r| (r.window_start, r.count)),
        start,
        STEP,
        n,
        Reduce::PerMinute,
        now.unix(),
    );
    Chart {
        id: id.to_owned(),
        title: format!("{title}, last 24 hours"),
        unit: "per minute".to_owned(),
        start,
        step: STEP,
        lines: vec![Line {
            label: label.to_owned(),
            values,
            colour: Some(colour),
        }],
        band: None,
        wide: false,
    }
}

/// Events of the last 24 hours by kind, busiest first.
fn kind_counts(rows: &[(String, String, i64)]) -> Vec<KindCount> {
    let mut kinds: BTreeMap<&str, KindCount> = BTreeMap::new();
    for (kind, severity, n) in rows {
        let line = kinds.entry(kind.as_str()).or_insert_with(|| KindCount {
            kind: kind.clone(),
            info: 0,
            warning: 0,
            critical: 0,
            total: 0,
            link: link_to_kind(kind),
        });
        match Severity::parse(severity) {
            Some(Severity::Critical) => line.critical += n,
            Some(Severity::Warning) => line.warning += n,
            Some(Severity::Info) => line.info += n,
            None => {}
        }
        line.total += n;
    }
    let mut kinds: Vec<KindCount> = kinds.into_values().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.total));
    kinds
}

fn link_to_kind(kind: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("kind", kind);
    format!("/admin/security?{}#events", q.finish())
}

/// A delivery as the log shows it.
fn delivery_line(
    d: &DeliveryRecord,
    kinds: &HashMap<&str, &str>,
    webhooks: &[Webhook],
    now: Timestamp,
) -> DeliveryLine {
    let last = match (&d.last_status, &d.last_error) {
        (Some(status), Some(error)) => format!("HTTP {status} · {error}"),
        (Some(status), None) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "—".to_owned(),
    };
    DeliveryLine {
        event_id: d.event_id.clone(),
        event_kind: kinds.get(d.event_id.as_str()).map(|k| (*k).to_owned()),
        sink: sink_name(&d.sink, webhooks),
        state: d.state.clone(),
        attempts: d.attempts,
        last,
        next: if d.state == "pending" {
            format!(
                "{} ({})",
                relative(now, d.next_attempt_at),
                when(d.next_attempt_at)
            )
        } else {
            "—".to_owned()
        },
        updated: when(d.updated_at),
    }
}

/// A webhook as the log names it: its number in `[[alerts.webhooks]]` (when still configured)
/// and its origin. The path and query are left out: some receivers keep a secret there.
pub(crate) fn sink_name(sink: &str, webhooks: &[Webhook]) -> String {
    // A sink is the webhook's URL, possibly written `<index>:<url>`.
    let url = url::Url::parse(sink).ok().or_else(|| {
        let (index, rest) = sink.split_once(':')?;
        index
            .chars()
            .all(|c| c.is_ascii_digit())
            .then(|| url::Url::parse(rest).ok())
            .flatten()
    });
    let Some(url) = url else {
        return "(unreadable webhook address)".to_owned();
    };
    let origin = url.origin().ascii_serialization();
    let more = url.path() != "/" || url.query().is_some();
    let place = webhooks
        .iter()
        .position(|h| url::Url::parse(&h.url).ok().as_ref() == Some(&url))
        .map(|i| format!("webhook {} · ", i + 1))
        .unwrap_or_default();
    format!("{place}{origin}{}", if more { "/…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_named_by_number_and_origin_without_their_path() {
        let hooks = vec![Webhook {
            url: "https://hooks.example/services/T0/B0/secretpart".to_owned(),
            secret: "0123456789abcdef".to_owned(),
            min_severity: "warning".to_owned(),
            kinds: Vec::new(),
        }];
        let name = sink_name("https://hooks.example/services/T0/B0/secretpart", &hooks);
        assert_eq!(name, "webhook 1 · https://hooks.example/…");
        assert_eq!(
            sink_name("0:https://other.example:8443/", &hooks),
            "https://other.example:8443"
        );
        assert!(!sink_name("https://u:p@x.example/a?token=1", &[]).contains("token"));
        assert_eq!(sink_name("garbage", &[]), "(unreadable webhook address)");
    }

    #[test]
    fn the_day_ends_with_the_bucket_that_holds_now() {
        let (start, n) = day_of_buckets(Timestamp::from_unix(DAY * 10 + 1234));
        assert_eq!(n, 144);
        assert_eq!(start + n as i64 * STEP, DAY * 10 + 1800);
    }
}
