//! The subcommands of the `gomon` binary.

pub mod probe;
pub mod run;
pub mod snapshot;
