//! `/admin/clients`: the registered clients. A searchable, paged list; a page per client with
//! its registration, state and activity ([`super::client_page`], [`super::activity`]); forms that
//! create and edit a client through the same validation as every registration
//! (`registry::validate`); disabling, enabling and deleting. Disabling and deleting need the
//! administrator's password again.
//!
//! A change takes effect in this process at once (`Clients::forget`) and in the others within
//! `clients.cache_secs`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::client::ClientMetadata;
use portcullis_store::StoreError;
use serde_json::json;

use super::client_page::{
    client_page, client_path, form_page, grant_types, metadata_of, unknown_client,
};
use super::{done_notice, failed, finish, query, reauthenticate, store_failed};
use crate::audit::Action;
use crate::clients::registry::{self, RegisterError};
use crate::error::AdminError;
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{ClientRow, ClientsPage, Notice, Pager, when};
use crate::pages::client_form::ClientForm;
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// Clients per page of the list.
pub(crate) const PAGE_SIZE: u64 = 20;

/// GET /admin/clients: the list, `?q=` searching client_id and metadata, `?page=` from 1.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    let query = query(raw.as_deref());
    let search = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    let page = query
        .get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let (records, total) = match state
        .store
        .clients_page(Some(&search), offset, PAGE_SIZE)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "listing clients failed");
            return Err(session.store_failure(&e));
        }
    };
    let rows = records
        .iter()
        .map(|record| {
            let m = metadata_of(record);
            ClientRow {
                client_id: record.client_id.clone(),
                name: m.client_name.clone().unwrap_or_default(),
                auth_method: m.token_endpoint_auth_method.clone().unwrap_or_default(),
                grant_types: grant_types(&m),
                enabled: record.disabled_at.is_none(),
                created: when(record.created_at),
            }
        })
        .collect();
    let link = |page: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !search.is_empty() {
            q.append_pair("q", &search);
        }
        q.append_pair("page", &page.to_string());
        format!("/admin/clients?{}", q.finish())
    };
    let shown = records.len() as u64;
    let pager = Pager {
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (offset + shown < total).then(|| link(page + 1)),
    };
    let page = ClientsPage {
        brand: BRAND,
        nav: session.nav("clients"),
        notice: done_notice(&query),
        search,
        rows,
        pager,
    };
    Ok(render_admin(StatusCode::OK, &page))
}

/// GET /admin/clients/{client_id}: the client, its state and activity.
pub(crate) async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    Path(client_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    let notice = done_notice(&query(raw.as_deref()));
    client_page(&state, &session, &client_id, notice, StatusCode::OK).await
}

/// GET /admin/clients/new: the empty form.
pub(crate) async fn new(State(state): State<AppState>, session: AdminSession) -> Response {
    form_page(
        &state,
        &session,
        None,
        ClientForm::new_client(),
        None,
        StatusCode::OK,
    )
}

/// GET /admin/clients/{client_id}/edit: the form with the client's metadata.
pub(crate) async fn edit(
    State(state): State<AppState>,
    session: AdminSession,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    let record = match state.store.client(&client_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(unknown_client(&session)),
        Err(e) => {
            tracing::error!(error = %e, "reading a client failed");
            return Err(session.store_failure(&e));
        }
    };
    let form = ClientForm::from_metadata(&metadata_of(&record));
    Ok(form_page(
        &state,
        &session,
        Some(client_id),
        form,
        None,
        StatusCode::OK,
    ))
}

/// POST /admin/clients: registers a client from the form.
pub(crate) async fn create(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let entered = ClientForm::from_fields(|name| form.params.get(name));
    let session = &form.session;
    let act = (Action::ClientCreate, None);
    let refuse = |text: &str| {
        let notice = Notice::error(text);
        let status = StatusCode::BAD_REQUEST;
        Ok(form_page(
            &state,
            session,
            None,
            entered.clone(),
            notice,
            status,
        ))
    };
    let metadata = match entered.to_metadata() {
        Ok(metadata) => metadata,
        Err(problem) => {
            failed(&state, session, act.0, None, problem).await;
            return refuse(problem);
        }
    };
    let now = state.clock.now();
    let client = match registry::register(state.store.as_ref(), &state.config, metadata, now).await
    {
        Ok(client) => client,
        Err(RegisterError::Invalid(e)) => {
            failed(&state, session, act.0, None, e.description()).await;
            return refuse(e.description());
        }
        Err(RegisterError::Taken) => {
            let problem = "this client_id is already registered";
            failed(&state, session, act.0, None, problem).await;
            return refuse(problem);
        }
        Err(RegisterError::Store(e)) => return Err(store_failed(&state, session, act, &e).await),
    };
    let location = format!("{}?done=client_created", client_path(&client.client_id));
    let act = (Action::ClientCreate, Some(client.client_id.as_str()));
    let created: Result<(), StoreError> = Ok(());
    let details = |_: &()| summary(&client.metadata);
    finish(&state, session, act, created, details, &location).await
}

/// POST /admin/clients/{client_id}: replaces the client's metadata with the form's.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let mut entered = ClientForm::from_fields(|name| form.params.get(name));
    entered.client_id = client_id.clone();
    let session = &form.session;
    let act = (Action::ClientUpdate, Some(client_id.as_str()));
    let refuse = |text: &str| {
        let (notice, status) = (Notice::error(text), StatusCode::BAD_REQUEST);
        let editing = Some(client_id.clone());
        Ok(form_page(
            &state,
            session,
            editing,
            entered.clone(),
            notice,
            status,
        ))
    };
    let metadata = match entered.to_metadata() {
        Ok(metadata) => metadata,
        Err(problem) => {
            failed(&state, session, act.0, act.1, problem).await;
            return refuse(problem);
        }
    };
    let client = match registry::validate(&state.config, &client_id, metadata, None) {
        Ok(client) => client,
        Err(e) => {
            failed(&state, session, act.0, act.1, e.description()).await;
            return refuse(e.description());
        }
    };
    let now = state.clock.now();
    let stored = match registry::record(&client, now) {
        Ok(record) => {
            state
                .store
                .update_client_metadata(&client_id, &record.metadata, now)
                .await
        }
        Err(e) => Err(e),
    };
    match stored {
        Ok(true) => {}
        Ok(false) => return Err(unknown_client(session)),
        Err(e) => return Err(store_failed(&state, session, act, &e).await),
    }
    state.clients.forget(&client_id);
    let location = format!("{}?done=client_saved", client_path(&client_id));
    let details = |_: &()| summary(&client.metadata);
    finish(
        &state,
        session,
        act,
        Ok::<_, StoreError>(()),
        details,
        &location,
    )
    .await
}

/// POST /admin/clients/{client_id}/disable: refuses the client from now on (re-authenticated).
pub(crate) async fn disable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    if let Err(notice) = reauthenticate(&state, &form, Action::ClientDisable, &client_id).await {
        return client_page(&state, session, &client_id, notice, StatusCode::FORBIDDEN).await;
    }
    let changed = state
        .store
        .disable_client(&client_id, state.clock.now())
        .await;
    state_changed(&state, session, &client_id, Action::ClientDisable, changed).await
}

/// POST /admin/clients/{client_id}/enable: accepts the client again.
pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let changed = state
        .store
        .enable_client(&client_id, state.clock.now())
        .await;
    state_changed(
        &state,
        &form.session,
        &client_id,
        Action::ClientEnable,
        changed,
    )
    .await
}

/// Finishes disabling or enabling: the cache, the audit trail, the redirect.
async fn state_changed(
    state: &AppState,
    session: &AdminSession,
    client_id: &str,
    action: Action,
    changed: Result<bool, StoreError>,
) -> Result<Response, AdminError> {
    match changed {
        Ok(false) => return Err(unknown_client(session)),
        Ok(true) => state.clients.forget(client_id),
        Err(_) => {}
    }
    let done = if action == Action::ClientDisable {
        "client_disabled"
    } else {
        "client_enabled"
    };
    let location = format!("{}?done={done}", client_path(client_id));
    let act = (action, Some(client_id));
    finish(state, session, act, changed, |_| json!({}), &location).await
}

/// POST /admin/clients/{client_id}/delete: deletes the client with everything issued to it
/// (re-authenticated).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let act = (Action::ClientDelete, Some(client_id.as_str()));
    if let Err(notice) = reauthenticate(&state, &form, act.0, &client_id).await {
        return client_page(&state, session, &client_id, notice, StatusCode::FORBIDDEN).await;
    }
    let deleted = state.store.delete_client(&client_id).await;
    match deleted {
        Ok(false) => return Err(unknown_client(session)),
        Ok(true) => state.clients.forget(&client_id),
        Err(_) => {}
    }
    let location = "/admin/clients?done=client_deleted";
    finish(&state, session, act, deleted, |_| json!({}), location).await
}

/// What the audit trail keeps of a client's metadata: no keys, only what identifies and
/// authorizes it.
fn summary(m: &ClientMetadata) -> serde_json::Value {
    json!({
        "client_name": m.client_name,
        "token_endpoint_auth_method": m.token_endpoint_auth_method,
        "grant_types": m.grant_types,
        "scope": m.scope,
        "jwks_uri": m.jwks_uri,
        "resource_server": m.resource_server.unwrap_or(false),
    })
}
