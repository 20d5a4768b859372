//! `/console`: the staff console (clients/console), a static app served from the same
//! origin as the API so it needs no CORS and holds no secret — it calls `/v1/…` with the
//! signed-in person's own token like any chain's app would.
//!
//! Files come from `MAITRE_CONSOLE_DIR` (default `clients/console/dist`, where `make run`
//! builds it). Outside production, `POST /console/dev-sign-in` mints a token for the demo
//! chain for a chosen role so a developer can sign in as each kind of staff; in production
//! that route does not exist. Sign-in through the chain's identity provider (OpenID Connect,
//! authorization code with PKCE, a public client: the console holds no secret) is offered
//! when `MAITRE_CONSOLE_OIDC_ISSUER` and `MAITRE_CONSOLE_OIDC_CLIENT_ID` are set; its
//! tokens must be signed by the key the gateway trusts (`MAITRE_JWT_PUBLIC_KEY_FILE`) and
//! carry Maitre's claims (`chain`, `role`, `stores`). `GET /console/config.json` tells the
//! console which sign-ins there are.

use std::path::{Component, Path, PathBuf};

use axum::{
    Json, Router,
    body::Body,
    extract::Path as UrlPath,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maitre_kit::{
    auth::{Minter, Role},
    config::{Config, Environment},
};
use serde::Deserialize;
use serde_json::json;

use crate::errors::ApiError;

/// Where the built console is unless `MAITRE_CONSOLE_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "clients/console/dist";
/// How long a development sign-in lasts.
const DEV_TOKEN_TTL_SECS: u64 = 8 * 3600;

/// The console's routes (public: the app itself carries no data; the API checks tokens).
pub fn routes(config: &Config) -> Router {
    let dir = std::env::var("MAITRE_CONSOLE_DIR")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let index_dir = dir.clone();
    let lookup = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let settings = json!({
        "devSignIn": config.environment != Environment::Production,
        "oidc": match (lookup("MAITRE_CONSOLE_OIDC_ISSUER"), lookup("MAITRE_CONSOLE_OIDC_CLIENT_ID")) {
            (Some(issuer), Some(client_id)) => json!({
                "issuer": issuer.trim_end_matches('/'),
                "clientId": client_id,
                "scope": lookup("MAITRE_CONSOLE_OIDC_SCOPE").unwrap_or_else(|| "openid".into()),
            }),
            _ => serde_json::Value::Null,
        },
    });
    let mut router = Router::new()
        .route(
            "/console/config.json",
            get(move || {
                let settings = settings.clone();
                async move { ([(header::CACHE_CONTROL, "no-cache")], Json(settings)) }
            }),
        )
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(move || serve_file(index_dir.clone(), "index.html".into())),
        )
        .route(
            "/console/{*path}",
            get(move |UrlPath(path): UrlPath<String>| serve_file(dir.clone(), path)),
        );
    if config.environment != Environment::Production {
        // The development key (or the configured one outside production) signs these, exactly
        // as `maitre token` does; a minter that cannot be built leaves the route out.
        match Minter::from_config(config) {
            Ok(minter) => {
                router = router.route(
                    "/console/dev-sign-in",
                    post(move |Json(request): Json<DevSignIn>| {
                        let minter = minter.clone();
                        async move { dev_sign_in(&minter, request) }
                    }),
                );
            }
            Err(e) => tracing::warn!(error = %e, "console development sign-in disabled"),
        }
    }
    router
}

/// A development sign-in: who to be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSignIn {
    /// `hq_admin`, `store_manager`, `customer_manager` or `front_desk`.
    pub role: String,
    /// Staff id (a customer manager's manager id).
    #[serde(default)]
    pub staff: String,
    /// Stores in scope (store-bound roles).
    #[serde(default)]
    pub stores: Vec<String>,
    /// The chain; `demo` when empty.
    #[serde(default)]
    pub chain: String,
}

fn dev_sign_in(minter: &Minter, request: DevSignIn) -> Response {
    let bad = |field: &str, message: String| {
        ApiError::BadRequest(crate::transcode::RequestError {
            field: field.into(),
            message,
        })
        .into_response()
    };
    let role = match request.role.parse::<Role>() {
        Ok(Role::Service) | Err(_) => {
            return bad(
                "role",
                format!(
                    "`{}`: expected hq_admin, store_manager, customer_manager or front_desk",
                    request.role
                ),
            );
        }
        Ok(role) => role,
    };
    if !role.is_chain_wide() && request.stores.is_empty() {
        return bad(
            "stores",
            format!("a {} needs at least one store", role.as_str()),
        );
    }
    let staff = match request.staff.trim() {
        "" => role.as_str().to_owned(),
        staff => staff.to_owned(),
    };
    let chain = match request.chain.trim() {
        "" => "demo".to_owned(),
        chain => chain.to_owned(),
    };
    match minter.mint(&staff, &chain, role, &request.stores, DEV_TOKEN_TTL_SECS) {
        Ok(token) => Json(json!({
            "token": token,
            "chain": chain,
            "role": role.as_str(),
            "staff": staff,
            "stores": request.stores,
            "expiresInSecs": DEV_TOKEN_TTL_SECS,
        }))
        .into_response(),
        Err(e) => bad("role", e.to_string()),
    }
}

/// One file under `dir`; paths that leave it (`..`, absolute) are not found.
async fn serve_file(dir: PathBuf, path: String) -> Response {
    let Some(relative) = safe_relative(&path) else {
        return not_found();
    };
    let relative = if relative.as_os_str().is_empty() {
        PathBuf::from("index.html")
    } else {
        relative
    };
    let full = dir.join(&relative);
    let read = tokio::task::spawn_blocking(move || std::fs::read(full)).await;
    match read {
        Ok(Ok(bytes)) => {
            let name = relative.to_string_lossy().into_owned();
            // Built assets carry a content hash in their name; the page itself must be
            // revalidated so a new build is picked up.
            let cache = if name.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(content_type(&name)),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
                    (
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ),
                ],
                Body::from(bytes),
            )
                .into_response()
        }
        _ if relative == Path::new("index.html") => (
            StatusCode::NOT_FOUND,
            "The console is not built: run `make console` (needs Node.js) or set MAITRE_CONSOLE_DIR.",
        )
            .into_response(),
        _ => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The path as normal components only, or `None` when it tries to leave the directory.
fn safe_relative(path: &str) -> Option<PathBuf> {
    if path.contains('\\') || path.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::to_bytes, http::Request};
    use maitre_kit::config::ServiceName;
    use tower::ServiceExt;

    fn config(environment: &str, secret: Option<&str>) -> Config {
        let secret = secret.map(str::to_owned);
        Config::from_lookup(ServiceName::Gateway, |k| match k {
            "MAITRE_ENV" => Some(environment.to_owned()),
            "MAITRE_JWT_SECRET" => secret.clone(),
            _ => None,
        })
        .unwrap()
    }

    async fn sign_in(router: Router) -> (StatusCode, String) {
        let request = Request::post("/console/dev-sign-in")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"role":"hq_admin"}"#))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn development_sign_in_exists_only_outside_production() {
        let (status, body) = sign_in(routes(&config("development", None))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"token\""), "{body}");
        // Production, even with a usable signing key: no such route.
        // (The path falls to the static files, which only answer GET.)
        let (status, body) = sign_in(routes(&config("production", Some("a-real-secret")))).await;
        assert!(!body.contains("token"), "{body}");
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "production answered {status}"
        );
    }

    #[test]
    fn paths_never_leave_the_directory() {
        assert_eq!(
            safe_relative("assets/app.js"),
            Some(PathBuf::from("assets/app.js"))
        );
        assert_eq!(safe_relative("./index.html"), Some("index.html".into()));
        assert_eq!(safe_relative("../Cargo.toml"), None);
        assert_eq!(safe_relative("assets/../../etc/passwd"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative("a\\..\\b"), None);
    }

    #[test]
    fn development_sign_in_refuses_service_identities_and_storeless_managers() {
        let minter = Minter::hs256("test");
        let service = dev_sign_in(
            &minter,
            DevSignIn {
                role: "service".into(),
                staff: String::new(),
                stores: vec![],
                chain: String::new(),
            },
        );
        assert_eq!(service.status(), StatusCode::BAD_REQUEST);
        let storeless = dev_sign_in(
            &minter,
            DevSignIn {
                role: "front_desk".into(),
                staff: "desk".into(),
                stores: vec![],
                chain: String::new(),
            },
        );
        assert_eq!(storeless.status(), StatusCode::BAD_REQUEST);
        let hq = dev_sign_in(
            &minter,
            DevSignIn {
                role: "hq_admin".into(),
                staff: String::new(),
                stores: vec![],
                chain: String::new(),
            },
        );
        assert_eq!(hq.status(), StatusCode::OK);
    }
}
