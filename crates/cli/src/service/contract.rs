//! `POST /contract`: a request contract as FastAPI users write them — a JSON body of ten
//! constrained fields and two chained dependencies — the route issue 12's benchmark measures
//! against FastAPI (pydantic v2) and axum with the same validation crates
//! (`bench/peers`, `bench/suite.py --scenario contract`).
//!
//! | FastAPI | here |
//! |---|---|
//! | `class Order(BaseModel)` with `Field(ge=, le=, gt=, lt=, min_length=, max_length=, pattern=)` | [`Order`] with `#[schemars(range(..), length(..), regex(..))]` and `extend("exclusiveMinimum" = ..)` |
//! | `class Priority(str, Enum)`, `Literal["web", "store", "phone"]` | [`Priority`], [`Channel`] (`#[schemars(inline)]`) |
//! | `x_request_id: Annotated[str, Header(pattern=...)]` in `get_request_context` | [`RequestContext`], made from `Headers<RequestId>` |
//! | `get_tenant(ctx = Depends(get_request_context))` | [`Tenant`], made from `Depends<RequestContext>` |
//!
//! A body that does not fit gets FastAPI's 422 listing every bad value; a bad or missing
//! `x-request-id` joins that list (`loc: ["header", "x-request-id"]`); a request id naming a
//! tenant this service does not know gets 403.

use kairos::web::dependency::{Dependency, Depends};
use kairos::web::http::StatusCode;
use kairos::web::openapi::{Documented, RouteDocs};
use kairos::web::{Handler, Headers, HttpError, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// [`contract`] documented for `/docs` (the index has no line for it: it is a benchmark's
/// route, not one of the chapter's ideas).
pub(crate) fn documented<H: Handler<T>, T>(handler: H) -> Documented<H, T> {
    handler
        .summary("A validated order through two chained dependencies")
        .tag("validation and dependencies")
        .description(
            "Ten constrained fields (FastAPI's `Field(ge=, le=, gt=, lt=, min_length=, \
             max_length=, pattern=)`), an enum, a literal, a list and an optional, through \
             `RequestContext` (from the `x-request-id` header) and `Tenant` (from it). Send \
             `x-request-id: acme-0123abcd` and `{\"customer\": \"Ada\", \"email\": \
             \"ada@example.org\", \"quantity\": 3, \"unit_price\": 19.99, \"priority\": \
             \"high\", \"channel\": \"web\", \"tags\": [\"math\"]}`.",
        )
        .error(StatusCode::FORBIDDEN, "The request id names no tenant this service knows")
}

/// How urgent an order is (a named enum: pydantic's `enum` error).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Priority {
    Low,
    Normal,
    High,
}

/// Where the order was placed: values listed on the field, FastAPI's `Literal[...]`
/// (pydantic's `literal_error`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum Channel {
    Web,
    Store,
    Phone,
}

/// The body of `POST /contract`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Order {
    /// 2 to 40 characters.
    #[schemars(length(min = 2, max = 40))]
    customer: String,
    /// A lowercase address, up to 80 characters.
    #[schemars(length(max = 80), regex(pattern = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"))]
    #[allow(dead_code)] // validated, not echoed
    email: String,
    /// 1 to 1,000.
    #[schemars(range(min = 1, max = 1000))]
    quantity: u32,
    /// Over 0, up to 100,000.
    #[schemars(range(max = 100_000.0), extend("exclusiveMinimum" = 0))]
    unit_price: f64,
    /// From 0 up to (not including) 1; 0 when absent.
    #[serde(default)]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1))]
    discount: f64,
    priority: Priority,
    channel: Channel,
    /// 1 to 5 tags.
    #[schemars(length(min = 1, max = 5))]
    tags: Vec<String>,
    /// Up to 200 characters, or absent.
    #[serde(default)]
    #[schemars(length(max = 200))]
    note: Option<String>,
    /// False when absent.
    #[serde(default)]
    gift: bool,
}

/// The header the first dependency reads: a tenant's name, a dash, 8 to 32 hex digits.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct RequestId {
    #[schemars(regex(pattern = r"^[a-z]+-[0-9a-f]{8,32}$"))]
    x_request_id: String,
}

/// The first dependency: who is asking, from the request's `x-request-id`.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    request_id: String,
}

impl Dependency for RequestContext {
    type Inputs = Headers<RequestId>;

    async fn resolve(Headers(header): Headers<RequestId>) -> Result<Self, HttpError> {
        Ok(RequestContext { request_id: header.x_request_id })
    }
}

/// The tenants this service knows, with their plans.
const TENANTS: [(&str, &str); 3] = [("acme", "pro"), ("globex", "free"), ("initech", "pro")];

/// The second dependency, made from the first: the tenant the request id names.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    name: &'static str,
    plan: &'static str,
    request_id: String,
}

impl Dependency for Tenant {
    type Inputs = Depends<RequestContext>;

    async fn resolve(Depends(context): Depends<RequestContext>) -> Result<Self, HttpError> {
        let wanted = context.request_id.split('-').next().unwrap_or_default();
        match TENANTS.iter().find(|(name, _)| *name == wanted) {
            Some(&(name, plan)) => Ok(Tenant { name, plan, request_id: context.request_id }),
            None => Err(HttpError::forbidden(format!("unknown tenant '{wanted}'"))),
        }
    }
}

/// What `POST /contract` answers: a few of the order's fields, its total and the tenant.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Accepted {
    request_id: String,
    tenant: &'static str,
    plan: &'static str,
    customer: String,
    quantity: u32,
    priority: Priority,
    channel: Channel,
    /// How many tags the order has.
    tags: usize,
    /// `quantity × unit_price × (1 − discount)`.
    total: f64,
    gift: bool,
    note: Option<String>,
}

/// `POST /contract`: the order, validated, for the tenant of the request.
pub(crate) async fn contract(
    Depends(tenant): Depends<Tenant>,
    Json(order): Json<Order>,
) -> Json<Accepted> {
    let total = f64::from(order.quantity) * order.unit_price * (1.0 - order.discount);
    Json(Accepted {
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
