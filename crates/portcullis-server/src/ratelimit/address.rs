//! The first tier: every request counted by its source address and endpoint class, before any
//! signature check or database work, so that a flood costs a hash-map update per request.
//!
//! The source is the TCP peer, except behind a trusted proxy (`tls.mode = "proxy"` and the peer
//! in `proxy.trusted`): then it is the rightmost address of `Forwarded` (RFC 7239), or of
//! `X-Forwarded-For` when there is no `Forwarded`, that is not itself a trusted proxy. The
//! resolved address is stored in the request's [`Peer`], so that sign-in throttling and the
//! audit trail use it too. IPv6 sources are counted per `rate_limits.ipv6_prefix` (/64 by
//! default: one customer's network); an IPv4-mapped IPv6 address counts as its IPv4 address.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::config::{Config, TlsMode};
use crate::ratelimit::RateLimits;
use crate::transport::peer::Peer;

/// Endpoint classes, each with its own per-address budget (`rate_limits.address`).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Class {
    /// The client-facing protocol endpoints.
    Api,
    /// The pages of the authorization flow and the account page.
    Browser,
    /// Password checks.
    Signin,
    /// The admin UI.
    Admin,
    /// Discovery, keys, static files and unknown paths.
    Metadata,
}

impl Class {
    /// The class of a request; `None` for the health probes, which are never limited.
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let post = method == Method::POST;
        Some(match path {
            "/healthz" | "/readyz" => return None,
            "/token" | "/par" | "/introspect" | "/revoke" | "/userinfo" | "/register" => Self::Api,
            "/login" | "/admin/login" if post => Self::Signin,
            "/authorize" | "/login" | "/consent" | "/account" | "/account/revoke" | "/logout" => {
                Self::Browser
            }
            p if p.starts_with("/register/") => Self::Api,
            p if p == "/admin" || p.starts_with("/admin/") => Self::Admin,
            _ => Self::Metadata,
        })
    }

    /// Whether a refusal answers the HTML error page (else the OAuth JSON error).
    fn is_page(self) -> bool {
        matches!(self, Self::Browser | Self::Signin | Self::Admin)
    }
}

/// How the source address of a request is found, resolved from the configuration once.
#[derive(Clone, Debug)]
pub struct Sources {
    proxy: bool,
    trusted: Vec<IpNet>,
    ipv6_prefix: u8,
}

impl Sources {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            proxy: config.tls.mode == TlsMode::Proxy,
            trusted: config.proxy.trusted.clone(),
            ipv6_prefix: config.rate_limits.ipv6_prefix,
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `remote`, or behind a trusted proxy the rightmost forwarded
    /// address that is not a trusted proxy (the leftmost one when all are). A forwarded hop that
    /// is not an address (`unknown`, an obfuscated name) stops the walk at the hop before it.
    pub fn client_address(&self, remote: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.proxy || !self.trusts(remote) {
            return remote;
        }
        let forwarded = headers.get_all(header::FORWARDED);
        let hops: Vec<&str> = if forwarded.iter().next().is_some() {
            forwarded
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|element| {
                    element
                        .split(';')
                        .find_map(|pair| {
                            let (name, value) = pair.trim().split_once('=')?;
                            name.eq_ignore_ascii_case("for").then_some(value)
                        })
                        .unwrap_or("")
                })
                .collect()
        } else {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .collect()
        };
        let mut client = remote;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The counting key of `ip`: the IPv4 address, or the IPv6 address cut to the prefix.
    pub fn source_key(&self, ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => (1_u128 << 64) | u128::from(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (1_u128 << 64) | u128::from(u32::from(v4)),
                None => {
                    let bits = u128::from(v6);
                    let cut = 128 - u32::from(self.ipv6_prefix.clamp(1, 128));
                    bits.checked_shr(cut)
                        .and_then(|b| b.checked_shl(cut))
                        .unwrap_or(0)
                }
            },
        }
    }
}

/// One forwarded hop as an address: `192.0.2.1`, `192.0.2.1:443`, `"[2001:db8::1]:443"`,
/// `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// The state of the middleware.
#[derive(Clone, Debug)]
pub struct AddressLimit {
    /// The limiter.
    pub limits: Arc<RateLimits>,
    /// How sources are found.
    pub sources: Arc<Sources>,
    /// Where refusals are counted for the security events (`rate_limited`, per address).
    pub monitor: Arc<crate::security::Monitor>,
}

/// Middleware ([`crate::around`]): resolves the client's address into the request's [`Peer`],
/// then counts the request against its source's budget for its endpoint class.
impl crate::around::Around for AddressLimit {
    type Guard = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        let Some(remote) = request.extensions().get::<Peer>().map(|p| p.remote.ip()) else {
            return Ok(());
        };
        let address = self.sources.client_address(remote, request.headers());
        if let Some(peer) = request.extensions_mut().get_mut::<Peer>() {
            peer.address = address;
        }
        if let Some(class) = Class::of(request.method(), request.uri().path())
            && let Err(refusal) = self
                .limits
                .check_address(class, self.sources.source_key(address))
        {
            tracing::debug!(%address, ?class, "rate limited by source address");
            self.monitor.count(
                crate::security::detect::limited_series("address"),
                &address.to_string(),
            );
            return Err(refusal.page(class.is_page()).into_response());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(proxy: bool) -> Sources {
        Sources {
            proxy,
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
            ipv6_prefix: 64,
        }
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        let xff = headers("x-forwarded-for", "203.0.113.5, 192.0.2.7, 10.0.0.2");
        // The rightmost untrusted hop, not the leftmost (which the client writes itself).
        assert_eq!(
            sources(true).client_address(proxy, &xff),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        // From an untrusted peer, or in direct mode, the header is ignored.
        assert_eq!(sources(true).client_address(stranger, &xff), stranger);
        assert_eq!(sources(false).client_address(proxy, &xff), proxy);
        let fwd = headers(
            "forwarded",
            "for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"",
        );
        assert_eq!(
            sources(true).client_address(proxy, &fwd),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let unknown = headers("x-forwarded-for", "192.0.2.1, unknown, 10.0.0.3");
        assert_eq!(
            sources(true).client_address(proxy, &unknown),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv6_sources_count_per_prefix_and_mapped_ipv4_as_ipv4() {
        let s = sources(false);
        let a = s.source_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = s.source_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = s.source_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            s.source_key("::ffff:192.0.2.1".parse().unwrap()),
            s.source_key("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn health_probes_are_never_limited_and_sign_in_posts_have_their_class() {
        assert_eq!(Class::of(&Method::GET, "/healthz"), None);
        assert_eq!(Class::of(&Method::POST, "/login"), Some(Class::Signin));
        assert_eq!(Class::of(&Method::GET, "/login"), Some(Class::Browser));
        assert_eq!(
            Class::of(&Method::POST, "/admin/login"),
            Some(Class::Signin)
        );
        assert_eq!(
            Class::of(&Method::GET, "/admin/clients"),
            Some(Class::Admin)
        );
        assert_eq!(Class::of(&Method::PUT, "/register/abc"), Some(Class::Api));
        assert_eq!(Class::of(&Method::GET, "/nope"), Some(Class::Metadata));
    }
}
