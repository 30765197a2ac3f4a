//! Users and logins in `kairos serve`, black-box over sockets: registration, the OAuth2
//! password flow, tokens refused when they should be, the admin scope, the brute-force limits
//! (in memory, and across two instances sharing a real Redis), and the login that hashes on
//! the loop named by the stall detector.

mod support;

use kairos_fixtures::Redis;
use serde_json::{json, Value};
use support::Serve;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("content-type", "application/json");

fn register(serve: &Serve, username: &str, password: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    let (status, _, body) = serve.request("POST", "/users", &[JSON], &body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `POST path` with the login form: status, head, JSON body.
fn login_at(
    serve: &Serve,
    path: &str,
    username: &str,
    password: &str,
    scope: &str,
) -> (u16, String, Value) {
    let form = format!("username={username}&password={password}&scope={scope}");
    let (status, head, body) = serve.request("POST", path, &[FORM], &form);
    (status, head, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn login(serve: &Serve, username: &str, password: &str) -> (u16, String, Value) {
    login_at(serve, "/token", username, password, "")
}

fn me(serve: &Serve, token: &str) -> (u16, String, Value) {
    let bearer = format!("Bearer {token}");
    let (status, head, body) = serve.request("GET", "/users/me", &[("authorization", &bearer)], "");
    (status, head, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn register_log_in_and_ask_who_am_i() {
    let serve = Serve::start(&[]);
    let (status, ada) = register(&serve, "ada", "lovelace1815");
    assert_eq!(status, 201, "{ada}");
    assert_eq!((ada["username"].as_str(), ada["is_admin"].as_bool()), (Some("ada"), Some(false)));
    assert!(ada.get("password_hash").is_none(), "the hash is never shown");
    assert_eq!(register(&serve, "ada", "another-password").0, 409);
    let (status, invalid) = register(&serve, "A d a", "short");
    assert_eq!(status, 422);
    assert_eq!(invalid["detail"].as_array().unwrap().len(), 2, "both fields: {invalid}");

    let (status, head, wrong) = login(&serve, "ada", "babbage1834");
    assert_eq!(status, 401);
    assert_eq!(header(&head, "www-authenticate"), Some("Bearer"));
    let (status, _, unknown) = login(&serve, "charles", "lovelace1815");
    assert_eq!((status, &unknown), (401, &wrong), "an unknown user answers as a wrong password");

    let (status, _, token) = login(&serve, "ada", "lovelace1815");
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["scope"], "me items");
    let access = token["access_token"].as_str().unwrap();
    let (status, _, who) = me(&serve, access);
    assert_eq!((status, who["username"].as_str()), (200, Some("ada")));

    let (status, head, _) = serve.request("GET", "/users/me", &[], "");
    assert_eq!((status, header(&head, "www-authenticate")), (401, Some("Bearer")));
    let (status, head, _) = me(&serve, &format!("{access}x"));
    assert_eq!(status, 401);
    assert!(header(&head, "www-authenticate")
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    // A token with only the items scope cannot read the profile: 403, not 401.
    let (_, _, narrow) = login_at(&serve, "/token", "ada", "lovelace1815", "items");
    let (status, head, _) = me(&serve, narrow["access_token"].as_str().unwrap());
    assert_eq!(status, 403);
    assert_eq!(
        header(&head, "www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"me\"")
    );
}

#[test]
fn only_an_admin_gets_the_admin_scope() {
    let serve = Serve::start(&["--admin", "root"]);
    assert_eq!(register(&serve, "root", "correct-horse").1["is_admin"], true);
    assert_eq!(register(&serve, "ada", "lovelace1815").1["is_admin"], false);
    let (_, _, root) = login_at(&serve, "/token", "root", "correct-horse", "me+admin");
    assert_eq!(root["scope"], "me admin");
    let (_, _, ada) = login_at(&serve, "/token", "ada", "lovelace1815", "me+admin");
    assert_eq!(ada["scope"], "me", "asked for admin, not granted");
}

#[test]
fn tokens_of_one_secret_open_every_instance_that_shares_it_and_no_other() {
    let secret = "a secret of thirty-two bytes or more, shared";
    let one = Serve::start(&["--jwt-secret", secret]);
    let two = Serve::start(&["--jwt-secret", secret]);
    let other = Serve::start(&[]);
    for serve in [&one, &two, &other] {
        assert_eq!(register(serve, "ada", "lovelace1815").0, 201);
    }
    let (_, _, token) = login(&one, "ada", "lovelace1815");
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(me(&two, token).0, 200);
    assert_eq!(me(&other, token).0, 401);
}

#[test]
fn failed_logins_are_limited_per_user_and_a_success_starts_the_count_again() {
    let serve = Serve::start(&[]);
    register(&serve, "ada", "lovelace1815");
    for attempt in 1..=4 {
        assert_eq!(login(&serve, "ada", "wrong-guess").0, 401, "attempt {attempt}");
    }
    assert_eq!(login(&serve, "ada", "lovelace1815").0, 200, "the fifth, right, gets in");
    for attempt in 1..=5 {
        assert_eq!(login(&serve, "ada", "wrong-guess").0, 401, "attempt {attempt} after");
    }
    let (status, head, body) = login(&serve, "ada", "lovelace1815");
    assert_eq!(status, 429, "even the right password, past the limit: {body}");
    let retry: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another user is not locked out by ada's attacker.
    register(&serve, "grace", "hopper1906");
    assert_eq!(login(&serve, "grace", "hopper1906").0, 200);
}

#[test]
fn failed_logins_from_one_address_are_limited_across_usernames() {
    let serve = Serve::start(&[]);
    // A password sprayed over many (unknown) users: the 51st attempt is refused.
    for attempt in 1..=50 {
        assert_eq!(
            login(&serve, &format!("user{attempt}"), "Summer2026!").0,
            401,
            "attempt {attempt}"
        );
    }
    assert_eq!(login(&serve, "user51", "Summer2026!").0, 429);
}

#[test]
fn successful_logins_do_not_use_up_an_address_s_limit_and_its_failures_still_do() {
    let serve = Serve::start(&[]);
    register(&serve, "ada", "lovelace1815");
    // An office behind one address signing in all morning: past the limit, every one in.
    for login_number in 1..=60 {
        assert_eq!(login(&serve, "ada", "lovelace1815").0, 200, "login {login_number}");
    }
    for attempt in 1..=50 {
        let user = format!("user{attempt}");
        assert_eq!(login(&serve, &user, "Summer2026!").0, 401, "failure {attempt}");
    }
    let (status, head, body) = login(&serve, "user51", "Summer2026!");
    assert_eq!(status, 429, "the 51st failure from the address: {body}");
    assert!(header(&head, "retry-after").is_some());
    assert_eq!(login(&serve, "ada", "lovelace1815").0, 429, "the address is refused now");
}

#[test]
fn the_limit_holds_across_instances_sharing_redis() {
    let redis = Redis::start();
    let url = redis.url();
    let secret = "a secret of thirty-two bytes or more, shared";
    let (one, two) = (
        Serve::start(&["--cache-url", &url, "--jwt-secret", secret]),
        Serve::start(&["--cache-url", &url, "--jwt-secret", secret]),
    );
    for serve in [&one, &two] {
        register(serve, "ada", "lovelace1815");
    }
    for attempt in 0..5 {
        let serve = if attempt % 2 == 0 { &one } else { &two };
        assert_eq!(login(serve, "ada", "wrong-guess").0, 401, "attempt {attempt}");
    }
    assert_eq!(login(&two, "ada", "lovelace1815").0, 429, "the sixth, on either instance");
    assert_eq!(login(&one, "ada", "lovelace1815").0, 429);
}

#[test]
fn the_login_that_hashes_on_the_loop_is_named_by_the_stall_detector() {
    let serve = Serve::start(&["--slow-callback-ms", "5", "--log-level", "warn"]);
    register(&serve, "ada", "lovelace1815");
    let (status, _, token) = login_at(&serve, "/login/bad", "ada", "lovelace1815", "");
    assert_eq!(status, 200, "{token}");
    assert_eq!(me(&serve, token["access_token"].as_str().unwrap()).0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !serve.log().contains("POST /login/bad") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(serve.log().contains("POST /login/bad"), "the stall report names it: {}", serve.log());
}

#[test]
fn a_rotated_secret_still_opens_its_tokens_and_a_dropped_one_does_not() {
    let (old, new) =
        ("the old secret, thirty-two bytes long!!", "the new secret, thirty-two bytes long!!");
    let before = Serve::start(&["--jwt-secret", old]);
    let rotated = Serve::start(&["--jwt-secret", new, "--jwt-previous-secret", old]);
    let dropped = Serve::start(&["--jwt-secret", new]);
    for serve in [&before, &rotated, &dropped] {
        assert_eq!(register(serve, "ada", "lovelace1815").0, 201);
    }
    let (_, _, token) = login(&before, "ada", "lovelace1815");
    let old_token = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&rotated, &old_token).0, 200, "a token of the previous secret is taken");
    assert_eq!(me(&dropped, &old_token).0, 401, "and refused once the secret is dropped");
    // New tokens are signed with the new secret: the instance that dropped the old takes them.
    let (_, _, token) = login(&rotated, "ada", "lovelace1815");
    assert_eq!(me(&dropped, token["access_token"].as_str().unwrap()).0, 200);
}
