//! `POST /contract` (issue 12's benchmark): a JSON body of ten constrained fields through two
//! dependencies, as an axum user would write it with the validation crates kairos-web uses —
//! the model's rules as `schemars` attributes, its JSON Schema compiled once by `jsonschema`,
//! a body checked against it before serde reads it. The two dependencies of the kairos route
//! (`crates/cli/src/service/contract.rs`) are two extractors here, the first one kept in the
//! request's extensions so that it is made once per request, as `Depends` makes it.
//!
//! The answer to a valid request is kairos' and FastAPI's byte for byte; a 422 lists every
//! failing value as `{"detail": [{"loc": [...], "msg": ...}]}` — jsonschema's own words, not
//! pydantic's (the shape is this peer's; the status is the one that matters).
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use jsonschema::paths::LocationSegment;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Priority {
    Low,
    Normal,
    High,
}

/// A `Literal["web", "store", "phone"]` in the FastAPI peer.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
enum Channel {
    Web,
    Store,
    Phone,
}

/// The order: the same declarations as kairos' model.
#[derive(Debug, Deserialize, JsonSchema)]
struct Order {
    #[schemars(length(min = 2, max = 40))]
    customer: String,
    #[schemars(length(max = 80), regex(pattern = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"))]
    #[allow(dead_code)] // validated, not echoed
    email: String,
    #[schemars(range(min = 1, max = 1000))]
    quantity: u32,
    #[schemars(range(max = 100_000.0), extend("exclusiveMinimum" = 0))]
    unit_price: f64,
    #[serde(default)]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1))]
    discount: f64,
    priority: Priority,
    channel: Channel,
    #[schemars(length(min = 1, max = 5))]
    tags: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = 200))]
    note: Option<String>,
    #[serde(default)]
    gift: bool,
}

/// A model type with its validator, compiled on first use and kept for the process.
trait Model: DeserializeOwned + JsonSchema {
    fn validator() -> &'static jsonschema::Validator;
}

fn compile<T: JsonSchema>() -> jsonschema::Validator {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("a schema is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the model's schema compiles")
}

impl Model for Order {
    fn validator() -> &'static jsonschema::Validator {
        static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(compile::<Order>);
        &VALIDATOR
    }
}

fn unprocessable(detail: Vec<Value>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "detail": detail }))).into_response()
}

/// A JSON body validated against `T`'s schema, then read into `T`.
struct Valid<T>(T);

impl<S: Send + Sync, T: Model> FromRequest<S> for Valid<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes =
            Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            unprocessable(vec![json!({"loc": ["body"], "msg": format!("JSON decode error: {e}")})])
        })?;
        let validator = T::validator();
        if !validator.is_valid(&value) {
            let detail = validator
                .iter_errors(&value)
                .map(|error| {
                    let mut loc = vec![Value::from("body")];
                    loc.extend(error.instance_path().iter().map(|segment| match segment {
                        LocationSegment::Property(name) => Value::from(name.as_ref()),
                        LocationSegment::Index(index) => Value::from(index),
                    }));
                    json!({"loc": loc, "msg": error.to_string()})
                })
                .collect();
            return Err(unprocessable(detail));
        }
        serde_json::from_value(value)
            .map(Valid)
            .map_err(|e| unprocessable(vec![json!({"loc": ["body"], "msg": e.to_string()})]))
    }
}

/// The first dependency: the request's `x-request-id`, a tenant's name, a dash and 8 to 32 hex
/// digits — checked by the same validator crate as the body, against the same pattern as
/// kairos' and FastAPI's, compiled once.
#[derive(Debug, Clone)]
struct RequestContext {
    request_id: String,
}

const REQUEST_ID_PATTERN: &str = "^[a-z]+-[0-9a-f]{8,32}$";

fn request_id_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&json!({"type": "string", "pattern": REQUEST_ID_PATTERN}))
            .expect("the pattern compiles")
    });
    &VALIDATOR
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            return Ok(context.clone());
        }
        let Some(header) = parts.headers.get("x-request-id") else {
            return Err(unprocessable(vec![json!({
                "loc": ["header", "x-request-id"], "msg": "Field required",
            })]));
        };
        let id = Value::String(String::from_utf8_lossy(header.as_bytes()).into_owned());
        if !request_id_validator().is_valid(&id) {
            return Err(unprocessable(vec![json!({
                "loc": ["header", "x-request-id"],
                "msg": format!("{id} does not match \"{REQUEST_ID_PATTERN}\""),
            })]));
        }
        let Value::String(request_id) = id else { unreachable!("made a string above") };
        let context = RequestContext { request_id };
        parts.extensions.insert(context.clone());
        Ok(context)
    }
}

/// The second dependency, made from the first: the tenant the request id names.
#[derive(Debug, Clone)]
struct Tenant {
    name: &'static str,
    plan: &'static str,
    request_id: String,
}

/// The tenants this service knows, with their plans.
const TENANTS: [(&str, &str); 3] = [("acme", "pro"), ("globex", "free"), ("initech", "pro")];

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let context = RequestContext::from_request_parts(parts, state).await?;
        let wanted = context.request_id.split('-').next().unwrap_or("");
        match TENANTS.iter().find(|(name, _)| *name == wanted) {
            Some(&(name, plan)) => Ok(Tenant { name, plan, request_id: context.request_id }),
            None => Err((
                StatusCode::FORBIDDEN,
                Json(json!({ "detail": format!("unknown tenant '{wanted}'") })),
            )
                .into_response()),
        }
    }
}

#[derive(Serialize)]
struct Answer {
    request_id: String,
    tenant: &'static str,
    plan: &'static str,
    customer: String,
    quantity: u32,
    priority: Priority,
    channel: Channel,
    tags: usize,
    total: f64,
    gift: bool,
    note: Option<String>,
}

/// `POST /contract`'s method router, for any state.
pub fn route<S: Clone + Send + Sync + 'static>() -> MethodRouter<S> {
    post(contract)
}

async fn contract(tenant: Tenant, Valid(order): Valid<Order>) -> Json<Answer> {
    let total = f64::from(order.quantity) * order.unit_price * (1.0 - order.discount);
    Json(Answer {
        request_id: tenant.request_id,
        tenant: tenant.name,
        plan: tenant.plan,
        customer: order.customer,
        quantity: order.quantity,
        priority: order.priority,
        channel: order.channel,
        tags: order.tags.len(),
        total,
        gift: order.gift,
        note: order.note,
    })
}
