// An `async fn` handler wrapped in `sync()`.
use kairos_web::{sync, App, Path};

async fn read_item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn main() {
    let _app = App::new().get("/items/{id}", sync(read_item));
}
