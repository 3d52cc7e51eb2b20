//! Rate limits (`[rate_limits]`, decision record 0012): GCRA budgets in two tiers.
//!
//! - Per source address ([`address`]): a middleware counts every request by its source (an IPv4
//!   address or an IPv6 prefix, resolved through trusted proxies) and endpoint class before any
//!   signature check or database work. Each process counts its own.
//! - Per subject, deployment-wide: per client after client authentication at `/token`, `/par`,
//!   `/introspect` and `/revoke` (an administrator's override replaces the default), per
//!   registration credential at `/register`, per access token at `/userinfo`, per account at
//!   sign-in. Each process counts locally and reconciles with the others through the database
//!   (or Redis, `rate_limits.redis_url`) every `rate_limits.sync_interval_ms` (`sync`); no
//!   request waits for either.
//!
//! A refusal is [`TooManyRequests`]: 429 with `Retry-After`.

pub mod address;
mod gcra;
mod redis;
pub(crate) mod sync;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use aws_lc_rs::digest;
use portcullis_store::ratelimit::ClientRateLimit;

use crate::config::{Budget, Config, RateLimits as Settings};
use crate::error::TooManyRequests;
use crate::monitoring::Metrics;
use gcra::{Rate, Table};

pub use address::Class;

/// What a deployment-wide budget counts.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Subject {
    Client,
    Registration,
    AccessToken,
    Account,
}

impl Subject {
    /// The `class` label of a refusal (`portcullis_rate_limited_total`).
    fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Registration => "registration",
            Self::AccessToken => "access_token",
            Self::Account => "account",
        }
    }

    fn tag(self) -> &'static [u8] {
        match self {
            Self::Client => b"client\0",
            Self::Registration => b"registration\0",
            Self::AccessToken => b"access_token\0",
            Self::Account => b"account\0",
        }
    }
}

/// A deployment-wide key: the first 128 bits of SHA-256 over the subject's kind and name, the
/// same in every process (and the only form in which it reaches the database).
fn shared_key(subject: Subject, name: &str) -> u128 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(subject.tag());
    ctx.update(name.as_bytes());
    let d = ctx.finish();
    let mut first = [0_u8; 16];
    first.copy_from_slice(&d.as_ref()[..16]);
    u128::from_be_bytes(first)
}

/// A client's budget as the admin page shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientUse {
    /// The budget in force.
    pub(crate) budget: Budget,
    /// Whether an administrator set it.
    pub(crate) overridden: bool,
    /// Requests of its burst in use now (this process's view, including what other processes
    /// reported).
    pub(crate) in_use: u64,
}

/// The limiter of one process.
pub struct RateLimits {
    enabled: bool,
    settings: Settings,
    epoch: Instant,
    addresses: Table<(Class, u128)>,
    shared: Table<u128>,
    overrides: RwLock<HashMap<String, Budget>>,
    rates: ClassRates,
    namespace: String,
    metrics: Metrics,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct ClassRates {
    api: Rate,
    browser: Rate,
    signin: Rate,
    admin: Rate,
    metadata: Rate,
    client: Rate,
    registration: Rate,
    access_token: Rate,
    account: Rate,
}

impl RateLimits {
    /// The limiter for `config` (validated); refusals are counted in `metrics`.
    pub fn new(config: &Config, metrics: Metrics) -> Self {
        let s = &config.rate_limits;
        let a = &s.address;
        Self {
            enabled: s.enabled,
            settings: s.clone(),
            namespace: hex_prefix(s.redis_namespace.as_deref().unwrap_or(&config.issuer)),
            epoch: Instant::now(),
            addresses: Table::new(s.max_tracked_keys),
            shared: Table::new(s.max_tracked_keys / 4),
            overrides: RwLock::new(HashMap::new()),
            metrics,
            rates: ClassRates {
                api: Rate::of(a.api),
                browser: Rate::of(a.browser),
                signin: Rate::of(a.signin),
                admin: Rate::of(a.admin),
                metadata: Rate::of(a.metadata),
                client: Rate::of(s.client),
                registration: Rate::of(s.registration),
                access_token: Rate::of(s.access_token),
                account: Rate::of(s.account),
            },
        }
    }

    /// Whether budgets are enforced.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A name for this deployment (from its issuer), separating deployments that share a Redis.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The settings.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn refused(wait_ns: u64) -> TooManyRequests {
        TooManyRequests::after(wait_ns.div_ceil(1_000_000_000).max(1))
    }

    /// Counts a request of `class` from the source `source` (an address key, see
    /// [`address`]).
    pub(crate) fn check_address(&self, class: Class, source: u128) -> Result<(), TooManyRequests> {
        if !self.enabled {
            return Ok(());
        }
        let (rate, label) = match class {
            Class::Api => (self.rates.api, "address_api"),
            Class::Browser => (self.rates.browser, "address_browser"),
            Class::Signin => (self.rates.signin, "address_signin"),
            Class::Admin => (self.rates.admin, "address_admin"),
            Class::Metadata => (self.rates.metadata, "address_metadata"),
        };
        self.addresses
            .check((class, source), rate, self.now())
            .map_err(|wait| {
                self.metrics.rate_limited(label);
                Self::refused(wait)
            })
    }

    fn check_shared(
        &self,
        subject: Subject,
        name: &str,
        rate: Rate,
    ) -> Result<(), TooManyRequests> {
        if !self.enabled {
            return Ok(());
        }
        self.shared
            .check(shared_key(subject, name), rate, self.now())
            .map_err(|wait| {
                self.metrics.rate_limited(subject.label());
                Self::refused(wait)
            })
    }

    /// The budget in force for `client_id`.
    fn client_budget(&self, client_id: &str) -> Option<Budget> {
        self.overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_id)
            .copied()
    }

    /// Counts a request of the authenticated client `client_id`.
    pub(crate) fn check_client(&self, client_id: &str) -> Result<(), TooManyRequests> {
        let rate = self
            .client_budget(client_id)
            .map_or(self.rates.client, Rate::of);
        self.check_shared(Subject::Client, client_id, rate)
    }

    /// Counts a registration request carrying `credential` (an initial or registration access
    /// token).
    pub(crate) fn check_registration(&self, credential: &str) -> Result<(), TooManyRequests> {
        self.check_shared(Subject::Registration, credential, self.rates.registration)
    }

    /// Counts a request presenting the access token `token`.
    pub(crate) fn check_access_token(&self, token: &str) -> Result<(), TooManyRequests> {
        self.check_shared(Subject::AccessToken, token, self.rates.access_token)
    }

    /// Counts a sign-in attempt naming `username`.
    pub(crate) fn check_account(&self, username: &str) -> Result<(), TooManyRequests> {
        self.check_shared(Subject::Account, username, self.rates.account)
    }

    /// The client's budget and how much of its burst is in use.
    pub(crate) fn client_use(&self, client_id: &str) -> ClientUse {
        let (budget, overridden) = match self.client_budget(client_id) {
            Some(b) => (b, true),
            None => (self.settings.client, false),
        };
        let in_use = self.shared.in_use(
            shared_key(Subject::Client, client_id),
            Rate::of(budget),
            self.now(),
        );
        ClientUse {
            budget,
            overridden,
            in_use,
        }
    }

    /// Replaces the administrators' per-client budgets (read from the store). A client whose
    /// budget changed starts afresh under the new one (its count was kept in the old one's
    /// units).
    pub(crate) fn set_overrides(&self, limits: &[ClientRateLimit]) {
        let map: HashMap<String, Budget> = limits
            .iter()
            .filter_map(|l| {
                let budget = override_budget(l.per_second_milli, l.burst)?;
                Some((l.client_id.clone(), budget))
            })
            .collect();
        let mut current = self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *current == map {
            return;
        }
        for (client_id, budget) in current.iter() {
            if map.get(client_id) != Some(budget) {
                self.shared.forget(shared_key(Subject::Client, client_id));
            }
        }
        for client_id in map.keys() {
            if !current.contains_key(client_id) {
                self.shared.forget(shared_key(Subject::Client, client_id));
            }
        }
        *current = map;
    }

    /// Sets or removes one client's budget in this process (after an administrator's change;
    /// the other processes read it at their next reconciliation).
    pub(crate) fn set_override(&self, client_id: &str, budget: Option<Budget>) {
        let mut map = self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = match budget {
            Some(b) => map.insert(client_id.to_owned(), b),
            None => map.remove(client_id),
        };
        if previous != budget {
            self.shared.forget(shared_key(Subject::Client, client_id));
        }
    }

    /// Drops idle keys of both tables.
    pub(crate) fn sweep(&self) {
        let now = self.now();
        self.addresses.sweep(now);
        self.shared.sweep(now);
    }
}

/// The first 64 bits of SHA-256 over `text`, in hex.
fn hex_prefix(text: &str) -> String {
    let d = digest::digest(&digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored override as a budget (`None` for values no code path stores).
pub(crate) fn override_budget(per_second_milli: i64, burst: i64) -> Option<Budget> {
    if per_second_milli <= 0 || burst <= 0 {
        return None;
    }
    let budget = Budget::new(per_second_milli as f64 / 1000.0, u32::try_from(burst).ok()?);
    budget.check("override").ok()?;
    Some(budget)
}

/// A budget as stored: (per second in thousandths, burst).
pub(crate) fn stored_budget(budget: Budget) -> (i64, i64) {
    (
        (budget.per_second * 1000.0).round() as i64,
        i64::from(budget.burst),
    )
}
