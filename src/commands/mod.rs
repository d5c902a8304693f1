//! The subcommands of the `fieldline` binary, one module each, each with its clap
//! arguments and a `run` function.

pub mod agro;
pub mod bench;
pub mod demo;
pub mod detect;
pub mod forecast;
pub mod passwd;
pub mod serve;
pub mod simulate;
pub mod token;
