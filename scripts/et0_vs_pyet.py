#!/usr/bin/env python3
"""`fieldline agro et0` against pyet's `pm_fao56` on a simulated year of Heze weather.

Both implement FAO-56's daily Penman–Monteith ET0 (Allen et al. 1998, eq. 6). This script
simulates a met station on Heze's climate for a year (`fieldline simulate`, a scenario with
that one station and the climate of sim/src/small-farm.toml), turns its minute readings into
the daily inputs FAO-56 asks for, and computes every day's ET0 twice: with the fieldline
binary (`agro et0 --json`, one call per day) and with pyet (one vectorised call). It prints
how far apart they are and exits

    0  every day agrees within the tolerance (0.05 mm/day unless --tolerance says otherwise)
    1  some day does not (or fieldline refused a day's inputs)
    2  setup failed: no binary, no venv/pyet (needs PyPI the first time), simulation failed

pyet is installed, with pandas and numpy, into a venv under the user's cache directory
($XDG_CACHE_HOME or ~/.cache)/fieldline/pyet-venv, created on the first run; the script then
re-runs itself with that venv's python (the way `fieldline bench query` keeps DuckDB in
bench-venv).

Daily inputs, per local (scenario time zone, UTC+8) day of minute readings:
  Tmin, Tmax    extremes of air_temp_c (°C)
  RHmin, RHmax  extremes of rh_pct (%)
  wind          mean of wind_speed_ms, measured at 10 m (sim/src/met.rs: `site.wind_at(10.0)`);
                fieldline gets --wind-height 10, pyet the 2 m value of FAO-56 eq. 47
  Rs            ghi_wm2 (W/m², one instantaneous reading per minute) integrated over the day:
                Σ max(ghi, 0) · 60 s / 10⁶ = MJ/m²/day; the pyranometer's small negative
                night offset is counted as 0
  latitude, elevation  the scenario's (the site inherits the reference point); pyet takes
                the latitude in radians
Both compute atmospheric pressure from the elevation (eq. 7); the measured pressure is unused.

Usage: python3 scripts/et0_vs_pyet.py [--fieldline PATH] [--seed N] [--days N] [--tolerance MM]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_SCENARIO = ROOT / "sim" / "src" / "small-farm.toml"
# sim/src/met.rs: the met station's anemometer is at 10 m (`site.wind_at(10.0)`).
WIND_HEIGHT_M = 10.0
REEXEC_MARK = "FIELDLINE_PYET_VENV_REEXEC"
SITE, DEVICE = "heze-met", "met"


def fail(message: str, code: int = 2) -> None:
    print(f"et0_vs_pyet: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def progress(message: str) -> None:
    print(f"[{time.time() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


STARTED_ENV = "FIELDLINE_PYET_STARTED"
# Wall-clock start, carried across the re-exec into the venv so "took" counts the whole run.
STARTED = float(os.environ.get(STARTED_ENV) or time.time()) if os.environ.get(REEXEC_MARK) else time.time()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare `fieldline agro et0` with pyet.pm_fao56 on a simulated year of Heze weather.",
        epilog="Exit status: 0 agree, 1 some day differs by more than --tolerance, 2 setup error.",
    )
    parser.add_argument(
        "--fieldline",
        type=Path,
        help="fieldline binary (default: target/release/fieldline, then target/debug/fieldline)",
    )
    parser.add_argument("--seed", type=int, default=42, help="simulation seed (default 42)")
    parser.add_argument("--days", type=int, default=365, help="simulated days (default 365)")
    parser.add_argument("--start", default="2025-01-01", help="first simulated day, local time (default 2025-01-01)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest allowed |ΔET0| in mm/day (default 0.05)")
    parser.add_argument("--work-dir", type=Path, help="keep the scenario and simulated CSV here (default: a temp dir)")
    return parser.parse_args()


def find_binary(given: Path | None) -> Path:
    if given is not None:
        candidates = [given if given.is_absolute() else Path.cwd() / given]
    else:
        candidates = [ROOT / "target" / "release" / "fieldline", ROOT / "target" / "debug" / "fieldline"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
    fail(
        "no fieldline binary at " + " or ".join(str(p) for p in candidates)
        + " (build it with `cargo build`, or pass --fieldline PATH)"
    )
    raise AssertionError  # unreachable


# --- the venv --------------------------------------------------------------------------------


def venv_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or (
        os.path.join(os.environ["HOME"], ".cache") if os.environ.get("HOME") else None
    )
    if not cache:
        fail("neither XDG_CACHE_HOME nor HOME is set: nowhere to keep the pyet venv")
    return Path(cache) / "fieldline" / "pyet-venv"


def has_pyet(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import pyet, pandas"], capture_output=True)
    return probe.returncode == 0


def ensure_venv() -> Path:
    """The venv's python, with pyet installed; creates the venv on first use."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if has_pyet(python):
        return python
    progress(f"creating {venv} with pyet (once; needs PyPI) ...")
    created = subprocess.run([sys.executable, "-m", "venv", str(venv)])
    if created.returncode != 0:
        fail(f"`{sys.executable} -m venv {venv}` failed (apt-get install python3-venv)")
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "pyet"]
    )
    if installed.returncode != 0 or not has_pyet(python):
        fail(f"`pip install pyet` into {venv} failed (it needs PyPI the first time)")
    progress("pyet installed")
    return python


def reexec_in_venv() -> None:
    """Runs this script again with the venv's python, unless it already is that python."""
    venv = venv_dir()
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if os.environ.get(REEXEC_MARK):
        fail(f"re-ran in {venv} but sys.prefix is {sys.prefix}; remove {venv} and retry")
    python = ensure_venv()
    env = dict(os.environ, **{REEXEC_MARK: "1", STARTED_ENV: repr(STARTED)})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)


# --- the simulation --------------------------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def met_only_scenario(path: Path) -> dict:
    """Writes a scenario with one site holding only a met station, on small-farm's climate."""
    try:
        base = tomllib.loads(BASE_SCENARIO.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"cannot read the climate from {BASE_SCENARIO}: {e}")
    scenario = {
        "name": "et0-met-only",
        "timezone": base.get("timezone", "+08:00"),
        "latitude": base["latitude"],
        "longitude": base["longitude"],
        "altitude_m": base.get("altitude_m", 0.0),
    }
    lines = [f"# Written by scripts/et0_vs_pyet.py: {BASE_SCENARIO.name}'s place and climate, one met station."]
    lines += [f"{k} = {toml_value(v)}" for k, v in scenario.items()]
    lines += ["", "[climate]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in base["climate"].items()]
    lines += ["", "[[sites]]", f'name = "{SITE}"', f'met_station = {{ device = "{DEVICE}" }}', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return scenario


def simulate(binary: Path, scenario_path: Path, out: Path, args: argparse.Namespace) -> Path:
    command = [
        str(binary), "simulate", "--scenario", str(scenario_path), "--out", str(out), "--format", "csv",
        "--days", str(args.days), "--start", args.start, "--no-faults", "--seed", str(args.seed),
    ]
    progress(f"simulating {args.days} days of a Heze met station: {' '.join(command[1:])}")
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, FIELDLINE_LOG="warn"))
    if done.returncode != 0:
        fail(f"`fieldline simulate` failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    csv_path = out / "met_station.csv"
    if not csv_path.is_file():
        fail(f"`fieldline simulate` wrote no {csv_path}:\n{done.stdout}{done.stderr}")
    progress(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "simulated")
    return csv_path


def utc_offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


def daily_inputs(csv_path: Path, tz: timezone) -> tuple[list[dict], int, list[str]]:
    """Per local day: Tmin, Tmax, RHmin, RHmax, mean wind, Rs; also the cadence and skipped days."""
    days: dict[date, dict] = {}
    times: list[datetime] = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        needed = {"time", "site", "device", "ghi_wm2", "air_temp_c", "rh_pct", "wind_speed_ms"}
        if not needed <= set(reader.fieldnames or []):
            fail(f"{csv_path} lacks columns {sorted(needed - set(reader.fieldnames or []))}")
        for row in reader:
            if row["site"] != SITE or row["device"] != DEVICE:
                continue
            t = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
            if len(times) < 2:
                times.append(t)
            try:
                ghi, temp = float(row["ghi_wm2"]), float(row["air_temp_c"])
                rh, wind = float(row["rh_pct"]), float(row["wind_speed_ms"])
            except ValueError:
                continue  # a missing reading: the day will be short and skipped
            d = days.setdefault(
                t.astimezone(tz).date(),
                {"n": 0, "tmin": math.inf, "tmax": -math.inf, "rhmin": math.inf, "rhmax": -math.inf,
                 "wind_sum": 0.0, "ghi_sum": 0.0},
            )
            d["n"] += 1
            d["tmin"], d["tmax"] = min(d["tmin"], temp), max(d["tmax"], temp)
            d["rhmin"], d["rhmax"] = min(d["rhmin"], rh), max(d["rhmax"], rh)
            d["wind_sum"] += wind
            d["ghi_sum"] += max(ghi, 0.0)
    if len(times) < 2:
        fail(f"{csv_path} has fewer than two readings of {SITE}/{DEVICE}")
    cadence_s = int((times[1] - times[0]).total_seconds())
    if cadence_s <= 0 or 86_400 % cadence_s:
        fail(f"unexpected met station cadence {cadence_s} s in {csv_path}")
    per_day = 86_400 // cadence_s
    out, skipped = [], []
    for day, d in sorted(days.items()):
        if d["n"] != per_day:
            skipped.append(f"{day} ({d['n']} of {per_day} readings)")
            continue
        out.append({
            "date": day,
            "tmin": d["tmin"],
            "tmax": d["tmax"],
            "rhmin": d["rhmin"],
            "rhmax": d["rhmax"],
            "wind10": d["wind_sum"] / d["n"],
            "rs": d["ghi_sum"] * cadence_s / 1e6,  # W/m² × s = J/m² → MJ/m²
        })
    return out, cadence_s, skipped


def wind_2m(u_z: float, z_m: float) -> float:
    """FAO-56 eq. 47, as fieldline's `agronomy::wind_2m`."""
    return u_z * 4.87 / math.log(67.8 * z_m - 5.42)


# --- the two ET0s ----------------------------------------------------------------------------


def fieldline_et0(binary: Path, day: dict, lat: float, elevation: float) -> dict:
    command = [
        str(binary), "agro", "et0", "--date", day["date"].isoformat(), "--lat", repr(lat),
        "--elevation", repr(elevation), "--tmin", repr(day["tmin"]), "--tmax", repr(day["tmax"]),
        "--rhmin", repr(day["rhmin"]), "--rhmax", repr(day["rhmax"]), "--rs", repr(day["rs"]),
        "--wind", repr(day["wind10"]), "--wind-height", repr(WIND_HEIGHT_M), "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, FIELDLINE_LOG="warn"))
    if done.returncode != 0:
        print(f"fieldline agro et0 refused {day['date']}: {done.stderr.strip()}\n  {' '.join(command)}", flush=True)
        sys.exit(1)
    return json.loads(done.stdout)


def pyet_terms(days: list[dict], lat: float, elevation: float) -> dict:
    """pyet's ET0 and its intermediate terms, each a list in the order of `days`."""
    import pandas as pd
    import pyet
    from pyet import meteo_utils, rad_utils

    index = pd.DatetimeIndex([pd.Timestamp(d["date"]) for d in days])
    series = {k: pd.Series([d[k] for d in days], index=index, dtype=float)
              for k in ("tmin", "tmax", "rhmin", "rhmax", "rs")}
    u2 = pd.Series([wind_2m(d["wind10"], WIND_HEIGHT_M) for d in days], index=index, dtype=float)
    tmean = (series["tmax"] + series["tmin"]) / 2  # FAO-56's daily mean for eq. 6 (what pyet uses without tmean)
    lat_rad = math.radians(lat)
    et0 = pyet.pm_fao56(
        tmean, u2, rs=series["rs"], tmax=series["tmax"], tmin=series["tmin"],
        rhmax=series["rhmax"], rhmin=series["rhmin"], elevation=elevation, lat=lat_rad,
    )
    ra = meteo_utils.extraterrestrial_r(index, lat_rad)
    rso = rad_utils.calc_rso(ra, elevation)
    ea = meteo_utils.calc_ea(tmax=series["tmax"], tmin=series["tmin"], rhmax=series["rhmax"], rhmin=series["rhmin"])
    rn = rad_utils.calc_rad_net(
        tmean, rs=series["rs"], lat=lat_rad, tmax=series["tmax"], tmin=series["tmin"],
        rhmax=series["rhmax"], rhmin=series["rhmin"], elevation=elevation,
    )
    pressure = meteo_utils.calc_press(elevation)
    as_list = lambda s: [float(v) for v in (s.values if hasattr(s, "values") else s)]  # noqa: E731
    n = len(days)
    return {
        "et0_mm_per_day": as_list(et0),
        "ra_mj_m2": as_list(ra),
        "rso_mj_m2": as_list(rso),
        "rn_mj_m2": as_list(rn),
        "es_kpa": as_list(meteo_utils.calc_es(tmax=series["tmax"], tmin=series["tmin"])),
        "ea_kpa": as_list(ea),
        "slope_kpa_per_c": as_list(meteo_utils.calc_vpc(tmean)),
        "pressure_kpa": [float(pressure)] * n,
        "gamma_kpa_per_c": [float(meteo_utils.calc_psy(pressure))] * n,
        "u2_ms": as_list(u2),
        "_version": pyet.__version__,
    }


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    binary = find_binary(args.fieldline)
    reexec_in_venv()
    progress(f"python {sys.version.split()[0]} in {sys.prefix}; fieldline {binary}")

    with tempfile.TemporaryDirectory(prefix="et0-vs-pyet-") as tmp:
        work = args.work_dir.resolve() if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        scenario_path = work / "met-only.toml"
        scenario = met_only_scenario(scenario_path)
        csv_path = simulate(binary, scenario_path, work / "sim", args)
        lat, elevation = float(scenario["latitude"]), float(scenario["altitude_m"])
        days, cadence_s, skipped = daily_inputs(csv_path, utc_offset(scenario["timezone"]))
    if not days:
        fail("no complete day in the simulated met station data")
    progress(f"{len(days)} complete days ({cadence_s} s cadence); computing ET0 with fieldline, one call per day ...")

    ours = []
    last = time.monotonic()
    for i, day in enumerate(days):
        ours.append(fieldline_et0(binary, day, lat, elevation))
        if time.monotonic() - last > 5:
            progress(f"  fieldline: {i + 1}/{len(days)} days")
            last = time.monotonic()
    progress("computing ET0 with pyet.pm_fao56 ...")
    theirs = pyet_terms(days, lat, elevation)

    diffs = [abs(o["et0_mm_per_day"] - p) for o, p in zip(ours, theirs["et0_mm_per_day"])]
    worst = sorted(range(len(days)), key=lambda i: diffs[i], reverse=True)[:5]
    max_diff = max(diffs)
    elapsed = time.time() - STARTED

    print(f"ET0: fieldline agro et0 vs pyet {theirs['_version']} pm_fao56 (FAO-56 Penman–Monteith, daily)")
    print(
        f"  site: simulated met station {SITE}, {lat:.2f}°N, {elevation:g} m, seed {args.seed}, "
        f"{days[0]['date']} to {days[-1]['date']} (UTC{scenario['timezone']} days), wind at {WIND_HEIGHT_M:g} m"
    )
    if skipped:
        print(f"  skipped {len(skipped)} incomplete days: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    ours_et0 = [o["et0_mm_per_day"] for o in ours]
    print(
        f"  ET0 over the period: fieldline {sum(ours_et0):.1f} mm, pyet {sum(theirs['et0_mm_per_day']):.1f} mm; "
        f"daily {min(ours_et0):.2f} to {max(ours_et0):.2f} mm/day"
    )
    ratio = [d["rs"] / o["rso_mj_m2"] for d, o in zip(days, ours)]
    print(
        f"  Rs/Rso from {min(ratio):.2f} to {max(ratio):.2f}: {sum(r > 1 for r in ratio)} days above the cap of 1, "
        f"{sum(r < 0.3 for r in ratio)} below the floor of 0.3 (both clamp Rs/Rso to 0.3..1 in Rnl)"
    )
    print(f"days compared: {len(days)}")
    print(f"mean |difference|: {statistics.fmean(diffs):.2e} mm/day")
    print(f"max |difference|: {max_diff:.2e} mm/day (on {days[worst[0]]['date']}; tolerance {args.tolerance} mm/day)")
    print("largest |difference| of each term over all days (fieldline JSON vs pyet):")
    for term in ("ra_mj_m2", "rso_mj_m2", "rn_mj_m2", "es_kpa", "ea_kpa", "slope_kpa_per_c",
                 "pressure_kpa", "gamma_kpa_per_c", "u2_ms"):
        d = [abs(o[term] - p) for o, p in zip(ours, theirs[term])]
        i = max(range(len(d)), key=d.__getitem__)
        print(f"  {term:16} {d[i]:.2e}  ({days[i]['date']}: fieldline {ours[i][term]:.6g}, pyet {theirs[term][i]:.6g})")
    print("5 worst days:")
    print(
        "  date        Tmin    Tmax   RHmin  RHmax  u10    u2     Rs      "
        "ET0 fieldline  ET0 pyet     |diff|"
    )
    for i in worst:
        d = days[i]
        print(
            f"  {d['date']}  {d['tmin']:6.2f}  {d['tmax']:6.2f}  {d['rhmin']:5.1f}  {d['rhmax']:5.1f}  "
            f"{d['wind10']:5.2f}  {theirs['u2_ms'][i]:5.2f}  {d['rs']:6.3f}  "
            f"{ours[i]['et0_mm_per_day']:13.6f}  {theirs['et0_mm_per_day'][i]:11.6f}  {diffs[i]:.2e}"
        )
    print(f"took {elapsed:.1f} s")
    if not max_diff <= args.tolerance:  # NaN fails too
        print(f"FAIL: fieldline and pyet differ by up to {max_diff:.3g} mm/day (> {args.tolerance})")
        return 1
    print(f"OK: fieldline and pyet agree within {args.tolerance} mm/day on every day")
    return 0


if __name__ == "__main__":
    sys.exit(main())
