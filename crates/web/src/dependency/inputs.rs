//! [`DependencyInputs`]: what a dependency is made from — one extractor of the request's
//! head, a tuple of them, or nothing.

use http::request::Parts;

use crate::extract::FromRequestParts;
use crate::handler::reject;
use crate::openapi::Operation;
use crate::HttpError;

/// What a [`Dependency`](super::Dependency) is made from, its
/// [`Inputs`](super::Dependency::Inputs): any extractor of the request's head
/// ([`FromRequestParts`]: `Query`, `Path`, `Headers`, `State`, `WorkerState`, `Depends`...),
/// a tuple of up to 8 of them, or `()`. A tuple's members are made in order, and the 422s of
/// all of them are answered together — with the handler's own — as FastAPI does; any other
/// rejection answers at once.
///
/// A trait of its own rather than tuples implementing `FromRequestParts`: a tuple is not a
/// handler's argument, and the compiler's list of extractors stays a list of extractors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a dependency's inputs",
    label = "not extractors of the request's head",
    note = "a dependency's `Inputs` is one extractor of the request's head (`Query<T>`, \
            `Path<T>`, `Headers<T>`, `State<T>`, `WorkerState<T>`, `Depends<D>`, ...), a tuple \
            of up to 8 of them, or `()`; the body belongs to the handler"
)]
pub trait DependencyInputs: Sized {
    /// Whether one of them reads the route's context (see
    /// [`FromRequestParts::NEEDS_ROUTE_CONTEXT`]).
    const NEEDS_ROUTE_CONTEXT: bool;

    /// Makes them from the request's head, or the rejection: every 422 item of every one,
    /// or the first other.
    fn from_request_parts(
        parts: &mut Parts,
    ) -> impl std::future::Future<Output = Result<Self, HttpError>>;

    /// Describes what they read in a route's OpenAPI operation, as the extractors do: a
    /// dependency's parameters are documented on every route that uses it, as FastAPI does.
    fn openapi(operation: &mut Operation<'_>) {
        let _ = operation;
    }
}

#[diagnostic::do_not_recommend]
impl<T: FromRequestParts> DependencyInputs for T {
    const NEEDS_ROUTE_CONTEXT: bool = T::NEEDS_ROUTE_CONTEXT;

    async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
        T::from_request_parts(parts).await
    }

    fn openapi(operation: &mut Operation<'_>) {
        T::openapi(operation);
    }
}

impl DependencyInputs for () {
    const NEEDS_ROUTE_CONTEXT: bool = false;

    async fn from_request_parts(_parts: &mut Parts) -> Result<Self, HttpError> {
        Ok(())
    }
}
macro_rules! impl_tuple {
    ($($T:ident),+) => {
        impl<$($T: FromRequestParts,)+> DependencyInputs for ($($T,)+) {
            const NEEDS_ROUTE_CONTEXT: bool = false $(|| $T::NEEDS_ROUTE_CONTEXT)+;

            #[allow(non_snake_case)]
            async fn from_request_parts(parts: &mut Parts) -> Result<Self, HttpError> {
                let mut rejected: Option<HttpError> = None;
                $(
                    let $T = match $T::from_request_parts(parts).await {
                        Ok(value) => Some(value),
                        Err(rejection) => {
                            rejected = Some(reject(rejected.take(), rejection)?);
                            None
                        }
                    };
                )+
                match ($($T,)+) {
                    ($(Some($T),)+) => Ok(($($T,)+)),
                    _ => Err(rejected.unwrap_or_else(HttpError::internal)),
                }
            }

            fn openapi(operation: &mut Operation<'_>) {
                $($T::openapi(operation);)+
            }
        }
    };
}

impl_tuple!(A, B);
impl_tuple!(A, B, C);
impl_tuple!(A, B, C, D);
impl_tuple!(A, B, C, D, E);
impl_tuple!(A, B, C, D, E, G);
impl_tuple!(A, B, C, D, E, G, H);
impl_tuple!(A, B, C, D, E, G, H, I);
