//! JSON Web Tokens (RFC 7519) for bearer authentication: issued at login, verified on every
//! request — signatures by the `jsonwebtoken` crate, keys and rules here.
//!
//! The rules: every token names its key (`kid`), and a key is tied to one algorithm, so a
//! token is checked with exactly the algorithm its key was made for — never the one its
//! header claims (a token of `alg: none`, or an HS256 token made with a public RSA key as its
//! secret, is refused before any signature is looked at). Expiry is checked with no leeway.
//! Several keys may verify at once, one signs: rotate by adding a new key as the signing one
//! and dropping the old after the longest token lifetime.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::HttpError;

/// What a token says: its subject (a user), its scopes, when it was issued and when it
/// expires (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Whom the token is for: the user's name or id.
    pub sub: String,
    /// What the token allows, as OAuth2 scopes (one space-separated string on the wire).
    #[serde(default, with = "space_separated")]
    pub scope: Vec<String>,
    /// Issued at.
    pub iat: u64,
    /// Expires at; the token is refused from this second on.
    pub exp: u64,
}

impl Claims {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }
}

/// OAuth2 scopes travel as one space-separated string (RFC 6749 §3.3).
mod space_separated {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(scopes: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&scopes.join(" "))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.split_ascii_whitespace().map(str::to_owned).collect())
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Its `exp` has passed.
    Expired,
    /// Its header names no key this server has (or none at all).
    UnknownKey,
    /// Its header's algorithm is not its key's (`none` included).
    WrongAlgorithm,
    /// Not a token, or its signature does not match.
    Invalid,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Expired => "the token has expired: log in again",
            TokenError::UnknownKey => "the token names no key this server knows",
            TokenError::WrongAlgorithm => "the token's algorithm is not its key's",
            TokenError::Invalid => "the token is malformed or its signature does not match",
        })
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for HttpError {
    /// `401 Could not validate credentials`, with RFC 6750's `invalid_token` challenge.
    fn from(error: TokenError) -> HttpError {
        let description = error.to_string().replace('"', "'");
        HttpError::unauthorized("Could not validate credentials").with_header(
            "www-authenticate",
            &format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
        )
    }
}

#[derive(Clone)]
struct Key {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The keys a service signs and verifies tokens with, by id (`kid`); one of them signs.
/// Cheap to clone (shared), `Send + Sync`: keep one in the App's state.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Inner>,
}

struct Inner {
    keys: HashMap<String, Key>,
    signing: String,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.inner.keys.keys().collect();
        kids.sort();
        f.debug_struct("JwtKeys")
            .field("kids", &kids)
            .field("signing", &self.inner.signing)
            .finish()
    }
}

impl JwtKeys {
    /// Keys with one HMAC-SHA256 secret (HS256) named `kid`, which signs. A secret should be
    /// 32 random bytes or more (RFC 7518 §3.2).
    pub fn hs256(kid: &str, secret: &[u8]) -> JwtKeys {
        JwtKeys {
            inner: Arc::new(Inner {
                keys: HashMap::from([(kid.to_owned(), Key::hs256(secret))]),
                signing: kid.to_owned(),
            }),
        }
    }

    /// These keys and an HS256 `secret` named `kid`, which signs from now on; the others
    /// still verify (rotation).
    pub fn rotate_to(&self, kid: &str, secret: &[u8]) -> JwtKeys {
        let mut keys = self.inner.keys.clone();
        keys.insert(kid.to_owned(), Key::hs256(secret));
        JwtKeys { inner: Arc::new(Inner { keys, signing: kid.to_owned() }) }
    }

    /// These keys without `kid` (its tokens are refused from now on). The signing key stays:
    /// [`rotate_to`](JwtKeys::rotate_to) another one first.
    pub fn without(&self, kid: &str) -> JwtKeys {
        let mut keys = self.inner.keys.clone();
        if kid != self.inner.signing {
            keys.remove(kid);
        }
        JwtKeys { inner: Arc::new(Inner { keys, signing: self.inner.signing.clone() }) }
    }

    /// A token for `subject` with `scopes`, valid for `lifetime` from now, signed with the
    /// signing key (its `kid` in the header).
    pub fn issue(&self, subject: &str, scopes: &[String], lifetime: Duration) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: subject.to_owned(),
            scope: scopes.to_vec(),
            iat: now,
            exp: now.saturating_add(lifetime.as_secs()),
        };
        self.sign(&claims)
    }

    /// `claims` signed with the signing key, as they are (tests make expired tokens so).
    pub fn sign(&self, claims: &Claims) -> String {
        let key = &self.inner.keys[&self.inner.signing];
        let mut header = Header::new(key.algorithm);
        header.kid = Some(self.inner.signing.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .expect("claims of strings and numbers always serialize")
    }

    /// The claims of a token this service issued, if its key, algorithm, signature and
    /// expiry hold.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.inner.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(TokenError::WrongAlgorithm);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(error) => Err(match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Invalid,
            }),
        }
    }
}

impl Key {
    fn hs256(secret: &[u8]) -> Key {
        Key {
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// Seconds since the epoch (a clock before 1970 counts as 1970).
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn keys() -> JwtKeys {
        JwtKeys::hs256("k1", b"a secret of thirty-two bytes or more!!")
    }

    #[test]
    fn an_issued_token_verifies_with_its_subject_and_scopes() {
        let keys = keys();
        let token = keys.issue("ada", &["me".into(), "admin".into()], Duration::from_secs(60));
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "ada");
        assert!(claims.has_scope("admin") && claims.has_scope("me") && !claims.has_scope("x"));
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn expired_tampered_unsigned_and_foreign_tokens_are_refused() {
        let keys = keys();
        let now = unix_now();
        let expired =
            keys.sign(&Claims { sub: "ada".into(), scope: vec![], iat: now - 20, exp: now - 10 });
        assert_eq!(keys.verify(&expired), Err(TokenError::Expired));

        let token = keys.issue("ada", &[], Duration::from_secs(60));
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let admin = format!(r#"{{"sub":"root","scope":"admin","iat":{now},"exp":{}}}"#, now + 60);
        let tampered = format!("{head}.{}.{signature}", b64(admin.as_bytes()));
        assert_eq!(keys.verify(&tampered), Err(TokenError::Invalid));

        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            b64(admin.as_bytes())
        );
        assert_eq!(
            keys.verify(&none),
            Err(TokenError::Invalid),
            "alg none is not even an algorithm"
        );

        // Signed right, but with HS512 under a key made for HS256.
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some("k1".into());
        let claims = Claims { sub: "ada".into(), scope: vec![], iat: now, exp: now + 60 };
        let other_alg = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(b"a secret of thirty-two bytes or more!!"),
        )
        .unwrap();
        assert_eq!(keys.verify(&other_alg), Err(TokenError::WrongAlgorithm));

        let foreign = JwtKeys::hs256("k1", b"another secret, of another service").issue(
            "ada",
            &[],
            Duration::from_secs(60),
        );
        assert_eq!(keys.verify(&foreign), Err(TokenError::Invalid));
        let unnamed = JwtKeys::hs256("k9", b"x").issue("ada", &[], Duration::from_secs(60));
        assert_eq!(keys.verify(&unnamed), Err(TokenError::UnknownKey));
        assert_eq!(keys.verify("not a token"), Err(TokenError::Invalid));
    }

    #[test]
    fn rotation_verifies_old_tokens_until_their_key_is_dropped() {
        let old = keys();
        let old_token = old.issue("ada", &[], Duration::from_secs(60));
        let rotated = old.rotate_to("k2", b"the next secret, thirty-two bytes long");
        let new_token = rotated.issue("ada", &[], Duration::from_secs(60));
        assert!(new_token != old_token);
        assert!(rotated.verify(&old_token).is_ok() && rotated.verify(&new_token).is_ok());
        assert_eq!(old.verify(&new_token), Err(TokenError::UnknownKey));
        let dropped = rotated.without("k1");
        assert_eq!(dropped.verify(&old_token), Err(TokenError::UnknownKey));
        assert!(dropped.verify(&new_token).is_ok());
    }
}
