//! The subcommands of the `fieldline` binary, one module each, each with its clap
//! arguments and a `run` function.

pub mod agro;
pub mod bench;
pub mod demo;
pub mod detect;
pub mod forecast;
pub mod influx;
pub mod passwd;
pub mod serve;
pub mod simulate;
pub mod token;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner-free progress bar in the style of the other long commands.
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
