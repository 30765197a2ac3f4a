//! A type's model: its JSON Schema, the validator compiled from it, and what the extractors
//! need to read strings into it — made once per type and kept for the life of the process.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The settings every schema of kairos is made with: JSON Schema 2020-12 (the dialect of
/// OpenAPI 3.1), for what a request must look like (`Contract::Deserialize`: a field with a
/// `#[serde(default)]` is not required), and with the bounds of Rust's integer types written
/// out (`u32` → `minimum: 0, maximum: 4294967295`), so that a value a field cannot hold is a
/// `less_than_equal` with its limit rather than a failure of serde after validation.
pub fn schema_settings() -> SchemaSettings {
    let mut settings = SchemaSettings::draft2020_12();
    settings.transforms.push(Box::new(RecursiveTransform(integer_bounds)));
    settings
}

/// The JSON Schema of `T` as kairos validates it (and as OpenAPI will publish it): a root
/// schema whose nested models are in `$defs`.
///
/// ```
/// use schemars::JsonSchema;
///
/// #[derive(JsonSchema)]
/// struct Item {
///     #[schemars(length(min = 3))]
///     name: String,
///     #[schemars(range(min = 1, max = 100))]
///     quantity: u32,
/// }
///
/// let schema = kairos_web::validation::schema_for::<Item>();
/// assert_eq!(schema["properties"]["name"]["minLength"], 3);
/// assert_eq!(schema["properties"]["quantity"]["maximum"], 100);
/// ```
pub fn schema_for<T: JsonSchema + ?Sized>() -> Value {
    schema_settings().into_generator().into_root_schema_for::<T>().to_value()
}

/// `minimum`/`maximum` for the integer formats schemars writes without them, never looser
/// than bounds already declared.
fn integer_bounds(schema: &mut Schema) {
    let (lo, hi): (Value, Value) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
        Some("uint32") => (0.into(), u32::MAX.into()),
        Some("uint64" | "uint") => (0.into(), u64::MAX.into()),
        _ => return,
    };
    if let Some(object) = schema.as_object_mut() {
        object.entry("minimum").or_insert(lo);
        if !object.contains_key("exclusiveMaximum") {
            object.entry("maximum").or_insert(hi);
        }
    }
}

/// Where the values of a request part go in the instance that is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A struct (or a map): one property per name.
    Object,
    /// A tuple: one item per parameter, in order.
    Tuple,
    /// One value (`Path<u32>`).
    Single,
}

/// What a string is read as, for a value that arrives as text (a query parameter, a header,
/// a path segment) or a body value in pydantic's lax mode.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Integer,
    Number,
    Boolean,
    /// Strings, enums, anything else: the string as it is.
    Text,
    /// A list: each repeated value read as the item kind.
    List(Box<Kind>),
}

/// Everything kairos keeps about one model type.
pub(crate) struct Model {
    /// The type's name, for logs.
    pub(crate) name: &'static str,
    /// The root schema (`$defs` included), for resolving `$ref`s while reporting.
    pub(crate) schema: Value,
    pub(crate) validator: jsonschema::Validator,
    /// The top-level fields in declaration order (serde's), for ordering errors as pydantic.
    pub(crate) fields: &'static [&'static str],
    pub(crate) shape: Shape,
    /// For [`Shape::Object`], the kind of each property; for a tuple, of each item in order;
    /// for a single value, its one kind.
    pub(crate) kinds: Vec<(String, Kind)>,
    /// For each of `kinds`, the header it is read from by [`Headers`](crate::Headers): its
    /// name with `-` for `_` (`x_token` ← `x-token`), made once here rather than per request.
    pub(crate) header_names: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).field("shape", &self.shape).finish()
    }
}

impl Model {
    fn compile<T: JsonSchema + DeserializeOwned + 'static>() -> Result<Model, String> {
        let name = std::any::type_name::<T>();
        let schema = schema_for::<T>();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .map_err(|e| {
                format!(
                    "the JSON Schema of `{name}` does not compile ({e}); check its \
                     `#[schemars(...)]` attributes (a `regex` must be a valid pattern)"
                )
            })?;
        let (shape, kinds) = plan(&schema);
        let header_names = kinds.iter().map(|(name, _)| name.replace('_', "-")).collect();
        Ok(Model {
            name,
            fields: field_order::<T>(),
            schema,
            validator,
            shape,
            kinds,
            header_names,
        })
    }

    /// The kind of property `name` (of a struct), or of item `index` (of a tuple).
    pub(crate) fn kind_of(&self, name: &str, index: usize) -> Option<&Kind> {
        match self.shape {
            // A map's one entry is named "" and stands for every key.
            Shape::Object => self
                .kinds
                .iter()
                .find(|(n, _)| n == name)
                .or_else(|| self.kinds.iter().find(|(n, _)| n.is_empty()))
                .map(|(_, k)| k),
            Shape::Tuple => self.kinds.get(index).map(|(_, k)| k),
            Shape::Single => self.kinds.first().map(|(_, k)| k),
        }
    }
}

/// The model of `T`: compiled on first use, then read from a per-thread cache (no lock on the
/// way of a request). A type's model lives as long as the process, like a `static`: there is
/// one per model type, however many requests use it.
pub(crate) fn model<T: JsonSchema + DeserializeOwned + 'static>() -> Result<&'static Model, String>
{
    // A `static` inside a generic function is shared by all its instances, so the models are
    // kept by `TypeId`: in a map behind a lock for all threads, and copied into each thread's
    // own map on first use there.
    type Shared = Mutex<HashMap<TypeId, Result<&'static Model, Arc<str>>>>;
    static SHARED: OnceLock<Shared> = OnceLock::new();
    thread_local! {
        static LOCAL: RefCell<HashMap<TypeId, &'static Model>> = RefCell::new(HashMap::new());
    }
    let id = TypeId::of::<T>();
    if let Some(model) = LOCAL.with(|local| local.borrow().get(&id).copied()) {
        return Ok(model);
    }
    let shared = SHARED.get_or_init(Shared::default);
    let compiled = {
        let mut map = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(id)
            .or_insert_with(|| {
                Model::compile::<T>().map(|model| &*Box::leak(Box::new(model))).map_err(Arc::from)
            })
            .clone()
    };
    match compiled {
        Ok(model) => {
            LOCAL.with(|local| local.borrow_mut().insert(id, model));
            Ok(model)
        }
        Err(message) => Err(message.to_string()),
    }
}

/// The shape of the instance and the kind of each value, from the root schema.
fn plan(root: &Value) -> (Shape, Vec<(String, Kind)>) {
    let schema = non_null(root, root);
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let kinds = properties.iter().map(|(name, s)| (name.clone(), kind(root, s))).collect();
        return (Shape::Object, kinds);
    }
    // A map, or anything at all (`serde_json::Value`'s schema is `true`): every parameter is
    // a property, whose kind is the map's values'.
    let typed = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "prefixItems"]
        .iter()
        .any(|key| schema.get(key).is_some());
    if schema.get("type").and_then(Value::as_str) == Some("object") || !typed {
        let values = schema.get("additionalProperties").map_or(Kind::Text, |s| kind(root, s));
        return (Shape::Object, vec![(String::new(), values)]);
    }
    if let Some(items) = schema.get("prefixItems").and_then(Value::as_array) {
        let kinds = items.iter().map(|s| (String::new(), kind(root, s))).collect();
        return (Shape::Tuple, kinds);
    }
    (Shape::Single, vec![(String::new(), kind(root, schema))])
}

/// Follows `$ref`s (`#/$defs/Name`) to the schema they name.
pub(crate) fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => match reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => schema = target,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// The schema of the value an `Option` holds: `anyOf: [X, {"type": "null"}]` is `X`.
pub(crate) fn non_null<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = resolve(root, schema);
    for key in ["anyOf", "oneOf"] {
        if let Some([a, b]) = schema.get(key).and_then(Value::as_array).map(Vec::as_slice) {
            let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
            match (is_null(a), is_null(b)) {
                (false, true) => return resolve(root, a),
                (true, false) => return resolve(root, b),
                _ => {}
            }
        }
    }
    schema
}

/// What a string for `schema` is read as.
pub(crate) fn kind(root: &Value, schema: &Value) -> Kind {
    let schema = non_null(root, schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    // A string is kept as a string wherever a string is allowed.
    if types.contains(&"string") {
        return Kind::Text;
    }
    if types.contains(&"integer") {
        Kind::Integer
    } else if types.contains(&"number") {
        Kind::Number
    } else if types.contains(&"boolean") {
        Kind::Boolean
    } else if types.contains(&"array") {
        let items = schema.get("items").map_or(Kind::Text, |s| kind(root, s));
        Kind::List(Box::new(items))
    } else {
        Kind::Text
    }
}

/// The fields of a struct in declaration order, as serde names them: asked of `T`'s
/// `Deserialize` impl, which hands them to `deserialize_struct` (nothing is deserialized).
pub(crate) fn field_order<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
