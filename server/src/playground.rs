//! The GraphiQL playground: one HTML page and its bundle, embedded in the binary so exo serves
//! them itself (no CDN at run time). The bundle is built from npm packages by
//! `playground/build.mjs` and committed under `server/assets/playground/` with its licences.

/// The bundled GraphiQL, React and the exo page script (minified).
pub const SCRIPT: &[u8] = include_bytes!("../assets/playground/playground.js");
pub const STYLE: &[u8] = include_bytes!("../assets/playground/playground.css");
/// The licences of everything in the bundle, served beside it.
pub const LICENSES: &[u8] = include_bytes!("../assets/playground/LICENSES.txt");

/// What a request under the playground path asks for.
pub enum Asset {
    Page(String),
    Static { body: &'static [u8], content_type: &'static str },
}

/// The page (`file` is `None`) or one of its files when the playground is served at `base`,
/// or `None` for a file it does not have. The edge decides which requests reach here.
pub fn asset(base: &str, file: Option<&str>, graphql_path: &str) -> Option<Asset> {
    let base = base.trim_end_matches('/');
    match file {
        None => Some(Asset::Page(page(base, graphql_path))),
        Some("playground.js") => Some(Asset::Static { body: SCRIPT, content_type: "text/javascript; charset=utf-8" }),
        Some("playground.css") => Some(Asset::Static { body: STYLE, content_type: "text/css; charset=utf-8" }),
        Some("LICENSES.txt") => Some(Asset::Static { body: LICENSES, content_type: "text/plain; charset=utf-8" }),
        Some(_) => None,
    }
}

/// The HTML page; asset URLs are absolute so `/playground` and `/playground/` both work.
fn page(base: &str, graphql_path: &str) -> String {
    let base = escape(base);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>exo playground</title>
<link rel="stylesheet" href="{base}/playground.css">
</head>
<body>
<div id="exo-playground" data-endpoint="{endpoint}"></div>
<script src="{base}/playground.js"></script>
</body>
</html>
"#,
        endpoint = escape(graphql_path)
    )
}

/// Escapes text for an HTML attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_the_endpoint_and_assets() {
        let Some(Asset::Page(html)) = asset("/playground", None, "/api/\"graphql") else { panic!("no page") };
        assert!(html.contains(r#"data-endpoint="/api/&quot;graphql""#), "{html}");
        assert!(html.contains(r#"src="/playground/playground.js""#), "{html}");
        let Some(Asset::Page(html)) = asset("/tools/", None, "/graphql") else { panic!("no page") };
        assert!(html.contains(r#"src="/tools/playground.js""#), "{html}");
    }

    #[test]
    fn static_assets_and_unknown_paths() {
        let Some(Asset::Static { body, content_type }) = asset("/playground", Some("playground.js"), "/graphql") else {
            panic!("no script")
        };
        assert!(content_type.starts_with("text/javascript"));
        assert!(body.len() > 100_000, "the bundle is {} bytes", body.len());
        assert!(asset("/playground", Some("other.js"), "/graphql").is_none());
        assert!(asset("/playground", Some(""), "/graphql").is_none());
    }
}
