#!/usr/bin/env bash
# Side-by-side benchmark: `fieldline forecast backtest` (release build) against a Python
# LightGBM pipeline (bench/forecast/lightgbm_peer.py) on the same files, splits, leads and scoring.
# The venv lives outside the repo (FIELDLINE_BENCH_VENV, default ~/.cache/fieldline-bench/venv).
# Usage: bench/forecast/run.sh [DATA_DIR]   (default: ../shared/data next to the repo);
# FIELDLINE_BIN=path skips the cargo build and uses that binary.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$repo/../shared/data}"
venv="${FIELDLINE_BENCH_VENV:-$HOME/.cache/fieldline-bench/venv}"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet lightgbm pandas numpy
fi
if [ -z "${FIELDLINE_BIN:-}" ]; then
  (cd "$repo" && cargo build --release --quiet --bin fieldline)
fi
fieldline="${FIELDLINE_BIN:-$target/release/fieldline}"

gef=(--input "$data/gefcom2014-solar-zone1.csv" --kind pv --capacity 1.0 --target power_norm
     --lat -35.3 --lon 149.1 --tz +10:00)
t1=(--input "$data/t1-wind-turbine-2018.csv" --kind wind --capacity 3600 --target power_kw
    --measured wind_speed_ms,theoretical_power_kw,wind_dir_deg --tz +03:00)

run_pair() {
  local name="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$fieldline" forecast backtest "$@" --output "$out/$name.ours.json" > /dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$out/$name.ours.seconds"
  # The peer takes the same flags; its time includes interpreter start-up and imports.
  start=$(date +%s.%N)
  "$venv/bin/python" "$repo/bench/forecast/lightgbm_peer.py" "$@" > "$out/$name.lgb.json"
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$out/$name.lgb.seconds"
}

run_pair gefcom-zone1-pv "${gef[@]}"
run_pair t1-wind "${t1[@]}"

"$venv/bin/python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print(f"{'dataset':<16} {'horizon':<14} {'fieldline':>9} {'LightGBM':>9} {'persist.':>9} {'ours s':>7} {'LGB s':>7}")
for name in ("gefcom-zone1-pv", "t1-wind"):
    ours = json.load(open(f"{out}/{name}.ours.json"))
    lgb = json.load(open(f"{out}/{name}.lgb.json"))
    ours_s = float(open(f"{out}/{name}.ours.seconds").read())
    lgb_s = float(open(f"{out}/{name}.lgb.seconds").read())
    for label, o, l, p in [
        ("ultra-short 1h", ours["ultra_short"]["accuracy_1h"], lgb["ultra_short"]["accuracy_1h"], ours["ultra_short"]["persistence_accuracy_1h"]),
        ("ultra-short 4h", ours["ultra_short"]["accuracy_4h"], lgb["ultra_short"]["accuracy_4h"], ours["ultra_short"]["persistence_accuracy_4h"]),
        ("day-ahead", ours["day_ahead"]["accuracy"], lgb["day_ahead"]["accuracy"], ours["day_ahead"]["persistence_accuracy"]),
    ]:
        print(f"{name:<16} {label:<14} {o:>9.4f} {l:>9.4f} {p:>9.4f} {ours_s:>7.2f} {lgb_s:>7.2f}")
    worse = [x["lead_minutes"] for x in ours["ultra_short"]["leads"] if x["accuracy"] < x["persistence_accuracy"]]
    print(f"{'':<16} leads worse than persistence: {worse or 'none'}; speed-up {lgb_s / ours_s:.1f}x")
PY
