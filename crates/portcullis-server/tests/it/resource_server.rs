//! `portcullis-resource` in front of the example accounts API (`examples/accounts`), against a
//! real running Portcullis: tokens checked as JWTs or by introspection, their DPoP or
//! certificate binding, scopes and the RFC 6750 / RFC 9449 refusals, key rotation, budgets and
//! the enumeration guard, and the reports the API sends to the authorization server's
//! `POST /resource-events`, stored there as security events.

mod binding;
mod introspection;
mod keys;
mod limits;
mod reports;
