//! [`RequireToken`]: the tower layer that guards a route, and its service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse as _, Response};
use portcullis_core::scope::Scope;
use tower::{Layer, Service};

use crate::Resource;
use crate::authorize::Rules;
use crate::error::DPOP_NONCE;

/// Guards a route: only requests with a valid, sender-constrained token holding the route's
/// scopes, within budget and not enumerating, reach the handler, which can take the
/// [`AccessToken`](crate::AccessToken). Build one per route (or group of routes with the same
/// needs) from the shared [`Resource`]:
///
/// ```text
/// get(handler).route_layer(RequireToken::new(&resource).scope("accounts:read").enumeration("id"))
/// ```
#[derive(Clone, Debug)]
pub struct RequireToken {
    resource: Resource,
    rules: Arc<Rules>,
}

impl RequireToken {
    /// A guard that needs a valid bound token and nothing else yet.
    pub fn new(resource: &Resource) -> Self {
        Self {
            resource: resource.clone(),
            rules: Arc::new(Rules::default()),
        }
    }

    /// Also needs every scope in `scope` (space separated). A scope that is not a valid scope
    /// token (RFC 6749 §3.3) makes the route refuse every request, and says so in the log.
    pub fn scope(mut self, scope: &str) -> Self {
        let rules = Arc::make_mut(&mut self.rules);
        match Scope::parse(scope) {
            Some(more) => {
                let all = format!("{} {more}", rules.scope);
                rules.scope = Scope::parse(&all).unwrap_or_default();
            }
            None => {
                tracing::error!(
                    scope,
                    "RequireToken: not a valid scope; the route refuses every request"
                );
                rules.misconfigured = true;
            }
        }
        self
    }

    /// Counts the distinct values of the route parameter `param` (e.g. `id` of
    /// `/accounts/{id}`) per token and per client, and refuses an enumeration (see
    /// `enumeration` in the settings).
    pub fn enumeration(mut self, param: &str) -> Self {
        Arc::make_mut(&mut self.rules).enumeration = Some(param.to_owned());
        self
    }
}

impl<S> Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps around a route.
#[derive(Clone, Debug)]
pub struct RequireTokenService<S> {
    inner: S,
    guard: RequireToken,
}

impl<S> Service<Request> for RequireTokenService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let inner_resource = &guard.resource.0;
            match inner_resource.authorize(&mut parts, &guard.rules).await {
                Ok(token) => {
                    parts.extensions.insert(token);
                    let mut response = inner.call(Request::from_parts(parts, body)).await?;
                    // RFC 9449 §9: a fresh nonce may come with any response.
                    if let Some(nonce) = inner_resource
                        .next_nonce()
                        .and_then(|n| HeaderValue::from_str(&n).ok())
                    {
                        response.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    Ok(response)
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}
