//! The audit trail of the admin UI: what an administrator did (or tried), to what, when, from
//! where, and how it ended.
//!
//! Every POST to `/admin` writes exactly one event through [`record`], refusals included (no
//! valid CSRF token, a wrong password at re-authentication, a non-administrator, throttling).
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
    pub(crate) const ALL: [Self; 18] = [
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
    let event = AuditEvent {
        at: state.clock.now(),
        actor_id: actor.user_id.clone(),
        actor_name: actor.username.clone(),
        address: actor.address.clone(),
        action: action.as_str().to_owned(),
        target: target.map(str::to_owned),
        outcome,
        details: details.to_string(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_once_with_a_distinct_name() {
        let names: std::collections::BTreeSet<&str> =
            Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
