// A plain `fn` handler given without `sync()`, with its route's docs.
use kairos_web::openapi::RouteDocs;
use kairos_web::{App, Path};

fn read_item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn main() {
    let _app = App::new().get("/items/{id}", read_item.summary("Read an item"));
}
