// A struct returned as it is, not in `Json`.
use kairos_web::{App, Path};

#[derive(serde::Serialize)]
struct Item {
    id: u32,
}

async fn read_item(Path(id): Path<u32>) -> Item {
    Item { id }
}

fn main() {
    let _app = App::new().get("/items/{id}", read_item);
}
