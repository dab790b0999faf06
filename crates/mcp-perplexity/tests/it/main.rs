//! Integration tests of mcp-perplexity: the typed wrappers against the npm server
//! (`@perplexity-ai/mcp-server` 1.2.1) and against the native backend, both talking to a
//! loopback stand-in for Perplexity's API (no real API can be reached from a test).

mod agree;
mod errors;
mod fixture;
mod support;
