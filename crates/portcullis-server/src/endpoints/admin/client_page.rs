//! The admin UI's client pages as rendered: a client's page (its registration, state and
//! activity) and the form that creates or edits one, with every choice explained.

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::client::{ClientMetadata, TokenFormat};
use portcullis_store::ClientRecord;
use portcullis_store::registration::RegistrationRecord;

use super::activity;
use crate::config::Config;
use crate::error::{AdminError, AdminErrorKind};
use crate::extract::AdminSession;
use crate::pages::admin::{AlgField, ClientFormPage, ClientPage, Fact, Notice, choices, when};
use crate::pages::client_form::{ALG_MEMBERS, ClientForm};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

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

/// The error page for a client_id that is not registered.
pub(crate) fn unknown_client(session: &AdminSession) -> AdminError {
    session
        .error(AdminErrorKind::Unknown(
            "No such client",
            "There is no client with this client_id. It may have been deleted.",
        ))
        .with_nav(session.nav("clients"))
}

/// The client page with `notice`.
pub(crate) async fn client_page(
    state: &AppState,
    session: &AdminSession,
    client_id: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let record = match state.store.client(client_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(unknown_client(session)),
        Err(e) => {
            tracing::error!(error = %e, "reading a client failed");
            return Err(session.store_failure(&e));
        }
    };
    let registration = state
        .store
        .client_registration(client_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a client registration failed");
            session.store_failure(&e)
        })?;
    let (tokens, grants) = activity::load(state, client_id)
        .await
        .map_err(|()| session.failure())?;
    let m = metadata_of(&record);
    let page = ClientPage {
        brand: BRAND,
        nav: session.nav("clients"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        client_id: record.client_id.clone(),
        name: m
            .client_name
            .clone()
            .unwrap_or_else(|| record.client_id.clone()),
        enabled: record.disabled_at.is_none(),
        facts: facts(&record, &m, registration.as_ref(), &state.config),
        metadata_json: serde_json::to_string_pretty(&m).unwrap_or_default(),
        tokens,
        grants,
        limits: super::limits::view(state, client_id),
    };
    Ok(render_admin(status, &page))
}

/// The client's grant types as the pages list them.
pub(crate) fn grant_types(m: &ClientMetadata) -> String {
    let grants = m
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grants.is_empty() {
        // R164: only a resource server registers none.
        return "none (introspection only)".to_owned();
    }
    grants.join(", ")
}

/// How the client came to be registered.
fn origin(registration: Option<&RegistrationRecord>) -> String {
    let Some(r) = registration else {
        return "By an administrator (admin UI or portcullis client create)".to_owned();
    };
    let mut how = Vec::new();
    if let Some(id) = &r.initial_access_token_id {
        how.push(format!("initial access token {id}"));
    }
    if r.software_statement.is_some() {
        how.push("a software statement".to_owned());
    }
    format!("Over /register (RFC 7591) with {}", how.join(" and "))
}

/// The facts the client page lists, in the order a reader looks for them.
fn facts(
    record: &ClientRecord,
    m: &ClientMetadata,
    registration: Option<&RegistrationRecord>,
    config: &Config,
) -> Vec<Fact> {
    // One per line (the page keeps line breaks in values).
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default().join("\n");
    let or_default = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_owned());
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
            value: format!("{} · {}", when(record.created_at), origin(registration)),
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
            value: grant_types(m),
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
    facts
}

/// The form that creates a client (`editing` is `None`) or edits one.
pub(crate) fn form_page(
    state: &AppState,
    session: &AdminSession,
    editing: Option<String>,
    form: ClientForm,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let action = match &editing {
        Some(id) => client_path(id),
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
        nav: session.nav("clients"),
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
        default_scope: state.config.registration.default_scope.clone(),
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
