//! Overrides (FastAPI's `app.dependency_overrides`): a replacement for a dependency, used
//! instead of its `resolve` in every request of the App — a fake database in a test.
//!
//! They are kept with the App's states (one entry, [`DependencyOverrides`], by its type), so
//! that a dependency finds them in the route's context like any `State`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use http::request::Parts;

use super::Dependency;
use crate::extract::RouteContext;
use crate::HttpError;

/// The replacements by the type of the dependency they replace.
#[derive(Clone, Default)]
pub(crate) struct DependencyOverrides(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

/// A replacement for `T`, its future's type forgotten.
type Replacement<T> = Box<dyn Fn() -> LocalBoxFuture<'static, Result<T, HttpError>> + Send + Sync>;

/// The states of an App, where the overrides are kept.
type States = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

impl DependencyOverrides {
    /// Adds `replacement` for `T` to the overrides in `states` (replacing one for `T`).
    pub(crate) fn add<T, F, Fut>(states: &mut States, replacement: F)
    where
        T: Dependency,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, HttpError>> + 'static,
    {
        let mut overrides = states
            .get(&TypeId::of::<DependencyOverrides>())
            .and_then(|overrides| overrides.downcast_ref::<DependencyOverrides>())
            .cloned()
            .unwrap_or_default();
        let replacement: Replacement<T> = Box::new(move || Box::pin(replacement()));
        overrides.0.insert(TypeId::of::<T>(), Arc::new(replacement));
        states.insert(TypeId::of::<DependencyOverrides>(), Arc::new(overrides));
    }
}

/// The override's value of `T` in this request, if the App has one for `T`.
pub(crate) async fn resolve_override<T: Dependency>(parts: &Parts) -> Option<Result<T, HttpError>> {
    let replace = {
        let states = &parts.extensions.get::<RouteContext>()?.states.0;
        let overrides = states.get(&TypeId::of::<DependencyOverrides>())?;
        let overrides = overrides.downcast_ref::<DependencyOverrides>()?;
        overrides.0.get(&TypeId::of::<T>())?.downcast_ref::<Replacement<T>>()?()
    };
    Some(replace.await)
}
