//! Integration tests of mcp-shell's native server: the injection suite and real command runs.

mod injection;
mod running;
mod support;
