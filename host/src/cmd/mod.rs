//! The subcommands of the `gomon` binary.

pub mod plugin;
pub mod probe;
pub mod run;
pub mod snapshot;
