//! Integration tests of mcp-github: the typed wrappers against GitHub's Go server (0.12.1) and
//! against the native backend, both talking to a loopback stand-in for GitHub's API that
//! replays real recorded answers where it has them (see `fixture`).

mod agree;
#[cfg(feature = "app")]
mod app;
mod copilot_and_more;
mod docs;
mod fixture;
mod granular;
mod hardening;
mod large;
mod projects;
mod repos_and_issue_links;
mod rules;
mod security;
mod support;
