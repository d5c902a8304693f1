//! The web dashboard at `/`: static files from `dashboards/web/`, compiled into the binary so
//! an edge box needs nothing beside it (ECharts included: field sites have no internet). The
//! pages fetch everything from `/api/v1`. With `FIELDLINE_WEB_DIR` set, the files are read
//! from that directory on every request instead, so the pages can be edited without a rebuild.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// Every file the dashboard serves: (path under `/assets/`, content type, compiled-in bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("core.js", JS, include_bytes!("../../dashboards/web/core.js")),
    ("i18n.js", JS, include_bytes!("../../dashboards/web/i18n.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../../dashboards/web/style.css")),
    ("pages/overview.js", JS, include_bytes!("../../dashboards/web/pages/overview.js")),
    ("pages/grid.js", JS, include_bytes!("../../dashboards/web/pages/grid.js")),
    ("pages/health.js", JS, include_bytes!("../../dashboards/web/pages/health.js")),
    ("pages/farm.js", JS, include_bytes!("../../dashboards/web/pages/farm.js")),
    ("pages/pests.js", JS, include_bytes!("../../dashboards/web/pages/pests.js")),
    ("pages/alerts.js", JS, include_bytes!("../../dashboards/web/pages/alerts.js")),
    ("pages/brain.js", JS, include_bytes!("../../dashboards/web/pages/brain.js")),
    ("pages/deadletters.js", JS, include_bytes!("../../dashboards/web/pages/deadletters.js")),
    ("pages/boot.js", JS, include_bytes!("../../dashboards/web/pages/boot.js")),
    (ECHARTS, JS, include_bytes!("../../dashboards/web/vendor/echarts-6.1.0.common.min.js")),
];

const JS: &str = "text/javascript; charset=utf-8";
/// Versioned in its name, so browsers may keep it for good.
const ECHARTS: &str = "vendor/echarts-6.1.0.common.min.js";
const INDEX: &[u8] = include_bytes!("../../dashboards/web/index.html");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html", "text/html; charset=utf-8", INDEX) }))
        .route("/assets/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((name, content_type, bytes)) => serve(name, content_type, bytes),
        None => (StatusCode::NOT_FOUND, "no such dashboard file").into_response(),
    }
}

/// `FIELDLINE_WEB_DIR`, read once: the environment does not change under a running server.
fn web_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("FIELDLINE_WEB_DIR").map(Into::into)).as_deref()
}

fn serve(name: &str, content_type: &'static str, compiled: &'static [u8]) -> Response {
    let cache = if name == ECHARTS { "public, max-age=31536000, immutable" } else { "no-cache" };
    let headers = [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)];
    match web_dir() {
        Some(dir) => match std::fs::read(dir.join(name)) {
            Ok(bytes) => (headers, bytes).into_response(),
            Err(e) => (StatusCode::NOT_FOUND, format!("FIELDLINE_WEB_DIR: {name}: {e}")).into_response(),
        },
        None => (headers, compiled).into_response(),
    }
}
