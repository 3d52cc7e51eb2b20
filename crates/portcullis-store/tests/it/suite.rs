//! Backend-agnostic contract checks, one module per feature. Each is instantiated once per
//! backend by [`instantiate`]; the fixtures the modules share are at the bottom.

mod admin;
mod bounds;
mod clients_and_tokens;
mod flow;
mod keys;
mod rate_limits;
mod registration;
mod replays;
mod security;

use std::sync::Arc;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::scope::Scope;
use portcullis_core::token::{Confirmation, Grant};
use portcullis_store::flow::{CodeRecord, ConsentRecord, GrantRecord, UserRecord};
use portcullis_store::{AccessTokenRecord, ClientRecord, Store};

/// Declares one `#[tokio::test]` per suite check, each on a fresh store of `$backend`.
macro_rules! instantiate {
    ($backend:expr) => {
        $crate::suite::instantiate!(@each $backend;
            // keys.rs
            migrating_twice_is_harmless,
            first_key_is_inserted_once_per_alg,
            rotation_retires_every_predecessor_in_one_step,
            concurrent_rotations_leave_one_signing_successor,
            purge_removes_only_unpublished_keys,
            stored_key_round_trips_byte_for_byte,
            an_urgent_rotation_shortens_the_previous_schedule,
            // clients_and_tokens.rs
            clients_are_inserted_once_read_listed_and_disabled,
            r94_r109_a_jti_is_spent_exactly_once_under_concurrency,
            access_tokens_round_trip_by_hash,
            r157_only_the_owner_revokes_an_access_token,
            purge_removes_spent_jtis_and_expired_tokens,
            batched_token_writes_answer_each_request_by_its_own_fate,
            a_token_is_stored_only_when_every_spend_of_its_request_is_fresh,
            a_revocation_happens_only_when_its_spend_is_fresh,
            a_read_with_a_spend_answers_the_spend_and_the_token,
            batched_token_reads_and_revocations_answer_each_request_by_its_own_fate,
            // flow.rs
            users_are_unique_by_name_and_track_failures,
            r48_a_pushed_request_is_read_many_times_but_taken_once,
            r74_a_code_is_redeemed_exactly_once_under_concurrency,
            revoking_a_grant_revokes_its_tokens,
            revoking_a_consent_revokes_every_grant_of_the_user_to_the_client,
            sessions_round_trip_and_end,
            // registration.rs
            initial_access_tokens_are_stored_listed_and_revoked,
            r162_an_initial_access_token_is_used_only_while_live,
            r162_a_single_use_initial_access_token_is_spent_exactly_once_under_concurrency,
            r171_a_registration_token_finds_its_client_and_rotates_once,
            r169_metadata_is_replaced_only_with_the_current_registration_token,
            r170_deleting_a_client_removes_its_registration_grants_and_tokens,
            purge_removes_expired_initial_access_tokens,
            // admin.rs
            admin_sessions_live_until_idle_or_their_end,
            audit_events_are_listed_newest_first_filtered_and_paged,
            clients_are_paged_and_searched_by_id_and_metadata,
            admins_update_client_metadata_and_enable_clients_and_users,
            a_client_s_activity_shows_grants_and_live_tokens_by_kind,
            revoking_a_client_s_tokens_revokes_its_live_tokens_and_grants_only,
            registrations_remember_their_initial_access_token,
            // replays.rs
            r47_a_pushed_request_is_extended_once,
            r74_a_token_written_after_its_grant_was_revoked_is_revoked,
            // bounds.rs
            of_parallel_sign_in_attempts_on_one_reading_one_is_claimed,
            the_purge_runs_in_bounded_batches_over_every_expired_kind,
            a_purge_pass_takes_the_oldest_first_and_skips_the_kinds_it_finished,
            // rate_limits.rs
            client_rate_limits_are_set_replaced_cleared_and_go_with_their_client,
            rate_usage_adds_up_per_process_and_shows_only_the_others,
            // security.rs
            security_counts_add_up_over_processes_to_the_deployment_total,
            security_counts_are_read_by_prefix_subject_and_since,
            of_concurrent_security_raises_for_one_incident_exactly_one_is_stored,
            a_security_window_is_claimed_once_per_value_under_concurrency,
            a_network_or_certificate_seen_by_security_is_new_exactly_once,
            security_deliveries_are_claimed_by_one_process_and_only_when_due,
            security_events_are_filtered_newest_first_and_paged,
            a_security_event_is_acknowledged_once,
            the_security_purge_removes_only_old_events_counts_and_closed_incidents,
        );
    };
    (@each $backend:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::backend::run($backend, $crate::suite::$check).await;
            }
        )*
    };
}
pub(crate) use admin::*;
pub(crate) use bounds::*;
pub(crate) use clients_and_tokens::*;
pub(crate) use flow::*;
pub(crate) use instantiate;
pub(crate) use keys::*;
pub(crate) use rate_limits::*;
pub(crate) use registration::*;
pub(crate) use replays::*;
pub(crate) use security::*;

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        metadata: format!(r#"{{"client_id":"{id}"}}"#),
        created_at: Timestamp::from_unix(10),
        updated_at: Timestamp::from_unix(10),
        disabled_at: None,
    }
}

fn token(
    secret: &str,
    client_id: &str,
    expires_at: i64,
    confirmation: Confirmation,
) -> AccessTokenRecord {
    AccessTokenRecord {
        token_hash: TokenHash::of(secret.as_bytes()),
        format: "opaque".to_owned(),
        grant: Grant {
            jti: format!("jti-{secret}"),
            client_id: client_id.to_owned(),
            subject: client_id.to_owned(),
            scope: Scope::parse("a b").unwrap(),
            audience: "https://as.example".to_owned(),
            confirmation,
            issued_at: Timestamp::from_unix(100),
            expires_at: Timestamp::from_unix(expires_at),
        },
        revoked_at: None,
        grant_id: None,
    }
}

fn user(id: &str) -> UserRecord {
    UserRecord {
        user_id: id.to_owned(),
        username: format!("name-{id}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        is_admin: false,
        created_at: Timestamp::from_unix(1),
        disabled_at: None,
        failed_logins: 0,
        last_failed_at: None,
    }
}

fn grant(id: &str, user_id: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        grant_id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid a".to_owned(),
        auth_time: Timestamp::from_unix(90),
        acr: None,
        created_at: Timestamp::from_unix(100),
        revoked_at: None,
    }
}

fn code(secret: &str, grant_id: &str, client_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: TokenHash::of(secret.as_bytes()),
        grant_id: grant_id.to_owned(),
        client_id: client_id.to_owned(),
        redirect_uri: "https://c.example/cb?x=1".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        dpop_jkt: Some("thumb".to_owned()),
        nonce: Some("n".repeat(64)),
        expires_at: Timestamp::from_unix(160),
    }
}

fn consent(user_id: &str, client_id: &str) -> ConsentRecord {
    ConsentRecord {
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid a".to_owned(),
        granted_at: Timestamp::from_unix(100),
    }
}

async fn user_and_client(store: &Arc<dyn Store>) {
    store.insert_user(&user("user-1")).await.unwrap();
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&client("c2")).await.unwrap();
}

/// The user and client of [`user_and_client`], and code `code-1` of grant `g1` issued to them.
pub(crate) async fn user_client_and_code(store: &Arc<dyn Store>) {
    user_and_client(store).await;
    issue_code(store, "g1", "code-1", "c1").await;
}

/// Code `secret` of a new grant `grant_id`, issued to `user-1` and `client_id` with its consent.
async fn issue_code(store: &Arc<dyn Store>, grant_id: &str, secret: &str, client_id: &str) {
    store
        .issue_code(
            &grant(grant_id, "user-1", client_id),
            &code(secret, grant_id, client_id),
            &consent("user-1", client_id),
        )
        .await
        .unwrap();
}
