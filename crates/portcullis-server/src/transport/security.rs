//! Security headers on every response (R54–R56, R186), and the id each request carries.
//!
//! JSON endpoints get the strictest set; pages set their own `Content-Security-Policy` and
//! `Cache-Control`, which this layer leaves alone (it only adds a header the response lacks).
//! hyper adds `Date` to every response (R186).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

const DEFAULTS: [(HeaderName, &str); 7] = [
    (
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// Adds the default security headers to every response of `router` that lacks them: one layer
/// for the seven (it was seven layers, each cloned and polled on every request).
pub(crate) fn headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(axum::middleware::map_response(add_defaults))
}

async fn add_defaults(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in DEFAULTS {
        if let header::Entry::Vacant(slot) = headers.entry(name) {
            slot.insert(HeaderValue::from_static(value));
        }
    }
    response
}

/// New request ids (a caller's own `x-request-id` is kept): UUIDs (version 4 in form) made of a
/// random half drawn once per process and a counter, so that a request costs no system call for
/// randomness. Ids must be unique, not secret: no value derived from one grants anything.
#[derive(Clone)]
pub(crate) struct RequestIds {
    process: [u8; 8],
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let process = uuid::Uuid::new_v4().as_u64_pair().0.to_be_bytes();
        Self {
            process,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    fn next(&self) -> uuid::Uuid {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.process);
        bytes[8..].copy_from_slice(&self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A new id as a header value.
    pub(crate) fn make(&self) -> HeaderValue {
        let mut text = uuid::Uuid::encode_buffer();
        let text = self.next().hyphenated().encode_lower(&mut text);
        // A UUID's text is always a valid header value; the fallback is never used.
        HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid-request-id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuids_and_never_repeat_within_a_process() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            assert_eq!(id.get_version_num(), 4);
            assert!(seen.insert(id), "{id} repeated");
        }
        // Another process draws another random half.
        assert_ne!(RequestIds::new().process, ids.process);
    }

    #[tokio::test]
    async fn the_defaults_are_added_only_where_the_response_has_none() {
        let mut response = Response::new(axum::body::Body::empty());
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=60"),
        );
        let response = add_defaults(response).await;
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "private, max-age=60"
        );
        for (name, value) in DEFAULTS.iter().filter(|(n, _)| n != header::CACHE_CONTROL) {
            assert_eq!(response.headers()[name], *value, "{name}");
        }
    }
}
