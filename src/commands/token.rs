//! `fieldline token`: makes a new API token and the `[[http.tokens]]` entry that holds only
//! its SHA-256, so the configuration file never holds the token itself.

use std::io::Write;

use crate::config::{hex, random_secret, sha256};
use anyhow::bail;
use clap::Args;

const AFTER_HELP: &str = "\
Prints a new random token (256 bits, hex) for the client, then the entry to add to the
[http] section of fieldline.toml, which holds only the token's SHA-256:

  $ fieldline token --name scada-bridge --scope write
  # the token, for the client (Authorization: Token ...); it is not stored anywhere:
  3f9c...
  # for fieldline.toml, [http]:
  tokens = [
    { name = \"scada-bridge\", scope = \"write\", token_sha256 = \"8d1e...\" },
  ]

Keep the token where the client reads it; fieldline only ever sees its hash.";

/// `fieldline token`
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct TokenArgs {
    /// Who holds the token (shown in logs and on the dashboard).
    #[arg(long)]
    name: String,
    /// read (queries) or write (queries and writes).
    #[arg(long, value_parser = ["read", "write"], default_value = "read")]
    scope: String,
    /// The token may also write the measurements fieldline keeps for itself (forecast, _alert, ...).
    #[arg(long)]
    write_reserved: bool,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    if args.name.is_empty() || args.name.contains(['"', '\\', '\n']) {
        bail!("--name must be non-empty and hold no quotes, backslashes or line breaks");
    }
    let token = random_secret();
    let digest = hex(&sha256(token.as_bytes()));
    let scope = &args.scope;
    let reserved = if args.write_reserved { ", write_reserved = true" } else { "" };
    let mut out = std::io::stdout().lock();
    writeln!(out, "# the token, for the client (Authorization: Token ...); it is not stored anywhere:")?;
    writeln!(out, "{token}")?;
    writeln!(out, "# for fieldline.toml, [http]:")?;
    writeln!(out, "tokens = [")?;
    writeln!(out, "  {{ name = \"{}\", scope = \"{scope}\", token_sha256 = \"{digest}\"{reserved} }},", args.name)?;
    writeln!(out, "]")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    #[test]
    fn a_configured_sha256_matches_its_token_only() {
        let token = "3f9c0b7e";
        let entry = TokenConfig { token_sha256: Some(hex(&sha256(token.as_bytes()))), ..Default::default() };
        let plain = TokenConfig { token: token.into(), ..Default::default() };
        assert_eq!(entry.digest(), plain.digest());
        assert_ne!(entry.digest(), Some(sha256(b"3f9c0b7f")));
        // The digest of "abc" from FIPS 180-2.
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
