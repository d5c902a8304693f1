//! The web dashboard at `/`: static files from `dashboards/web/`, compiled into the binary so
//! an edge box needs nothing beside it. The pages fetch everything from `/api/v1`.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use super::AppState;

const INDEX: &str = include_str!("../../dashboards/web/index.html");
const APP_JS: &str = include_str!("../../dashboards/web/app.js");
const STYLE: &str = include_str!("../../dashboards/web/style.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route(
            "/assets/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS).into_response() }),
        )
        .route(
            "/assets/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response() }),
        )
}
