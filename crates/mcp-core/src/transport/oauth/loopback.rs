//! The loopback redirect listener: the interactive [`Authorizer`] prints the authorization URL
//! and catches the browser coming back on `http://127.0.0.1:PORT/callback`.

use super::Authorizer;

/// The interactive way: prints the authorization URL for the user to open, and catches the
/// browser coming back on a loopback port (`http://127.0.0.1:PORT/callback`).
#[derive(Debug)]
pub struct LoopbackAuthorizer {
    listener: std::sync::Mutex<Option<std::net::TcpListener>>,
    port: u16,
    /// How long to wait for the user.
    pub patience: std::time::Duration,
}

impl LoopbackAuthorizer {
    /// Listens on `127.0.0.1:port` (0: any free port) for the redirect.
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: std::sync::Mutex::new(Some(listener)),
            port,
            patience: std::time::Duration::from_secs(300),
        })
    }

    /// The redirect URI to register and send.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }
}

#[async_trait::async_trait]
impl Authorizer for LoopbackAuthorizer {
    async fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let std_listener = {
            let guard = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.as_ref().ok_or("the loopback listener is gone")?.try_clone().map_err(|e| e.to_string())?
        };
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        // The one thing this authorizer must say to the person at the terminal.
        eprintln!("To authorize access, open this URL in a browser:\n  {authorization_url}");
        let wait = async {
            loop {
                let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let mut buffer = vec![0u8; 8192];
                let n = stream.read(&mut buffer).await.map_err(|e| e.to_string())?;
                let request = String::from_utf8_lossy(&buffer[..n]);
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                if !target.starts_with("/callback") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    continue;
                }
                let page = "<html><body>Authorization received; you can close this window.</body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                return Ok(format!("http://127.0.0.1:{}{target}", self.port));
            }
        };
        tokio::time::timeout(self.patience, wait)
            .await
            .map_err(|_| format!("nobody completed the authorization within {:?}", self.patience))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_loopback_authorizer_catches_the_browser_coming_back() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let authorizer = Arc::new(LoopbackAuthorizer::bind(0).expect("binds"));
        let uri = authorizer.redirect_uri();
        let waiting = {
            let authorizer = authorizer.clone();
            tokio::spawn(async move { authorizer.authorize("https://as.test/authorize?x=1").await })
        };
        let port: u16 =
            uri.trim_start_matches("http://127.0.0.1:").trim_end_matches("/callback").parse().expect("port");
        // A stray request first (a favicon), then the redirect.
        for path in ["/favicon.ico", "/callback?code=abc&state=s1"] {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
            stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.expect("writes");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.expect("reads");
            assert!(
                answer.starts_with(if path.starts_with("/callback") { "HTTP/1.1 200" } else { "HTTP/1.1 404" }),
                "{answer}"
            );
        }
        let back = waiting.await.expect("joins").expect("authorized");
        assert_eq!(back, format!("http://127.0.0.1:{port}/callback?code=abc&state=s1"));
    }
}
