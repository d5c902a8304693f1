//! `fieldline passwd`: hashes an MQTT user's password for `[[mqtt.users]] password_hash`,
//! so the configuration file never holds the password itself.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::Args;
use fieldline_ingest::sources::mqtt_endpoint::hash_password;

const AFTER_HELP: &str = "\
Reads the password from standard input: typed at a terminal (not echoed, asked twice), or
piped (the first line; a trailing newline is not part of the password). Prints an argon2id
PHC string (random salt, 19 MiB, 2 passes) for fieldline.toml:

  $ fieldline passwd > wt01.hash        # or: printf '%s' \"$PW\" | fieldline passwd
  [[mqtt.users]]
  username = \"wt01\"
  password_hash = \"$argon2id$v=19$m=19456,t=2,p=1$...\"
  publish = [\"fl/v1/+/wind_turbine/%u/#\"]";

/// `fieldline passwd`
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct PasswdArgs {}

pub fn run(_args: PasswdArgs) -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() { prompt()? } else { read_piped(std::io::stdin().lock())? };
    if password.is_empty() {
        bail!("empty password");
    }
    let hash = hash_password(password.as_bytes())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{hash}")?;
    out.flush()?;
    Ok(())
}

/// The first line of piped input, without its line ending; more lines are refused so a
/// file with several passwords is not half-used by mistake.
fn read_piped(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut text = String::new();
    input.read_to_string(&mut text).context("reading the password from standard input")?;
    let line = text.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&text);
    if line.contains('\n') {
        bail!("standard input holds more than one line; give one password");
    }
    Ok(line.to_string())
}

/// Asks twice at the terminal with echo off.
fn prompt() -> anyhow::Result<String> {
    let _echo = EchoOff::new();
    let ask = |label: &str| -> anyhow::Result<String> {
        eprint!("{label}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        eprintln!();
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask("MQTT password: ")?;
    if ask("Repeat: ")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// Turns terminal echo off for its lifetime (a no-op when stdin is no terminal).
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own; failure leaves echo on.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &quiet) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piped_input_is_one_line() {
        assert_eq!(read_piped(&b"s3cret\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_piped(&b"s3cret\r\n"[..]).unwrap(), "s3cret");
        assert_eq!(read_piped(&b" spaces kept "[..]).unwrap(), " spaces kept ");
        assert!(read_piped(&b"a\nb\n"[..]).is_err());
    }
}
