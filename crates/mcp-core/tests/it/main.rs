//! Integration tests of mcp-core: one binary, one module per area.

mod engine;
mod faults;
mod golden;
mod logs;
mod pipeline;
mod tasks;
