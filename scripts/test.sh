#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need when it is
# missing, then runs fmt, clippy and the whole test suite. Works as root in a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)   # the dashboard's browser test
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)   # Chinese in its screenshots
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)   # bench query's peer
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)   # tests/e2e/deploy.rs parses deploy/*.yaml
[ -x /usr/sbin/sshd ] || need+=(openssh-server)   # tests/e2e/efile_sftp.rs: E files pushed over SFTP
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked
fi
