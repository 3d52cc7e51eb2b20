//! The SQL of [`FlowStore`](crate::flow::FlowStore), shared by both backends: one module per
//! group of tables (rows, columns, statements) and the trait's implementation as a macro.

pub(crate) mod grants;
pub(crate) mod pushed;
pub(crate) mod refresh;
pub(crate) mod users;

/// Implements [`FlowStore`](crate::flow::FlowStore) for a struct with a `pool` field.
macro_rules! sql_flow_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::flow::FlowStore for $store {
            async fn insert_user(
                &self,
                u: &$crate::flow::UserRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::users::INSERT_USER)
                    .bind(&u.user_id)
                    .bind(&u.username)
                    .bind(&u.password_hash)
                    .bind(u.is_admin)
                    .bind(u.created_at.unix())
                    .bind(u.disabled_at.map(|t| t.unix()))
                    .bind(i32::try_from(u.failed_logins).unwrap_or(i32::MAX))
                    .bind(u.last_failed_at.map(|t| t.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> Result<Option<$crate::flow::UserRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::users::UserRow> =
                    sqlx::query_as($crate::sql::flow::users::USER_BY_NAME)
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn user(
                &self,
                user_id: &str,
            ) -> Result<Option<$crate::flow::UserRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::users::UserRow> =
                    sqlx::query_as($crate::sql::flow::users::USER_BY_ID)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn users(&self) -> Result<Vec<$crate::flow::UserRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::flow::users::UserRow> =
                    sqlx::query_as($crate::sql::flow::users::USERS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_password(
                &self,
                user_id: &str,
                password_hash: &str,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::flow::users::SET_PASSWORD)
                    .bind(user_id)
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn disable_user(
                &self,
                user_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::flow::users::DISABLE_USER)
                    .bind(user_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_login_failure(
                &self,
                user_id: Option<&str>,
                address: &str,
                now: portcullis_core::Timestamp,
                forget_before: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                if let Some(user_id) = user_id {
                    sqlx::query($crate::sql::flow::users::USER_FAILURE)
                        .bind(user_id)
                        .bind(now.unix())
                        .bind(forget_before.unix())
                        .execute(&self.pool)
                        .await?;
                }
                sqlx::query($crate::sql::flow::users::ADDRESS_FAILURE)
                    .bind(address)
                    .bind(now.unix())
                    .bind(forget_before.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn claim_login_attempt(
                &self,
                a: &$crate::flow::LoginAttempt<'_>,
            ) -> Result<bool, $crate::StoreError> {
                let claimed = match a.address_seen {
                    None => {
                        sqlx::query($crate::sql::flow::users::CLAIM_ADDRESS_NEW)
                            .bind(a.address)
                            .bind(a.now.unix())
                            .execute(&self.pool)
                            .await?
                    }
                    Some((count, last)) => {
                        sqlx::query($crate::sql::flow::users::CLAIM_ADDRESS)
                            .bind(a.address)
                            .bind(
                                i32::try_from(a.next_count(count, Some(last))).unwrap_or(i32::MAX),
                            )
                            .bind(a.now.unix())
                            .bind(i32::try_from(count).unwrap_or(i32::MAX))
                            .bind(last.unix())
                            .execute(&self.pool)
                            .await?
                    }
                };
                if claimed.rows_affected() != 1 {
                    return Ok(false);
                }
                let Some((user_id, count, last)) = a.account else {
                    return Ok(true);
                };
                let claimed = sqlx::query($crate::sql::flow::users::CLAIM_USER)
                    .bind(user_id)
                    .bind(i32::try_from(a.next_count(count, last)).unwrap_or(i32::MAX))
                    .bind(a.now.unix())
                    .bind(i32::try_from(count).unwrap_or(i32::MAX))
                    .bind(last.map_or(-1, |t| t.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(claimed.rows_affected() == 1)
            }

            async fn address_failures(
                &self,
                address: &str,
            ) -> Result<Option<(u32, portcullis_core::Timestamp)>, $crate::StoreError> {
                let row: Option<(i32, i64)> =
                    sqlx::query_as($crate::sql::flow::users::ADDRESS_FAILURES)
                        .bind(address)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(n, t)| {
                    (
                        u32::try_from(n).unwrap_or(0),
                        portcullis_core::Timestamp::from_unix(t),
                    )
                }))
            }

            async fn clear_login_failures(
                &self,
                user_id: &str,
                address: &str,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::users::CLEAR_USER_FAILURES)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                sqlx::query($crate::sql::flow::users::CLEAR_ADDRESS_FAILURES)
                    .bind(address)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                s: &$crate::flow::SessionRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::users::INSERT_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .bind(&s.user_id)
                    .bind(s.auth_time.unix())
                    .bind(&s.csrf_token)
                    .bind(s.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::SessionRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::users::SessionRow> =
                    sqlx::query_as($crate::sql::flow::users::SESSION)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn delete_session(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::users::DELETE_SESSION)
                    .bind(&hash.as_bytes()[..])
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                r: &$crate::flow::PushedRequest,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::pushed::INSERT_PUSHED)
                    .bind(&hash.as_bytes()[..])
                    .bind(&r.client_id)
                    .bind(&r.request)
                    .bind(r.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::PushedRequest>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::pushed::PushedRow> =
                    sqlx::query_as($crate::sql::flow::pushed::PUSHED)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn take_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<Option<$crate::flow::PushedRequest>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::pushed::PushedRow> =
                    sqlx::query_as($crate::sql::flow::pushed::TAKE_PUSHED)
                        .bind(&hash.as_bytes()[..])
                        .bind(client_id)
                        .bind(now.unix())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn extend_pushed_request(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                until: portcullis_core::Timestamp,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::flow::pushed::EXTEND_PUSHED)
                    .bind(&hash.as_bytes()[..])
                    .bind(until.unix())
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn issue_code(
                &self,
                g: &$crate::flow::GrantRecord,
                c: &$crate::flow::CodeRecord,
                consent: &$crate::flow::ConsentRecord,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($crate::sql::flow::grants::INSERT_GRANT)
                    .bind(&g.grant_id)
                    .bind(&g.user_id)
                    .bind(&g.client_id)
                    .bind(&g.scope)
                    .bind(g.auth_time.unix())
                    .bind(&g.acr)
                    .bind(g.created_at.unix())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::flow::grants::INSERT_CODE)
                    .bind(&c.code_hash.as_bytes()[..])
                    .bind(&c.grant_id)
                    .bind(&c.client_id)
                    .bind(&c.redirect_uri)
                    .bind(&c.code_challenge)
                    .bind(&c.dpop_jkt)
                    .bind(&c.nonce)
                    .bind(c.expires_at.unix())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::flow::grants::UPSERT_CONSENT)
                    .bind(&consent.user_id)
                    .bind(&consent.client_id)
                    .bind(&consent.scope)
                    .bind(consent.granted_at.unix())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_code(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::flow::Redemption, $crate::StoreError> {
                // The spend and the read of its grant are one transaction: a replay sees the
                // code spent only once both are done, so the grant the winner reads cannot have
                // been revoked by that replay (which revokes it afterwards, tokens included).
                let mut tx = self.pool.begin().await?;
                let won: Option<$crate::sql::flow::grants::CodeRow> =
                    sqlx::query_as($crate::sql::flow::grants::REDEEM_CODE)
                        .bind(&hash.as_bytes()[..])
                        .bind(now.unix())
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(row) = won {
                    let code = $crate::flow::CodeRecord::try_from(row)?;
                    let grant: Option<$crate::sql::flow::grants::GrantRow> =
                        sqlx::query_as($crate::sql::flow::grants::GRANT)
                            .bind(&code.grant_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let grant = grant.ok_or($crate::StoreError::Corrupt("code without grant"))?;
                    tx.commit().await?;
                    return Ok($crate::flow::Redemption::Fresh {
                        code: Box::new(code),
                        grant: Box::new(grant.into()),
                    });
                }
                tx.rollback().await?;
                let state: Option<(String, Option<i64>)> =
                    sqlx::query_as($crate::sql::flow::grants::CODE_STATE)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(match state {
                    Some((grant_id, Some(_))) => $crate::flow::Redemption::Replayed { grant_id },
                    _ => $crate::flow::Redemption::Unknown,
                })
            }

            async fn grant(
                &self,
                grant_id: &str,
            ) -> Result<Option<$crate::flow::GrantRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::grants::GrantRow> =
                    sqlx::query_as($crate::sql::flow::grants::GRANT)
                        .bind(grant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn revoke_grant(
                &self,
                grant_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for statement in $crate::sql::flow::grants::REVOKE_GRANT {
                    sqlx::query(statement)
                        .bind(grant_id)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_refresh_token(
                &self,
                t: &$crate::flow::RefreshTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::refresh::INSERT_REFRESH)
                    .bind(&t.token_hash.as_bytes()[..])
                    .bind(&t.grant_id)
                    .bind(&t.client_id)
                    .bind(t.issued_at.unix())
                    .bind(t.last_used_at.unix())
                    .bind(t.expires_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::flow::RefreshTokenRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::refresh::RefreshRow> =
                    sqlx::query_as($crate::sql::flow::refresh::REFRESH)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::flow::RefreshTokenRecord::try_from)
                    .transpose()
            }

            async fn touch_refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::flow::refresh::TOUCH_REFRESH)
                    .bind(&hash.as_bytes()[..])
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn revoke_refresh_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::Revocation, $crate::StoreError> {
                let Some(token) = self.refresh_token(hash).await? else {
                    return Ok($crate::Revocation::Unknown);
                };
                if token.client_id != client_id {
                    return Ok($crate::Revocation::NotOwner);
                }
                self.revoke_grant(&token.grant_id, now).await?;
                Ok($crate::Revocation::Revoked)
            }

            async fn consent(
                &self,
                user_id: &str,
                client_id: &str,
            ) -> Result<Option<$crate::flow::ConsentRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::flow::grants::ConsentRow> =
                    sqlx::query_as($crate::sql::flow::grants::CONSENT)
                        .bind(user_id)
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn consents(
                &self,
                user_id: &str,
            ) -> Result<Vec<$crate::flow::ConsentRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::flow::grants::ConsentRow> =
                    sqlx::query_as($crate::sql::flow::grants::CONSENTS)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_consent(
                &self,
                user_id: &str,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query($crate::sql::flow::grants::DELETE_CONSENT)
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                for statement in $crate::sql::flow::grants::REVOKE_USER_CLIENT {
                    sqlx::query(statement)
                        .bind(user_id)
                        .bind(client_id)
                        .bind(now.unix())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use sql_flow_store;
