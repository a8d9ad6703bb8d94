//! Who is asking: the session behind the cookie, the language to answer in, and what the CSRF
//! proof is bound to. Resolved once per request by [`resolve`] and read by the extractors here.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use mailroom_domain::Language;
use mailroom_store::{SessionToken, User};
use std::net::IpAddr;

use crate::AppState;
use crate::errors::ErrorKind;
use crate::i18n::{Plural, Texts, texts};
use crate::plural::Count;
use crate::time::Clock;

pub const SESSION_COOKIE: &str = "mailroom_session";
/// A random value for visitors without a session, so that the login and setup forms carry a CSRF
/// proof too.
pub const ANON_COOKIE: &str = "mailroom_anon";
pub const LANGUAGE_COOKIE: &str = "mailroom_lang";

/// The request's viewer, placed in the request's extensions by [`resolve`].
#[derive(Clone)]
pub struct Viewer {
    pub user: Option<User>,
    pub session: Option<SessionToken>,
    /// What the CSRF proof is bound to: the session token, or the anonymous cookie.
    pub csrf_binding: String,
    pub language: Language,
    /// The client's address (see [`client_ip`]), when the server was started with its peers'.
    pub client_ip: Option<std::net::IpAddr>,
    /// Whether the request came straight from its client: no trusted proxy forwarded it, and it
    /// carries no `X-Forwarded-For` or `Forwarded` header that would say otherwise.
    pub direct: bool,
}

pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let now = mailroom_store::now();
    let headers = request.headers();
    let session = cookie_value(headers, SESSION_COOKIE).and_then(|v| SessionToken::from_cookie(&v));
    let user = match &session {
        Some(token) => match state.store.session_user(token, now).await {
            Ok(user) => user,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the session");
                return ErrorKind::Unavailable.into_response();
            }
        },
        None => None,
    };
    // A cookie for a session that has ended is dropped, so the visitor becomes anonymous.
    let session = session.filter(|_| user.is_some());
    let anon = cookie_value(headers, ANON_COOKIE).filter(|v| v.len() == 43);
    let (csrf_binding, new_anon) = match (&session, anon) {
        (Some(token), _) => (format!("session:{}", token.expose()), None),
        (None, Some(anon)) => (format!("anon:{anon}"), None),
        (None, None) => {
            let anon = mailroom_store::random_token();
            (format!("anon:{anon}"), Some(anon))
        }
    };
    let language = user
        .as_ref()
        .and_then(|u| u.language)
        .or_else(|| cookie_value(headers, LANGUAGE_COOKIE).and_then(|v| Language::parse(&v)))
        .or_else(|| {
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Language::from_accept_language)
        })
        .unwrap_or_default();
    let had_session_cookie = cookie_value(headers, SESSION_COOKIE).is_some();
    let ended = had_session_cookie && session.is_none();
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    let forwarded = request.headers().contains_key(FORWARDED_FOR) || request.headers().contains_key(header::FORWARDED);
    let client_ip = peer.map(|peer| client_ip(peer, request.headers(), &state.config.trusted_proxies));
    let direct = peer.is_some() && !forwarded;
    request.extensions_mut().insert(Viewer { user, session, csrf_binding, language, client_ip, direct });

    let mut response = next.run(request).await;
    // Only pages carry forms; health checks and redirects need no anonymous cookie.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if let Some(anon) = new_anon.filter(|_| is_page) {
        let cookie = build_cookie(&state, ANON_COOKIE, anon, None);
        append_cookie(&mut response, &cookie);
    }
    if ended && !response.headers().get_all(header::SET_COOKIE).iter().any(|v| is_cookie(v, SESSION_COOKIE)) {
        append_cookie(&mut response, &removal_cookie(&state, SESSION_COOKIE));
    }
    response
}

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address. A request from a trusted proxy comes from the address its
/// `X-Forwarded-For` names last, after skipping the trusted proxies before it (each proxy appends
/// the address it heard from, so only the part that trusted proxies wrote can be believed); from
/// anyone else, the header is the client's own words and counts for nothing. Behind a proxy
/// that is not trusted, every client shares the proxy's address, and login throttling counts
/// them together.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all(FORWARDED_FOR) {
        let Ok(value) = value.to_str() else { return peer };
        for hop in value.split(',').map(str::trim).filter(|hop| !hop.is_empty()) {
            match parse_hop(hop) {
                Some(ip) => chain.push(ip),
                // A hop that does not parse ends what can be read; the proxy is what is known.
                None => return peer,
            }
        }
    }
    let mut client = peer;
    for hop in chain.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:5000`, `[2001:db8::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

fn is_cookie(value: &HeaderValue, name: &str) -> bool {
    value.to_str().is_ok_and(|v| v.starts_with(&format!("{name}=")))
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A cookie with Mailroom's attributes: HttpOnly, SameSite=Lax, Path=/, Secure behind https.
pub fn build_cookie(state: &AppState, name: &'static str, value: String, max_age_secs: Option<i64>) -> Cookie<'static> {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies);
    if let Some(secs) = max_age_secs {
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    cookie.build()
}

pub fn removal_cookie(state: &AppState, name: &'static str) -> Cookie<'static> {
    build_cookie(state, name, String::new(), Some(0))
}

pub fn append_cookie(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// What every page needs: language and texts, the CSRF proof for its forms, the signed-in user,
/// the path (for the language switcher), a notice from a redirect, and the clock that shows
/// times in the user's zone.
pub struct Ctx {
    pub language: Language,
    pub t: &'static Texts,
    pub csrf: String,
    pub user: Option<User>,
    pub path: String,
    pub notice: Option<&'static str>,
    pub clock: Clock,
}

impl Ctx {
    pub fn languages(&self) -> [Language; 2] {
        Language::ALL
    }

    /// A counted text in the form the language's plural rule picks for `n`.
    pub fn count(&self, forms: &Plural, n: impl Into<i64>) -> String {
        crate::plural::count(self.language, forms, n.into())
    }

    /// `2 messages` / `2 zprávy`; for templates, which hand numbers over by reference.
    pub fn messages(&self, n: impl Count) -> String {
        self.count(&self.t.count_messages, n.count())
    }

    /// `2 unread` / `2 nepřečtené`.
    pub fn unread(&self, n: impl Count) -> String {
        self.count(&self.t.count_unread, n.count())
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ErrorKind;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let viewer = parts.extensions.get::<Viewer>().ok_or(ErrorKind::Internal)?;
        let t = texts(viewer.language);
        let notice = parts
            .uri
            .query()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "notice"))
            .and_then(|(_, key)| t.notice(&key));
        Ok(Ctx {
            language: viewer.language,
            t,
            csrf: crate::csrf::token(state, &viewer.csrf_binding),
            user: viewer.user.clone(),
            path: parts.uri.path().to_owned(),
            notice,
            clock: Clock::of(viewer.user.as_ref(), viewer.language),
        })
    }
}

/// A signed-in user; anyone else is sent to the login page.
pub struct SignedIn(pub User);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Viewer>().and_then(|v| v.user.clone()) {
            Some(user) => Ok(SignedIn(user)),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// A signed-in administrator; a member gets 403, anyone else the login page.
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if user.is_admin() { Ok(Admin(user)) } else { Err(ErrorKind::Forbidden.into_response()) }
    }
}

impl IntoResponse for ErrorKind {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest | ErrorKind::Nul => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden | ErrorKind::Csrf => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let forwarded = headers(&["198.51.100.7"]);
        // A proxy that is trusted names the client.
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("::1"), &forwarded, &trusted), ip("198.51.100.7"));
        // Anyone else's header is ignored.
        assert_eq!(client_ip(ip("203.0.113.9"), &forwarded, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded, &[]), ip("10.0.0.2"));
    }

    #[test]
    fn a_client_cannot_put_words_before_the_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client sent "1.2.3.4" itself; the trusted proxies appended the real address, then
        // each other's.
        let chain = headers(&["1.2.3.4, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &chain, &trusted), ip("198.51.100.7"));
        let ports = headers(&["[2001:db8::1]:4711, 198.51.100.7:5000"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &ports, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn a_malformed_or_missing_header_leaves_the_proxys_address() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&["unknown"]), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        // Only proxies all the way: the first of them is the best guess.
        assert_eq!(client_ip(ip("10.0.0.2"), &headers(&["10.0.0.9, 10.0.0.3"]), &trusted), ip("10.0.0.9"));
    }
}
