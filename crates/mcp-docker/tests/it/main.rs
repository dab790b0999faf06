//! Tests against a real engine: Podman's Docker-compatible API, started by `tests/services.sh`
//! (`MCPTK_TEST_DOCKER_HOST`, with the busybox image it imports as `MCPTK_TEST_DOCKER_IMAGE`).

mod agree;
mod engine;
mod safety;
mod support;
mod wrappers;
