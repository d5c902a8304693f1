#!/usr/bin/env python3
"""LightGBM peer of `fieldline forecast backtest`: the pipeline an analyst would write in pandas.

Same data rules, splits, leads, features and scoring as the Rust backtest (see
analytics/src/forecast/{series,features,model,backtest}.rs): sort, keep the last duplicate,
difference `_acc` columns, average sub-15-min rows onto 15-min slots by overlap (measured data one
slot late when the cadence does not divide 15 min), flag >= 24 h near-zero runs as downtime,
train on the first (1 - test_fraction) of the slots with early stopping on the newest 15 % of
training rows, walk forward issuing ultra-short (per-lead models, 4 h) and day-ahead (next local
day at the issue hour) forecasts, and score mean daily accuracy against persistence. LightGBM
predicts power directly (what an analyst does), with LightGBM's defaults (31 leaves, rate 0.1)
plus early stopping. Clear-sky GHI uses the Haurwitz model on a NOAA solar position (numpy).

Prints one JSON object with the headline figures and the wall time of the whole run.
"""
import argparse
import json
import math
import time

T0 = time.perf_counter()

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DAY = 86400
HINTS = ("ssrd", "ghi", "irradiance", "radiation", "poa", "dswrf")


def parse_offset(text):
    t = text.strip()
    if t.upper() in ("Z", "UTC"):
        return 0
    sign = -1 if t[0] == "-" else 1
    h, m = t.lstrip("+-").split(":")
    return sign * (int(h) * 3600 + int(m) * 60)


def load(args, offset):
    df = pd.read_csv(args.input)
    ts = pd.to_datetime(df[args.time_col], utc=False, format="ISO8601")
    if ts.dt.tz is None:
        secs = (ts - pd.Timestamp(0)) // pd.Timedelta(seconds=1) - offset
    else:
        secs = (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    df = df.drop(columns=[args.time_col])
    df["__t"] = secs.values
    df = df.sort_values("__t", kind="stable").drop_duplicates("__t", keep="last").reset_index(drop=True)
    return df


def deaccumulate(t, v, cadence):
    out = np.full(len(v), np.nan)
    prev_ok = np.zeros(len(v), bool)
    prev_ok[1:] = t[:-1] == t[1:] - cadence
    prev = np.roll(v, 1)
    restarted = (t - cadence) % DAY == 0
    diff = np.where(v >= prev, v - prev, np.where(np.isfinite(prev), v, np.nan))
    out = np.where(restarted, v, np.where(prev_ok, diff, np.nan))
    return out / cadence


def regularise(df, cadence):
    t = df["__t"].to_numpy()
    cols = [c for c in df.columns if c != "__t"]
    if cadence >= 900:
        start, step = t[0], cadence
        n = (t[-1] - start) // step + 1
        idx = (t - start) // step
        ok = (t - start) % step == 0
        out = {}
        for c in cols:
            a = np.full(n, np.nan)
            a[idx[ok]] = df[c].to_numpy(float)[ok]
            out[c] = a
        return start, step, n, 0, out
    step = 900
    start = -(-t[0] // step) * step
    end = (t[-1] // step) * step
    n = (end - start) // step + 1
    piece = math.gcd(cadence, step)
    out = {}
    for c in cols:
        v = df[c].to_numpy(float)
        s = np.zeros(n)
        k = np.zeros(n)
        good = np.isfinite(v)
        for p in range(cadence // piece):
            pe = t[good] - p * piece
            slot = (-(-pe // step) * step - start) // step
            inside = (slot >= 0) & (slot < n)
            np.add.at(s, slot[inside], v[good][inside])
            np.add.at(k, slot[inside], 1.0)
        a = np.full(n, np.nan)
        enough = k >= 0.5 * (step // piece)
        a[enough] = s[enough] / k[enough]
        out[c] = a
    delay = 1 if 900 % cadence else 0
    return start, step, n, delay, out


def downtime(y, cap, hours, step):
    low = np.isfinite(y) & (y <= 0.005 * cap)
    flags = np.zeros(len(y), bool)
    need = math.ceil(hours * 3600 / step)
    i = 0
    while i < len(y):
        if low[i]:
            j = i
            while j < len(y) and low[j]:
                j += 1
            if j - i >= need:
                flags[i:j] = True
            i = j
        else:
            i += 1
    return flags


def clear_sky(times, step, lat, lon):
    """Mean Haurwitz clear-sky GHI over (t - step, t] and sun elevation at mid-interval."""
    def cos_zenith(ts):
        d = ts / DAY - 10957.5
        g = np.radians(357.529 + 0.98560028 * d)
        q = 280.459 + 0.98564736 * d
        lam = np.radians(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
        eps = np.radians(23.439 - 0.00000036 * d)
        ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))
        dec = np.arcsin(np.sin(eps) * np.sin(lam))
        gmst = np.mod(18.697374558 + 24.06570982441908 * d, 24.0)
        ha = np.radians(gmst * 15.0 + lon) - ra
        la = np.radians(lat)
        return np.sin(la) * np.sin(dec) + np.cos(la) * np.cos(dec) * np.cos(ha)

    subs = max(1, int(math.ceil(step / 300)))
    total = np.zeros(len(times))
    for k in range(subs):
        cz = cos_zenith(times - step + (k + 0.5) * step / subs)
        total += np.where(cz > 0, 1098.0 * cz * np.exp(-0.057 / np.maximum(cz, 1e-6)), 0.0)
    elevation = np.degrees(np.arcsin(np.clip(cos_zenith(times - step / 2), -1, 1)))
    return total / subs, elevation


def ffill(a):
    return pd.Series(a).ffill().to_numpy()


def rolling_mean(a, w):
    return pd.Series(a).rolling(w, min_periods=1).mean().to_numpy()


def at(a, idx):
    idx = np.asarray(idx)
    ok = (idx >= 0) & (idx < len(a))
    out = np.full(idx.shape, np.nan)
    out[ok] = a[idx[ok]]
    return out


def daily_accuracy(times, meas, fc, excl, cap, offset, thr=0.75):
    ok = np.isfinite(meas) & np.isfinite(fc) & ~excl
    e = (meas[ok] - fc[ok]) / cap
    day = (times[ok] + offset) // DAY
    frame = pd.DataFrame({"d": day, "e2": e * e})
    per_day = 1 - np.sqrt(frame.groupby("d")["e2"].mean())
    return float(per_day.mean()), float(np.mean(1 - np.abs(e) >= thr)), int(ok.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--kind", choices=["wind", "pv"], required=True)
    ap.add_argument("--capacity", type=float, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--time-col", default="timestamp")
    ap.add_argument("--measured", default="")
    ap.add_argument("--lat", type=float)
    ap.add_argument("--lon", type=float)
    ap.add_argument("--tz", default="+00:00")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--issue-hour", type=int, default=8)
    args = ap.parse_args()
    offset = parse_offset(args.tz)
    cap = args.capacity
    measured_names = [m for m in args.measured.split(",") if m]

    df = load(args, offset)
    t = df["__t"].to_numpy()
    diffs = np.diff(t)
    diffs = diffs[diffs > 0]
    vals, counts = np.unique(diffs, return_counts=True)
    cadence = int(vals[np.argmax(counts)])
    for c in list(df.columns):
        if c.endswith("_acc"):
            df[c + "_per_s"] = deaccumulate(t, df[c].to_numpy(float), cadence)
            df = df.drop(columns=[c])
    start, step, n, delay, cols = regularise(df, cadence)
    times = start + step * np.arange(n)
    y = cols.pop(args.target)
    measured = {m: cols.pop(m) for m in measured_names}
    forecasts = cols
    excluded = downtime(y, cap, 24.0, step)
    sph, spd = max(1, 3600 // step), max(1, DAY // step)
    pv_cs = args.kind == "pv" and args.lat is not None
    if pv_cs:
        cs, elev = clear_sky(times.astype(float), step, args.lat, args.lon)

    filled = ffill(y)
    means = {w: rolling_mean(y, w) for w in (sph, 4 * sph, 24 * sph)}
    m_filled = {m: ffill(v) for m, v in measured.items()}
    m_1h = {m: rolling_mean(v, sph) for m, v in measured.items()}
    m_24h = {m: rolling_mean(v, spd) for m, v in measured.items()}
    hour = ((times - step // 2 + offset) % DAY) / 3600.0
    irr = [c for c in forecasts if any(h in c.lower() for h in HINTS)]

    def target_time(j):
        f = {}
        for c, v in forecasts.items():
            f[c + "@t-1"], f[c + "@t"], f[c + "@t+1"] = at(v, j - 1), at(v, j), at(v, j + 1)
        if pv_cs:
            cst = at(cs, j)
            f["cs@t"], f["elev@t"] = cst, at(elev, j)
            for c in irr:
                f[c + "/cs@t"] = np.where(cst > 10, at(forecasts[c], j) / np.where(cst > 10, cst, 1), np.nan)
        return f

    def csi(a):
        lo = np.maximum(a + 1 - max(sph, 2), 0)
        p = np.zeros(len(a)); c = np.zeros(len(a))
        for k in range(max(sph, 2)):
            s = a - k
            ok = (s >= lo) & (s >= 0)
            yy = at(y, s)
            good = ok & np.isfinite(yy)
            p += np.where(good, yy, 0); c += np.where(good, cap * at(cs, s) / 1000, 0)
        w = np.minimum(a + 1 - lo, max(sph, 2))
        return np.where(c > 0.02 * cap * w, np.clip(p / np.where(c > 0, c, 1), 0, 1.5), np.nan)

    test_start = int(n * (1 - args.test_fraction))
    n_leads = max(1, int(4 * 3600 // step))
    params = dict(objective="regression", learning_rate=0.1, num_leaves=31, min_data_in_leaf=20, verbose=-1)

    def fit(X, yy):
        nv = min(int(round(len(yy) * 0.15)), len(yy) // 2)
        nt = len(yy) - nv
        dtr = lgb.Dataset(X.iloc[:nt], yy[:nt])
        dva = lgb.Dataset(X.iloc[nt:], yy[nt:], reference=dtr)
        return lgb.train(params, dtr, num_boost_round=1000, valid_sets=[dva],
                         callbacks=[lgb.early_stopping(25, verbose=False)])

    # Ultra-short: one model per lead on issues i, targets j = i + k.
    issues = np.arange(n)
    a = issues - delay
    common = {
        "power_now": at(filled, a),
        "power_change": at(filled, a) - at(filled, a - 1),
        "power_mean_1h": at(means[sph], a),
        "power_mean_4h": at(means[4 * sph], a),
        "power_mean_24h": at(means[24 * sph], a),
        "power_1h_ago": at(filled, a - sph),
    }
    for m in measured:
        common[m + "_now"] = at(m_filled[m], a)
        common[m + "_mean_1h"] = at(m_1h[m], a)
    if pv_cs:
        common["cs_now"] = at(cs, a)
        common["csi_1h"] = csi(a)
    persistence = at(filled, a)
    us = []
    for k in range(1, n_leads + 1):
        j = issues + k
        f = dict(common)
        f["hour"] = at(hour, j)
        f["power_day_before_target"] = at(filled, j - spd)
        f.update(target_time(j))
        if pv_cs:
            f["cs_persistence"] = common["csi_1h"] * cap * at(cs, j) / 1000
        X = pd.DataFrame(f)
        yj = at(y, j)
        ex = np.concatenate([excluded, np.ones(k, bool)])[k:k + n]
        usable = np.isfinite(yj) & ~ex & np.isfinite(persistence)
        train = usable & (j < test_start)
        model = fit(X[train].reset_index(drop=True), yj[train])
        test = (issues >= test_start) & (j < n)
        pred = np.clip(model.predict(X[test]), 0, cap)
        tt = times[j[test]]
        exc = ex[test] | ~np.isfinite(persistence[test])
        acc, qual, npts = daily_accuracy(tt, yj[test], pred, exc, cap, offset)
        pacc, pqual, _ = daily_accuracy(tt, yj[test], persistence[test], exc, cap, offset)
        us.append({"lead_minutes": k * step // 60, "accuracy": acc, "qualified_rate": qual,
                   "persistence_accuracy": pacc, "n": npts, "rounds": model.best_iteration})

    # Day-ahead: issue at the issue hour of day D for the slots of day D + 1.
    first_day = (times[0] + offset) // DAY
    last_day = (times[-1] + offset) // DAY
    rows_i, rows_j = [], []
    for d in range(first_day, last_day):
        it = d * DAY - offset + args.issue_hour * 3600
        if it < start:
            continue
        i = (it - start) // step
        if i >= n:
            continue
        mid = (d + 1) * DAY - offset
        first = max(0, -(-(mid - start) // step))
        for j in range(first, min(first + spd, n)):
            rows_i.append(i)
            rows_j.append(j)
    di, dj = np.array(rows_i), np.array(rows_j)
    da_known = di - delay
    mback = np.ceil((dj - da_known) / spd).astype(int)
    same_slot = at(filled, dj - mback * spd)
    f = {"hour": at(hour, dj), "hours_ahead": (dj - di) * step / 3600.0,
         "power_now": at(filled, da_known), "power_mean_24h": at(means[24 * sph], da_known),
         "same_slot": same_slot}
    for m in measured:
        f[m + "_now"] = at(m_filled[m], da_known)
        f[m + "_mean_24h"] = at(m_24h[m], da_known)
    f.update(target_time(dj))
    X = pd.DataFrame(f)
    yd = at(y, dj)
    exd = excluded[dj]
    usable = np.isfinite(yd) & ~exd
    train = usable & (dj < test_start)
    model = fit(X[train].reset_index(drop=True), yd[train])
    test = di >= test_start
    pred = np.clip(model.predict(X[test]), 0, cap)
    exc = exd[test] | ~np.isfinite(same_slot[test])
    acc, qual, npts = daily_accuracy(times[dj[test]], yd[test], pred, exc, cap, offset)
    pacc, pqual, _ = daily_accuracy(times[dj[test]], yd[test], same_slot[test], exc, cap, offset)
    hour_lead = min(max(1, 3600 // step), n_leads) - 1
    out = {
        "n_points": int(n),
        "ultra_short": {"accuracy_1h": us[hour_lead]["accuracy"], "accuracy_4h": us[-1]["accuracy"],
                        "qualified_rate_4h": us[-1]["qualified_rate"],
                        "persistence_accuracy_1h": us[hour_lead]["persistence_accuracy"],
                        "persistence_accuracy_4h": us[-1]["persistence_accuracy"], "leads": us},
        "day_ahead": {"accuracy": acc, "qualified_rate": qual, "persistence_accuracy": pacc, "n": npts,
                      "rounds": model.best_iteration},
        "wall_seconds": time.perf_counter() - T0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
