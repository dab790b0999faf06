//! Integration tests of `mcp-k8s`. The Kubernetes API is a FAKE (`fake.rs`): no real API server
//! can run here. The real Go server (npm `kubernetes-mcp-server` 0.0.67 from `tests/node`) and
//! our native server are both pointed at it through a kubeconfig, and must agree.

mod agree;
mod exec;
mod failures;
mod fake;
mod safety;
mod support;
mod wrappers;
