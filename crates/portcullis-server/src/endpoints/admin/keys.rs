//! `/admin/keys`: the server's signing keys with their states, the key ids the JWKS publishes
//! now, and a rotation (`KeyRing::rotate`, re-authenticated) with the same publish-ahead and
//! overlap choices as `portcullis keys rotate`. A rotation reaches the other processes sharing
//! the database within `keys.refresh_secs`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::jose::Alg;
use portcullis_store::admin::AuditOutcome;
use serde_json::{Value, json};

use super::{done_notice, failed, query, reauthenticate};
use crate::audit::{self, Action};
use crate::config::JWKS_MAX_AGE_SECS;
use crate::error::AdminError;
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{Choice, KeyRow, KeysPage, Notice, when};
use crate::pages::see_other;
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// The longest publish-ahead or overlap accepted, seconds (a year).
const MAX_SCHEDULE_SECS: i64 = 365 * 24 * 3600;

/// GET: the keys and the rotation form.
pub(crate) async fn get(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let notice = done_notice(&query(raw.as_deref()));
    page(&state, &session, notice, StatusCode::OK)
}

fn page(
    state: &AppState,
    session: &AdminSession,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let now = state.clock.now();
    let jwks = state.keys.jwks(now);
    let published: Vec<String> = jwks["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.get("kid").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut keys = state.keys.list(now);
    keys.reverse();
    let rows = keys
        .into_iter()
        .map(|(schedule, key_state)| KeyRow {
            published: published.contains(&schedule.kid),
            kid: schedule.kid,
            alg: schedule.alg.as_str().to_owned(),
            state: key_state.as_str(),
            created: when(schedule.created_at),
            signs_from: when(schedule.activates_at),
            retires: schedule.retires_at.map_or_else(|| "—".to_owned(), when),
            unpublish: schedule.unpublish_at.map_or_else(|| "—".to_owned(), when),
        })
        .collect();
    let mut algs = vec![Choice {
        value: "all",
        label: "Every configured algorithm",
        selected: true,
    }];
    algs.extend(
        state
            .config
            .signing_algs()
            .unwrap_or_default()
            .into_iter()
            .map(|alg| Choice {
                value: alg.as_str(),
                label: alg.as_str(),
                selected: false,
            }),
    );
    let page = KeysPage {
        brand: BRAND,
        nav: session.nav("keys"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        rows,
        published,
        algs,
        publish_ahead: state.config.keys.publish_ahead_secs,
        overlap: state.config.keys.overlap_secs,
        jwks_max_age: JWKS_MAX_AGE_SECS,
        refresh_secs: state.config.keys.refresh_secs,
    };
    render_admin(status, &page)
}

/// A whole number of seconds between 0 and a year, or the default when blank.
fn seconds(value: Option<&str>, default: i64) -> Option<i64> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Some(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|s| (0..=MAX_SCHEDULE_SECS).contains(s)),
    }
}

/// POST /admin/keys/rotate: introduces new keys (re-authenticated).
pub(crate) async fn rotate(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let p = &form.params;
    let alg = p.get("alg").unwrap_or("all");
    if let Err(notice) = reauthenticate(&state, &form, Action::KeyRotate, alg).await {
        return Ok(page(&state, session, notice, StatusCode::FORBIDDEN));
    }
    let configured = state.config.signing_algs().unwrap_or_default();
    let algs: Vec<Alg> = match alg {
        "all" => configured,
        name => match Alg::parse(name).filter(|a| configured.contains(a)) {
            Some(alg) => vec![alg],
            None => Vec::new(),
        },
    };
    let publish_ahead = seconds(p.get("publish_ahead"), state.config.keys.publish_ahead_secs);
    let overlap = seconds(p.get("overlap"), state.config.keys.overlap_secs);
    let (Some(publish_ahead), Some(overlap), false) = (publish_ahead, overlap, algs.is_empty())
    else {
        let problem = "choose a configured algorithm, and times in whole seconds up to a year";
        failed(&state, session, Action::KeyRotate, Some(alg), problem).await;
        let notice = Notice::error(problem);
        return Ok(page(&state, session, notice, StatusCode::BAD_REQUEST));
    };
    let now = state.clock.now();
    let mut created = Vec::new();
    for alg in algs {
        match state.keys.rotate(alg, now, publish_ahead, overlap).await {
            Ok(schedule) => created.push(json!({
                "alg": alg.as_str(),
                "kid": schedule.kid,
                "activates_at": schedule.activates_at.unix(),
            })),
            Err(e) => {
                tracing::error!(error = %e, %alg, "rotating a signing key failed");
                audit::record(
                    &state,
                    &session.actor(),
                    Action::KeyRotate,
                    Some(alg.as_str()),
                    AuditOutcome::Failed,
                    json!({ "problem": "rotation failed (a concurrent rotation?)", "rotated": created }),
                )
                .await;
                return Err(session.failure());
            }
        }
    }
    audit::record(
        &state,
        &session.actor(),
        Action::KeyRotate,
        Some(alg),
        AuditOutcome::Success,
        json!({ "publish_ahead_secs": publish_ahead, "overlap_secs": overlap, "keys": created }),
    )
    .await;
    Ok(see_other("/admin/keys?done=key_rotated"))
}
