//! `/items`: the table 4.2 route an `async def` awaits a database for, as a small CRUD
//! resource — validated models in, stored rows out, 404 for what is not there, 503 while the
//! database is away. Each item belongs to the user whose token stored it: a user sees and
//! changes only their own (another's is a 404, as if it were not there), an admin token
//! every one.

use kairos::web::http::StatusCode;
use kairos::web::{Depends, Json, Path, Query, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::auth::ItemsAccess;
use super::database::{DataError, Database};
use super::int;

/// What a client sends to create or replace an item.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct NewItem {
    /// 1 to 100 characters.
    #[schemars(length(min = 1, max = 100))]
    name: String,
    /// Not negative.
    #[schemars(range(min = 0.0))]
    price: f64,
    /// Up to 1,000 characters, or absent.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    description: Option<String>,
}

/// A stored item.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Item {
    id: i64,
    name: String,
    price: f64,
    description: Option<String>,
}

/// `?limit=&offset=` of the listing: 1..=100 items (20 by default) from `offset` (0).
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Page {
    #[serde(default = "int::<20>")]
    #[schemars(range(min = 1, max = 100))]
    limit: u64,
    #[serde(default)]
    #[schemars(range(max = 1_000_000_000))]
    offset: u64,
}

fn item(row: &sqlx::any::AnyRow) -> Result<Item, sqlx::Error> {
    Ok(Item {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        price: row.try_get("price")?,
        description: row.try_get("description")?,
    })
}

/// The database's id for `id`: numbers too large for its integers are simply not there.
fn row_id(id: u64) -> Result<i64, DataError> {
    i64::try_from(id).map_err(|_| DataError::NotFound(id))
}

/// The item in `row`, or 404 for `id` when there was none.
fn found(row: Option<sqlx::any::AnyRow>, id: u64) -> Result<Json<Item>, DataError> {
    match row {
        Some(row) => Ok(Json(item(&row)?)),
        None => Err(DataError::NotFound(id)),
    }
}

/// What of a query restricts it to the items `access` may touch: `$A = 1 OR owner = $B`, with
/// these two values bound at those places.
fn visible(access: &ItemsAccess) -> (i64, &str) {
    (i64::from(access.all), &access.owner)
}

/// `POST /items`: stores the item, owned by the token's user; `201` with it and its `id`.
pub(crate) async fn create(
    State(db): State<Database>,
    Depends(access): Depends<ItemsAccess>,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), DataError> {
    let row = sqlx::query(
        "INSERT INTO items (name, price, description, owner) VALUES ($1, $2, $3, $4) \
         RETURNING id, name, price, description",
    )
    .bind(new.name)
    .bind(new.price)
    .bind(new.description)
    .bind(access.owner)
    .fetch_one(&db.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(item(&row)?)))
}

/// `GET /items/{id}`: the item, or 404 (another user's too).
pub(crate) async fn read(
    State(db): State<Database>,
    Depends(access): Depends<ItemsAccess>,
    Path(id): Path<u64>,
) -> Result<Json<Item>, DataError> {
    let row_number = row_id(id)?;
    let (all, owner) = visible(&access);
    let row = sqlx::query(
        "SELECT id, name, price, description FROM items \
         WHERE id = $1 AND ($2 = 1 OR owner = $3)",
    )
    .bind(row_number)
    .bind(all)
    .bind(owner)
    .fetch_optional(&db.pool)
    .await?;
    found(row, id)
}

/// `GET /items?limit=&offset=`: a page of the items the token may see, by id.
pub(crate) async fn list(
    State(db): State<Database>,
    Depends(access): Depends<ItemsAccess>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Item>>, DataError> {
    let (all, owner) = visible(&access);
    let rows = sqlx::query(
        "SELECT id, name, price, description FROM items WHERE $3 = 1 OR owner = $4 \
         ORDER BY id LIMIT $1 OFFSET $2",
    )
    .bind(page.limit as i64)
    .bind(page.offset as i64)
    .bind(all)
    .bind(owner)
    .fetch_all(&db.pool)
    .await?;
    let items = rows.iter().map(item).collect::<Result<_, _>>()?;
    Ok(Json(items))
}

/// `PUT /items/{id}`: replaces the item; 404 if there is none the token may touch.
pub(crate) async fn replace(
    State(db): State<Database>,
    Depends(access): Depends<ItemsAccess>,
    Path(id): Path<u64>,
    Json(new): Json<NewItem>,
) -> Result<Json<Item>, DataError> {
    let row_number = row_id(id)?;
    let (all, owner) = visible(&access);
    let row = sqlx::query(
        "UPDATE items SET name = $1, price = $2, description = $3 \
         WHERE id = $4 AND ($5 = 1 OR owner = $6) \
         RETURNING id, name, price, description",
    )
    .bind(new.name)
    .bind(new.price)
    .bind(new.description)
    .bind(row_number)
    .bind(all)
    .bind(owner)
    .fetch_optional(&db.pool)
    .await?;
    found(row, id)
}

/// `DELETE /items/{id}`: `204`; 404 if there was none the token may touch.
pub(crate) async fn delete(
    State(db): State<Database>,
    Depends(access): Depends<ItemsAccess>,
    Path(id): Path<u64>,
) -> Result<StatusCode, DataError> {
    let row_number = row_id(id)?;
    let (all, owner) = visible(&access);
    let done = sqlx::query("DELETE FROM items WHERE id = $1 AND ($2 = 1 OR owner = $3)")
        .bind(row_number)
        .bind(all)
        .bind(owner)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DataError::NotFound(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
