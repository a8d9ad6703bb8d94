//! Google OAuth 2.0 and the Microsoft identity platform v2.0: authorization with a consent page,
//! the token endpoint (authorization code with PKCE, refresh), Google's revocation and userinfo.
//! Error answers use each provider's documented shapes: Google's `{"error","error_description"}`,
//! Microsoft's with `error_codes`, `timestamp`, `trace_id`, `correlation_id` and `error_uri`.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::state::{AccessToken, AuthCode, DeadReason, ProviderKind, RefreshToken, SimState, SimUser, World};

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/google/o/oauth2/v2/auth", get(google_authorize).post(google_consent))
        .route("/google/token", post(google_token))
        .route("/google/revoke", post(google_revoke))
        .route("/google/v1/userinfo", get(google_userinfo))
        .route("/microsoft/{tenant}/oauth2/v2.0/authorize", get(microsoft_authorize).post(microsoft_consent))
        .route("/microsoft/{tenant}/oauth2/v2.0/token", post(microsoft_token))
}

type Params = HashMap<String, String>;

/// Authorization codes expire after about ten minutes at both providers.
const CODE_LIFETIME_SECS: i64 = 600;

#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
struct ConsentPage {
    provider_name: &'static str,
    client_id: String,
    scopes: Vec<String>,
    action: String,
    hidden: Vec<(String, String)>,
    users: Vec<SimUser>,
    login_hint: Option<String>,
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{0}</title><body><h1>{0}</h1><p>{1}</p></body></html>",
        escape(title),
        escape(detail)
    );
    (status, Html(body)).into_response()
}

/// `redirect_uri` with the query parameters added.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is not a URL"),
    };
    url.query_pairs_mut().extend_pairs(params);
    Redirect::to(url.as_str()).into_response()
}

/// What both providers check before showing a consent page.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    pkce: Option<(String, String)>,
    offline: bool,
    force_consent: bool,
    login_hint: Option<String>,
}

enum AuthorizeProblem {
    /// Shown to the user; the client's redirect URI is not trusted.
    Page(StatusCode, String, String),
    /// Sent back to the client's redirect URI.
    Redirect(String, String, String),
}

fn check_authorize(
    world: &World,
    provider: ProviderKind,
    params: &Params,
) -> Result<AuthorizeRequest, AuthorizeProblem> {
    let get = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id").ok_or_else(|| match provider {
        ProviderKind::Google => AuthorizeProblem::Page(
            StatusCode::BAD_REQUEST,
            "Error 400: invalid_request".into(),
            "Missing required parameter: client_id".into(),
        ),
        ProviderKind::Microsoft => AuthorizeProblem::Page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144".into(),
            "The request body must contain the following parameter: 'client_id'.".into(),
        ),
    })?;
    let client = world.clients.iter().find(|c| c.provider == provider && c.client_id == client_id).ok_or_else(
        || match provider {
            ProviderKind::Google => AuthorizeProblem::Page(
                StatusCode::UNAUTHORIZED,
                "Error 401: invalid_client".into(),
                "The OAuth client was not found.".into(),
            ),
            ProviderKind::Microsoft => AuthorizeProblem::Page(
                StatusCode::BAD_REQUEST,
                "AADSTS700016".into(),
                format!("Application with identifier '{client_id}' was not found in the directory."),
            ),
        },
    )?;
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(match provider {
            ProviderKind::Google => AuthorizeProblem::Page(
                StatusCode::BAD_REQUEST,
                "Error 400: redirect_uri_mismatch".into(),
                format!(
                    "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. redirect_uri={redirect_uri}"
                ),
            ),
            ProviderKind::Microsoft => AuthorizeProblem::Page(
                StatusCode::BAD_REQUEST,
                "AADSTS50011".into(),
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
                ),
            ),
        });
    }
    let state = get("state").map(str::to_owned);
    let fail = |error: &str, description: String| {
        AuthorizeProblem::Redirect(redirect_uri.to_owned(), error.to_owned(), description)
    };
    if get("response_type") != Some("code") {
        return Err(fail("unsupported_response_type", "Only response_type=code is supported.".into()));
    }
    let scopes: Vec<String> = get("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err(match provider {
            ProviderKind::Google => AuthorizeProblem::Page(
                StatusCode::BAD_REQUEST,
                "Error 400: invalid_request".into(),
                "Missing required parameter: scope".into(),
            ),
            ProviderKind::Microsoft => fail(
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'scope'.".into(),
            ),
        });
    }
    let pkce = match (get("code_challenge"), get("code_challenge_method")) {
        (None, _) => None,
        (Some(challenge), method) => {
            // Both providers default to `plain` when the method is absent.
            let method = method.unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return Err(fail("invalid_request", format!("Invalid code_challenge_method: {method}")));
            }
            Some((challenge.to_owned(), method.to_owned()))
        }
    };
    let offline = match provider {
        ProviderKind::Google => get("access_type") == Some("offline"),
        ProviderKind::Microsoft => scopes.iter().any(|s| s == "offline_access"),
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state,
        pkce,
        offline,
        force_consent: get("prompt") == Some("consent"),
        login_hint: get("login_hint").map(str::to_lowercase),
    })
}

fn provider_users(world: &World, provider: ProviderKind) -> Vec<SimUser> {
    world.users.values().filter(|u| u.user.provider == provider).map(|u| u.user.clone()).collect()
}

async fn authorize(state: SimState, provider: ProviderKind, params: Params, action: String) -> Response {
    let world = state.world();
    let request = match check_authorize(&world, provider, &params) {
        Ok(request) => request,
        Err(problem) => return problem_response(problem, params.get("state").map(String::as_str)),
    };
    let users = provider_users(&world, provider);
    drop(world);
    if state.config().auto_consent {
        let chosen = request
            .login_hint
            .as_deref()
            .and_then(|hint| users.iter().find(|u| u.email == hint))
            .or_else(|| users.first());
        return match chosen {
            Some(user) => {
                let email = user.email.clone();
                grant(&state, provider, &request, &email)
            }
            None => redirect_with(
                &request.redirect_uri,
                &state_param(&[("error", "access_denied")], request.state.as_deref()),
            ),
        };
    }
    let hidden = params.into_iter().filter(|(k, _)| k != "user" && k != "deny").collect();
    ConsentPage {
        provider_name: match provider {
            ProviderKind::Google => "Google",
            ProviderKind::Microsoft => "Microsoft",
        },
        client_id: request.client_id,
        scopes: request.scopes,
        action,
        hidden,
        users,
        login_hint: request.login_hint,
    }
    .into_response()
}

fn state_param<'a>(params: &[(&'a str, &'a str)], state: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut all = params.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    all
}

fn problem_response(problem: AuthorizeProblem, state: Option<&str>) -> Response {
    match problem {
        AuthorizeProblem::Page(status, title, detail) => error_page(status, &title, &detail),
        AuthorizeProblem::Redirect(uri, error, description) => {
            redirect_with(&uri, &state_param(&[("error", &error), ("error_description", &description)], state))
        }
    }
}

/// The consent form's answer: a code for the chosen user, or `access_denied`.
async fn consent(state: SimState, provider: ProviderKind, params: Params) -> Response {
    let world = state.world();
    let request = match check_authorize(&world, provider, &params) {
        Ok(request) => request,
        Err(problem) => return problem_response(problem, params.get("state").map(String::as_str)),
    };
    let user = params
        .get("user")
        .and_then(|email| world.user(email))
        .filter(|u| u.user.provider == provider)
        .map(|u| u.user.email.clone());
    drop(world);
    match (params.contains_key("deny"), user) {
        (false, Some(email)) => grant(&state, provider, &request, &email),
        _ => {
            let description = match provider {
                ProviderKind::Google => "",
                ProviderKind::Microsoft => "AADSTS65004: User declined to consent to access the app.",
            };
            let mut query = vec![("error", "access_denied")];
            if !description.is_empty() {
                query.push(("error_description", description));
            }
            redirect_with(&request.redirect_uri, &state_param(&query, request.state.as_deref()))
        }
    }
}

/// Issues an authorization code and sends the browser back to the client.
fn grant(state: &SimState, provider: ProviderKind, request: &AuthorizeRequest, email: &str) -> Response {
    let now = state.clock().now_secs();
    let mut world = state.world();
    let code = world.token(if provider == ProviderKind::Google { "4/0Ab" } else { "M.C5" }, 24);
    let key = (email.to_owned(), request.client_id.clone());
    // Google issues a refresh token on the first consent, or on any with prompt=consent.
    let offline = request.offline
        && (provider == ProviderKind::Microsoft || request.force_consent || !world.consents.contains(&key));
    world.consents.insert(key);
    world.codes.insert(
        code.clone(),
        AuthCode {
            provider,
            email: email.to_owned(),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scopes: request.scopes.clone(),
            pkce: request.pkce.clone(),
            offline,
            expires_at: now + CODE_LIFETIME_SECS,
        },
    );
    drop(world);
    let scope = request.scopes.join(" ");
    let mut query = vec![("code", code.as_str())];
    if provider == ProviderKind::Google {
        query.push(("scope", scope.as_str()));
    }
    redirect_with(&request.redirect_uri, &state_param(&query, request.state.as_deref()))
}

async fn google_authorize(State(state): State<SimState>, Query(params): Query<Params>) -> Response {
    let action = format!("{}/google/o/oauth2/v2/auth", state.base_url());
    authorize(state, ProviderKind::Google, params, action).await
}

async fn google_consent(State(state): State<SimState>, Form(params): Form<Params>) -> Response {
    consent(state, ProviderKind::Google, params).await
}

async fn microsoft_authorize(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if !valid_tenant(&tenant) {
        return error_page(StatusCode::BAD_REQUEST, "AADSTS90002", &format!("Tenant '{tenant}' not found."));
    }
    let action = format!("{}/microsoft/{tenant}/oauth2/v2.0/authorize", state.base_url());
    authorize(state, ProviderKind::Microsoft, params, action).await
}

async fn microsoft_consent(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
    Form(params): Form<Params>,
) -> Response {
    if !valid_tenant(&tenant) {
        return error_page(StatusCode::BAD_REQUEST, "AADSTS90002", &format!("Tenant '{tenant}' not found."));
    }
    consent(state, ProviderKind::Microsoft, params).await
}

fn valid_tenant(tenant: &str) -> bool {
    let t = tenant.to_ascii_lowercase();
    matches!(t.as_str(), "common" | "organizations" | "consumers")
        || (t.len() == 36 && t.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        || (t.contains('.') && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
}

/// A token endpoint failure, in the provider's shape.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Microsoft's AADSTS number.
    code: u32,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        TokenError { status, error, description: description.into(), code }
    }

    fn into_response(self, provider: ProviderKind, state: &SimState) -> Response {
        let body = match provider {
            ProviderKind::Google => json!({"error": self.error, "error_description": self.description}),
            ProviderKind::Microsoft => {
                let now = chrono::DateTime::from_timestamp(state.clock().now_secs(), 0).unwrap_or_default();
                let trace = state.world().token("", 12);
                json!({
                    "error": self.error,
                    "error_description": format!(
                        "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}",
                        self.code, self.description, now.format("%Y-%m-%d %H:%M:%SZ")
                    ),
                    "error_codes": [self.code],
                    "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                    "trace_id": trace,
                    "correlation_id": trace,
                    "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
                })
            }
        };
        (self.status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
    }
}

/// The client's id and secret, from the form (client_secret_post) or a Basic header
/// (client_secret_basic).
fn client_credentials(headers: &HeaderMap, form: &Params) -> (Option<String>, Option<String>) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        && let Some((id, secret)) = basic.split_once(':')
    {
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        return (decode(id), decode(secret));
    }
    (form.get("client_id").cloned(), form.get("client_secret").cloned())
}

fn verify_pkce(pkce: &Option<(String, String)>, verifier: Option<&String>) -> bool {
    match (pkce, verifier) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((challenge, method)), Some(verifier)) => {
            if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *challenge
            } else {
                verifier == challenge
            }
        }
    }
}

async fn google_token(State(state): State<SimState>, headers: HeaderMap, Form(form): Form<Params>) -> Response {
    token(&state, ProviderKind::Google, &headers, &form)
        .unwrap_or_else(|e| e.into_response(ProviderKind::Google, &state))
}

async fn microsoft_token(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    if !valid_tenant(&tenant) {
        let error =
            TokenError::new(StatusCode::BAD_REQUEST, "invalid_request", 90002, format!("Tenant '{tenant}' not found."));
        return error.into_response(ProviderKind::Microsoft, &state);
    }
    token(&state, ProviderKind::Microsoft, &headers, &form)
        .unwrap_or_else(|e| e.into_response(ProviderKind::Microsoft, &state))
}

/// Microsoft names Graph permissions by short names on the way in and full URIs on the way out.
fn microsoft_scope(scope: &str) -> String {
    if ["openid", "profile", "email", "offline_access"].contains(&scope) || scope.contains("://") {
        scope.to_owned()
    } else {
        format!("https://graph.microsoft.com/{scope}")
    }
}

fn token(state: &SimState, provider: ProviderKind, headers: &HeaderMap, form: &Params) -> Result<Response, TokenError> {
    use StatusCode as S;
    let google = provider == ProviderKind::Google;
    let (client_id, secret) = client_credentials(headers, form);
    let client_id = client_id.ok_or_else(|| {
        TokenError::new(
            S::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    })?;
    let now = state.clock().now_secs();
    let lifetime = i64::try_from(state.config().access_token_lifetime.as_secs()).unwrap_or(3600);
    let mut world = state.world();
    let client = world.clients.iter().find(|c| c.provider == provider && c.client_id == client_id).cloned();
    let Some(client) = client else {
        return Err(if google {
            TokenError::new(S::UNAUTHORIZED, "invalid_client", 0, "The OAuth client was not found.")
        } else {
            TokenError::new(
                S::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory."),
            )
        });
    };
    if secret.as_deref() != Some(client.client_secret.as_str()) {
        return Err(if google {
            TokenError::new(S::UNAUTHORIZED, "invalid_client", 0, "Unauthorized")
        } else {
            TokenError::new(
                S::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            )
        });
    }
    let (email, scopes, offline) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").ok_or_else(|| {
                TokenError::new(
                    S::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'code'.",
                )
            })?;
            // A code is single-use: it is removed whatever happens next.
            let issued = world.codes.remove(code).filter(|c| c.provider == provider && c.client_id == client_id);
            let Some(issued) = issued else {
                return Err(if google {
                    TokenError::new(S::BAD_REQUEST, "invalid_grant", 0, "Malformed auth code.")
                } else {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "The provided value for the 'code' parameter is not valid.",
                    )
                });
            };
            if issued.expires_at <= now {
                return Err(if google {
                    TokenError::new(S::BAD_REQUEST, "invalid_grant", 0, "Bad Request")
                } else {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        70008,
                        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                    )
                });
            }
            if form.get("redirect_uri").map(String::as_str) != Some(issued.redirect_uri.as_str()) {
                return Err(if google {
                    TokenError::new(S::BAD_REQUEST, "redirect_uri_mismatch", 0, "Bad Request")
                } else {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        50011,
                        "The redirect URI specified in the request does not match the redirect URI used to obtain the authorization code.",
                    )
                });
            }
            if !verify_pkce(&issued.pkce, form.get("code_verifier")) {
                return Err(if google {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        0,
                        if form.contains_key("code_verifier") {
                            "Invalid code verifier."
                        } else {
                            "Missing code verifier."
                        },
                    )
                } else {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    )
                });
            }
            (issued.email, issued.scopes, issued.offline)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").ok_or_else(|| {
                TokenError::new(
                    S::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'refresh_token'.",
                )
            })?;
            let known = world
                .refresh_tokens
                .get(presented)
                .filter(|t| t.provider == provider && t.client_id == client_id)
                .cloned();
            let Some(known) = known else {
                return Err(if google {
                    TokenError::new(S::BAD_REQUEST, "invalid_grant", 0, "Bad Request")
                } else {
                    TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        9002313,
                        "Invalid request. Request is malformed or invalid.",
                    )
                });
            };
            match known.dead {
                Some(DeadReason::Revoked) => {
                    return Err(if google {
                        TokenError::new(S::BAD_REQUEST, "invalid_grant", 0, "Token has been expired or revoked.")
                    } else {
                        TokenError::new(
                            S::BAD_REQUEST,
                            "invalid_grant",
                            50173,
                            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
                        )
                    });
                }
                Some(DeadReason::Used) => {
                    return Err(TokenError::new(
                        S::BAD_REQUEST,
                        "invalid_grant",
                        70008,
                        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                    ));
                }
                None => {}
            }
            // A refresh may ask for fewer scopes than were granted, never more.
            let scopes = match form.get("scope") {
                Some(asked) => {
                    let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
                    if let Some(extra) = asked.iter().find(|s| !known.scopes.contains(s)) {
                        return Err(if google {
                            TokenError::new(
                                S::BAD_REQUEST,
                                "invalid_scope",
                                0,
                                format!("Some requested scopes were invalid. {{invalid=[{extra}]}}"),
                            )
                        } else {
                            TokenError::new(
                                S::BAD_REQUEST,
                                "invalid_grant",
                                65001,
                                format!(
                                    "The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource."
                                ),
                            )
                        });
                    }
                    asked
                }
                None => known.scopes.clone(),
            };
            if !google
                && state.config().microsoft_single_use_refresh_tokens
                && let Some(token) = world.refresh_tokens.get_mut(presented)
            {
                token.dead = Some(DeadReason::Used);
            }
            // Google keeps the refresh token; Microsoft replaces it with every use.
            (known.email, scopes, !google)
        }
        Some(other) => {
            return Err(TokenError::new(
                S::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("Invalid grant_type: {other}"),
            ));
        }
        None => {
            return Err(TokenError::new(
                S::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
    };

    let access = world.token(if google { "ya29.sim" } else { "EwBsim" }, 48);
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            provider,
            email: email.clone(),
            client_id: client_id.clone(),
            scopes: scopes.clone(),
            expires_at: now + lifetime,
        },
    );
    let shown_scopes: Vec<String> =
        if google { scopes.clone() } else { scopes.iter().map(|s| microsoft_scope(s)).collect() };
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": shown_scopes.join(" "),
    });
    if !google {
        body["ext_expires_in"] = json!(lifetime);
    }
    if offline {
        let refresh = world.token(if google { "1//0sim" } else { "M.R3sim" }, 48);
        world.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                provider,
                email: email.clone(),
                client_id: client_id.clone(),
                scopes: scopes.clone(),
                dead: None,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    if scopes.iter().any(|s| s == "openid") {
        let name = world.user(&email).map(|u| u.user.name.clone()).unwrap_or_default();
        body["id_token"] = json!(id_token(state, provider, &client_id, &email, &name, now, lifetime));
    }
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

/// A JWT-shaped ID token. Its signature is not verifiable (the simulator publishes no keys); the
/// claims are those the providers document.
fn id_token(
    state: &SimState,
    provider: ProviderKind,
    client_id: &str,
    email: &str,
    name: &str,
    now: i64,
    lifetime: i64,
) -> String {
    let issuer = match provider {
        ProviderKind::Google => "https://accounts.google.com".to_owned(),
        ProviderKind::Microsoft => format!("{}/microsoft/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", state.base_url()),
    };
    let header = json!({"alg": "RS256", "kid": "mailroom-sim", "typ": "JWT"});
    let claims = json!({
        "iss": issuer, "aud": client_id, "sub": subject(email), "email": email, "email_verified": true,
        "name": name, "preferred_username": email, "iat": now, "exp": now + lifetime,
    });
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(&claims), URL_SAFE_NO_PAD.encode(b"unsigned-mailroom-sim"))
}

/// A stable numeric subject for a user, as Google's `sub`.
pub fn subject(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    let mut n: u128 = 0;
    for byte in &digest[..12] {
        n = (n << 8) | u128::from(*byte);
    }
    format!("1{:020}", n % 100_000_000_000_000_000_000)
}

async fn google_revoke(
    State(state): State<SimState>,
    Query(query): Query<Params>,
    body: axum::body::Bytes,
) -> Response {
    // The token comes form-encoded in the body, or in the query string.
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .or_else(|| query.get("token").cloned());
    let mut world = state.world();
    let grant = token.as_deref().and_then(|t| {
        world
            .refresh_tokens
            .get(t)
            .filter(|r| r.provider == ProviderKind::Google && r.dead.is_none())
            .map(|r| (r.email.clone(), r.client_id.clone()))
            .or_else(|| {
                world
                    .access_tokens
                    .get(t)
                    .filter(|a| a.provider == ProviderKind::Google)
                    .map(|a| (a.email.clone(), a.client_id.clone()))
            })
    });
    let Some((email, client_id)) = grant else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_token", "error_description": "Token expired or revoked"})),
        )
            .into_response();
    };
    // Revoking either token of a grant ends the whole grant.
    world.access_tokens.retain(|_, a| !(a.email == email && a.client_id == client_id));
    for refresh in world.refresh_tokens.values_mut().filter(|r| r.email == email && r.client_id == client_id) {
        refresh.dead = Some(DeadReason::Revoked);
    }
    StatusCode::OK.into_response()
}

async fn google_userinfo(State(state): State<SimState>, headers: HeaderMap) -> Response {
    match state.authenticate(&headers, ProviderKind::Google) {
        Ok(caller) => {
            let name = state.world().user(&caller.email).map(|u| u.user.name.clone()).unwrap_or_default();
            let (given, family) = name.split_once(' ').unwrap_or((name.as_str(), ""));
            axum::Json(json!({
                "sub": subject(&caller.email), "name": name, "given_name": given, "family_name": family,
                "email": caller.email, "email_verified": true,
            }))
            .into_response()
        }
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            axum::Json(json!({"error": "invalid_request", "error_description": "Invalid Credentials"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_and_plain_are_checked() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let s256 = Some(("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(), "S256".to_owned()));
        assert!(verify_pkce(&s256, Some(&verifier.to_owned())));
        assert!(!verify_pkce(&s256, Some(&"other".to_owned())));
        assert!(!verify_pkce(&s256, None));
        let plain = Some(("abc".to_owned(), "plain".to_owned()));
        assert!(verify_pkce(&plain, Some(&"abc".to_owned())));
        assert!(verify_pkce(&None, None));
    }

    #[test]
    fn subjects_are_stable_and_numeric() {
        assert_eq!(subject("a@x.test"), subject("a@x.test"));
        assert_ne!(subject("a@x.test"), subject("b@x.test"));
        assert!(subject("a@x.test").chars().all(|c| c.is_ascii_digit()));
    }
}
