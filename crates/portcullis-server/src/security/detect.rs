//! The detectors: series, windows, thresholds, baselines, and the flush task that runs them.
//!
//! Every series is counted per window (a minute, or five for failure bursts). A flush adds this
//! process's counts to the deployment's totals and gets the new totals back; each total is judged
//! at once, so an anomaly is seen within one flush interval of the request that makes it one,
//! whichever process served that request. Thresholds are in `[monitoring]`:
//!
//! - `rate:<endpoint>` per client (`token`, `par`, `introspect`, `revoke`, `resource_events`): the sliding minute (this window's total plus the previous
//!   window's, weighted by the part of it still inside the last 60 s) against
//!   `max(floor, ratio × mean, mean + sigmas × stddev)` of the client's learned baseline for the
//!   endpoint; during warm-up against `ceiling_per_minute` alone (and always at most it).
//! - `subjects` per client: distinct users the client got tokens for, per minute, judged the
//!   same way (a climb in distinct subjects is enumeration through the authorization server).
//! - `fail:client`, `fail:address`, `fail:account`: authentication failures per 5 minutes.
//! - `misses` per resource server: unknown or inactive tokens introspected per minute.
//! - `replay:<kind>`, `limited:<class>`, `disabled`: any count raises one event per incident.
//!
//! Baselines learn from finished minutes only: once per window, one process (the one whose claim
//! moves `security_claims.baseline_fold` forward) folds each finished minute's totals into the
//! exponentially weighted mean and variance (weight `2 / (baseline_minutes + 1)`), skipping a
//! minute it judged anomalous (the baseline never learns an attack as normal).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_store::security::{Baseline, CountDelta};
use serde_json::json;
use tokio::sync::watch;

use super::{Event, Kind, Monitor, Severity, TallyKey};
use crate::config::RateDetector;

/// Requests per route template (the security page's chart), deployment-wide.
pub const REQUESTS: &str = "requests";
/// Authentication failures of every kind, deployment-wide (subject `""`).
pub const AUTH_FAILURES: &str = "auth_failures";
/// 429s per route template (subject: the template), deployment-wide: the security page's chart.
pub const RATE_LIMITED: &str = "rate_limited";
/// Token requests per client (subject: client id).
pub const RATE_TOKEN: &str = "rate:token";
/// Pushed authorization requests per client.
pub const RATE_PAR: &str = "rate:par";
/// Introspections per resource server.
pub const RATE_INTROSPECT: &str = "rate:introspect";
/// Revocations per client.
pub const RATE_REVOKE: &str = "rate:revoke";
/// Reports per resource server (`POST /resource-events`): its own series, so that each
/// endpoint's learned baseline is about one kind of traffic.
pub const RATE_RESOURCE_EVENTS: &str = "rate:resource_events";
/// Distinct users per client per minute.
pub const SUBJECTS: &str = "subjects";
/// Client authentication failures per client.
pub const FAIL_CLIENT: &str = "fail:client";
/// Authentication failures per source address.
pub const FAIL_ADDRESS: &str = "fail:address";
/// Sign-in failures per account.
pub const FAIL_ACCOUNT: &str = "fail:account";
/// Unknown or inactive tokens introspected per resource server.
pub const MISSES: &str = "misses";
/// Requests authenticated for a disabled client.
pub const DISABLED: &str = "disabled";

/// The replay series of a replay kind (`portcullis::monitoring::REPLAY_KINDS`).
pub fn replay_series(kind: &str) -> &'static str {
    match kind {
        "client_assertion" => "replay:client_assertion",
        "code" => "replay:code",
        "dpop_proof" => "replay:dpop_proof",
        "refresh_token" => "replay:refresh_token",
        _ => "replay:request_uri",
    }
}

/// The 429 series of a rate-limit class.
pub fn limited_series(class: &str) -> &'static str {
    match class {
        "client" => "limited:client",
        "account" => "limited:account",
        "access_token" => "limited:access_token",
        "registration" => "limited:registration",
        _ => "limited:address",
    }
}

/// The endpoint name of a `rate:` series.
fn endpoint_of(series: &str) -> &str {
    series.strip_prefix("rate:").unwrap_or(series)
}

/// The window length of a series, seconds.
pub fn window_secs(series: &str) -> i64 {
    if series.starts_with("fail:")
        || series.starts_with("replay:")
        || series.starts_with("limited:")
        || series == DISABLED
    {
        300
    } else {
        60
    }
}

/// The start of the window of `series` that holds `now`.
pub fn window_of(series: &str, now: i64) -> i64 {
    let len = window_secs(series);
    now.div_euclid(len) * len
}

/// Whether a series is judged against a learned baseline.
pub fn has_baseline(series: &str) -> bool {
    series.starts_with("rate:") || series == SUBJECTS
}

/// The threshold (per minute) a baseline sets; `None` while it warms up.
pub fn baseline_threshold(rate: &RateDetector, b: Option<&Baseline>) -> f64 {
    let ceiling = rate.ceiling_per_minute as f64;
    let Some(b) = b.filter(|b| b.samples >= rate.warmup_minutes) else {
        return ceiling;
    };
    let mean = b.mean_milli as f64 / 1000.0;
    let stddev = (b.var_milli.max(0) as f64 / 1000.0).sqrt();
    (rate.floor_per_minute as f64)
        .max(rate.ratio * mean)
        .max(rate.sigmas.mul_add(stddev, mean))
        .min(ceiling)
}

/// Folds `count` (the total of window `window`) into `b`, with the minutes since its last
/// window counted as zeros.
pub fn fold(rate: &RateDetector, b: &mut Baseline, window: i64, count: i64) {
    let alpha = 2.0 / (rate.baseline_minutes as f64 + 1.0);
    let mut mean = b.mean_milli as f64 / 1000.0;
    let mut var = b.var_milli.max(0) as f64 / 1000.0;
    let mut step = |x: f64| {
        let d = x - mean;
        mean += alpha * d;
        var = (1.0 - alpha) * alpha.mul_add(d * d, var);
    };
    if b.samples == 0 {
        mean = count as f64;
        var = 0.0;
    } else {
        let gap = ((window - b.last_window) / 60 - 1).clamp(0, 24 * 60);
        for _ in 0..gap {
            step(0.0);
        }
        step(count as f64);
        b.samples += gap;
    }
    b.samples += 1;
    b.mean_milli = (mean * 1000.0).round() as i64;
    b.var_milli = (var * 1000.0).round() as i64;
    b.last_window = window;
}

/// Seconds after a minute ends before it is folded (late flushes of other processes).
const FOLD_GRACE_SECS: i64 = 5;

/// Finished minutes one round folds at most (after a long stop the rest count as zeros).
const MAX_FOLDS_PER_ROUND: i64 = 10;

/// The detectors' state in one process.
#[derive(Default)]
struct Detector {
    /// The last total seen of each (series, subject): (window, total).
    last: HashMap<(&'static str, Box<str>), (i64, i64)>,
    /// The baselines, as last read.
    baselines: HashMap<(String, String), Baseline>,
    /// The last window this process tried to fold.
    folded: i64,
    /// When the signing keys were last checked.
    keys_checked: i64,
}

/// The detection task of one process: flushes, judges, folds, until `stop`.
pub(crate) async fn run(monitor: Arc<Monitor>, mut stop: watch::Receiver<bool>) {
    if !monitor.enabled() {
        return;
    }
    let period = Duration::from_millis(monitor.config.monitoring.flush_ms);
    let mut detector = Detector::default();
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(period) => false,
            _ = crate::transport::serve::stopped(&mut stop) => true,
        };
        if stopping {
            // The last counts go in before the process ends.
            let _ = flush(&monitor, &mut detector).await;
            return;
        }
        match round(&monitor, &mut detector).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "security detection round failed; counts kept for the next");
            }
            Err(_) => {}
        }
    }
}

/// One round: flush and judge, fold finished minutes, check the signing keys hourly.
async fn round(monitor: &Arc<Monitor>, detector: &mut Detector) -> anyhow::Result<()> {
    flush(monitor, detector).await?;
    let now = monitor.now().unix();
    let finished = window_of(RATE_TOKEN, now - FOLD_GRACE_SECS) - 60;
    if finished > detector.folded {
        let from = (detector.folded + 60).max(finished - (MAX_FOLDS_PER_ROUND - 1) * 60);
        let mut window = from;
        while window <= finished {
            if monitor
                .store
                .claim_security_window("baseline_fold", window)
                .await?
            {
                fold_window(monitor, detector, window).await?;
            }
            window += 60;
        }
        detector.folded = finished;
        reload_baselines(monitor, detector).await?;
    }
    if now - detector.keys_checked >= 3600 {
        detector.keys_checked = now;
        check_keys(monitor).await?;
    }
    Ok(())
}

/// Adds the tally to the deployment's totals and judges each new total.
async fn flush(monitor: &Arc<Monitor>, detector: &mut Detector) -> anyhow::Result<()> {
    let tally = monitor.take_tally();
    if tally.is_empty() {
        return Ok(());
    }
    let deltas: Vec<CountDelta> = tally
        .iter()
        .map(|(k, n)| CountDelta {
            series: k.series.to_owned(),
            subject: k.subject.to_string(),
            window_start: k.window,
            delta: *n,
        })
        .collect();
    let totals = match monitor.store.add_security_counts(&deltas).await {
        Ok(totals) => totals,
        Err(e) => {
            monitor.restore_tally(tally);
            return Err(e.into());
        }
    };
    let now = monitor.now().unix();
    for ((key, _), total) in tally.into_iter().zip(totals) {
        judge(monitor, detector, &key, total, now).await;
    }
    if detector.last.len() > 100_000 {
        detector.last.clear();
    }
    Ok(())
}

/// Judges one new total.
async fn judge(
    monitor: &Arc<Monitor>,
    detector: &mut Detector,
    key: &TallyKey,
    total: i64,
    now: i64,
) {
    let m = &monitor.config.monitoring;
    let series = key.series;
    let subject: &str = &key.subject;
    let previous = detector
        .last
        .insert((series, key.subject.clone()), (key.window, total));
    if has_baseline(series) {
        // The sliding minute: this window, plus the share of the previous one still inside the
        // last 60 seconds.
        let prev_total = match previous {
            Some((w, t)) if w == key.window - 60 => t,
            _ => 0,
        };
        let elapsed = (now - key.window).clamp(0, 60) as f64;
        let observed = total as f64 + prev_total as f64 * (60.0 - elapsed) / 60.0;
        let baseline = detector
            .baselines
            .get(&(series.to_owned(), subject.to_owned()));
        let threshold = baseline_threshold(&m.rate, baseline);
        if observed <= threshold {
            return;
        }
        let warmed = baseline.is_some_and(|b| b.samples >= m.rate.warmup_minutes);
        let (mean, stddev, samples) = baseline.map_or((0.0, 0.0, 0), |b| {
            (
                b.mean_milli as f64 / 1000.0,
                (b.var_milli.max(0) as f64 / 1000.0).sqrt(),
                b.samples,
            )
        });
        let evidence = json!({
            "series": series,
            "observed_per_minute": observed.round() as i64,
            "window_count": total,
            "threshold_per_minute": threshold.round() as i64,
            "baseline_mean_per_minute": (mean * 10.0).round() / 10.0,
            "baseline_stddev": (stddev * 10.0).round() / 10.0,
            "baseline_minutes": samples,
            "warmed_up": warmed,
        });
        let event = if series == SUBJECTS {
            Event::new(
                Kind::SubjectSurge,
                format!(
                    "Client {subject} obtained tokens for {} distinct users in the last minute, above its threshold of {} (usual: {:.1} a minute).",
                    observed.round(),
                    threshold.round(),
                    mean
                ),
            )
            .incident(subject)
        } else {
            let endpoint = endpoint_of(series);
            let usual = if warmed {
                format!("its usual rate is {mean:.1} a minute")
            } else {
                format!(
                    "its baseline is still learning ({samples} of {} minutes), so the ceiling applies",
                    m.rate.warmup_minutes
                )
            };
            Event::new(
                Kind::RateAnomaly,
                format!(
                    "Client {subject} is calling {endpoint} at {} requests a minute, above its threshold of {}; {usual}.",
                    observed.round(),
                    threshold.round()
                ),
            )
            .incident(format!("{subject}|{endpoint}"))
        };
        monitor
            .raise(event.client(subject).evidence(evidence))
            .await;
        return;
    }
    let (limit, event) = match series {
        FAIL_CLIENT => (
            m.auth_failures_per_client,
            Event::new(
                Kind::AuthFailureBurst,
                format!("{total} failed client authentications for client {subject} in 5 minutes."),
            )
            .client(subject),
        ),
        FAIL_ADDRESS => (
            m.auth_failures_per_address,
            Event::new(
                Kind::AuthFailureBurst,
                format!("{total} failed authentications from {subject} in 5 minutes."),
            )
            .address(subject),
        ),
        FAIL_ACCOUNT => (
            m.auth_failures_per_account,
            Event::new(
                Kind::AuthFailureBurst,
                format!("{total} failed sign-ins to the account {subject} in 5 minutes."),
            )
            .account(subject),
        ),
        MISSES => (
            m.introspection_misses_per_minute,
            Event::new(
                Kind::IntrospectionGuessing,
                format!(
                    "Resource server {subject} introspected {total} unknown or inactive tokens in one minute: it, or someone with its credentials, may be guessing tokens."
                ),
            )
            .client(subject),
        ),
        DISABLED => (
            1,
            Event::new(
                Kind::DisabledClient,
                format!(
                    "The disabled client {subject} is still sending requests ({total} in 5 minutes)."
                ),
            )
            .client(subject),
        ),
        "replay:dpop_proof" => (
            1,
            Event::new(
                Kind::ReplayRefused,
                format!(
                    "A replayed DPoP proof of the key {subject} (JWK thumbprint) was refused ({total} in 5 minutes)."
                ),
            ),
        ),
        s if s.starts_with("replay:") => {
            let what = s.trim_start_matches("replay:");
            (
                1,
                Event::new(
                    Kind::ReplayRefused,
                    format!(
                        "A replayed {} was refused for client {subject} ({total} in 5 minutes).",
                        what.replace('_', " ")
                    ),
                )
                .client(subject),
            )
        }
        s if s.starts_with("limited:") => {
            let class = s.trim_start_matches("limited:");
            let event = Event::new(
                Kind::RateLimited,
                format!(
                    "Requests of {subject} were refused by the {class} rate limit ({total} in 5 minutes so far)."
                ),
            );
            let event = match class {
                "client" => event.client(subject),
                "account" => event.account(subject),
                "address" => event.address(subject),
                _ => event,
            };
            (1, event)
        }
        _ => return,
    };
    // A crossing is judged once per window: when the total first reaches the limit.
    let before = previous
        .filter(|(w, _)| *w == key.window)
        .map_or(0, |(_, t)| t);
    if total < limit || before >= limit {
        return;
    }
    let evidence = json!({
        "series": series,
        "count": total,
        "threshold": limit,
        "window_secs": window_secs(series),
        "window_start": key.window,
    });
    monitor
        .raise(
            event
                .evidence(evidence)
                .incident(format!("{series}|{subject}")),
        )
        .await;
}

/// Folds the totals of the finished minute `window` into the baselines.
async fn fold_window(
    monitor: &Monitor,
    detector: &mut Detector,
    window: i64,
) -> anyhow::Result<()> {
    let rate = &monitor.config.monitoring.rate;
    let mut rows = monitor
        .store
        .security_counts_in_window("rate:", window)
        .await?;
    rows.extend(
        monitor
            .store
            .security_counts_in_window(SUBJECTS, window)
            .await?,
    );
    if rows.is_empty() {
        return Ok(());
    }
    let mut changed = Vec::with_capacity(rows.len());
    for row in rows {
        let key = (row.series.clone(), row.subject.clone());
        let mut b = detector.baselines.get(&key).cloned().unwrap_or(Baseline {
            series: row.series,
            subject: row.subject,
            mean_milli: 0,
            var_milli: 0,
            samples: 0,
            last_window: window - 60,
        });
        if b.last_window >= window {
            continue;
        }
        // A minute judged anomalous is not learned: the baseline stays what it was.
        let warmed = b.samples >= rate.warmup_minutes;
        if warmed && row.count as f64 > baseline_threshold(rate, Some(&b)) {
            b.last_window = window;
        } else {
            fold(rate, &mut b, window, row.count);
        }
        detector.baselines.insert(key, b.clone());
        changed.push(b);
    }
    monitor.store.put_security_baselines(&changed).await?;
    Ok(())
}

/// Reads the baselines again (another process may have folded the last minute).
async fn reload_baselines(monitor: &Monitor, detector: &mut Detector) -> anyhow::Result<()> {
    let mut all = monitor.store.security_baselines("rate:", None).await?;
    all.extend(monitor.store.security_baselines(SUBJECTS, None).await?);
    detector.baselines = all
        .into_iter()
        .map(|b| ((b.series.clone(), b.subject.clone()), b))
        .collect();
    Ok(())
}

/// Raises one event per algorithm whose signing key is older than `key_max_age_days`.
async fn check_keys(monitor: &Monitor) -> anyhow::Result<()> {
    let max_days = monitor.config.monitoring.key_max_age_days;
    if max_days == 0 {
        return Ok(());
    }
    let now = monitor.now();
    for key in monitor.store.signing_keys().await? {
        let s = &key.schedule;
        let signing = s.activates_at <= now && s.retires_at.is_none_or(|r| r > now);
        let age_days = (now.unix() - s.activates_at.unix()) / 86_400;
        if signing && age_days > max_days {
            let alg = s.alg.as_str();
            monitor
                .raise(
                    Event::new(
                        Kind::SigningKeyOverdue,
                        format!(
                            "The {alg} signing key {} has signed for {age_days} days, past monitoring.key_max_age_days ({max_days}): rotate it (portcullis keys rotate, or the admin UI).",
                            s.kid
                        ),
                    )
                    .evidence(json!({ "kid": s.kid, "alg": alg, "age_days": age_days, "max_age_days": max_days }))
                    .incident(alg)
                    .severity(Severity::Warning),
                )
                .await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(mean: f64, var: f64, samples: i64) -> Baseline {
        Baseline {
            series: RATE_TOKEN.into(),
            subject: "c".into(),
            mean_milli: (mean * 1000.0) as i64,
            var_milli: (var * 1000.0) as i64,
            samples,
            last_window: 0,
        }
    }

    #[test]
    fn a_cold_baseline_only_has_the_ceiling_and_a_warm_one_its_band() {
        let rate = RateDetector::default();
        assert_eq!(baseline_threshold(&rate, None), 3000.0);
        assert_eq!(
            baseline_threshold(&rate, Some(&baseline(50.0, 4.0, 10))),
            3000.0
        );
        // Warm: max(floor 120, 3 × 50, 50 + 4 × 2) = 150.
        assert_eq!(
            baseline_threshold(&rate, Some(&baseline(50.0, 4.0, 60))),
            150.0
        );
        // A noisy client: 50 + 4 × 30 = 170.
        assert_eq!(
            baseline_threshold(&rate, Some(&baseline(50.0, 900.0, 60))),
            170.0
        );
        // A quiet one: the floor.
        assert_eq!(
            baseline_threshold(&rate, Some(&baseline(2.0, 1.0, 60))),
            120.0
        );
        // Never above the ceiling.
        assert_eq!(
            baseline_threshold(&rate, Some(&baseline(2000.0, 1.0, 60))),
            3000.0
        );
    }

    #[test]
    fn folding_learns_the_mean_and_counts_missed_minutes_as_zero() {
        let rate = RateDetector {
            baseline_minutes: 9,
            ..RateDetector::default()
        };
        let mut b = baseline(0.0, 0.0, 0);
        fold(&rate, &mut b, 60, 100);
        assert_eq!((b.mean_milli, b.samples, b.last_window), (100_000, 1, 60));
        fold(&rate, &mut b, 120, 100);
        assert_eq!(b.mean_milli, 100_000);
        assert_eq!(b.var_milli, 0);
        // Two minutes missed: two zeros, then 100 (alpha = 0.2).
        fold(&rate, &mut b, 300, 100);
        assert_eq!(b.samples, 5);
        // 100 → 80 → 64 → 71.2
        assert_eq!(b.mean_milli, 71_200);
        assert!(b.var_milli > 0);
    }

    #[test]
    fn windows_are_a_minute_or_five() {
        assert_eq!(window_of(RATE_TOKEN, 125), 120);
        assert_eq!(window_of(FAIL_ACCOUNT, 599), 300);
        assert_eq!(window_of("replay:code", 301), 300);
    }
}
