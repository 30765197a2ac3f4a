//! [`State<T>`]: the application's shared state.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use http::request::Parts;

use super::{FromRequestParts, RouteContext};
use crate::HttpError;

/// A value given to [`App::with_state`](crate::App::with_state), shared by every request on
/// every worker through an `Arc` (so `T` is `Send + Sync`; put a `Mutex` or atomics inside
/// for what changes).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use kairos_web::{App, State};
///
/// #[derive(Default)]
/// struct Hits(AtomicU64);
///
/// async fn hit(State(hits): State<Hits>) -> String {
///     (hits.0.fetch_add(1, Ordering::Relaxed) + 1).to_string()
/// }
/// let app = App::new().with_state(Hits::default()).get("/hit", hit);
/// # drop(app);
/// ```
///
/// Asking for a type the App was not given is a programming error: the request gets 500 and
/// the log says which type to register.
#[derive(Debug)]
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The App's states by type, part of each routed request's [`RouteContext`].
#[derive(Clone, Default)]
pub(crate) struct StateMap(pub(crate) Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for StateMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMap").field("types", &self.0.len()).finish()
    }
}

impl<T: Send + Sync + 'static> FromRequestParts for State<T> {
    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        let found = RouteContext::of(parts, "State<_>")?
            .states
            .0
            .get(&TypeId::of::<T>())
            .and_then(|state| Arc::clone(state).downcast::<T>().ok());
        match found {
            Some(state) => Ok(State(state)),
            None => {
                tracing::error!(
                    target: "kairos::web",
                    "no state of type {}: register it with App::with_state",
                    std::any::type_name::<T>()
                );
                Err(HttpError::internal())
            }
        }
    }
}
