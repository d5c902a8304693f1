#!/usr/bin/env python3
"""MQTT -> InfluxDB v2 bridge: the Python baseline of `fieldline bench pipelines`.

Written the way a team would write one, following the libraries' documentation:

* paho-mqtt subscribes to ``fl/v1/#`` at QoS 1 (the PUBACK goes out when ``on_message``
  returns, i.e. once the points are handed to the write buffer, not once they are stored);
* each message is parsed (fieldline's topic grammar and JSON telemetry, or line protocol on
  ``fl/v1/lp``) into ``influxdb_client.Point`` objects;
* the official ``WriteApi`` in batching mode writes them (batch 5000, flush every 1 s, the
  library's retry defaults) to an InfluxDB v2 ``/api/v2/write`` endpoint, here
  VictoriaMetrics's.

Measurement = the topic's kind, tags ``site`` and ``device`` from the topic (payload tags
too), one field per value: the same points fieldline stores for the same message.

Prints ``subscribed`` once the broker granted the subscription and, on SIGTERM/SIGINT
(after flushing the write buffer), one JSON line of counters.

Needs: pip install paho-mqtt influxdb-client
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import WriteOptions, WriteType

log = logging.getLogger("bridge")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = 0
        self.points = 0
        self.bad_messages = 0
        self.written_batches = 0
        self.written_lines = 0
        self.failed_batches = 0
        self.retries = 0

    def add(self, **counts):
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self):
        with self.lock:
            return {k: v for k, v in vars(self).items() if k != "lock"}


def parse_time(ts):
    """fieldline's `ts`: epoch milliseconds (number) or RFC 3339 text."""
    if isinstance(ts, bool):
        raise ValueError("ts is a boolean")
    if isinstance(ts, (int, float)):
        return int(ts), WritePrecision.MS
    if isinstance(ts, str):
        return datetime.fromisoformat(ts.replace("Z", "+00:00")), WritePrecision.NS
    raise ValueError(f"bad ts {ts!r}")


def reading_to_point(kind, site, device, reading):
    if not isinstance(reading, dict):
        raise ValueError("a reading is not an object")
    if "values" in reading:
        values = reading["values"]
        if not isinstance(values, dict):
            raise ValueError("values is not an object")
    else:  # the flat form: {"rh_pct": 61, "ts": ...}
        values = {k: v for k, v in reading.items() if k not in ("ts", "tags")}
    point = Point(kind)
    for key, value in (reading.get("tags") or {}).items():
        point.tag(key, str(value))
    point.tag("site", site).tag("device", device)
    fields = 0
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or isinstance(value, str):
            point.field(name, value)
        elif isinstance(value, (int, float)):
            point.field(name, float(value))
        else:
            raise ValueError(f"field {name}: nested value")
        fields += 1
    if fields == 0:
        raise ValueError("no values")
    if "ts" in reading:
        ts, precision = parse_time(reading["ts"])
        point.time(ts, precision)
    return point


def parse_message(topic, payload):
    """Points (or line-protocol records) for one MQTT message."""
    if topic == "fl/v1/lp":
        lines = [l for l in payload.decode("utf-8").splitlines() if l.strip() and not l.startswith("#")]
        return lines
    parts = topic.split("/")
    if len(parts) != 6 or parts[:2] != ["fl", "v1"] or parts[5] != "telemetry":
        raise ValueError(f"topic {topic!r} is not fl/v1/site/kind/device/telemetry")
    site, kind, device = parts[2], parts[3], parts[4]
    document = json.loads(payload)
    readings = document if isinstance(document, list) else [document]
    return [reading_to_point(kind, site, device, r) for r in readings]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    parser.add_argument("--topic", default="fl/v1/#")
    parser.add_argument("--client-id", default="mqtt-influx-bridge")
    parser.add_argument("--url", default="http://127.0.0.1:8086", help="InfluxDB v2 base URL")
    parser.add_argument("--org", default="bench")
    parser.add_argument("--bucket", default="bench")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--flush-interval-ms", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="bridge: %(levelname)s %(message)s")

    stats = Stats()
    host, _, port = args.broker.rpartition(":")

    def on_success(conf, data):
        body = data.decode("utf-8") if isinstance(data, bytes) else str(data)
        stats.add(written_batches=1, written_lines=body.count("\n") + 1)

    def on_error(conf, data, exception):
        stats.add(failed_batches=1)
        log.error("write failed: %s", exception)

    def on_retry(conf, data, exception):
        stats.add(retries=1)
        log.warning("write retried: %s", exception)

    influx = InfluxDBClient(url=args.url, token=os.environ.get("INFLUX_TOKEN", ""), org=args.org)
    write_api = influx.write_api(
        write_options=WriteOptions(
            write_type=WriteType.batching,
            batch_size=args.batch_size,
            flush_interval=args.flush_interval_ms,
        ),
        success_callback=on_success,
        error_callback=on_error,
        retry_callback=on_retry,
    )

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("connect refused: %s", reason_code)
            return
        client.subscribe(args.topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription refused: %s", reason_codes)
            return
        print("subscribed", flush=True)

    def on_message(client, userdata, msg):
        try:
            records = parse_message(msg.topic, msg.payload)
        except (ValueError, UnicodeDecodeError) as e:
            stats.add(messages=1, bad_messages=1)
            log.warning("dropping a message on %s: %s", msg.topic, e)
            return
        write_api.write(bucket=args.bucket, org=args.org, record=records)
        stats.add(messages=1, points=len(records))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, clean_session=True)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message

    def stop(signum, frame):
        client.disconnect()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    client.connect(host or "127.0.0.1", int(port), keepalive=30)
    client.loop_forever()
    # Flush what is still buffered before exiting.
    write_api.close()
    influx.close()
    print(json.dumps(stats.as_dict()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
