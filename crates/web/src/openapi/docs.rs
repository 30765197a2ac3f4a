//! [`DocsConfig`]: the document's `info` and where it is served.

/// The document's `info` and where the App serves the document and its pages: FastAPI's
/// `FastAPI(title=..., version=..., openapi_url=..., docs_url=..., redoc_url=...)`, given to
/// [`App::docs`](crate::App::docs). A URL of `None` serves nothing there; without the
/// document (`openapi_url: None`) neither page is served, as they read it.
///
/// ```
/// use kairos_web::openapi::DocsConfig;
/// use kairos_web::App;
///
/// // FastAPI(title="Shop", version="2.1.0", redoc_url=None)
/// let app = App::new().docs(DocsConfig {
///     title: "Shop".into(),
///     version: "2.1.0".into(),
///     redoc_url: None,
///     ..DocsConfig::default()
/// });
/// assert_eq!(app.openapi()["info"]["title"], "Shop");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsConfig {
    /// The API's name: the document's `info.title` and the pages' titles.
    pub title: String,
    /// The API's version (not OpenAPI's): `info.version`.
    pub version: String,
    /// A description of the API (Markdown): `info.description`.
    pub description: Option<String>,
    /// Where the document is served as JSON (default `/openapi.json`).
    pub openapi_url: Option<String>,
    /// Where Swagger UI is served (default `/docs`); its script and style are served under
    /// it (`/docs/swagger-ui-bundle.js`, `/docs/swagger-ui.css`).
    pub docs_url: Option<String>,
    /// Where ReDoc is served (default `/redoc`); its script under it
    /// (`/redoc/redoc.standalone.js`).
    pub redoc_url: Option<String>,
}

impl Default for DocsConfig {
    /// FastAPI's defaults, with kairos' name: title "kairos", version "0.1.0", the document at
    /// `/openapi.json`, Swagger UI at `/docs`, ReDoc at `/redoc`.
    fn default() -> Self {
        DocsConfig {
            title: "kairos".into(),
            version: "0.1.0".into(),
            description: None,
            openapi_url: Some("/openapi.json".into()),
            docs_url: Some("/docs".into()),
            redoc_url: Some("/redoc".into()),
        }
    }
}
