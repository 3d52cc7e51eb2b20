//! The FAPI 2.0 authorization code flow end to end over real TLS: PAR → authorize → sign-in →
//! consent → redirect → token → userinfo → refresh, and the rejections of R24–R86. The fixture
//! that takes each step is `support::flow`.

mod authorize;
mod cancel;
mod code_exchange;
mod par;
mod pushed_lifetime;
mod reauthentication;
mod redirect_uri;
mod refresh;
