"""DuckDB side of `fieldline bench query` (the binary embeds this file and runs it in a venv).

argv: SPEC.json OUT.json. SPEC: {"root": parquet dir, "rounds": n, "queries": [sql or null]};
each SQL names `{root}` and returns site, device, t (ms), v. Writes per query
{"median_ms", "rows"} (or null), timing execute + fetchall after one warm-up run.
"""
import json
import statistics
import sys
import time

import duckdb

spec = json.load(open(sys.argv[1]))
con = duckdb.connect()
out = []
for sql in spec["queries"]:
    if sql is None:
        out.append(None)
        continue
    sql = sql.replace("{root}", spec["root"])
    rows = con.execute(sql).fetchall()
    times = []
    for _ in range(max(1, spec["rounds"])):
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append((time.perf_counter() - started) * 1000.0)
    out.append({
        "median_ms": statistics.median(times),
        "rows": [[r[0], r[1], int(r[2]), float(r[3])] for r in rows],
    })
json.dump(out, open(sys.argv[2], "w"))
