//! Dependencies of a whole router or App (FastAPI's `APIRouter(dependencies=[...])`): run
//! before the handler of each of their routes, for their effect — an auth check that rejects
//! the request — their value unused but kept in the request's scope, so a handler that asks
//! for it too gets the same one.

use std::any::TypeId;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use http::request::Parts;
use kairos_rt::task::Label;

use super::{Dependency, Depends, Scoped};
use crate::api_router::RouterOptions;
use crate::extract::FromRequestParts;
use crate::handler::{ErasedHandler, ResponseFuture};
use crate::response::IntoResponse;
use crate::worker::WorkerContext;
use crate::{HttpError, Request};

/// A dependency a router or App runs before each of its routes' handlers.
#[derive(Clone)]
pub(crate) struct RouteDependency {
    /// Which dependency: one runs once per route, however many routers add it.
    pub(crate) type_id: TypeId,
    /// Its type's name, for logs and documentation.
    pub(crate) name: &'static str,
    check: for<'a> fn(&'a mut Parts) -> LocalBoxFuture<'a, Result<(), HttpError>>,
    /// Documents its inputs on the routes it guards.
    pub(crate) describe: fn(&mut crate::openapi::Operation<'_>),
}

impl RouteDependency {
    pub(crate) fn of<T: Dependency>() -> RouteDependency {
        RouteDependency {
            type_id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            check: |parts| {
                Box::pin(async move { Depends::<T>::from_request_parts(parts).await.map(drop) })
            },
            describe: <Depends<T> as FromRequestParts>::openapi,
        }
    }
}

/// Adds `added` to `list` unless it holds that dependency already.
pub(crate) fn add_once(list: &mut Vec<RouteDependency>, added: RouteDependency) {
    if !list.iter().any(|d| d.type_id == added.type_id) {
        list.push(added);
    }
}

/// The dependencies to run before a route's handler: the App's, then its routers'.
pub(crate) fn checks(app: &[RouteDependency], route: &RouterOptions) -> Vec<RouteDependency> {
    if route.dependencies.is_empty() {
        return app.to_vec();
    }
    let mut checks = app.to_vec();
    for dependency in &route.dependencies {
        add_once(&mut checks, dependency.clone());
    }
    checks
}

/// The response of `handler` to `request` once `checks` passed — in order, the first
/// rejection answers — all in one dependency scope, the handler's included.
pub(crate) fn checked(
    checks: Vec<RouteDependency>,
    handler: Arc<dyn ErasedHandler>,
    request: Request,
    worker: Rc<WorkerContext>,
    label: Label,
) -> ResponseFuture {
    // Under the route's label, so that a check that blocks the loop is named in stall reports.
    Box::pin(label.scope(Scoped::new(Rc::clone(&worker), async move {
        let (mut parts, body) = request.into_parts();
        for check in &checks {
            if let Err(rejection) = (check.check)(&mut parts).await {
                tracing::debug!(
                    target: "kairos::web",
                    "the dependency {} answered {}",
                    check.name,
                    rejection.status()
                );
                return rejection.into_response();
            }
        }
        handler.call(Request::from_parts(parts, body), worker, label).await
    })))
}
