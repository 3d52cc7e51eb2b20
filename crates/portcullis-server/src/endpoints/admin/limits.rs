//! `POST /admin/clients/{client_id}/limits`: an administrator sets or clears a client's rate
//! limit at `/token`, `/par`, `/introspect` and `/revoke` (the client page shows it with its
//! current use). Only administrators can: `/register` has no such metadata.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::client_page::{client_page, client_path, unknown_client};
use super::finish;
use crate::audit::Action;
use crate::config::Budget;
use crate::error::AdminError;
use crate::extract::AdminForm;
use crate::pages::admin::{LimitsView, Notice};
use crate::ratelimit::{ClientUse, stored_budget};
use crate::state::AppState;

/// The client's limits as its page shows them.
pub(crate) fn view(state: &AppState, client_id: &str) -> LimitsView {
    let ClientUse {
        budget,
        overridden,
        in_use,
    } = state.rate_limits.client_use(client_id);
    LimitsView {
        enabled: state.rate_limits.enabled(),
        per_second: budget.per_second.to_string(),
        burst: budget.burst,
        overridden,
        in_use,
    }
}

/// POST: sets (`rate`, `burst`) or clears (`clear`) the client's override.
pub(crate) async fn set(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let params = &form.params;
    let budget = if params.get("clear").is_some() {
        None
    } else {
        let rate = params
            .get("rate")
            .and_then(|v| v.trim().parse::<f64>().ok());
        let burst = params
            .get("burst")
            .and_then(|v| v.trim().parse::<u32>().ok());
        match rate.zip(burst).map(|(r, b)| Budget::new(r, b)) {
            Some(budget) if budget.check("client").is_ok() => Some(budget),
            _ => {
                let notice = Notice::error(
                    "Nothing was changed: the rate is requests per second between 0.001 and 1000000, the burst a whole number between 1 and 1000000.",
                );
                return client_page(&state, session, &client_id, notice, StatusCode::BAD_REQUEST)
                    .await;
            }
        }
    };
    let changed = state
        .store
        .set_client_rate_limit(&client_id, budget.map(stored_budget), state.clock.now())
        .await;
    match changed {
        Ok(false) => return Err(unknown_client(session)),
        Ok(true) => state.rate_limits.set_override(&client_id, budget),
        Err(_) => {}
    }
    let location = format!("{}?done=limits_saved", client_path(&client_id));
    let act = (Action::ClientLimits, Some(client_id.as_str()));
    let details = |_: &bool| match budget {
        Some(b) => json!({ "per_second": b.per_second, "burst": b.burst }),
        None => json!({ "cleared": true }),
    };
    finish(&state, session, act, changed, details, &location).await
}
