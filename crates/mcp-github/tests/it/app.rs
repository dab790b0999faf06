//! GitHub App installation tokens (feature `app`): the native server signs a JWT as the app,
//! trades it for an installation token at the fixture, and calls with that token. The app's key
//! is made for the test by the `openssl` command; it never shows.

use mcp_github::GitHub;
use mcp_github::native::GitHubConfig;

use crate::fixture::{APP_ID, APP_INSTALLATION, INSTALLATION_TOKEN, OWNER, REPO};
use crate::support::{held, native};

#[tokio::test]
async fn an_app_installation_token_is_minted_and_used() {
    let dir = std::env::temp_dir().join(format!("mcptk-github-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let key_path = dir.join("app.pem");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key_path)
        .arg("2048")
        .output()
        .expect("the openssl command runs (Debian package openssl)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = std::fs::read_to_string(&key_path).expect("the key");

    let (fixture, _guard) = held().await;
    let path = key_path.display().to_string();
    let vars = |name: &str| match name {
        "GITHUB_APP_ID" => Some(APP_ID.to_string()),
        "GITHUB_APP_INSTALLATION_ID" => Some(APP_INSTALLATION.to_string()),
        "GITHUB_APP_PRIVATE_KEY_PATH" => Some(path.clone()),
        "GITHUB_HOST" => Some(fixture.host().to_owned()),
        _ => None,
    };
    let config = GitHubConfig::from_vars(vars).expect("an app configuration needs no token");
    let shown = format!("{config:?}");
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains(key.lines().nth(1).unwrap_or("x")), "{shown}");
    let github = GitHub::new(native(config).await);
    let branches = github.list_branches(OWNER, REPO).await.expect("listed with the installation token");
    assert_eq!(branches.len(), 2);
    let seen = fixture.take_seen();
    let mint = seen.iter().position(|s| s.path.starts_with("/app/installations/")).expect("a token was minted");
    let call = seen.iter().position(|s| s.path.ends_with("/branches")).expect("the call was made");
    assert!(mint < call, "{seen:?}");
    assert_eq!(seen[call].authorization.as_deref(), Some(format!("Bearer {INSTALLATION_TOKEN}").as_str()));
    let _ = std::fs::remove_dir_all(&dir);
}
