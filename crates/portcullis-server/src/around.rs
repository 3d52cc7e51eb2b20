//! One shape for the middlewares whose work before a request is synchronous (a check that may
//! answer at once, a guard to hold) and whose work after it is a look at the response:
//! [`Around`]. Its service calls the service it wraps directly. axum's `from_fn` cannot: it
//! clones everything it wraps on every request to own it in an `async` block (each such layer
//! clones the layers below it again) and boxes the block; under the token path's load those
//! clones and boxes cost more instructions than all the checks they carried
//! (`docs/BENCHMARKS.md`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

/// A middleware: [`Around::before`] runs as the request arrives and either answers it (the
/// inner service is then not called) or returns a guard, which the response is handed to in
/// [`Around::after`] (and which is dropped with the request if that ends first).
pub(crate) trait Around: Clone + Send + Sync + 'static {
    type Guard: Send + 'static;

    /// The refusal is a whole response, moved once on a path that ends the request.
    #[allow(clippy::result_large_err)]
    fn before(&self, request: &mut Request) -> Result<Self::Guard, Response>;

    /// Nothing by default: the guard is simply dropped once the response is there.
    fn after(guard: Self::Guard, response: &mut Response) {
        let _ = (guard, response);
    }
}

/// The layer of an [`Around`] middleware.
#[derive(Clone)]
pub(crate) struct AroundLayer<A>(pub(crate) A);

impl<A: Around, S> Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.0.clone(),
            inner,
        }
    }
}

/// An [`Around`] middleware wrapping `S`.
#[derive(Clone)]
pub(crate) struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S> Service<Request> for AroundService<A, S>
where
    A: Around,
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<S::Future, A::Guard>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.around.before(&mut request) {
            Ok(guard) => AroundFuture::Inner {
                future: self.inner.call(request),
                guard: Some(guard),
                after: A::after,
            },
            Err(response) => AroundFuture::Answered {
                response: Some(response),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of an [`AroundService`].
    #[project = Projected]
    pub(crate) enum AroundFuture<F, G> {
        Inner {
            #[pin]
            future: F,
            guard: Option<G>,
            after: fn(G, &mut Response),
        },
        Answered {
            response: Option<Response>,
        },
    }
}

impl<F, G> Future for AroundFuture<F, G>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Inner {
                future,
                guard,
                after,
            } => {
                let Ok(mut response) = ready!(future.poll(cx));
                if let Some(guard) = guard.take() {
                    after(guard, &mut response);
                }
                Poll::Ready(Ok(response))
            }
            // Polled once: a second poll (a broken contract) gets an empty 500.
            Projected::Answered { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    let mut response = Response::default();
                    *response.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    response
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt as _;

    use super::*;

    /// Refuses requests to `/no`; counts guards dropped; stamps the response.
    #[derive(Clone)]
    struct Gate(Arc<AtomicUsize>);

    struct Held(Arc<AtomicUsize>);

    impl Drop for Held {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Around for Gate {
        type Guard = Held;

        fn before(&self, request: &mut Request) -> Result<Held, Response> {
            if request.uri().path() == "/no" {
                let mut response = Response::default();
                *response.status_mut() = StatusCode::FORBIDDEN;
                return Err(response);
            }
            request.headers_mut().insert("x-seen", "1".parse().unwrap());
            Ok(Held(Arc::clone(&self.0)))
        }

        fn after(guard: Held, response: &mut Response) {
            let dropped = guard.0.load(Ordering::SeqCst);
            response
                .headers_mut()
                .insert("x-dropped-before", dropped.to_string().parse().unwrap());
        }
    }

    fn app(gate: Gate) -> axum::Router {
        axum::Router::new()
            .route(
                "/yes",
                axum::routing::get(|request: Request| async move {
                    request.headers()["x-seen"].to_str().unwrap().to_owned()
                }),
            )
            .route("/no", axum::routing::get(|| async { "unreachable" }))
            .layer(AroundLayer(gate))
    }

    async fn get(app: axum::Router, path: &str) -> Response {
        app.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn before_answers_alone_or_lets_through_and_after_sees_the_response_guard_in_hand() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let app = app(Gate(Arc::clone(&dropped)));

        let refused = get(app.clone(), "/no").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "no guard for a refusal");

        let passed = get(app, "/yes").await;
        assert_eq!(passed.status(), StatusCode::OK);
        // The guard was still held when `after` ran, and dropped right after.
        assert_eq!(passed.headers()["x-dropped-before"], "0");
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let body = axum::body::to_bytes(passed.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"1", "the request carried what `before` added");
    }

    #[tokio::test]
    async fn a_request_dropped_before_its_answer_drops_its_guard() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/yes",
                axum::routing::get(std::future::pending::<&'static str>),
            )
            .layer(AroundLayer(Gate(Arc::clone(&dropped))));
        let request = Request::get("/yes").body(Body::empty()).unwrap();
        let answer = app.oneshot(request);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), answer)
                .await
                .is_err()
        );
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }
}
