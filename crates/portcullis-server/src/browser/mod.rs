//! What a person does in a browser: the authorization `flow` between the pushed request and
//! the redirect back to the client, `session`s and their CSRF protection, password
//! `signin` with throttling, and local [`users`].

pub(crate) mod flow;
pub(crate) mod session;
pub(crate) mod signin;
pub mod users;
