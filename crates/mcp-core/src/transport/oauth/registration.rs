//! Who the client is at an authorization server: a pre-registered client, a Client ID Metadata
//! Document URL, or a dynamic registration (RFC 7591).

use super::OAuthConfig;
use super::discovery::{AuthorizationServer, auth_methods};
use super::grants::json_body;
use crate::transport::http_client::Http;

/// A client as the token endpoint knows it, and how it authenticates there.
#[derive(Clone)]
pub(super) struct Registered {
    pub(super) id: String,
    pub(super) secret: Option<String>,
    pub(super) method: String,
    pub(super) key_pem: Option<String>,
}

/// The configured client, the metadata document's URL where the server takes one, else a new
/// registration.
pub(super) async fn register(
    http: &Http,
    config: &OAuthConfig,
    server: &AuthorizationServer,
) -> Result<Registered, String> {
    let methods = auth_methods(server);
    if let Some(id) = &config.client_id {
        let method = match &config.client_secret {
            None => "none",
            Some(_) if methods.contains(&"client_secret_basic") => "client_secret_basic",
            Some(_) => "client_secret_post",
        };
        return Ok(Registered {
            id: id.clone(),
            secret: config.client_secret.clone(),
            method: method.into(),
            key_pem: None,
        });
    }
    if server.metadata["client_id_metadata_document_supported"].as_bool() == Some(true)
        && let Some(url) = &config.client_metadata_url
    {
        return Ok(Registered { id: url.clone(), secret: None, method: "none".into(), key_pem: None });
    }
    let endpoint = server
        .registration_endpoint
        .as_ref()
        .ok_or("the authorization server offers no registration and no client id is configured")?;
    let method =
        if methods.contains(&"none") { "none" } else { methods.first().copied().unwrap_or("client_secret_basic") };
    let body = serde_json::json!({
        "client_name": config.client_name,
        "redirect_uris": [config.redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": "native",
    });
    let shown = http.url(endpoint);
    let response = http
        .client
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("registering with {shown}: {}", http.error(e)))?;
    let status = response.status();
    let answer = json_body(http, response, &format!("the registration answer of {shown}")).await?;
    if !status.is_success() {
        return Err(format!("registration at {shown} was refused ({status}): {}", answer["error"]));
    }
    Ok(Registered {
        id: answer["client_id"].as_str().ok_or("the registration answer has no client_id")?.to_owned(),
        secret: answer["client_secret"].as_str().map(str::to_owned),
        method: answer["token_endpoint_auth_method"].as_str().unwrap_or(method).to_owned(),
        key_pem: None,
    })
}
