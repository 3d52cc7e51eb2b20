//! The admin UI's pages: one template struct per file in `templates/admin/`, and the small
//! view values they show. Every page extends `admin/base.html`, whose navigation bar appears
//! when a [`Nav`] is given (signed in) and whose notice line shows a [`Notice`].

use askama::Template;
use portcullis_core::Timestamp;

use crate::pages::client_form::ClientForm;

/// The navigation bar of a signed-in administrator.
pub(crate) struct Nav {
    pub(crate) username: String,
    pub(crate) csrf_token: String,
    /// The current section: `clients`, `tokens`, `keys`, `users`, `audit` or
    /// `security`.
    pub(crate) section: &'static str,
}

/// A one-line message above the page: the outcome of the last action.
pub(crate) struct Notice {
    pub(crate) error: bool,
    pub(crate) text: String,
}

impl Notice {
    /// A success message.
    pub(crate) fn done(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            error: false,
            text: text.into(),
        })
    }

    /// An error message.
    pub(crate) fn error(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            error: true,
            text: text.into(),
        })
    }
}

/// One option of a select, radio group or checkbox group.
pub(crate) struct Choice {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
    pub(crate) selected: bool,
}

/// Choices from `(value, label)` pairs, with those `selected` says marked.
pub(crate) fn choices(
    options: &[(&'static str, &'static str)],
    selected: impl Fn(&str) -> bool,
) -> Vec<Choice> {
    options
        .iter()
        .map(|&(value, label)| Choice {
            value,
            label,
            selected: selected(value),
        })
        .collect()
}

/// A time as people read it: `2025-11-30 14:05 UTC`.
pub(crate) fn when(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// How far `t` is from `now`: `in 5 min`, `3 h ago`, `just now`.
pub(crate) fn relative(now: Timestamp, t: Timestamp) -> String {
    let delta = t.unix() - now.unix();
    let span = delta.unsigned_abs();
    let amount = match span {
        0..60 => return "just now".to_owned(),
        60..3600 => format!("{} min", span / 60),
        3600..172_800 => format!("{} h", span / 3600),
        _ => format!("{} days", span / 86_400),
    };
    if delta > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Previous and next page links of a listing.
pub(crate) struct Pager {
    /// 1-based position of the first row shown (0 when empty).
    pub(crate) first: u64,
    /// Position of the last row shown.
    pub(crate) last: u64,
    /// Rows in all.
    pub(crate) total: u64,
    pub(crate) prev: Option<String>,
    pub(crate) next: Option<String>,
}

/// The admin sign-in page.
#[derive(Template)]
#[template(path = "admin/login.html")]
pub(crate) struct LoginPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) username: String,
}

/// A refusal or failure (403 for non-administrators, 404, 500).
#[derive(Template)]
#[template(path = "admin/error.html")]
pub(crate) struct ErrorPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) title: String,
    pub(crate) message: String,
}

/// A client in the list.
pub(crate) struct ClientRow {
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) auth_method: String,
    pub(crate) grant_types: String,
    pub(crate) enabled: bool,
    pub(crate) created: String,
}

/// The list of clients with search and paging.
#[derive(Template)]
#[template(path = "admin/clients.html")]
pub(crate) struct ClientsPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) search: String,
    pub(crate) rows: Vec<ClientRow>,
    pub(crate) pager: Pager,
}

/// One line of a definition list.
pub(crate) struct Fact {
    pub(crate) label: &'static str,
    pub(crate) value: String,
}

/// Live tokens of one kind, binding and format.
pub(crate) struct TokenLine {
    pub(crate) kind: &'static str,
    pub(crate) binding: String,
    pub(crate) format: String,
    pub(crate) live: u64,
    pub(crate) soonest: String,
    pub(crate) soonest_in: String,
}

/// A grant of the client.
pub(crate) struct GrantLine {
    pub(crate) grant_id: String,
    pub(crate) user: String,
    pub(crate) scope: String,
    pub(crate) created: String,
    pub(crate) revoked: Option<String>,
    pub(crate) live_refresh: u64,
}

/// A client: its registration, state, activity and the actions on it.
#[derive(Template)]
#[template(path = "admin/client.html")]
pub(crate) struct ClientPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    pub(crate) facts: Vec<Fact>,
    pub(crate) metadata_json: String,
    pub(crate) tokens: Vec<TokenLine>,
    pub(crate) grants: Vec<GrantLine>,
    pub(crate) limits: LimitsView,
}

/// A client's rate limit on its page.
pub(crate) struct LimitsView {
    /// Whether rate limits are enforced at all.
    pub(crate) enabled: bool,
    pub(crate) per_second: String,
    pub(crate) burst: u32,
    /// Set by an administrator (else the configured default).
    pub(crate) overridden: bool,
    /// Requests of the burst in use now.
    pub(crate) in_use: u64,
}

/// A signing algorithm select of the client form.
pub(crate) struct AlgField {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) choices: Vec<Choice>,
}

/// The form that creates or edits a client.
#[derive(Template)]
#[template(path = "admin/client_form.html")]
pub(crate) struct ClientFormPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    /// `None` when creating.
    pub(crate) editing: Option<String>,
    pub(crate) action: String,
    pub(crate) form: ClientForm,
    pub(crate) auth_methods: Vec<Choice>,
    pub(crate) grant_types: Vec<Choice>,
    pub(crate) bindings: Vec<Choice>,
    pub(crate) formats: Vec<Choice>,
    pub(crate) profiles: Vec<Choice>,
    pub(crate) algs: Vec<AlgField>,
    pub(crate) max_lifetime: i64,
    pub(crate) default_lifetime: i64,
    pub(crate) default_format: String,
    /// `registration.default_scope`: what a blank scope registers.
    pub(crate) default_scope: String,
}

/// An initial access token in the list.
pub(crate) struct InitialTokenRow {
    pub(crate) id: String,
    pub(crate) created: String,
    pub(crate) expires: String,
    pub(crate) expires_in: String,
    pub(crate) uses_left: String,
    pub(crate) state: &'static str,
    pub(crate) live: bool,
    pub(crate) policy: String,
    pub(crate) clients: Vec<String>,
}

/// Initial access tokens: the list and the form that issues one.
#[derive(Template)]
#[template(path = "admin/tokens.html")]
pub(crate) struct TokensPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) rows: Vec<InitialTokenRow>,
    pub(crate) lifetimes: Vec<Choice>,
    pub(crate) grant_types: Vec<Choice>,
    pub(crate) auth_methods: Vec<Choice>,
    pub(crate) uses: String,
    pub(crate) scope: String,
    pub(crate) allow_resource_server: bool,
    pub(crate) registration_enabled: bool,
}

/// A new initial access token, shown this once.
#[derive(Template)]
#[template(path = "admin/token_issued.html")]
pub(crate) struct TokenIssuedPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) token: String,
    pub(crate) id: String,
    pub(crate) expires: String,
    pub(crate) uses: String,
    pub(crate) policy: String,
    pub(crate) register_url: String,
}

/// A server signing key.
pub(crate) struct KeyRow {
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) state: &'static str,
    pub(crate) created: String,
    pub(crate) signs_from: String,
    pub(crate) retires: String,
    pub(crate) unpublish: String,
    pub(crate) published: bool,
}

/// The server's signing keys, what is published, and the rotation form.
#[derive(Template)]
#[template(path = "admin/keys.html")]
pub(crate) struct KeysPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) rows: Vec<KeyRow>,
    pub(crate) published: Vec<String>,
    pub(crate) algs: Vec<Choice>,
    pub(crate) publish_ahead: i64,
    pub(crate) overlap: i64,
    pub(crate) jwks_max_age: i64,
    pub(crate) refresh_secs: u64,
}

/// A local user.
pub(crate) struct UserRow {
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) admin: bool,
    pub(crate) created: String,
    pub(crate) enabled: bool,
    pub(crate) is_self: bool,
    pub(crate) failed_logins: u32,
}

/// Local users: the list, the form that creates one and each user's actions.
#[derive(Template)]
#[template(path = "admin/users.html")]
pub(crate) struct UsersPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) rows: Vec<UserRow>,
    pub(crate) username: String,
    pub(crate) admin: bool,
    pub(crate) min_password: usize,
}

/// An audit event as the trail shows it.
pub(crate) struct AuditLine {
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) address: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) outcome: &'static str,
    /// `(name, value)` pairs.
    pub(crate) details: Vec<(String, String)>,
}

/// The audit trail with its filters.
#[derive(Template)]
#[template(path = "admin/audit.html")]
pub(crate) struct AuditPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) actions: Vec<Choice>,
    pub(crate) actor: String,
    pub(crate) target: String,
    pub(crate) rows: Vec<AuditLine>,
    pub(crate) pager: Pager,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_dates_and_distances() {
        assert_eq!(when(Timestamp::from_unix(0)), "1970-01-01 00:00 UTC");
        let now = Timestamp::from_unix(1_000_000);
        assert_eq!(relative(now, now.plus(30)), "just now");
        assert_eq!(relative(now, now.plus(300)), "in 5 min");
        assert_eq!(relative(now, now.plus(-7200)), "2 h ago");
        assert_eq!(relative(now, now.plus(3 * 86_400)), "in 3 days");
    }
}
