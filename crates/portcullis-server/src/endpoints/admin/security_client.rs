//! `/admin/security/clients/{client_id}`: one client as the security monitor sees it. Its
//! requests per minute at each rate-watched endpoint over the last 24 hours, drawn against its
//! learned baseline (the band from the mean to the threshold that raises a `rate_anomaly`,
//! `security::detect::baseline_threshold`), the networks and certificates it was seen with, and
//! its recent events with their acknowledgement forms. Events outlive a deleted client, so the
//! page also shows a client_id that is no longer registered.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_store::StoreError;
use portcullis_store::security::{Baseline, EventFilter};

use super::client_page::{metadata_of, urlencode};
use super::security::{STEP, day_of_buckets};
use super::security_events::event_line;
use crate::config::RateDetector;
use crate::error::AdminError;
use crate::extract::AdminSession;
use crate::pages::admin::{relative, when};
use crate::pages::charts::{self, Band, Chart, Line, Reduce};
use crate::pages::security::{BaselineLine, ChartView, ClientSecurityPage, SeenLine};
use crate::pages::{BRAND, render_admin};
use crate::security::detect::{
    RATE_INTROSPECT, RATE_PAR, RATE_REVOKE, RATE_TOKEN, baseline_threshold,
};
use crate::state::AppState;

/// Events of the client listed.
const EVENTS_SHOWN: u32 = 50;

/// The rate series of a client, in the order the page shows them, with their endpoint.
const ENDPOINTS: [(&str, &str); 4] = [
    (RATE_TOKEN, "/token"),
    (RATE_PAR, "/par"),
    (RATE_INTROSPECT, "/introspect"),
    (RATE_REVOKE, "/revoke"),
];

/// GET: the client's security page.
pub(crate) async fn get(
    State(state): State<AppState>,
    session: AdminSession,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    let now = state.clock.now();
    let (start, n) = day_of_buckets(now);
    let store = &state.store;
    let read = |e: StoreError| {
        tracing::error!(error = %e, "reading a client's security data failed");
        session.store_failure(&e)
    };
    let record = store.client(&client_id).await.map_err(read)?;
    let counts = store
        .security_counts("rate:", Some(&client_id), start)
        .await
        .map_err(read)?;
    let baselines = store
        .security_baselines("rate:", Some(&client_id))
        .await
        .map_err(read)?;
    let seen = store.seen_of_client(&client_id).await.map_err(read)?;
    let events = store
        .security_events(
            &EventFilter {
                client_id: Some(client_id.clone()),
                ..EventFilter::default()
            },
            EVENTS_SHOWN,
            0,
        )
        .await
        .map_err(read)?;

    let rate = &state.config.monitoring.rate;
    let mut by_series: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for row in &counts {
        by_series
            .entry(row.series.as_str())
            .or_default()
            .push((row.window_start, row.count));
    }
    let baseline_of = |series: &str| baselines.iter().find(|b| b.series == series);
    let mut charts = Vec::new();
    let mut baseline_lines = Vec::new();
    for (index, (series, endpoint)) in ENDPOINTS.into_iter().enumerate() {
        let baseline = baseline_of(series);
        let counted = by_series.get(series);
        if baseline.is_none() && counted.is_none() {
            continue;
        }
        let threshold = baseline_threshold(rate, baseline);
        baseline_lines.push(baseline_line(endpoint, baseline, threshold, rate));
        let values = charts::buckets(
            counted.into_iter().flatten().copied(),
            start,
            STEP,
            n,
            Reduce::Peak,
            now.unix(),
        );
        let band = baseline.map(|b| Band {
            low: b.mean_milli as f64 / 1000.0,
            high: threshold,
            label: if b.samples >= rate.warmup_minutes {
                "usual rate to threshold".to_owned()
            } else {
                "usual rate (still learning) to the ceiling".to_owned()
            },
        });
        let chart = Chart {
            id: series_id(index).to_owned(),
            title: format!("Requests per minute to {endpoint}, last 24 hours"),
            unit: "per minute".to_owned(),
            start,
            step: STEP,
            lines: vec![Line {
                label: endpoint.to_owned(),
                values,
                colour: None,
            }],
            band,
            wide: false,
        };
        charts.push(ChartView {
            id: series_id(index),
            heading: format!("{endpoint} requests per minute"),
            help: "The busiest minute of every 10, last 24 hours (UTC), against the client's learned baseline: the band runs from its usual rate to the threshold that raises a rate_anomaly event.".to_owned(),
            markup: charts::figure(&chart),
        });
    }
    let seen = seen
        .into_iter()
        .map(|s| SeenLine {
            kind: if s.kind == "certificate" {
                "Certificate (x5t#S256)"
            } else {
                "Network"
            },
            value: s.value,
            first: when(s.first_seen),
            last: when(s.last_seen),
            last_ago: relative(now, s.last_seen),
        })
        .collect();
    let name = record
        .as_ref()
        .and_then(|r| metadata_of(r).client_name)
        .unwrap_or_else(|| client_id.clone());
    let page = ClientSecurityPage {
        brand: BRAND,
        nav: session.nav("security"),
        notice: None,
        csrf_token: session.record.csrf_token.clone(),
        back: format!("/admin/security/clients/{}", urlencode(&client_id)),
        registered: record.is_some(),
        client_id,
        name,
        charts,
        baselines: baseline_lines,
        seen,
        events: events.iter().map(|e| event_line(e, now)).collect(),
    };
    Ok(render_admin(StatusCode::OK, &page))
}

/// A static id for the chart of endpoint `index`.
fn series_id(index: usize) -> &'static str {
    ["rate-token", "rate-par", "rate-introspect", "rate-revoke"]
        .get(index)
        .copied()
        .unwrap_or("rate")
}

/// The baseline of one endpoint in words.
fn baseline_line(
    endpoint: &str,
    baseline: Option<&Baseline>,
    threshold: f64,
    rate: &RateDetector,
) -> BaselineLine {
    let Some(b) = baseline else {
        return BaselineLine {
            endpoint: endpoint.to_owned(),
            mean: "—".to_owned(),
            threshold: charts::number(threshold),
            state: "not learned yet (the ceiling applies)".to_owned(),
        };
    };
    let mean = b.mean_milli as f64 / 1000.0;
    let stddev = (b.var_milli.max(0) as f64 / 1000.0).sqrt();
    BaselineLine {
        endpoint: endpoint.to_owned(),
        mean: format!("{} ± {}", charts::number(mean), charts::number(stddev)),
        threshold: charts::number(threshold),
        state: if b.samples >= rate.warmup_minutes {
            format!("learned over {} minutes", b.samples)
        } else {
            format!(
                "learning: {} of {} minutes (the ceiling applies)",
                b.samples, rate.warmup_minutes
            )
        },
    }
}
