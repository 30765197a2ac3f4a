// A plain `fn` handler given without `sync()`.
use kairos_web::{App, Path};

fn read_item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn main() {
    let _app = App::new().get("/items/{id}", read_item);
}
