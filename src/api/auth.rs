//! Who may call the API, and from where. The [`guard`] middleware refuses non-GET requests
//! sent by another origin's page (CSRF: `Origin` not this server's nor in `allowed_origins`,
//! or `Sec-Fetch-Site: cross-site`), then — when tokens are configured — authenticates `/api`
//! (and `/metrics`) by `Authorization: Token|Bearer <token>` or a dashboard session cookie,
//! checks the scope and records the caller's [`Rights`] and [`Identity`] on the request.
//!
//! Sessions (`/api/v1/session`) let the browser dashboard work with tokens on: signing in
//! with a token sets an HttpOnly, SameSite=Strict cookie holding a random id; the server maps
//! the id to the token's name and scope until it expires. The token never goes in the cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldline_ingest::pipeline::Rights;
use serde::Deserialize;
use serde_json::json;
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::{ApiError, AppState, read_body};
use crate::config::{Scope, TokenConfig};

/// Name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "fieldline_session";
/// Most sessions kept at once; signing in beyond it ends the session closest to expiry.
const MAX_SESSIONS: usize = 1024;
/// Largest sign-in body.
const MAX_SIGN_IN_BYTES: usize = 16 << 10;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/session", get(who).post(sign_in).delete(sign_out))
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Token,
    Session,
}

/// The caller, as the guard established it (only when tokens are configured).
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub scope: Scope,
    pub write_reserved: bool,
    pub via: Via,
}

impl Identity {
    fn of(token: &TokenConfig, via: Via) -> Self {
        Identity { name: token.name.clone(), scope: token.scope, write_reserved: token.write_reserved, via }
    }
}

/// The configured token equal to `presented`: its SHA-256 is compared in constant time
/// against every token's (no early exit, no branch on a secret, and fixed-size digests, so
/// not even a token's length leaks through timing). Tokens may be configured as their
/// SHA-256 alone (`token_sha256`).
pub fn find_token<'a>(tokens: &'a [TokenConfig], presented: &str) -> Option<&'a TokenConfig> {
    let presented = crate::config::sha256(presented.as_bytes());
    let mut found = u64::MAX;
    for (index, token) in tokens.iter().enumerate() {
        let Some(expected) = token.digest() else { continue };
        let same = expected.ct_eq(&presented);
        found.conditional_assign(&(index as u64), same);
    }
    usize::try_from(found).ok().and_then(|i| tokens.get(i))
}

/// Signed-in dashboard sessions: random id → who, until when.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

struct Session {
    identity: Identity,
    expires: Instant,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session ids are bearer secrets: never print them.
        f.debug_struct("Sessions").field("count", &self.lock().len()).finish()
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Entries are inserted and removed whole; the map stays usable after a panic elsewhere.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `token`, valid for `ttl`; returns its id (256 random bits, hex).
    pub fn create(&self, token: &TokenConfig, ttl: Duration) -> String {
        let id = crate::config::random_secret();
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), Session { identity: Identity::of(token, Via::Session), expires: now + ttl });
        id
    }

    /// Who holds the session `id`, if it exists and has not expired.
    pub fn get(&self, id: &str) -> Option<Identity> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.identity.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The session id in the request's `Cookie` header(s).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port]`, lower case and without the scheme's default port.
fn normalize_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, default_port) in [("http://", ":80"), ("https://", ":443")] {
        if let Some(rest) = origin.strip_prefix(scheme)
            && let Some(host) = rest.strip_suffix(default_port)
        {
            return format!("{scheme}{host}");
        }
    }
    origin
}

/// Whether a page of `origin` may send this server non-GET requests: its own origin (the
/// `Host` it was addressed by, with this server's scheme) or one listed in `allowed_origins`.
fn origin_allowed(origin: &str, headers: &HeaderMap, state: &AppState) -> bool {
    let origin = normalize_origin(origin);
    let scheme = if state.tls.is_some() { "https" } else { "http" };
    let own = header_str(headers, header::HOST.as_str()).map(|host| normalize_origin(&format!("{scheme}://{host}")));
    own.as_deref() == Some(origin.as_str()) || state.http.allowed_origins.iter().any(|a| normalize_origin(a) == origin)
}

/// Everything before the handlers: origin check, authentication, scope, rights.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match admit(&state, &mut request) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn admit(state: &AppState, request: &mut Request) -> Result<(), ApiError> {
    let reading = is_read(request.method());
    let headers = request.headers();
    let origin = header_str(headers, header::ORIGIN.as_str());
    let fetch_site = header_str(headers, "sec-fetch-site").map(str::to_ascii_lowercase);
    if !reading {
        // A state-changing request a browser sent on behalf of another site's page (CSRF).
        if fetch_site.as_deref() == Some("cross-site") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-site request refused (Sec-Fetch-Site: cross-site)",
            ));
        }
        if let Some(origin) = origin
            && !origin_allowed(origin, headers, state)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "request from origin {origin:?} refused: not this server's origin nor in [http] allowed_origins"
                ),
            ));
        }
    }
    let path = request.uri().path();
    let signing_in = path == "/api/v1/session" && !reading;
    let protected = path.starts_with("/api/") || path == "/write" || (path == "/metrics" && !state.http.public_metrics);
    if state.http.tokens.is_empty() || !protected || signing_in {
        return Ok(());
    }

    // `Token`/`Bearer` (InfluxDB 2 clients); Basic or `?u=&p=` with the token as the password
    // (InfluxDB 1 clients: Telegraf's v1 output, Node-RED), as InfluxDB 2's v1 API does.
    let password = request.uri().query().and_then(password_param);
    let presented = header_str(headers, header::AUTHORIZATION.as_str())
        .map(|v| {
            v.strip_prefix("Token ")
                .or_else(|| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string())
                .or_else(|| v.strip_prefix("Basic ").and_then(basic_password))
        })
        .or(password.map(Some));
    let presented = presented.as_ref().map(|p| p.as_deref());
    let identity = match presented {
        Some(Some(token)) => find_token(&state.http.tokens, token).map(|t| Identity::of(t, Via::Token)),
        Some(None) => None,
        None => session_cookie(headers).and_then(|id| state.sessions.get(id)),
    };
    let Some(identity) = identity else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or unknown API token (Authorization: Token <token>, or sign in at /api/v1/session)",
        ));
    };
    if !reading && identity.scope != Scope::Write {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token {:?} has read scope; writing needs a write token", identity.name),
        ));
    }
    // A cookie rides along with any request the browser makes, so a cookie-authenticated
    // change must show it comes from our own page (the origin itself was checked above).
    if !reading && identity.via == Via::Session && origin.is_none() && fetch_site.as_deref() != Some("same-origin") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a session-cookie request that changes something must carry this server's Origin",
        ));
    }
    request.extensions_mut().insert(Rights { write_reserved: identity.write_reserved });
    request.extensions_mut().insert(identity);
    Ok(())
}

/// The password of `Authorization: Basic base64(user:password)`.
fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_string())
}

/// The `p` (password) query parameter of an InfluxDB 1 request.
fn password_param(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == "p").map(|(_, v)| v)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `GET /api/v1/session`: who the request is authenticated as.
async fn who(State(state): State<AppState>, request: Request) -> Response {
    if state.http.tokens.is_empty() {
        return axum::Json(json!({ "tokens_required": false })).into_response();
    }
    let identity = request.extensions().get::<Identity>();
    axum::Json(json!({
        "tokens_required": true,
        "name": identity.map(|i| i.name.as_str()),
        "scope": identity.map(|i| i.scope),
        "via": identity.map(|i| if i.via == Via::Session { "session" } else { "token" }),
    }))
    .into_response()
}

/// `POST /api/v1/session` with `{"token": "..."}`: checks the token, sets the session cookie.
async fn sign_in(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    if state.http.tokens.is_empty() {
        return Err(ApiError::bad_request(
            "no API tokens are configured: the API is open, there is nothing to sign in to",
        ));
    }
    let body = read_body(body, MAX_SIGN_IN_BYTES, state.body_read_timeout()).await?;
    let sign_in: SignIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body: {e}; expected {{\"token\": \"...\"}}")))?;
    let Some(token) = find_token(&state.http.tokens, sign_in.token.trim()) else {
        tracing::info!("dashboard sign-in refused: unknown token");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown API token"));
    };
    let ttl = Duration::from_secs(state.http.session_ttl_secs);
    let id = state.sessions.create(token, ttl);
    tracing::info!(name = %token.name, "dashboard signed in");
    let secure = if state.tls.is_some() { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", ttl.as_secs());
    let cookie = HeaderValue::from_str(&cookie).map_err(ApiError::internal)?;
    let body = json!({ "name": token.name, "scope": token.scope, "expires_in_s": ttl.as_secs() });
    Ok((
        [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: ends the cookie's session and clears the cookie.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.sessions.remove(id);
    }
    let secure = if state.tls.is_some() { "; Secure" } else { "" };
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    match HeaderValue::from_str(&clear) {
        Ok(clear) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: &str, scope: Scope, name: &str) -> TokenConfig {
        TokenConfig { token: secret.into(), scope, name: name.into(), ..Default::default() }
    }

    #[test]
    fn constant_time_lookup_finds_exactly_the_presented_token() {
        let tokens = [
            token("reader-secret", Scope::Read, "analyst"),
            token("writer-secret", Scope::Write, "gateway"),
            token("writer-secret-2", Scope::Write, "bridge"),
        ];
        assert_eq!(find_token(&tokens, "reader-secret").unwrap().name, "analyst");
        assert_eq!(find_token(&tokens, "writer-secret").unwrap().name, "gateway");
        assert_eq!(find_token(&tokens, "writer-secret-2").unwrap().name, "bridge");
        for wrong in ["", "writer-secre", "writer-secret-", "WRITER-SECRET", "reader-secreT", "writer-secret-3"] {
            assert!(find_token(&tokens, wrong).is_none(), "{wrong:?} must not match");
        }
        assert!(find_token(&[], "anything").is_none());
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let t = token("s", Scope::Write, "operator");
        let id = sessions.create(&t, Duration::from_secs(60));
        assert_eq!(id.len(), 64);
        assert_ne!(id, sessions.create(&t, Duration::from_secs(60)), "ids are random");
        assert_eq!(sessions.get(&id).unwrap().name, "operator");
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
        let expired = sessions.create(&t, Duration::ZERO);
        assert!(sessions.get(&expired).is_none());
        assert!(!format!("{sessions:?}").contains(&id[..8]));
    }

    #[test]
    fn origins_compare_without_default_ports_and_case() {
        assert_eq!(normalize_origin("HTTP://Farm.Example:80"), "http://farm.example");
        assert_eq!(normalize_origin("https://farm.example:443/"), "https://farm.example");
        assert_eq!(normalize_origin("http://10.0.0.5:8080"), "http://10.0.0.5:8080");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; fieldline_session=abc ; b=2"));
        assert_eq!(session_cookie(&headers), Some("abc"));
    }
}
