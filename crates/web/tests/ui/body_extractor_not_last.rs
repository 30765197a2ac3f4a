// `Json` (it reads the body) before another argument.
use kairos_web::{App, Json, Path};

#[derive(serde::Deserialize)]
struct Item {
    name: String,
}

async fn update_item(Json(item): Json<Item>, Path(id): Path<u32>) -> String {
    format!("item {id} is now {}", item.name)
}

fn main() {
    let _app = App::new().put("/items/{id}", update_item);
}
