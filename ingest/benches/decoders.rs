//! Decoder and encoder throughput, in readings (points) per second: a single JSON telemetry
//! message, a 100-reading JSON array, a SenML pack, 100 lines of line protocol, the line
//! protocol encoder the write-ahead log uses, and schema validation.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fieldline_ingest::decode::{Precision, Source, json, lineproto, senml};
use fieldline_ingest::schema::Schema;

const SOURCE: Source<'static> = Source { site: "heze-wind", kind: "wind_turbine", device: "wt01" };
const NOW: i64 = 1_732_345_678_000_000_000;
const READINGS: usize = 100;

fn json_reading(i: usize) -> String {
    format!(
        r#"{{"ts":{},"values":{{"power_kw":{:.1},"wind_speed_ms":{:.2},"wind_dir_deg":{},"rotor_rpm":{:.1},"pitch_deg":1.5,"status":"run"}}}}"#,
        1_732_345_678_000 + i as u64 * 1000,
        812.5 + i as f64,
        7.0 + i as f64 * 0.01,
        180 + i % 90,
        14.2 + (i % 5) as f64,
    )
}

fn senml_pack() -> String {
    let mut records =
        vec![r#"{"bn":"urn:dev:heze:p1:","bt":1.732345678e9,"n":"air_temp_c","u":"Cel","v":12.5}"#.to_owned()];
    for (i, name) in ["air_rh_pct", "soil_temp_c", "soil_vwc_pct", "soil_ec_ds_m", "light_lux"].iter().enumerate() {
        records.push(format!(r#"{{"n":"{name}","v":{}}}"#, 20.0 + i as f64));
    }
    for t in 1..10 {
        records.push(format!(r#"{{"n":"air_temp_c","t":{},"v":{}}}"#, -60 * t, 12.0 - t as f64 * 0.1));
    }
    format!("[{}]", records.join(","))
}

fn line_protocol() -> String {
    (0..READINGS)
        .map(|i| {
            format!(
                "wind_turbine,site=heze-wind,device=wt{:02} power_kw={:.1},wind_speed_ms={:.2},rotor_rpm={}i,status=\"run\" {}\n",
                i % 20,
                812.5 + i as f64,
                7.0 + i as f64 * 0.01,
                14 + i % 3,
                NOW + i as i64 * 1_000_000_000,
            )
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");

    let single = json_reading(0);
    group.throughput(Throughput::Elements(1));
    group.bench_function("json_single_reading", |b| b.iter(|| json::decode(SOURCE, black_box(single.as_bytes()), NOW)));

    let array = format!("[{}]", (0..READINGS).map(json_reading).collect::<Vec<_>>().join(","));
    group.throughput(Throughput::Elements(READINGS as u64));
    group.bench_function("json_array_100_readings", |b| {
        b.iter(|| json::decode(SOURCE, black_box(array.as_bytes()), NOW))
    });

    let pack = senml_pack();
    let senml_readings =
        senml::decode(SOURCE, pack.as_bytes(), NOW).map(|p| p.iter().map(|p| p.fields.len()).sum::<usize>());
    group.throughput(Throughput::Elements(senml_readings.unwrap_or(0) as u64));
    group
        .bench_function("senml_pack_15_records", |b| b.iter(|| senml::decode(SOURCE, black_box(pack.as_bytes()), NOW)));

    let lines = line_protocol();
    group.throughput(Throughput::Elements(READINGS as u64));
    group.bench_function("lineproto_100_lines", |b| {
        b.iter(|| lineproto::decode(black_box(lines.as_bytes()), Precision::Ns, NOW))
    });
    group.finish();

    let points = lineproto::decode(lines.as_bytes(), Precision::Ns, NOW).points;
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(points.len() as u64));
    let mut out = String::with_capacity(lines.len());
    group.bench_function("lineproto_100_points", |b| {
        b.iter(|| {
            out.clear();
            for point in black_box(&points) {
                lineproto::encode(point, &mut out);
            }
            out.len()
        })
    });
    group.finish();

    let schema = Schema::builtin();
    let mut group = c.benchmark_group("schema");
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("validate_100_valid_points", |b| {
        b.iter_batched_ref(
            || points.clone(),
            |points| points.iter_mut().map(|p| schema.validate(p).len()).sum::<usize>(),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(decoders, benches);
criterion_main!(decoders);
