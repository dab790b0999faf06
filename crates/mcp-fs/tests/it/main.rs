//! Integration tests of mcp-fs: the hostile-path suite against the native server, and the typed
//! wrappers against npm's reference server and the native backend side by side.

mod agree;
mod hostile;
mod paths;
mod support;
