//! The audit trail of the admin UI: what an administrator did (or tried), to what, when, from
//! where, and how it ended.
//!
//! Every POST to `/admin` by a named account writes exactly one event through [`record`],
//! refusals included (no valid CSRF token, a wrong password at re-authentication, a
//! non-administrator). Refusals that name nobody (no session, an unknown user name) and sign-ins
//! refused as busy or throttled are counted in memory instead ([`refusal`], `bounds::Refusals`)
//! and summarised periodically, so that nobody can fill the disk without credentials; every
//! stored text field is capped at [`MAX_FIELD_BYTES`].
//! Each event is also a `tracing` line. Neither ever holds a secret: no token, password, key or
//! cookie; details name things by id. The stored event names the actor and a target user by
//! username, for the administrators who read the trail; the log line names them by user id only.

use portcullis_store::admin::{AuditEvent, AuditOutcome};
use serde_json::Value;

use crate::state::AppState;

/// What an administrator did or tried to do.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Action {
    /// Client registered.
    ClientCreate,
    /// Client deleted with everything issued to it.
    ClientDelete,
    /// Client disabled.
    ClientDisable,
    /// Client enabled again.
    ClientEnable,
    /// One grant of a client revoked.
    ClientRevokeGrant,
    /// Every token and grant of a client revoked.
    ClientRevokeTokens,
    /// Client metadata replaced.
    ClientUpdate,
    /// Client rate limit set or cleared.
    ClientLimits,
    /// A security event acknowledged.
    SecurityAcknowledge,
    /// A form without a valid CSRF token, or without a live admin session.
    Form,
    /// Initial access token issued.
    IatIssue,
    /// Initial access token revoked.
    IatRevoke,
    /// Signing key rotation.
    KeyRotate,
    /// Sign-in to the admin UI.
    SignIn,
    /// Sign-out of the admin UI.
    SignOut,
    /// User created.
    UserCreate,
    /// User disabled.
    UserDisable,
    /// User enabled again.
    UserEnable,
    /// A user's password set by an administrator.
    UserResetPassword,
}

impl Action {
    /// Every action, in the order the audit page lists them.
    pub(crate) const ALL: [Self; 19] = [
        Self::SignIn,
        Self::SignOut,
        Self::Form,
        Self::ClientCreate,
        Self::ClientUpdate,
        Self::ClientDisable,
        Self::ClientEnable,
        Self::ClientLimits,
        Self::ClientDelete,
        Self::ClientRevokeGrant,
        Self::ClientRevokeTokens,
        Self::IatIssue,
        Self::IatRevoke,
        Self::KeyRotate,
        Self::UserCreate,
        Self::UserDisable,
        Self::UserEnable,
        Self::UserResetPassword,
        Self::SecurityAcknowledge,
    ];

    /// Whether the target is a user (named by username in the trail, by user id in the log).
    fn targets_user(self) -> bool {
        matches!(
            self,
            Self::UserCreate | Self::UserDisable | Self::UserEnable | Self::UserResetPassword
        )
    }

    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ClientCreate => "client.create",
            Self::ClientDelete => "client.delete",
            Self::ClientDisable => "client.disable",
            Self::ClientEnable => "client.enable",
            Self::ClientRevokeGrant => "client.revoke_grant",
            Self::ClientRevokeTokens => "client.revoke_tokens",
            Self::ClientUpdate => "client.update",
            Self::ClientLimits => "client.limits",
            Self::SecurityAcknowledge => "security.acknowledge",
            Self::Form => "admin.form_refused",
            Self::IatIssue => "initial_access_token.issue",
            Self::IatRevoke => "initial_access_token.revoke",
            Self::KeyRotate => "key.rotate",
            Self::SignIn => "admin.sign_in",
            Self::SignOut => "admin.sign_out",
            Self::UserCreate => "user.create",
            Self::UserDisable => "user.disable",
            Self::UserEnable => "user.enable",
            Self::UserResetPassword => "user.reset_password",
        }
    }
}

/// Who acted: the signed-in administrator (or the account named at sign-in), and the address.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) address: String,
}

impl Actor {
    /// Nobody signed in, at `address`.
    pub(crate) fn anonymous(address: &str) -> Self {
        Self {
            user_id: None,
            username: None,
            address: address.to_owned(),
        }
    }
}

/// Longest stored text field of an event, bytes (path, address, names, details): a request path
/// can be 64 KiB, and the trail is kept for a year.
pub(crate) const MAX_FIELD_BYTES: usize = 256;

/// `text` cut to at most [`MAX_FIELD_BYTES`] bytes at a character boundary, marked with `…`.
pub(crate) fn capped(text: &str) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_FIELD_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A refusal: stored like [`record`] when it names an account, but when nobody is named (an
/// anonymous POST to `/admin`, a sign-in form without CSRF token, an unknown user name) only
/// counted in memory and summarised in the periodic refusal line (`jobs`), so that a flood of
/// anonymous requests cannot fill the disk.
pub(crate) async fn refusal(
    state: &AppState,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    details: Value,
) {
    if actor.user_id.is_none() {
        state
            .bounds
            .refusals
            .count(crate::bounds::Refusal::AnonymousAdmin);
        tracing::debug!(action = action.as_str(), address = %actor.address, "anonymous admin request refused");
        return;
    }
    record(state, actor, action, target, AuditOutcome::Denied, details).await;
}

/// Writes one event to the audit trail and the log. A failure to store it is logged at error
/// level; the action it describes has already happened (or been refused) by then.
pub(crate) async fn record(
    state: &AppState,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    outcome: AuditOutcome,
    details: Value,
) {
    // Every stored text is capped; details that would not fit are replaced by a note (a cut
    // JSON object would not parse).
    let mut stored_details = details.to_string();
    if stored_details.len() > MAX_FIELD_BYTES {
        stored_details = serde_json::json!({ "truncated": true }).to_string();
    }
    let event = AuditEvent {
        at: state.clock.now(),
        actor_id: actor.user_id.as_deref().map(capped),
        actor_name: actor.username.as_deref().map(capped),
        address: capped(&actor.address),
        action: action.as_str().to_owned(),
        target: target.map(capped),
        outcome,
        details: stored_details,
    };
    security_event(state, actor, action, target, outcome);
    // The log line names people by user id only (LOGGING.md): the actor's, and for actions on a
    // user the target's, which the details carry.
    let actor_id = actor.user_id.as_deref().unwrap_or("-");
    let target = if action.targets_user() {
        details
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or("-")
    } else {
        target.unwrap_or("-")
    };
    let reason = ["reason", "problem"]
        .iter()
        .find_map(|k| details.get(*k).and_then(Value::as_str))
        .unwrap_or("");
    match outcome {
        AuditOutcome::Success => tracing::info!(
            action = action.as_str(), outcome = outcome.as_str(), actor_id,
            address = %actor.address, target, "admin action"
        ),
        AuditOutcome::Denied | AuditOutcome::Failed => tracing::warn!(
            action = action.as_str(), outcome = outcome.as_str(), actor_id,
            address = %actor.address, target, reason, "admin action not done"
        ),
    }
    if let Err(e) = state.store.insert_audit_event(&event).await {
        tracing::error!(error = %e, action = action.as_str(), "writing an audit event failed");
    }
}

/// The security event an audited action raises, if any: a refused admin sign-in (one per account
/// or address while its incident is open), or a change an administrator made to keys, clients,
/// users or initial access tokens.
fn security_event(
    state: &AppState,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    outcome: AuditOutcome,
) {
    use crate::security::{Event, Kind};
    let who = actor.username.as_deref().map(capped);
    let event = match (action, outcome) {
        (Action::SignIn, AuditOutcome::Denied) => {
            let named = who
                .clone()
                .unwrap_or_else(|| "an unknown account".to_owned());
            let event = Event::new(
                Kind::AdminSigninFailure,
                format!(
                    "A sign-in to the admin UI as {named} from {} was refused.",
                    actor.address
                ),
            )
            .address(&actor.address)
            .incident(who.clone().unwrap_or_else(|| actor.address.clone()));
            match &who {
                Some(username) => event.account(username),
                None => event,
            }
        }
        // An acknowledgement changes nothing the monitor watches; as an event it would leave a
        // new unacknowledged event behind each one.
        (Action::SignIn | Action::SignOut | Action::Form | Action::SecurityAcknowledge, _) => {
            return;
        }
        (_, AuditOutcome::Success) => {
            let by = who.clone().unwrap_or_else(|| "an administrator".to_owned());
            let on = target.map(capped).unwrap_or_default();
            let event = Event::new(
                Kind::AdminChange,
                format!("{by} did {} {on} in the admin UI.", action.as_str())
                    .replace("  ", " ")
                    .replace(" .", "."),
            )
            .address(&actor.address)
            .evidence(serde_json::json!({ "action": action.as_str(), "target": on }));
            let event = match &who {
                Some(username) => event.account(username),
                None => event,
            };
            if action.as_str().starts_with("client.") && !on.is_empty() {
                event.client(&on)
            } else {
                event
            }
        }
        _ => return,
    };
    state.monitor.raise_later(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_fields_are_capped_at_a_character_boundary() {
        assert_eq!(capped("/admin/x"), "/admin/x");
        let long = "é".repeat(40_000);
        let cut = capped(&long);
        assert!(cut.len() <= MAX_FIELD_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn every_action_is_listed_once_with_a_distinct_name() {
        let names: std::collections::BTreeSet<&str> =
            Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
