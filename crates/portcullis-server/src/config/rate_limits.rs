//! `[rate_limits]`: request budgets per source address, client, access token, registration
//! credential and account (`docs/CONFIG.md` explains every default; decision record 0012 the
//! counting across processes).

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// A budget: a sustained rate and a burst (GCRA: `burst` requests at once, then one every
/// `1 / per_second` seconds).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Sustained requests per second (may be fractional: 0.5 is one every two seconds).
    pub per_second: f64,
    /// Requests allowed at once after a quiet period (at least 1).
    pub burst: u32,
}

impl Budget {
    /// A budget of `per_second` with `burst`.
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }

    /// Checks that the budget can be enforced; `name` names it in the error.
    pub fn check(&self, name: &str) -> anyhow::Result<()> {
        if !(self.per_second.is_finite() && self.per_second >= 0.001 && self.per_second <= 1e6) {
            bail!("rate_limits.{name}.per_second must be between 0.001 and 1000000");
        }
        if self.burst == 0 || self.burst > 1_000_000 {
            bail!("rate_limits.{name}.burst must be between 1 and 1000000");
        }
        Ok(())
    }
}

/// Budgets per source address (IPv4 address or IPv6 prefix), one per endpoint class. Counted in
/// each process, before any signature check or database work.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressBudgets {
    /// `/token`, `/par`, `/introspect`, `/revoke`, `/userinfo`, `/register`.
    pub api: Budget,
    /// `/authorize`, `/consent`, `/account`, `/logout` and `GET /login`.
    pub browser: Budget,
    /// `POST /login` and `POST /admin/login` (password checks).
    pub signin: Budget,
    /// The admin UI (`/admin`, except its sign-in form).
    pub admin: Budget,
    /// Discovery, `/jwks`, the stylesheet and every unknown path. (`/healthz` and `/readyz` are
    /// never limited: load balancers poll them.)
    pub metadata: Budget,
}

impl Default for AddressBudgets {
    fn default() -> Self {
        Self {
            api: Budget::new(25.0, 100),
            browser: Budget::new(10.0, 60),
            signin: Budget::new(2.0, 30),
            admin: Budget::new(10.0, 60),
            metadata: Budget::new(25.0, 100),
        }
    }
}

/// The `[rate_limits]` section.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Enforce the budgets (off: every request passes; the addresses are still resolved).
    pub enabled: bool,
    /// IPv6 sources are counted per prefix of this length (48 to 128).
    pub ipv6_prefix: u8,
    /// Per source address, by endpoint class (each process counts its own).
    pub address: AddressBudgets,
    /// Per authenticated client at `/token`, `/par`, `/introspect` and `/revoke` (all four
    /// share it); an administrator's override replaces it for one client. Deployment-wide.
    pub client: Budget,
    /// Per initial access token or registration access token at `/register`. Deployment-wide.
    pub registration: Budget,
    /// Per access token at `/userinfo`. Deployment-wide.
    pub access_token: Budget,
    /// Per account named at sign-in (`/login`, `/admin/login`), whatever the password.
    /// Deployment-wide.
    pub account: Budget,
    /// Keys (addresses, clients, tokens, accounts) tracked per process at most; beyond it,
    /// keys idle past their budget are dropped first, and a new key finding no room passes
    /// uncounted (memory stays bounded; see `docs/OPERATIONS.md`).
    pub max_tracked_keys: usize,
    /// Milliseconds between reconciliations of the deployment-wide counts through the database
    /// (and reloads of the administrators' per-client overrides); 0 counts in this process only.
    pub sync_interval_ms: u64,
    /// `redis://[user:password@]host:port[/db]`: reconcile through this Redis instead of the
    /// database (the overrides are still read from the database). Unset: the database.
    pub redis_url: Option<String>,
    /// What this deployment's Redis keys are named after (every process of a deployment must
    /// agree). Unset: the issuer.
    pub redis_namespace: Option<String>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.enabled)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .field("address", &self.address)
            .field("client", &self.client)
            .field("registration", &self.registration)
            .field("access_token", &self.access_token)
            .field("account", &self.account)
            .field("max_tracked_keys", &self.max_tracked_keys)
            .field("sync_interval_ms", &self.sync_interval_ms)
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(crate::secret::redact_url),
            )
            .field("redis_namespace", &self.redis_namespace)
            .finish()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            ipv6_prefix: 64,
            address: AddressBudgets::default(),
            client: Budget::new(10.0, 100),
            registration: Budget::new(1.0, 20),
            access_token: Budget::new(10.0, 60),
            account: Budget::new(0.5, 20),
            max_tracked_keys: 200_000,
            sync_interval_ms: 1000,
            redis_url: None,
            redis_namespace: None,
        }
    }
}

impl RateLimits {
    /// Checks every value (part of `Config::validate`).
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(48..=128).contains(&self.ipv6_prefix) {
            bail!("rate_limits.ipv6_prefix must be between 48 and 128");
        }
        let a = &self.address;
        for (name, budget) in [
            ("address.api", a.api),
            ("address.browser", a.browser),
            ("address.signin", a.signin),
            ("address.admin", a.admin),
            ("address.metadata", a.metadata),
            ("client", self.client),
            ("registration", self.registration),
            ("access_token", self.access_token),
            ("account", self.account),
        ] {
            budget.check(name)?;
        }
        if !(1_000..=100_000_000).contains(&self.max_tracked_keys) {
            bail!("rate_limits.max_tracked_keys must be between 1000 and 100000000");
        }
        if self.sync_interval_ms != 0 && !(50..=60_000).contains(&self.sync_interval_ms) {
            bail!("rate_limits.sync_interval_ms must be 0 or between 50 and 60000");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") && url::Url::parse(url).is_ok())
        {
            bail!("rate_limits.redis_url must be a redis:// URL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_nonsense_is_refused() {
        RateLimits::default().validate().unwrap();
        let mut r = RateLimits::default();
        r.client.burst = 0;
        assert!(r.validate().is_err());
        let mut r = RateLimits::default();
        r.address.api.per_second = f64::NAN;
        assert!(r.validate().is_err());
        let r = RateLimits {
            ipv6_prefix: 32,
            ..RateLimits::default()
        };
        assert!(r.validate().is_err());
        let r = RateLimits {
            redis_url: Some("rediss://cache:6380".into()),
            ..RateLimits::default()
        };
        assert!(r.validate().is_err());
    }

    #[test]
    fn debug_output_redacts_the_redis_password() {
        let r = RateLimits {
            redis_url: Some("redis://user:hunter2secret@cache:6379/0".into()),
            ..RateLimits::default()
        };
        r.validate().unwrap();
        let printed = format!("{r:?}");
        assert!(!printed.contains("hunter2secret"), "{printed}");
        assert!(printed.contains("cache"), "{printed}");
    }
}
