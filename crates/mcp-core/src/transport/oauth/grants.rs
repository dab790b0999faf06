//! Getting a token: the authorization code grant with PKCE (S256) for a user, and the grants
//! without one (client credentials, JWT bearer with a workload identity or an ID-JAG from the
//! enterprise's identity provider), all through one token request.

use base64::Engine as _;
use reqwest::Url;
use serde_json::Value;
use sha2::Digest as _;

use super::discovery::{AuthorizationServer, auth_methods};
use super::dpop::DpopKey;
use super::registration::Registered;
use super::{EnterpriseIdentity, OAuthConfig};
use crate::transport::http_client::Http;

/// What the token endpoint granted.
pub(super) struct Token {
    pub(super) access: String,
    pub(super) refresh: Option<String>,
    /// The scope granted, when the answer says.
    pub(super) scope: Option<String>,
}

/// The token of a grant without a user, when the configuration asks for one: the JWT bearer
/// grant (with the configured assertion, or an ID-JAG for the enterprise's user) or the client
/// credentials grant. `None`: the user has to authorize.
pub(super) async fn without_user(
    http: &Http,
    config: &OAuthConfig,
    server: &AuthorizationServer,
    resource: String,
    scope: Option<&str>,
    dpop: Option<&DpopKey>,
) -> Result<Option<Token>, String> {
    let assertion = match (&config.enterprise, &config.jwt_bearer_assertion) {
        (Some(identity), _) => Some(identity_assertion_grant(http, identity, &server.issuer, &resource).await?),
        (None, Some(assertion)) => Some(assertion.clone()),
        (None, None) => None,
    };
    let direct = match assertion {
        Some(assertion) => Some((
            Registered {
                id: config.client_id.clone().unwrap_or_default(),
                secret: config.client_secret.clone(),
                method: if config.client_secret.is_some() { "client_secret_basic" } else { "none" }.into(),
                key_pem: None,
            },
            vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()), ("assertion", assertion)],
        )),
        None if config.client_credentials => {
            let id = config.client_id.clone().ok_or("the client credentials grant needs a configured client id")?;
            let method = if config.private_key_pem.is_some() {
                "private_key_jwt"
            } else if auth_methods(server).contains(&"client_secret_basic") {
                "client_secret_basic"
            } else {
                "client_secret_post"
            };
            let client = Registered {
                id,
                secret: config.client_secret.clone(),
                method: method.into(),
                key_pem: config.private_key_pem.clone(),
            };
            Some((client, vec![("grant_type", "client_credentials".to_owned())]))
        }
        None => None,
    };
    let Some((client, mut form)) = direct else { return Ok(None) };
    form.push(("resource", resource));
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    token_request(http, server, &client, form, dpop).await.map(Some)
}

/// The authorization code grant: the user is sent to the authorization endpoint with a PKCE
/// challenge and comes back with a code, whose response is checked (`state`, `iss`) before the
/// code is exchanged.
pub(super) async fn authorization_code(
    http: &Http,
    config: &OAuthConfig,
    server: &AuthorizationServer,
    client: &Registered,
    resource: String,
    scope: Option<&str>,
    dpop: Option<&DpopKey>,
) -> Result<Token, String> {
    let verifier = format!("{}{}", crate::random_id(), crate::random_id());
    let challenge_s256 =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = crate::random_id();
    let mut url = Url::parse(&server.authorization_endpoint)
        .map_err(|e| format!("the authorization endpoint is not a URL: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &config.redirect_uri)
            .append_pair("code_challenge", &challenge_s256)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("resource", &resource);
        if let Some(scope) = scope {
            q.append_pair("scope", scope);
        }
    }
    let back = config.authorizer.authorize(url.as_str()).await?;
    let back = Url::parse(&back).map_err(|e| format!("the authorization redirect is not a URL: {e}"))?;
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(error) = param("error") {
        let detail = param("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        return Err(format!("the authorization server refused: {error}{detail}"));
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err("the authorization response's state does not match the request (possible CSRF)".into());
    }
    // RFC 9207: the response names its issuer; it must be the one we asked.
    let iss_supported = server.metadata["authorization_response_iss_parameter_supported"].as_bool() == Some(true);
    match param("iss") {
        Some(iss) if iss != server.issuer => {
            return Err(format!("the authorization response comes from issuer {iss}, not {}", server.issuer));
        }
        None if iss_supported => {
            return Err("the authorization server promised an `iss` parameter and sent none".into());
        }
        _ => {}
    }
    let code = param("code").ok_or("the authorization response carries no code")?;

    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", config.redirect_uri.clone()),
        ("code_verifier", verifier),
        ("resource", resource),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    token_request(http, server, client, form, dpop).await
}

/// A token from the token endpoint, the client authenticated as it registered.
async fn token_request(
    http: &Http,
    server: &AuthorizationServer,
    client: &Registered,
    mut form: Vec<(&str, String)>,
    dpop: Option<&DpopKey>,
) -> Result<Token, String> {
    let mut request = http.client.post(&server.token_endpoint);
    let shown = http.url(&server.token_endpoint);
    match (client.method.as_str(), &client.secret) {
        ("client_secret_basic", Some(secret)) => {
            let encode = |s: &str| url_form_encode(s);
            let pair = format!("{}:{}", encode(&client.id), encode(secret));
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", secret.clone()));
        }
        ("private_key_jwt", _) => {
            let pem = client.key_pem.as_deref().ok_or("private_key_jwt needs a private key")?;
            form.push(("client_id", client.id.clone()));
            form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
            form.push(("client_assertion", es256_assertion(pem, &client.id, &server.issuer)?));
        }
        _ if !client.id.is_empty() => form.push(("client_id", client.id.clone())),
        _ => {}
    }
    let body = form_body(form.iter().map(|(k, v)| (*k, v.as_str())));
    let request = request.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    // With DPoP, a proof rides along; a `use_dpop_nonce` answer is retried once with the nonce.
    let mut nonce: Option<String> = None;
    let answer = loop {
        let mut attempt = request.try_clone().ok_or("the token request cannot be repeated")?;
        if let Some(key) = dpop {
            attempt = attempt.header("DPoP", key.proof("POST", &server.token_endpoint, None, nonce.as_deref())?);
        }
        let response = attempt.send().await.map_err(|e| format!("asking {shown} for a token: {}", http.error(e)))?;
        let status = response.status();
        let offered = response.headers().get("DPoP-Nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let answer = json_body(http, response, &format!("the token answer of {shown}")).await?;
        if status.is_success() {
            break answer;
        }
        if dpop.is_some() && nonce.is_none() && answer["error"] == "use_dpop_nonce" && offered.is_some() {
            nonce = offered;
            continue;
        }
        let description = answer["error_description"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
        return Err(format!("the token endpoint refused ({status}): {}{description}", answer["error"]));
    };
    let access = answer["access_token"].as_str().ok_or("the token answer has no access_token")?.to_owned();
    Ok(Token {
        access,
        refresh: answer["refresh_token"].as_str().map(str::to_owned),
        scope: answer["scope"].as_str().map(str::to_owned),
    })
}

/// Trades the user's ID token for an identity assertion grant for `audience` (RFC 8693).
async fn identity_assertion_grant(
    http: &Http,
    identity: &EnterpriseIdentity,
    audience: &str,
    resource: &str,
) -> Result<String, String> {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", identity.id_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:id-jag"),
        ("audience", audience),
        ("resource", resource),
        ("client_id", identity.client_id.as_str()),
    ];
    let body = form_body(form.iter().copied());
    let shown = http.url(&identity.token_endpoint);
    let response = http
        .client
        .post(&identity.token_endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("exchanging the identity token at {shown}: {}", http.error(e)))?;
    let status = response.status();
    let answer = json_body(http, response, &format!("the identity provider's answer at {shown}")).await?;
    if !status.is_success() {
        return Err(format!("the identity provider refused the exchange ({status}): {}", answer["error"]));
    }
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the identity provider returned no assertion".into())
}

/// A client assertion (RFC 7523): a JWT about `client_id`, for `audience`, signed with ES256.
fn es256_assertion(pem: &str, client_id: &str, audience: &str) -> Result<String, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the private key is not PEM: {e}"))?;
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        .map_err(|e| format!("the private key is not a PKCS#8 P-256 key: {e}"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"ES256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 300, "jti": crate::random_id(),
    });
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature = key.sign(&rng, input.as_bytes()).map_err(|_| "signing the client assertion failed".to_owned())?;
    Ok(format!("{input}.{}", b64(signature.as_ref())))
}

/// A response body (`what` names it) as JSON (`null` when it is not JSON: the status then says
/// what happened), read up to the size limit.
pub(super) async fn json_body(http: &Http, response: reqwest::Response, what: &str) -> Result<Value, String> {
    let bytes = http.body(response, what).await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

/// A form body from its fields.
fn form_body<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    fields.map(|(k, v)| format!("{k}={}", url_form_encode(v))).collect::<Vec<_>>().join("&")
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn url_form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_url_encoded() {
        assert_eq!(url_form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
