//! A stand-in for Google and Yandex on 127.0.0.1: it authorizes, checks the code
//! exchange like a real provider (client credentials, redirect URI, PKCE), signs ID
//! tokens with the test key and answers user-info requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use vitrine::config::{OAuthProviderConfig, Secret};

pub const GOOGLE_CLIENT: &str = "google-client-id";
pub const GOOGLE_SECRET: &str = "google-client-secret";
pub const YANDEX_CLIENT: &str = "yandex-client-id";
pub const YANDEX_SECRET: &str = "yandex-client-secret";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

pub const TEST_KEY_PEM: &str = include_str!("../fixtures/oauth_rsa.pem");
pub const OTHER_KEY_PEM: &str = include_str!("../fixtures/oauth_rsa_other.pem");
pub const TEST_JWK: &str = include_str!("../fixtures/oauth_rsa.jwk.json");

/// Changes to the ID tokens the fake signs, to test that vitrine refuses them.
#[derive(Debug, Clone, Default)]
pub struct IdTokenTweak {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub nonce: Option<String>,
    /// The authorized party; left out unless set.
    pub azp: Option<String>,
    pub expired: bool,
    /// Sign with the other key (its kid defaults to the published one).
    pub other_key: bool,
    pub kid: Option<String>,
}

#[derive(Default)]
pub struct FakeState {
    /// Query of the last `/authorize` request.
    pub last_authorize: HashMap<String, String>,
    /// Claims about the Google member.
    pub google_user: Value,
    /// The Yandex user-info answer.
    pub yandex_user: Value,
    pub tweak: IdTokenTweak,
    /// Answer `/authorize` with this error instead of a code.
    pub deny: Option<String>,
    /// Answer `/token` with this status and body instead of tokens.
    pub token_failure: Option<(StatusCode, Value)>,
    /// Answer `/userinfo` with this status.
    pub userinfo_status: Option<StatusCode>,
    pub jwks_fetches: usize,
    grants: HashMap<String, Grant>,
    access_tokens: Vec<String>,
    counter: u64,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            google_user: json!({
                "sub": "google-sub-1",
                "email": "new.member@example.com",
                "email_verified": true,
            }),
            yandex_user: json!({
                "id": "1000034426",
                "login": "ivan.petrov",
                "default_email": "ivan.petrov@yandex.ru",
                "emails": ["ivan.petrov@yandex.ru"],
            }),
            ..FakeState::default()
        }));
        let router = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, state }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    pub fn google_config(&self) -> OAuthProviderConfig {
        OAuthProviderConfig {
            client_id: Some(GOOGLE_CLIENT.into()),
            client_secret: Some(Secret::new(GOOGLE_SECRET)),
            auth_url: format!("{}/authorize", self.base),
            token_url: format!("{}/token", self.base),
            jwks_url: format!("{}/jwks", self.base),
            issuer: GOOGLE_ISSUER.into(),
            userinfo_url: String::new(),
        }
    }

    pub fn yandex_config(&self) -> OAuthProviderConfig {
        OAuthProviderConfig {
            client_id: Some(YANDEX_CLIENT.into()),
            client_secret: Some(Secret::new(YANDEX_SECRET)),
            auth_url: format!("{}/authorize", self.base),
            token_url: format!("{}/token", self.base),
            userinfo_url: format!("{}/userinfo", self.base),
            ..OAuthProviderConfig::default()
        }
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

async fn authorize(State(state): Shared, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut fake = state.lock().unwrap();
    fake.last_authorize = query.clone();
    let mut target = url::Url::parse(&query["redirect_uri"]).unwrap();
    if let Some(error) = fake.deny.clone() {
        target
            .query_pairs_mut()
            .append_pair("error", &error)
            .append_pair("state", &query["state"]);
        return (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response();
    }
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    fake.counter += 1;
    let code = format!("code-{}", fake.counter);
    fake.grants.insert(
        code.clone(),
        Grant {
            client_id: query["client_id"].clone(),
            redirect_uri: query["redirect_uri"].clone(),
            challenge: query["code_challenge"].clone(),
            nonce: query.get("nonce").cloned(),
        },
    );
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &query["state"]);
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

/// The client id and secret from HTTP Basic authentication or the form.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        let (id, secret) = decoded.split_once(':').unwrap();
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(&text.replace('+', " "))
                .decode_utf8()
                .unwrap()
                .into_owned()
        };
        return (decode(id), decode(secret));
    }
    (
        form.get("client_id").cloned().unwrap_or_default(),
        form.get("client_secret").cloned().unwrap_or_default(),
    )
}

async fn token(
    State(state): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut fake = state.lock().unwrap();
    if let Some((status, body)) = fake.token_failure.clone() {
        return (status, Json(body)).into_response();
    }
    let (client_id, secret) = client_credentials(&headers, &form);
    let known = [
        (GOOGLE_CLIENT, GOOGLE_SECRET),
        (YANDEX_CLIENT, YANDEX_SECRET),
    ];
    if !known.contains(&(client_id.as_str(), secret.as_str())) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    // codes work once
    let Some(grant) = form.get("code").and_then(|code| fake.grants.remove(code)) else {
        return token_error("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if grant.client_id != client_id
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
        || challenge != grant.challenge
    {
        return token_error("invalid_grant");
    }
    fake.counter += 1;
    let access_token = format!("access-{}", fake.counter);
    fake.access_tokens.push(access_token.clone());
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if client_id == GOOGLE_CLIENT {
        body["id_token"] = json!(id_token(&fake, grant.nonce));
    }
    Json(body).into_response()
}

fn id_token(fake: &FakeState, nonce: Option<String>) -> String {
    let tweak = &fake.tweak;
    let now = chrono::Utc::now().timestamp();
    let mut claims = fake.google_user.clone();
    claims["iss"] = json!(tweak.issuer.as_deref().unwrap_or(GOOGLE_ISSUER));
    claims["aud"] = json!(tweak.audience.as_deref().unwrap_or(GOOGLE_CLIENT));
    if let Some(azp) = &tweak.azp {
        claims["azp"] = json!(azp);
    }
    claims["iat"] = json!(now - 10);
    claims["exp"] = json!(if tweak.expired { now - 600 } else { now + 3600 });
    if let Some(nonce) = tweak.nonce.clone().or(nonce) {
        claims["nonce"] = json!(nonce);
    }
    let jwk: Value = serde_json::from_str(TEST_JWK).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(
        tweak
            .kid
            .clone()
            .unwrap_or_else(|| jwk["kid"].as_str().unwrap().to_owned()),
    );
    let pem = if tweak.other_key {
        OTHER_KEY_PEM
    } else {
        TEST_KEY_PEM
    };
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn jwks(State(state): Shared) -> Json<Value> {
    state.lock().unwrap().jwks_fetches += 1;
    let jwk: Value = serde_json::from_str(TEST_JWK).unwrap();
    Json(json!({"keys": [jwk]}))
}

async fn userinfo(State(state): Shared, headers: HeaderMap) -> Response {
    let fake = state.lock().unwrap();
    if let Some(status) = fake.userinfo_status {
        return (status, "provider failure").into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("OAuth "));
    match token {
        Some(token) if fake.access_tokens.iter().any(|known| known == token) => {
            Json(fake.yandex_user.clone()).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid token"})),
        )
            .into_response(),
    }
}
