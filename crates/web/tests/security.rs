//! The security extractors over a real socket: each scheme's credentials read, its 401 and
//! challenge when they are missing, its declaration in the OpenAPI document; and a login flow
//! built from them (a password form, a token, a route needing a scope).

use std::time::Duration;

use kairos_web::rt::ThreadPool;
use kairos_web::security::{
    insufficient_scope, ApiKey, ApiKeyIn, ApiKeyName, Claims, HttpBasic, HttpBearer, JwtKeys,
    OAuth2Password, OAuth2PasswordBearer, OAuth2PasswordForm, Passwords,
};
use kairos_web::{App, Dependency, Depends, Form, HttpError, Json, State, TestClient};
use serde_json::{json, Value};

struct HeaderKey;
impl ApiKeyName for HeaderKey {
    const NAME: &'static str = "x-api-key";
    const IN: ApiKeyIn = ApiKeyIn::Header;
}
struct QueryKey;
impl ApiKeyName for QueryKey {
    const NAME: &'static str = "api_key";
    const IN: ApiKeyIn = ApiKeyIn::Query;
    const SCHEME_NAME: &'static str = "APIKeyQuery";
}
struct CookieKey;
impl ApiKeyName for CookieKey {
    const NAME: &'static str = "session_key";
    const IN: ApiKeyIn = ApiKeyIn::Cookie;
    const SCHEME_NAME: &'static str = "APIKeyCookie";
}

struct Login;
impl OAuth2Password for Login {
    const TOKEN_URL: &'static str = "/token";
    const SCOPES: &'static [(&'static str, &'static str)] = &[("admin", "Everything")];
}

async fn bearer(HttpBearer { token }: HttpBearer) -> String {
    token
}
async fn header_key(key: ApiKey<HeaderKey>) -> String {
    key.key
}
async fn query_key(key: ApiKey<QueryKey>) -> String {
    key.key
}
async fn cookie_key(key: ApiKey<CookieKey>) -> String {
    key.key
}
async fn basic(credentials: HttpBasic) -> String {
    format!("{}:{}", credentials.username, credentials.password)
}

/// What the App keeps for logins: the keys, the hasher, one user (`ada` / `lovelace`, with
/// the admin scope allowed).
#[derive(Clone)]
struct Auth {
    keys: JwtKeys,
    passwords: Passwords,
    ada: String,
}

async fn token(
    State(auth): State<Auth>,
    Form(form): Form<OAuth2PasswordForm>,
) -> Result<Json<Value>, HttpError> {
    let known = form.username == "ada";
    let stored = known.then_some(auth.ada.as_str());
    if !auth.passwords.verify(&form.password, stored).await {
        return Err(HttpError::unauthorized("Incorrect username or password")
            .with_header("www-authenticate", "Bearer"));
    }
    let scopes: Vec<String> = form.scopes().map(str::to_owned).collect();
    let token = auth.keys.issue(&form.username, &scopes, Duration::from_secs(600));
    Ok(Json(json!({"access_token": token, "token_type": "bearer"})))
}

/// FastAPI's `get_current_user`: the token's claims, verified.
#[derive(Clone)]
struct CurrentUser(Claims);

impl Dependency for CurrentUser {
    type Inputs = (OAuth2PasswordBearer<Login>, State<Auth>);

    async fn resolve((bearer, State(auth)): Self::Inputs) -> Result<Self, HttpError> {
        Ok(CurrentUser(auth.keys.verify(&bearer.token)?))
    }
}

async fn me(Depends(CurrentUser(claims)): Depends<CurrentUser>) -> String {
    claims.sub
}

async fn admin(Depends(CurrentUser(claims)): Depends<CurrentUser>) -> Result<String, HttpError> {
    if !claims.has_scope("admin") {
        return Err(insufficient_scope("admin"));
    }
    Ok(format!("admin {}", claims.sub))
}

fn app() -> App {
    let passwords = Passwords::with_cost(ThreadPool::new(2), 8 * 1024, 1);
    let ada = kairos_web::rt::run({
        let passwords = passwords.clone();
        async move { passwords.hash("lovelace").await.unwrap() }
    });
    let keys = JwtKeys::hs256("test", b"thirty-two bytes of test secret!!");
    App::new()
        .with_state(Auth { keys, passwords, ada })
        .get("/bearer", bearer)
        .get("/header-key", header_key)
        .get("/query-key", query_key)
        .get("/cookie-key", cookie_key)
        .get("/basic", basic)
        .post("/token", token)
        .get("/me", me)
        .get("/admin", admin)
}

fn challenge(response: &kairos_web::TestResponse) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn each_scheme_reads_its_credentials_and_answers_401_with_its_challenge_without_them() {
    let client = TestClient::new(app());
    for (path, challenge_given) in [
        ("/bearer", "Bearer"),
        ("/header-key", "APIKey"),
        ("/query-key", "APIKey"),
        ("/cookie-key", "APIKey"),
        ("/basic", "Basic"),
    ] {
        let response = client.get(path).send();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(challenge(&response), challenge_given, "{path}");
        assert_eq!(response.json::<Value>(), json!({"detail": "Not authenticated"}), "{path}");
    }
    let read = |response: kairos_web::TestResponse| (response.status().as_u16(), response.text());
    assert_eq!(
        read(client.get("/bearer").header("authorization", "bearer abc.def").send()),
        (200, "abc.def".into())
    );
    assert_eq!(read(client.get("/bearer").header("authorization", "Basic abc").send()).0, 401);
    assert_eq!(
        read(client.get("/header-key").header("x-api-key", "k1").send()),
        (200, "k1".into())
    );
    assert_eq!(read(client.get("/query-key?api_key=k%202").send()), (200, "k 2".into()));
    assert_eq!(
        read(client.get("/cookie-key").header("cookie", "a=1; session_key=k3").send()),
        (200, "k3".into())
    );
    // "ada:pass:word" in base64: the password may hold colons.
    assert_eq!(
        read(client.get("/basic").header("authorization", "Basic YWRhOnBhc3M6d29yZA==").send()),
        (200, "ada:pass:word".into())
    );
    let garbled = client.get("/basic").header("authorization", "Basic %%%").send();
    assert_eq!(garbled.status(), 401);
    assert_eq!(garbled.json::<Value>()["detail"], "Invalid authentication credentials");
    assert_eq!(challenge(&garbled), "Basic");
}

#[test]
fn the_document_declares_each_scheme_and_each_operations_requirement() {
    let document = app().openapi();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["HTTPBearer"], json!({"type": "http", "scheme": "bearer"}));
    assert_eq!(schemes["HTTPBasic"], json!({"type": "http", "scheme": "basic"}));
    assert_eq!(schemes["APIKey"], json!({"type": "apiKey", "name": "x-api-key", "in": "header"}));
    assert_eq!(schemes["APIKeyQuery"], json!({"type": "apiKey", "name": "api_key", "in": "query"}));
    assert_eq!(
        schemes["APIKeyCookie"],
        json!({"type": "apiKey", "name": "session_key", "in": "cookie"})
    );
    assert_eq!(
        schemes["OAuth2PasswordBearer"],
        json!({"type": "oauth2", "flows": {"password": {"tokenUrl": "/token", "scopes": {"admin": "Everything"}}}})
    );
    assert_eq!(document["paths"]["/me"]["get"]["security"], json!([{"OAuth2PasswordBearer": []}]));
    assert_eq!(document["paths"]["/basic"]["get"]["security"], json!([{"HTTPBasic": []}]));
    assert!(document["paths"]["/me"]["get"]["responses"]["401"].is_object());
    assert!(document["paths"]["/token"]["post"].get("security").is_none(), "the login is open");
}

#[test]
fn a_login_gives_a_token_that_opens_what_its_scopes_allow() {
    let client = TestClient::new(app());
    let login = |body: &str| {
        client
            .post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
    };
    let wrong = login("username=ada&password=babbage");
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>()["detail"], "Incorrect username or password");
    let unknown = login("username=charles&password=lovelace");
    assert_eq!(unknown.status(), 401, "an unknown user looks like a wrong password");
    assert_eq!(unknown.json::<Value>(), wrong.json::<Value>());
    assert_eq!(login("username=ada").status(), 422, "the form is validated");

    let plain = login("username=ada&password=lovelace").json::<Value>();
    assert_eq!(plain["token_type"], "bearer");
    let bearer = format!("Bearer {}", plain["access_token"].as_str().unwrap());
    assert_eq!(client.get("/me").header("authorization", &bearer).send().text(), "ada");
    let refused = client.get("/admin").header("authorization", &bearer).send();
    assert_eq!(refused.status(), 403);
    assert_eq!(challenge(&refused), "Bearer error=\"insufficient_scope\", scope=\"admin\"");

    let scoped = login("username=ada&password=lovelace&scope=me+admin").json::<Value>();
    let bearer = format!("Bearer {}", scoped["access_token"].as_str().unwrap());
    assert_eq!(client.get("/admin").header("authorization", &bearer).send().text(), "admin ada");

    let tampered = format!("{}x", bearer);
    let refused = client.get("/me").header("authorization", &tampered).send();
    assert_eq!(refused.status(), 401);
    assert!(
        challenge(&refused).starts_with("Bearer error=\"invalid_token\""),
        "{}",
        challenge(&refused)
    );
}

/// The tokens a server must refuse, over a socket, each with the `invalid_token` challenge:
/// expired, unsigned (`alg: none`), of another algorithm than its key's, of another key, and
/// a real one tampered with.
#[test]
fn expired_unsigned_foreign_and_tampered_tokens_are_refused() {
    use base64::Engine as _;
    let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let client = TestClient::new(app());
    let keys = JwtKeys::hs256("test", b"thirty-two bytes of test secret!!");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired =
        keys.sign(&Claims { sub: "ada".into(), scope: vec![], iat: now - 20, exp: now - 10 });
    let claims = format!(r#"{{"sub":"ada","scope":"admin","iat":{now},"exp":{}}}"#, now + 600);
    let unsigned =
        format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT","kid":"test"}"#), b64(&claims));
    let real = keys.issue("ada", &[], Duration::from_secs(600));
    let signature = real.rsplit('.').next().unwrap();
    let other_alg = format!(
        "{}.{}.{signature}",
        b64(r#"{"alg":"HS512","typ":"JWT","kid":"test"}"#),
        b64(&claims)
    );
    let other_key = JwtKeys::hs256("test", b"another service's secret, 32 bytes").issue(
        "ada",
        &[],
        Duration::from_secs(600),
    );
    let (head, _) = real.split_once('.').unwrap();
    let tampered = format!("{head}.{}.{signature}", b64(&claims));
    for (what, token) in [
        ("expired", expired),
        ("alg none", unsigned),
        ("another algorithm", other_alg),
        ("another key", other_key),
        ("tampered", tampered),
    ] {
        let response = client.get("/me").header("authorization", &format!("Bearer {token}")).send();
        assert_eq!(response.status(), 401, "{what}");
        assert!(challenge(&response).starts_with("Bearer error=\"invalid_token\""), "{what}");
        assert_eq!(response.json::<Value>()["detail"], "Could not validate credentials", "{what}");
    }
    let response = client.get("/me").header("authorization", &format!("Bearer {real}")).send();
    assert_eq!(response.text(), "ada", "the real one opens");
}
