//! `/admin/audit`: the audit trail, newest first, filtered by action, actor and target text and
//! paged. Filters are a GET form, so a filtered view is a link that can be shared.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_store::admin::{AuditFilter, AuditOutcome};

use super::{failure_page, nav, query};
use crate::audit::Action;
use crate::extract::AdminSession;
use crate::pages::admin::{AuditLine, AuditPage, Choice, Pager, when};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// Events per page.
pub(crate) const PAGE_SIZE: u64 = 50;

/// GET: the trail, `?action=&actor=&target=&page=`.
pub(crate) async fn get(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = query(raw.as_deref());
    let text = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (action, actor, target) = (text("action"), text("actor"), text("target"));
    let page = query
        .get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let filter = AuditFilter {
        action: some(&action),
        actor: some(&actor),
        target: some(&target),
    };
    let (events, total) = match state.store.audit_events(&filter, offset, PAGE_SIZE).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "reading the audit trail failed");
            return failure_page(&session);
        }
    };
    let shown = events.len() as u64;
    let rows = events
        .into_iter()
        .map(|e| {
            let e = e.event;
            AuditLine {
                at: when(e.at),
                actor: e.actor_name.unwrap_or_else(|| "—".to_owned()),
                address: e.address,
                action: e.action,
                target: e.target.unwrap_or_default(),
                outcome: match e.outcome {
                    AuditOutcome::Denied => "denied",
                    AuditOutcome::Failed => "failed",
                    AuditOutcome::Success => "success",
                },
                details: if e.details == "{}" {
                    String::new()
                } else {
                    e.details
                },
            }
        })
        .collect();
    let link = |page: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("action", &action), ("actor", &actor), ("target", &target)] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/admin/audit?{}", q.finish())
    };
    let mut actions = vec![Choice {
        value: "",
        label: "Any action",
        selected: action.is_empty(),
    }];
    actions.extend(Action::ALL.iter().map(|a| Choice {
        value: a.as_str(),
        label: a.as_str(),
        selected: a.as_str() == action,
    }));
    let pager = Pager {
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (offset + shown < total).then(|| link(page + 1)),
    };
    let page = AuditPage {
        brand: BRAND,
        nav: nav(&session, "audit"),
        notice: None,
        actions,
        actor,
        target,
        rows,
        pager,
    };
    render_admin(StatusCode::OK, &page)
}
