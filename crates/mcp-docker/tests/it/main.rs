//! Tests against a real engine: Podman's Docker-compatible API, started by `tests/services.sh`
//! (`MCPTK_TEST_DOCKER_HOST`, with the busybox image it imports as `MCPTK_TEST_DOCKER_IMAGE`),
//! and the plain-HTTP registry it starts (`MCPTK_TEST_REGISTRY`).

mod agree;
mod engine;
mod prompt;
mod registry;
mod safety;
#[path = "../../../../tests/support/services.rs"]
mod services;
mod support;
mod wrappers;
