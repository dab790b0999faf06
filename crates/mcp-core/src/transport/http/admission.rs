//! Admission: who may talk to the endpoint at all. A foreign `Origin` or `Host` is refused
//! (against DNS rebinding), then the bearer token names the caller's principal.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::App;
use super::output::rpc_error;
use crate::protocol::ErrorObject;

impl App {
    /// Origin and Host checks (DNS rebinding), then the bearer token. Returns the principal.
    pub(super) fn admit(&self, headers: &HeaderMap) -> Result<Arc<str>, Box<Response>> {
        let forbidden =
            |what: String| Box::new(rpc_error(StatusCode::FORBIDDEN, None, ErrorObject::invalid_request(what)));
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = origin.split("://").nth(1).map(host_of).unwrap_or("");
            if !loopback(host) && !self.options.allowed_origins.iter().any(|o| o == origin) {
                return Err(forbidden(format!("origin {origin} is not allowed")));
            }
        }
        if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
            let name = host_of(host);
            // An address written out (a pod's IP from a kubelet or Prometheus) cannot come from DNS
            // rebinding, which needs a name the attacker resolves: only names are checked.
            let literal = name.parse::<std::net::IpAddr>().is_ok();
            let listed = self.options.allowed_hosts.iter().any(|h| h == "*" || h == name || h == host);
            if !loopback(name) && !literal && !listed {
                return Err(forbidden(format!("host {host} is not allowed")));
            }
        }
        if self.principals.is_empty() {
            return Ok(self.anonymous.clone());
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let principal = presented.and_then(|token| {
            self.principals
                .iter()
                .find(|(known, _)| constant_time_eq(known.as_bytes(), token.as_bytes()))
                .map(|(_, p)| p.clone())
        });
        principal.ok_or_else(|| {
            let mut response = rpc_error(
                StatusCode::UNAUTHORIZED,
                None,
                ErrorObject::invalid_request("a valid bearer token is required"),
            );
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Box::new(response)
        })
    }
}

fn host_of(value: &str) -> &str {
    // `host:port`, `[v6]:port`, or a bare host.
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    value.rsplit_once(':').map_or(value, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { value })
}

fn loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
