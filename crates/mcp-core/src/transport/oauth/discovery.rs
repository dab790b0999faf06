//! Discovery: what a `401`'s challenge says, the protected resource's metadata (RFC 9728), and
//! the authorization server's (RFC 8414 or OpenID discovery, path-aware), each checked to be
//! about what it claims.

use reqwest::Url;
use serde_json::Value;

use crate::transport::http_client::Http;

/// What a `401`/`403` said in `WWW-Authenticate: Bearer ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

/// Parses the Bearer challenge's parameters (quoted or token values).
pub(crate) fn parse_challenge(header: &str) -> Challenge {
    let mut out = Challenge::default();
    let rest = header.trim();
    let rest = ["Bearer", "bearer", "DPoP", "dpop"].iter().find_map(|p| rest.strip_prefix(p)).unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_owned()
        };
        match key.trim() {
            "resource_metadata" => out.resource_metadata = Some(value),
            "scope" => out.scope = Some(value),
            "error" => out.error = Some(value),
            _ => {}
        }
    }
    out
}

/// An authorization server's endpoints and metadata.
pub(super) struct AuthorizationServer {
    pub(super) issuer: String,
    pub(super) authorization_endpoint: String,
    pub(super) token_endpoint: String,
    pub(super) registration_endpoint: Option<String>,
    pub(super) metadata: Value,
}

/// The resource identifier and metadata: from the challenge's URL, else the well-known
/// locations (the path-based one first); without any, the server's own URL (older servers).
pub(super) async fn protected_resource(
    http: &Http,
    mcp: &Url,
    challenge: &Challenge,
) -> Result<(String, Option<Value>), String> {
    let mut candidates = Vec::new();
    if let Some(url) = &challenge.resource_metadata {
        candidates.push(url.clone());
    }
    let path = mcp.path().trim_end_matches('/');
    if !path.is_empty() {
        candidates.push(format!("{}/.well-known/oauth-protected-resource{path}", origin(mcp)));
    }
    candidates.push(format!("{}/.well-known/oauth-protected-resource", origin(mcp)));
    for url in candidates {
        if let Some(prm) = get_json(http, &url, "the protected resource metadata").await? {
            let resource = prm["resource"].as_str().map(str::to_owned).unwrap_or_else(|| bare_url(mcp));
            // The metadata must describe this server (RFC 9728 §3.3), or a token meant for it
            // could be asked for another.
            let covers = Url::parse(&resource).is_ok_and(|r| {
                r.origin() == mcp.origin()
                    && mcp.path().trim_end_matches('/').starts_with(r.path().trim_end_matches('/'))
            });
            if !covers {
                return Err(format!(
                    "the protected resource metadata at {} is for {}, not {}",
                    http.url(&url),
                    http.url(&resource),
                    http.url(mcp.as_str())
                ));
            }
            return Ok((resource, Some(prm)));
        }
    }
    Ok((bare_url(mcp), None))
}

/// `url` without user info, query or fragment: the MCP server's resource indicator (RFC 8707) and
/// a DPoP proof's `htu`, so that no credential written into the URL travels with either.
pub(super) fn bare_url(url: &Url) -> String {
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    bare.set_query(None);
    bare.set_fragment(None);
    bare.to_string()
}

/// The authorization server's metadata, tried at RFC 8414's and OpenID's locations (path-aware),
/// with its issuer checked; without any, the endpoints at its root (older servers).
pub(super) async fn authorization_server(http: &Http, issuer: &str) -> Result<AuthorizationServer, String> {
    let url = Url::parse(issuer).map_err(|e| format!("the authorization server {issuer} is not a URL: {e}"))?;
    let base = origin(&url);
    let path = url.path().trim_end_matches('/');
    let candidates = if path.is_empty() {
        vec![
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{base}/.well-known/oauth-authorization-server{path}"),
            format!("{base}/.well-known/openid-configuration{path}"),
            format!("{base}{path}/.well-known/openid-configuration"),
        ]
    };
    for candidate in candidates {
        let Some(metadata) = get_json(http, &candidate, "the authorization server metadata").await? else { continue };
        let named = metadata["issuer"].as_str().unwrap_or_default();
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!("the authorization server metadata at {candidate} names issuer {named}, not {issuer}"));
        }
        let endpoint = |key: &str| metadata[key].as_str().map(str::to_owned);
        return Ok(AuthorizationServer {
            issuer: named.to_owned(),
            authorization_endpoint: endpoint("authorization_endpoint")
                .ok_or("the authorization server metadata has no authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")
                .ok_or("the authorization server metadata has no token_endpoint")?,
            registration_endpoint: endpoint("registration_endpoint"),
            metadata,
        });
    }
    Ok(AuthorizationServer {
        issuer: issuer.to_owned(),
        authorization_endpoint: format!("{base}/authorize"),
        token_endpoint: format!("{base}/token"),
        registration_endpoint: Some(format!("{base}/register")),
        metadata: Value::Null,
    })
}

/// How a client may authenticate at the token endpoint, as the server's metadata says.
pub(super) fn auth_methods(server: &AuthorizationServer) -> Vec<&str> {
    server.metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["client_secret_basic"])
}

/// A JSON object at `url` (`what` names it), or `None` when there is none to read there; a
/// document over the size limit is an error.
async fn get_json(http: &Http, url: &str, what: &str) -> Result<Option<Value>, String> {
    let Ok(response) = http.client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await else {
        return Ok(None);
    };
    if !response.status().is_success() {
        return Ok(None);
    }
    let body = http.body(response, &format!("{what} at {}", http.url(url))).await?;
    Ok(serde_json::from_slice(&body).ok().filter(Value::is_object))
}

/// A URL's origin: scheme, host and port.
pub(super) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_quoted_and_bare_values() {
        let c = parse_challenge(
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://x.test/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(c.resource_metadata.as_deref(), Some("https://x.test/.well-known/oauth-protected-resource/mcp"));
        let bare = parse_challenge("Bearer realm=mcp, scope=read");
        assert_eq!(bare.scope.as_deref(), Some("read"));
        assert_eq!(parse_challenge("Bearer"), Challenge::default());
    }
}
