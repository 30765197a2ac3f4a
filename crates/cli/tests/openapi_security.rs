//! The security schemes `kairos serve` declares in its OpenAPI document, checked by a tool
//! nobody here wrote (`openapi-spec-validator`, from PyPI, in a venv under `target/`) and by
//! what Swagger UI's Authorize button reads: the OAuth2 password flow, its token URL and its
//! scopes, and which operations need a token.

mod support;

use serde_json::{json, Value};
use support::Serve;

/// The methods an OpenAPI path item may hold an operation under.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

#[test]
fn the_security_schemes_validate_and_users_me_needs_a_token_the_logins_none() {
    let serve = Serve::start(&[]);
    let (status, body, _) = serve.get("/openapi.json");
    assert_eq!(status, 200, "{body}");
    support::validate_openapi(&body);
    let doc: Value = serde_json::from_str(&body).unwrap();

    // The scheme FastAPI's OAuth2PasswordBearer(tokenUrl="token", scopes=...) declares: a
    // password flow whose token URL the Authorize dialog posts the form to.
    let schemes = &doc["components"]["securitySchemes"];
    let scheme = &schemes["OAuth2PasswordBearer"];
    assert_eq!(scheme["type"], "oauth2", "{schemes:#}");
    let flows = scheme["flows"].as_object().expect("the scheme's flows");
    assert_eq!(flows.keys().collect::<Vec<_>>(), ["password"], "only the password flow");
    let password = &flows["password"];
    assert_eq!(password["tokenUrl"], "/token", "{password:#}");
    let scopes = password["scopes"].as_object().expect("the flow's scopes");
    let mut names: Vec<&str> = scopes.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "items", "me"], "{password:#}");
    for (scope, description) in scopes {
        assert!(description.as_str().is_some_and(|d| !d.is_empty()), "{scope} is described");
    }

    // The route that reads the token says so, with no scope asked of the client (the token's
    // scopes are the route's business: 403 without `me`); the login routes need none.
    let me = &doc["paths"]["/users/me"]["get"];
    assert_eq!(me["security"], json!([{"OAuth2PasswordBearer": []}]), "{me:#}");
    // Every /items operation needs the token too (each item is its user's).
    for (path, method) in
        [("/items", "get"), ("/items", "post"), ("/items/{id}", "get"), ("/items/{id}", "delete")]
    {
        let operation = &doc["paths"][path][method];
        assert_eq!(operation["security"], json!([{"OAuth2PasswordBearer": []}]), "{method} {path}");
        assert!(operation["responses"]["401"].is_object(), "{method} {path}: {operation:#}");
    }
    for (path, method) in [("/token", "post"), ("/users", "post"), ("/login/bad", "post")] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert!(operation.get("security").is_none(), "{method} {path}: {operation:#}");
    }
    // No document-wide requirement either, which would put a lock on every route.
    assert!(doc.get("security").is_none(), "{:#}", doc["security"]);

    // Every requirement names a declared scheme and only that scheme's scopes (a check the
    // validator does not make).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(requirements) = item[method]["security"].as_array() else { continue };
            for requirement in requirements {
                for (name, asked) in requirement.as_object().unwrap() {
                    let declared = &schemes[name];
                    assert!(declared.is_object(), "{method} {path} needs undeclared {name}");
                    for scope in asked.as_array().unwrap() {
                        let scope = scope.as_str().unwrap();
                        let known = declared["flows"]
                            .as_object()
                            .into_iter()
                            .flat_map(|flows| flows.values())
                            .any(|flow| flow["scopes"].get(scope).is_some());
                        assert!(known, "{method} {path} asks {name} for unknown scope {scope}");
                    }
                }
            }
        }
    }

    // The form the dialog sends is documented on /token as a form, not JSON.
    let token = &doc["paths"]["/token"]["post"];
    let content = token["requestBody"]["content"].as_object().expect("/token's body");
    assert!(content.contains_key("application/x-www-form-urlencoded"), "{token:#}");
}
