//! Integration tests of `mcptk` and of `mcp-core` against real MCP peers: the Python `mcp` SDK
//! (1.x and 2.x), the OpenAI Agents SDK, the TypeScript SDK 1.x and the MCP Inspector CLI, and
//! npm's reference `server-everything`; and of what `mcptk serve` answers against the
//! specification's JSON Schemas (`tests/schema/`). The peers are installed by `cargo xtask setup`
//! (which `cargo xtask test` and CI run first).

mod agent;
mod cli;
mod cli_ux;
mod cluster;
mod console;
mod deploy;
mod docker;
mod gateway;
mod github;
mod http;
mod k8s;
mod memory;
mod otel;
mod perplexity;
mod python_clients;
mod real_clients;
mod real_servers;
mod reload;
mod replicas;
mod schemas;
#[path = "../../../../tests/support/services.rs"]
mod services;
mod support;
