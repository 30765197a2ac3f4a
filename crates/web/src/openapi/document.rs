//! The OpenAPI 3.1 document of a route table.

use http::Method;
use serde_json::{json, Map, Value};

use super::{DocsConfig, Operation};
use crate::router::Router;
use crate::validation::schema_settings;

/// The document of every route of `router` but those marked hidden.
///
/// With a root path (a proxy serves the App under a prefix it strips, FastAPI's `root_path`),
/// the document names it as its server — so `/docs`' "Try it out" calls go through the
/// proxy — and an OAuth2 token URL that is a path gets it in front, as the browser must ask
/// the proxy for it.
pub(crate) fn document(router: &Router, config: &DocsConfig, root_path: Option<&str>) -> Value {
    let mut settings = schema_settings();
    // Models go where OpenAPI keeps them; no schema names its dialect (`$schema`): the
    // document's is theirs.
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let mut paths = Map::new();
    let (mut validates, mut http_error) = (false, false);
    let mut tags: Vec<String> = Vec::new();
    let mut security_schemes = Map::new();
    for (path, method, handler, options) in router.operations() {
        let Some(method_key) = method_key(method) else { continue };
        let names = path_params(path);
        let mut operation = Operation::new(&mut generator, &names);
        handler.openapi(&mut operation);
        // What the routers it came through add: their dependencies' parameters, their tags
        // (first, as FastAPI lists them), their documented answers.
        for dependency in &options.dependencies {
            (dependency.describe)(&mut operation);
        }
        let mut route_tags = options.tags.clone();
        for tag in std::mem::take(&mut operation.meta.tags) {
            if !route_tags.contains(&tag) {
                route_tags.push(tag);
            }
        }
        operation.meta.tags = route_tags;
        for response in &options.responses {
            operation.error_response(response.status, &response.description);
        }
        if operation.meta.hidden {
            continue;
        }
        validates |= operation.validates;
        http_error |= operation.uses_http_error;
        security_schemes.extend(std::mem::take(&mut operation.security_schemes));
        for tag in &operation.meta.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let name = function_name(handler.name());
        let value = finish(operation, name, path, method_key);
        let item = paths.entry(openapi_path(path)).or_insert_with(|| json!({}));
        item[method_key] = value;
    }
    let mut schemas = generator.take_definitions(true);
    // Named as FastAPI names them, so a page can show the model's name.
    for (name, schema) in schemas.iter_mut() {
        if let Some(schema) = schema.as_object_mut() {
            schema.entry("title").or_insert_with(|| name.clone().into());
        }
    }
    if validates {
        schemas.insert("HTTPValidationError".into(), http_validation_error());
        schemas.insert("ValidationError".into(), validation_error());
    }
    if http_error {
        schemas.insert("HTTPError".into(), http_error_schema());
    }
    // Sorted, as FastAPI lists them (and so the document is the same from run to run).
    let schemas: Map<String, Value> = {
        let mut sorted: Vec<(String, Value)> = schemas.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.into_iter().collect()
    };
    let mut info = json!({"title": config.title, "version": config.version});
    if let Some(description) = &config.description {
        info["description"] = description.clone().into();
    }
    // No `jsonSchemaDialect`: OpenAPI 3.1's default dialect is JSON Schema 2020-12 with
    // OpenAPI's vocabulary, which these schemas are in, and Swagger UI warns about any other.
    let mut document = json!({"openapi": "3.1.0", "info": info, "paths": paths});
    // The tags in the order routes were registered, which pages list them in (the paths
    // themselves are sorted).
    if !tags.is_empty() {
        let tags: Vec<Value> = tags.into_iter().map(|name| json!({"name": name})).collect();
        document["tags"] = tags.into();
    }
    if !schemas.is_empty() {
        document["components"] = json!({"schemas": schemas});
    }
    if !security_schemes.is_empty() {
        let mut sorted: Vec<(String, Value)> = security_schemes.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(root) = root_path {
            for (_, scheme) in &mut sorted {
                prefix_token_urls(scheme, root);
            }
        }
        document["components"]["securitySchemes"] = Value::Object(sorted.into_iter().collect());
    }
    if let Some(root) = root_path {
        document["servers"] = json!([{"url": root}]);
    }
    document
}

/// `root` in front of each flow's `tokenUrl` (and `authorizationUrl`, `refreshUrl`) that is
/// a path; a full URL is left as it is.
fn prefix_token_urls(scheme: &mut Value, root: &str) {
    let Some(flows) = scheme.get_mut("flows").and_then(Value::as_object_mut) else { return };
    for flow in flows.values_mut() {
        for key in ["tokenUrl", "authorizationUrl", "refreshUrl"] {
            if let Some(url) = flow.get_mut(key)
                && let Some(path) = url.as_str().filter(|url| url.starts_with('/'))
            {
                *url = format!("{root}{path}").into();
            }
        }
    }
}

/// The operation object: the route's own metadata, or what its name and path give.
fn finish(mut operation: Operation<'_>, name: Option<&str>, path: &str, method: &str) -> Value {
    // Path parameters no extractor described (a handler reading `Request` itself): OpenAPI
    // requires each to be declared, so they are, as strings.
    for param in operation.path_params().to_vec() {
        let declared =
            operation.parameters.iter().any(|p| p["in"] == "path" && p["name"] == param.as_str());
        if !declared {
            operation.parameter(super::ParamIn::Path, &param, true, json!({"type": "string"}));
        }
    }
    if operation.responses.is_empty() {
        operation.success(None);
    }
    if operation.validates {
        operation.responses.insert(
            "422".into(),
            json!({
                "description": "Validation Error",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                }},
            }),
        );
    }
    let meta = std::mem::take(&mut operation.meta);
    let mut value = Map::new();
    if !meta.tags.is_empty() {
        value.insert("tags".into(), meta.tags.into());
    }
    if let Some(summary) = meta.summary.or_else(|| name.map(summary_of)) {
        value.insert("summary".into(), summary.into());
    }
    if let Some(description) = meta.description {
        value.insert("description".into(), description.into());
    }
    let id = meta.operation_id.unwrap_or_else(|| operation_id(name, path, method));
    value.insert("operationId".into(), id.into());
    if meta.deprecated {
        value.insert("deprecated".into(), true.into());
    }
    if !operation.parameters.is_empty() {
        value.insert("parameters".into(), std::mem::take(&mut operation.parameters).into());
    }
    if let Some(body) = operation.request_body.take() {
        value.insert("requestBody".into(), body);
    }
    if !operation.security.is_empty() {
        // One requirement object naming every scheme: all of them are needed (OpenAPI's AND).
        let requirement: Map<String, Value> = std::mem::take(&mut operation.security)
            .into_iter()
            .map(|(name, scopes)| (name, scopes.into()))
            .collect();
        value.insert("security".into(), json!([requirement]));
    }
    let mut responses: Vec<(String, Value)> =
        std::mem::take(&mut operation.responses).into_iter().collect();
    responses.sort_by(|a, b| a.0.cmp(&b.0));
    value.insert("responses".into(), Value::Object(responses.into_iter().collect()));
    Value::Object(value)
}

/// The key of a method in a path item; `None` for a method OpenAPI 3.1 has no field for.
fn method_key(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "get",
        Method::PUT => "put",
        Method::POST => "post",
        Method::DELETE => "delete",
        Method::OPTIONS => "options",
        Method::HEAD => "head",
        Method::PATCH => "patch",
        Method::TRACE => "trace",
        _ => return None,
    })
}

/// The names of a route pattern's parameters, in order: `/a/{id}/{*rest}` → `id`, `rest`.
pub(crate) fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| name.trim_start_matches('*').to_owned())
        .collect()
}

/// A route pattern as OpenAPI writes it: `{*rest}` is `{rest}`.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// The function's own name from its path (`my_app::items::read_item` → `read_item`); `None`
/// for a closure, which has none.
pub(crate) fn function_name(path: &str) -> Option<&str> {
    let path = path.split('<').next().unwrap_or(path);
    let last = path.rsplit("::").next()?;
    let is_ident = !last.is_empty()
        && last.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !last.starts_with(|c: char| c.is_ascii_digit());
    is_ident.then_some(last)
}

/// FastAPI's default summary: the name in words, each capitalized (`read_item` → "Read Item").
pub(crate) fn summary_of(name: &str) -> String {
    name.split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// FastAPI's default operation id: `{name}{path}`, each character that is not a letter, digit
/// or `_` made `_`, then `_{method}`: `read_item_items__item_id__get`.
pub(crate) fn operation_id(name: Option<&str>, path: &str, method: &str) -> String {
    let raw = format!("{}{path}", name.unwrap_or("route"));
    let id: String =
        raw.chars().map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("{id}_{method}")
}

/// FastAPI's `HTTPValidationError`: the body of a 422.
fn http_validation_error() -> Value {
    json!({
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            },
        },
    })
}

/// FastAPI's `ValidationError`: one item of a 422, with the `input` and `ctx` pydantic v2
/// (and kairos) add.
fn validation_error() -> Value {
    json!({
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
            "input": {"title": "Input"},
            "ctx": {"title": "Context", "type": "object"},
        },
        "required": ["loc", "msg", "type"],
    })
}

/// An [`HttpError`](crate::HttpError)'s body: `{"detail": ...}`.
fn http_error_schema() -> Value {
    json!({
        "title": "HTTPError",
        "type": "object",
        "properties": {"detail": {"title": "Detail"}},
        "required": ["detail"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_summaries_and_operation_ids_are_fastapis() {
        let cases = [
            (
                "my_app::items::read_item",
                "/items/{item_id}",
                "get",
                "Read Item",
                "read_item_items__item_id__get",
            ),
            ("kairos::x::async_sleep", "/async", "get", "Async Sleep", "async_sleep_async_get"),
            ("a::list_items<u32>", "/", "post", "List Items", "list_items__post"),
        ];
        for (path, route, method, summary, id) in cases {
            let name = function_name(path);
            assert_eq!(name.map(summary_of).as_deref(), Some(summary), "{path}");
            assert_eq!(operation_id(name, route, method), id, "{path}");
        }
        assert_eq!(function_name("my_app::main::{{closure}}"), None);
        assert_eq!(operation_id(None, "/x/{id}", "get"), "route_x__id__get");
    }

    #[test]
    fn path_parameters_are_read_from_the_pattern() {
        assert_eq!(path_params("/a/{id}/b/{*rest}"), ["id", "rest"]);
        assert_eq!(openapi_path("/files/{*rest}"), "/files/{rest}");
        assert!(path_params("/plain").is_empty());
    }
}
