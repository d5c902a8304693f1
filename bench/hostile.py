#!/usr/bin/env python3
"""Replays issue 9's hostile inputs against a `fieldline` binary and prints what each cost.

Usage: python3 bench/hostile.py target/release/fieldline
       SKIP_FAR_FUTURE=1 python3 bench/hostile.py OLD_BINARY   # for one that hangs on it

Starts `fieldline serve` on a temporary data dir and 127.0.0.1:0, publishes with
`mosquitto_pub` (QoS 1, so each time is until the PUBACK) and reads the HTTP API. The
end-to-end tests assert the behaviour; this script measures it, for the README's table.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

exe = sys.argv[1]
data_dir = tempfile.mkdtemp(prefix="fieldline-hostile-")
server = subprocess.Popen(
    [exe, "serve", "--data-dir", data_dir, "--mqtt-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
mqtt = http = None
while mqtt is None or http is None:
    line = server.stdout.readline()
    if not line:
        sys.exit("the server exited before listening")
    if m := re.search(r"mqtt=(\S+)", line):
        mqtt = m.group(1)
    if h := re.search(r"http=(\S+)", line):
        http = h.group(1)
mqtt_host, mqtt_port = mqtt.rsplit(":", 1)
TURBINE = "fl/v1/heze-wind/wind_turbine/wt01/telemetry"
PLOT = "fl/v1/heze-peony/peony_plot/plot1/telemetry"


def publish(topic, message=None, file=None):
    """Seconds until mosquitto_pub got its PUBACK."""
    args = ["mosquitto_pub", "-h", mqtt_host, "-p", mqtt_port, "-q", "1", "-t", topic]
    args += ["-f", file] if file else ["-m", message]
    start = time.time()
    subprocess.run(args, check=True)
    return time.time() - start


def get(path):
    start = time.time()
    with urllib.request.urlopen(f"http://{http}{path}", timeout=30) as resp:
        body = resp.read()
    return time.time() - start, json.loads(body)


def newest_dead_letter():
    return get("/api/v1/deadletters?limit=1")[1]["deadletters"][0]["reason"][:100]


def wal_bytes():
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(os.path.join(data_dir, "wal")) for f in files)


def rss_mib():
    with open(f"/proc/{server.pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024


def write(name, text):
    path = os.path.join(data_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


now = int(time.time())
try:
    if not os.environ.get("SKIP_FAR_FUTURE"):
        publish(TURBINE, '{"ts": 9223372036854, "values": {"power_kw": 1}}')
        try:
            took, _ = get("/api/v1/query?measurement=wind_turbine&field=power_kw&every=1h&agg=count&tz=%2B08:00")
            print(f"far-future reading: query {took * 1000:.0f} ms; newest dead letter: {newest_dead_letter()!r}")
        except Exception as e:  # the old binary spins here
            print(f"far-future reading: query failed: {e}")

    bad_lines = write("bad.lp", "\n".join("m f=x" for _ in range(100_000)))
    took = {}
    flood = threading.Thread(target=lambda: took.setdefault("bad", publish("fl/v1/lp", file=bad_lines)))
    flood.start()
    time.sleep(0.05)
    other = publish(TURBINE, '{"values": {"power_kw": 2}}')
    flood.join()
    print(f"100k bad lines acked in {took['bad']:.2f} s; another client's publish meanwhile {other * 1000:.0f} ms")

    wide = write("wide.json", '{"values": {' + ",".join(f'"f{i}":1' for i in range(80_000)) + "}}")
    print(f"80k fields in one JSON reading acked in {publish(TURBINE, file=wide):.2f} s")

    wal_before, rss_before = wal_bytes(), rss_mib()
    rows, size = [], 0
    while size < (1 << 20) - 2048:  # the endpoint's packet limit is 1 MiB, topic included
        row = '{"ts": %d, "values": {"air_rh_pct": 150}}' % ((now - 60) * 1000)
        rows.append(row)
        size += len(row) + 1
    publish(PLOT, file=write("out_of_range.json", "[" + ",".join(rows) + "]"))
    took, _ = get("/api/v1/deadletters?limit=1")
    print(f"{len(rows)} out-of-range readings in {size >> 10} KiB: WAL +{(wal_bytes() - wal_before) / 1e6:.2f} MB, "
          f"RSS {rss_before} -> {rss_mib()} MiB; deadletters?limit=1 {took * 1000:.0f} ms")

    publish("fl/v1/lp", f"collide,k=a k=1,time=2,ok=3 {(now - 5) * 10**9}")
    print(f"colliding names: newest dead letter: {newest_dead_letter()!r}")
finally:
    server.terminate()
    server.wait()
