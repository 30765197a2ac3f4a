//! [`RouteLayer`]: middleware of one route, written on its handler.

use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http_body::Body as HttpBody;
use kairos_http::BoxError;
use kairos_rt::task::Label;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxedLayer, Next};
use crate::handler::{Handler, HandlerKind, ResponseFuture};
use crate::openapi::Operation;
use crate::worker::WorkerContext;
use crate::Request;

/// Middleware for one route, written where the route is registered (axum's
/// `MethodRouter::layer`): `.get("/upload", upload.layer(RequestBodyLimitLayer::new(1 << 20)))`.
///
/// A route's layers run inside the App's and its routers' (see the [module](super) for the
/// order), before its dependencies. Implemented for every [`Handler`]; the result is
/// registered as the handler was, and its documentation ([`RouteDocs`](crate::openapi::RouteDocs))
/// can be written before or after.
///
/// ```
/// use kairos_web::middleware::{from_fn, Next, RouteLayer};
/// use kairos_web::{App, Request, TestClient};
///
/// async fn no_store(request: Request, next: Next) -> kairos_web::Response {
///     let mut response = next.run(request).await;
///     response.headers_mut().insert("cache-control", "no-store".parse().unwrap());
///     response
/// }
/// let app = App::new()
///     .get("/private", (|| async { "secret" }).layer(from_fn(no_store)))
///     .get("/public", || async { "hello" });
/// let client = TestClient::new(app);
/// assert_eq!(client.get("/private").send().header("cache-control"), Some("no-store"));
/// assert_eq!(client.get("/public").send().header("cache-control"), None);
/// ```
pub trait RouteLayer<T>: Handler<T> {
    /// Adds `layer` inside the route's layers added before it (the first is outermost).
    fn layer<L, B>(self, layer: L) -> Layered<Self, T>
    where
        L: Layer<Next> + Send + Sync + 'static,
        L::Service: Service<Request, Response = http::Response<B>> + Clone + 'static,
        <L::Service as Service<Request>>::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        Layered { handler: Arc::new(self), layer: BoxedLayer::new(layer), _marker: PhantomData }
    }
}

impl<H: Handler<T>, T> RouteLayer<T> for H {}

/// A handler with a layer of its own, made by [`RouteLayer::layer`]; a [`Handler`] like the
/// one it wraps.
pub struct Layered<H, T> {
    handler: Arc<H>,
    layer: BoxedLayer,
    _marker: PhantomData<fn() -> T>,
}

impl<H, T> fmt::Debug for Layered<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered").field("handler", &std::any::type_name::<H>()).finish()
    }
}

/// Marks the [`Handler`] implementation of [`Layered`].
#[doc(hidden)]
#[derive(Debug)]
pub struct WithLayers<T>(PhantomData<T>);

impl<H: Handler<T>, T: 'static> Handler<WithLayers<T>> for Layered<H, T> {
    fn kind(&self) -> HandlerKind {
        self.handler.kind()
    }

    fn needs_route_context(&self) -> bool {
        self.handler.needs_route_context()
    }

    fn name(&self) -> &'static str {
        self.handler.name()
    }

    fn openapi(&self, operation: &mut Operation<'_>) {
        self.handler.openapi(operation);
    }

    fn layers(&self) -> Vec<BoxedLayer> {
        let mut layers = self.handler.layers();
        layers.push(self.layer.clone());
        layers
    }

    fn call(
        self: Arc<Self>,
        request: Request,
        worker: Rc<WorkerContext>,
        label: Label,
    ) -> ResponseFuture {
        // The router runs the layers (made once per worker) and calls the handler inside.
        Arc::clone(&self.handler).call(request, worker, label)
    }
}
