//! DPoP (RFC 9449): a key the token is bound to, and the proof signed with it that each request
//! carries, so a stolen token is useless without the key.

use base64::Engine as _;
use reqwest::Url;
use serde_json::Value;
use sha2::Digest as _;

use super::discovery::bare_url;

/// A DPoP key (RFC 9449): each request carries a fresh proof signed with it, so a stolen token is
/// useless without the key.
pub struct DpopKey {
    key: ring::signature::EcdsaKeyPair,
    jwk: Value,
    rng: ring::rand::SystemRandom,
    /// The nonce the resource server asked proofs to carry.
    pub(crate) nonce: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh P-256 key.
    pub(super) fn generate() -> Result<Self, String> {
        use ring::signature::KeyPair as _;
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 =
            ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| "generating a DPoP key failed")?;
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .map_err(|_| "loading the DPoP key failed".to_owned())?;
        // An uncompressed P-256 point: 0x04, then x and y.
        let point = key.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        Ok(Self { key, jwk, rng, nonce: std::sync::Mutex::default() })
    }

    /// A proof for one request (`htm`, `htu` without query or fragment), bound to the access
    /// token when there is one (`ath`), carrying `nonce` when the server asked for one.
    pub(crate) fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, String> {
        let htu =
            Url::parse(url).map_or_else(|_| url.split(['?', '#']).next().unwrap_or(url).to_owned(), |u| bare_url(&u));
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = serde_json::json!({"jti": crate::random_id(), "htm": method, "htu": htu, "iat": now});
        if let Some(token) = access_token {
            claims["ath"] = Value::String(b64(&sha2::Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_owned());
        }
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature =
            self.key.sign(&self.rng, input.as_bytes()).map_err(|_| "signing a DPoP proof failed".to_owned())?;
        Ok(format!("{input}.{}", b64(signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credential_of_the_url_travels_in_the_resource_or_a_dpop_proof() {
        let url = "https://user:pw@mcp.example.com/mcp?key=k3y#frag";
        assert_eq!(bare_url(&Url::parse(url).expect("a URL")), "https://mcp.example.com/mcp");
        let proof = DpopKey::generate().expect("a key").proof("POST", url, None, None).expect("a proof");
        let claims = proof.split('.').nth(1).expect("claims");
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).expect("base64");
        let claims: Value = serde_json::from_slice(&claims).expect("JSON");
        assert_eq!(claims["htu"], "https://mcp.example.com/mcp");
    }
}
