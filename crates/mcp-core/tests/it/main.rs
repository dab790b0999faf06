//! Integration tests of mcp-core: one binary, one module per area.

mod engine;
mod faults;
mod golden;
mod pipeline;
mod tasks;
