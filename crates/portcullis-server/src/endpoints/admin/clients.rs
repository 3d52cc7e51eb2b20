//! `/admin/clients`: the registered clients. A searchable, paged list; a page per client with
//! its registration, state and activity ([`super::activity`]); forms that create and edit a
//! client through the same validation as every registration (`clients::validate`); disabling,
//! enabling and deleting. Disabling and deleting need the administrator's password again.
//!
//! A change takes effect in this process at once (`Clients::forget`) and in the others within
//! `clients.cache_secs`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::client::{ClientMetadata, TokenFormat};
use portcullis_store::ClientRecord;
use portcullis_store::admin::AuditOutcome;
use serde_json::json;

use super::client_form::{ALG_MEMBERS, ClientForm};
use super::{
    activity, done_notice, error_page, failure_page, nav, query, reauthenticate, see_other,
};
use crate::audit::{self, Action};
use crate::clients::{self, RegisterError};
use crate::extract::{AdminForm, AdminSession};
use crate::pages::admin::{
    AlgField, ClientFormPage, ClientPage, ClientRow, ClientsPage, Fact, Notice, Pager, choices,
    when,
};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// Clients per page of the list.
pub(crate) const PAGE_SIZE: u64 = 20;

const AUTH_METHODS: [(&str, &str); 3] = [
    (
        "private_key_jwt",
        "private_key_jwt: signed JWT assertions (RFC 7523)",
    ),
    (
        "tls_client_auth",
        "tls_client_auth: a CA-issued certificate (RFC 8705)",
    ),
    (
        "self_signed_tls_client_auth",
        "self_signed_tls_client_auth: a certificate registered in jwks (RFC 8705)",
    ),
];
const GRANT_TYPES: [(&str, &str); 3] = [
    ("authorization_code", "authorization_code"),
    ("refresh_token", "refresh_token"),
    ("client_credentials", "client_credentials"),
];
const BINDINGS: [(&str, &str); 3] = [
    (
        "",
        "Either: DPoP when the client sends a proof, else its certificate",
    ),
    ("dpop", "Always DPoP (dpop_bound_access_tokens)"),
    (
        "mtls",
        "Always the client certificate (tls_client_certificate_bound_access_tokens)",
    ),
];
const FORMATS: [(&str, &str); 3] = [
    ("", "Server default"),
    ("opaque", "opaque: random, checked by introspection"),
    ("jwt", "jwt: RFC 9068, signed by the server"),
];
const PROFILES: [(&str, &str); 2] = [("", "Server default (fapi2)"), ("fapi2", "fapi2")];
const ALGS: [(&str, &str); 4] = [
    ("", "Default"),
    ("PS256", "PS256"),
    ("ES256", "ES256"),
    ("EdDSA", "EdDSA"),
];
const ALG_HELP: [&str; 5] = [
    "Signs the ID tokens this client receives. Default PS256.",
    "Pins the algorithm of the client's assertions; default: any allowed one.",
    "Pins the algorithm of the client's signed request objects.",
    "Turns on JARM: every authorization response is a JWT signed with this algorithm.",
    "Signs userinfo responses with this algorithm; default: plain JSON.",
];

/// The client's metadata as stored (an unreadable row shows as empty metadata).
pub(crate) fn metadata_of(record: &ClientRecord) -> ClientMetadata {
    serde_json::from_str(&record.metadata).unwrap_or_default()
}

/// GET /admin/clients: the list, `?q=` searching client_id and metadata, `?page=` from 1.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Response {
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
            return failure_page(&session);
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
                grant_types: m
                    .grant_types
                    .clone()
                    .unwrap_or_else(|| vec!["authorization_code".to_owned()])
                    .join(", "),
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
        nav: nav(&session, "clients"),
        notice: done_notice(&query),
        search,
        rows,
        pager,
    };
    render_admin(StatusCode::OK, &page)
}

/// GET /admin/clients/{client_id}: the client, its state and activity.
pub(crate) async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    Path(client_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let notice = done_notice(&query(raw.as_deref()));
    client_page(&state, &session, &client_id, notice, StatusCode::OK).await
}

/// The client page with `notice`.
pub(crate) async fn client_page(
    state: &AppState,
    session: &AdminSession,
    client_id: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let record = match state.store.client(client_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return unknown_client(session),
        Err(e) => {
            tracing::error!(error = %e, "reading a client failed");
            return failure_page(session);
        }
    };
    let registration = match state.store.client_registration(client_id).await {
        Ok(registration) => registration,
        Err(e) => {
            tracing::error!(error = %e, "reading a client registration failed");
            return failure_page(session);
        }
    };
    let Ok((tokens, grants)) = activity::load(state, client_id).await else {
        return failure_page(session);
    };
    let m = metadata_of(&record);
    let origin = match &registration {
        None => "By an administrator (admin UI or portcullis client create)".to_owned(),
        Some(r) => {
            let mut how = Vec::new();
            if let Some(id) = &r.initial_access_token_id {
                how.push(format!("initial access token {id}"));
            }
            if r.software_statement.is_some() {
                how.push("a software statement".to_owned());
            }
            format!("Over /register (RFC 7591) with {}", how.join(" and "))
        }
    };
    // One per line (the page keeps line breaks in values).
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default().join("\n");
    let or_default = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_owned());
    let config = &state.config;
    let mut facts = vec![
        Fact {
            label: "State",
            value: match record.disabled_at {
                None => "Enabled".to_owned(),
                Some(t) => format!("Disabled since {}", when(t)),
            },
        },
        Fact {
            label: "Registered",
            value: format!("{} · {origin}", when(record.created_at)),
        },
        Fact {
            label: "Last changed",
            value: when(record.updated_at),
        },
        Fact {
            label: "Authentication",
            value: m.token_endpoint_auth_method.clone().unwrap_or_default(),
        },
        Fact {
            label: "Grant types",
            value: m
                .grant_types
                .clone()
                .unwrap_or_else(|| vec!["authorization_code".to_owned()])
                .join(", "),
        },
        Fact {
            label: "Scope",
            value: or_default(m.scope.clone(), "(none)"),
        },
        Fact {
            label: "Keys",
            value: match (&m.jwks, &m.jwks_uri) {
                (Some(jwks), _) => format!(
                    "{} key(s) by value",
                    jwks.get("keys")
                        .and_then(|k| k.as_array())
                        .map_or(0, Vec::len)
                ),
                (None, Some(uri)) => format!("fetched from {uri}"),
                (None, None) => "none".to_owned(),
            },
        },
        Fact {
            label: "Token binding",
            value: if m.dpop_bound_access_tokens == Some(true) {
                "DPoP always".to_owned()
            } else if m.tls_client_certificate_bound_access_tokens == Some(true) {
                "Client certificate always".to_owned()
            } else {
                "DPoP or client certificate".to_owned()
            },
        },
        Fact {
            label: "Access tokens",
            value: format!(
                "{}, {} s",
                or_default(
                    m.access_token_format.clone(),
                    &config.tokens.access_token_format
                ),
                m.access_token_lifetime
                    .unwrap_or(config.tokens.access_token_lifetime_secs)
            ),
        },
        Fact {
            label: "Profile",
            value: or_default(m.profile.clone(), "fapi2"),
        },
    ];
    let subject = [
        ("Certificate subject DN", &m.tls_client_auth_subject_dn),
        ("Certificate SAN (DNS)", &m.tls_client_auth_san_dns),
        ("Certificate SAN (URI)", &m.tls_client_auth_san_uri),
        ("Certificate SAN (IP)", &m.tls_client_auth_san_ip),
        ("Certificate SAN (email)", &m.tls_client_auth_san_email),
    ];
    for (label, value) in subject {
        if let Some(value) = value {
            facts.push(Fact {
                label,
                value: value.clone(),
            });
        }
    }
    if m.redirect_uris.is_some() {
        facts.push(Fact {
            label: "Redirect URIs",
            value: list(&m.redirect_uris),
        });
    }
    if m.resource_server == Some(true) {
        facts.push(Fact {
            label: "Resource server",
            value: "May introspect other clients' tokens".to_owned(),
        });
    }
    let page = ClientPage {
        brand: BRAND,
        nav: nav(session, "clients"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        client_id: record.client_id.clone(),
        name: m
            .client_name
            .clone()
            .unwrap_or_else(|| record.client_id.clone()),
        enabled: record.disabled_at.is_none(),
        facts,
        metadata_json: serde_json::to_string_pretty(&m).unwrap_or_default(),
        tokens,
        grants,
    };
    render_admin(status, &page)
}

fn unknown_client(session: &AdminSession) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        nav(session, "clients"),
        "No such client",
        "There is no client with this client_id. It may have been deleted.",
    )
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
) -> Response {
    let record = match state.store.client(&client_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return unknown_client(&session),
        Err(e) => {
            tracing::error!(error = %e, "reading a client failed");
            return failure_page(&session);
        }
    };
    let form = ClientForm::from_metadata(&metadata_of(&record));
    form_page(
        &state,
        &session,
        Some(client_id),
        form,
        None,
        StatusCode::OK,
    )
}

fn form_page(
    state: &AppState,
    session: &AdminSession,
    editing: Option<String>,
    form: ClientForm,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let action = match &editing {
        Some(id) => format!("/admin/clients/{}", urlencode(id)),
        None => "/admin/clients".to_owned(),
    };
    let algs = ALG_MEMBERS
        .iter()
        .zip(ALG_HELP)
        .map(|(name, help)| AlgField {
            name,
            help,
            choices: choices(&ALGS, |v| v == form.alg(name)),
        })
        .collect();
    let tokens = &state.config.tokens;
    let page = ClientFormPage {
        brand: BRAND,
        nav: nav(session, "clients"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        editing,
        action,
        auth_methods: choices(&AUTH_METHODS, |v| v == form.token_endpoint_auth_method),
        grant_types: choices(&GRANT_TYPES, |v| form.grant_types.contains(v)),
        bindings: choices(&BINDINGS, |v| v == form.binding),
        formats: choices(&FORMATS, |v| v == form.access_token_format),
        profiles: choices(&PROFILES, |v| v == form.profile),
        algs,
        max_lifetime: tokens.max_access_token_lifetime_secs,
        default_lifetime: tokens.access_token_lifetime_secs,
        default_format: TokenFormat::parse(&tokens.access_token_format)
            .map_or("opaque", TokenFormat::as_str)
            .to_owned(),
        form,
    };
    render_admin(status, &page)
}

/// Characters a path segment keeps as they are (RFC 3986 unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment, percent-encoded.
pub(crate) fn urlencode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The client page's path.
pub(crate) fn client_path(client_id: &str) -> String {
    format!("/admin/clients/{}", urlencode(client_id))
}

/// POST /admin/clients: registers a client from the form.
pub(crate) async fn create(State(state): State<AppState>, form: AdminForm) -> Response {
    let entered = ClientForm::from_params(&form.params);
    let session = &form.session;
    let refuse = |text: &str| {
        form_page(
            &state,
            session,
            None,
            entered.clone(),
            Notice::error(text),
            StatusCode::BAD_REQUEST,
        )
    };
    let metadata = match entered.to_metadata() {
        Ok(metadata) => metadata,
        Err(problem) => {
            failed(&state, session, Action::ClientCreate, None, problem).await;
            return refuse(problem);
        }
    };
    let now = state.clock.now();
    match clients::register(state.store.as_ref(), &state.config, metadata, now).await {
        Ok(client) => {
            audit::record(
                &state,
                &session.actor(),
                Action::ClientCreate,
                Some(&client.client_id),
                AuditOutcome::Success,
                summary(&client.metadata),
            )
            .await;
            see_other(&format!(
                "{}?done=client_created",
                client_path(&client.client_id)
            ))
        }
        Err(RegisterError::Invalid(e)) => {
            failed(&state, session, Action::ClientCreate, None, e.description).await;
            refuse(e.description)
        }
        Err(RegisterError::Taken) => {
            let problem = "this client_id is already registered";
            failed(&state, session, Action::ClientCreate, None, problem).await;
            refuse(problem)
        }
        Err(RegisterError::Store(e)) => {
            tracing::error!(error = %e, "registering a client failed");
            failed(
                &state,
                session,
                Action::ClientCreate,
                None,
                "database error",
            )
            .await;
            failure_page(session)
        }
    }
}

/// POST /admin/clients/{client_id}: replaces the client's metadata with the form's.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Response {
    let mut entered = ClientForm::from_params(&form.params);
    entered.client_id = client_id.clone();
    let session = &form.session;
    let refuse = |text: &str| {
        form_page(
            &state,
            session,
            Some(client_id.clone()),
            entered.clone(),
            Notice::error(text),
            StatusCode::BAD_REQUEST,
        )
    };
    let target = Some(client_id.as_str());
    let metadata = match entered.to_metadata() {
        Ok(metadata) => metadata,
        Err(problem) => {
            failed(&state, session, Action::ClientUpdate, target, problem).await;
            return refuse(problem);
        }
    };
    let client = match clients::validate(&state.config, &client_id, metadata) {
        Ok(client) => client,
        Err(e) => {
            failed(&state, session, Action::ClientUpdate, target, e.description).await;
            return refuse(e.description);
        }
    };
    let now = state.clock.now();
    let stored = match clients::record(&client, now) {
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
        Ok(false) => return unknown_client(session),
        Err(e) => {
            tracing::error!(error = %e, "updating a client failed");
            failed(
                &state,
                session,
                Action::ClientUpdate,
                target,
                "database error",
            )
            .await;
            return failure_page(session);
        }
    }
    state.clients.forget(&client_id);
    audit::record(
        &state,
        &session.actor(),
        Action::ClientUpdate,
        target,
        AuditOutcome::Success,
        summary(&client.metadata),
    )
    .await;
    see_other(&format!("{}?done=client_saved", client_path(&client_id)))
}

/// POST /admin/clients/{client_id}/disable: refuses the client from now on (re-authenticated).
pub(crate) async fn disable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Response {
    if let Err(notice) = reauthenticate(&state, &form, Action::ClientDisable, &client_id).await {
        return client_page(
            &state,
            &form.session,
            &client_id,
            notice,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let changed = state
        .store
        .disable_client(&client_id, state.clock.now())
        .await;
    state_changed(
        &state,
        &form.session,
        &client_id,
        Action::ClientDisable,
        changed,
    )
    .await
}

/// POST /admin/clients/{client_id}/enable: accepts the client again.
pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Response {
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
    changed: Result<bool, portcullis_store::StoreError>,
) -> Response {
    match changed {
        Ok(true) => {}
        Ok(false) => return unknown_client(session),
        Err(e) => {
            tracing::error!(error = %e, action = action.as_str(), "changing a client failed");
            failed(state, session, action, Some(client_id), "database error").await;
            return failure_page(session);
        }
    }
    state.clients.forget(client_id);
    audit::record(
        state,
        &session.actor(),
        action,
        Some(client_id),
        AuditOutcome::Success,
        json!({}),
    )
    .await;
    let done = if action == Action::ClientDisable {
        "client_disabled"
    } else {
        "client_enabled"
    };
    see_other(&format!("{}?done={done}", client_path(client_id)))
}

/// POST /admin/clients/{client_id}/delete: deletes the client with everything issued to it
/// (re-authenticated).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Response {
    let session = &form.session;
    if let Err(notice) = reauthenticate(&state, &form, Action::ClientDelete, &client_id).await {
        return client_page(&state, session, &client_id, notice, StatusCode::FORBIDDEN).await;
    }
    match state.store.delete_client(&client_id).await {
        Ok(true) => {}
        Ok(false) => return unknown_client(session),
        Err(e) => {
            tracing::error!(error = %e, "deleting a client failed");
            failed(
                &state,
                session,
                Action::ClientDelete,
                Some(&client_id),
                "database error",
            )
            .await;
            return failure_page(session);
        }
    }
    state.clients.forget(&client_id);
    audit::record(
        &state,
        &session.actor(),
        Action::ClientDelete,
        Some(&client_id),
        AuditOutcome::Success,
        json!({}),
    )
    .await;
    see_other("/admin/clients?done=client_deleted")
}

/// Writes the audit event of an action that was not done.
pub(crate) async fn failed(
    state: &AppState,
    session: &AdminSession,
    action: Action,
    target: Option<&str>,
    problem: &str,
) {
    audit::record(
        state,
        &session.actor(),
        action,
        target,
        AuditOutcome::Failed,
        json!({ "problem": problem }),
    )
    .await;
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
