//! The Grafana dashboards for deployments that mirror fieldline's points into InfluxDB
//! (`dashboards/grafana/*.json`, provisioned by `deploy/grafana/`): both parse; every panel
//! has a unique id, a place on the grid that no other panel takes, the provisioned InfluxDB
//! datasource and at least one non-empty Flux query; and every measurement, field and tag
//! key that a query or a template variable names is one fieldline writes: a kind of the
//! kinds table (`fieldline_core::kinds::KINDS`) or fieldline's own `forecast`,
//! `forecast_accuracy` and `fl_alert` (`_alert` as the InfluxDB mirror writes it). A dashboard that names a field nobody writes fails
//! here rather than showing an empty panel in the control room.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fieldline::alerts::State;
use fieldline::jobs::forecast::{ACCURACY_MEASUREMENT, FORECAST_MEASUREMENT, Horizon};
use fieldline_core::kinds::KINDS;
use serde_json::Value;

/// The dashboards, with their uids.
const DASHBOARDS: [(&str, &str); 2] =
    [("grid-operator.json", "fieldline-grid"), ("farm-operator.json", "fieldline-farm")];
/// The datasource `deploy/grafana/provisioning/datasources/influxdb.yaml` provisions.
const DATASOURCE_UID: &str = "fieldline-influxdb";
/// Columns every Flux table from InfluxDB has, whatever the measurement.
const FLUX_COLUMNS: [&str; 6] = ["_time", "_value", "_field", "_measurement", "_start", "_stop"];
/// The `v.` options Grafana's InfluxDB datasource defines for Flux (`v.bucket` is not one).
const GRAFANA_OPTIONS: [&str; 3] = ["timeRangeStart", "timeRangeStop", "windowPeriod"];
/// Width of Grafana's grid.
const GRID_COLUMNS: u64 = 24;

/// Tags and fields of one measurement.
#[derive(Debug, Default)]
struct Names {
    tags: BTreeSet<String>,
    fields: BTreeSet<String>,
}

fn names(tags: &[&str], fields: &[&str]) -> Names {
    Names { tags: tags.iter().map(|s| s.to_string()).collect(), fields: fields.iter().map(|s| s.to_string()).collect() }
}

/// Every measurement fieldline stores, with its tags and fields.
fn schema() -> BTreeMap<String, Names> {
    let mut out = BTreeMap::new();
    for kind in KINDS {
        let tags: Vec<&str> = ["site", "device"].into_iter().chain(kind.extra_tags.iter().copied()).collect();
        let fields: Vec<&str> = kind.fields.iter().map(|f| f.name).collect();
        out.insert(kind.kind.to_string(), names(&tags, &fields));
    }
    // fieldline's own points name their tags and fields with string literals where they are
    // built, so these lists follow that code by hand.
    // src/jobs/forecast/issue.rs, `store_forecast`:
    out.insert(
        FORECAST_MEASUREMENT.to_string(),
        names(&["site", "horizon", "issued"], &["p10_mw", "p50_mw", "p90_mw"]),
    );
    // src/jobs/forecast/score.rs, `score_day`:
    out.insert(
        ACCURACY_MEASUREMENT.to_string(),
        names(
            &["site", "horizon"],
            &["accuracy", "qualified_rate", "n", "excluded", "mae_mw", "rmse_mw", "bias_mw", "capacity_mw"],
        ),
    );
    // src/alerts/record.rs, `Alert::to_point`: the id is the only tag; site, device and the
    // rest are fields.
    // As the InfluxDB mirror names it (`_alert` → `fl_alert`: InfluxDB reserves a leading `_`).
    out.insert(
        fieldline::sinks::influx::influx_name(fieldline::alerts::MEASUREMENT).into_owned(),
        names(
            &["id"],
            &[
                "state",
                "severity",
                "kind",
                "measurement",
                "site",
                "device",
                "field",
                "last_seen_ns",
                "message",
                "score",
                "resolved_ns",
                "acknowledged_ns",
                "acknowledged_by",
                "value",
                "expected",
            ],
        ),
    );
    out
}

/// The values a query may compare these columns with.
fn known_values() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("horizon", vec![Horizon::ShortTerm.as_str(), Horizon::UltraShort.as_str()]),
        ("state", vec![State::Open.as_str(), State::Acknowledged.as_str(), State::Resolved.as_str()]),
    ])
}

// ----------------------------------------------------------------------------------------
// What a Flux query names. A small scanner rather than a parser: the dashboards are written
// in the plain style it reads (`r.x == "..."`, `r["x"]`, `columns: [...]`), and what it cannot
// read (a `_field` matched by a regex, say) is reported as a problem, not skipped.

/// What one Flux query names.
#[derive(Debug, Default)]
struct Flux {
    measurements: BTreeSet<String>,
    fields: BTreeSet<String>,
    /// Other columns: `r.x`, `r["x"]`, `columns: [...]`, pivot keys, `tag: "x"`, `key: "x"`.
    columns: BTreeSet<String>,
    /// `(column, literal)` of `r.x == "literal"` (or `!=`) for columns other than the two above.
    literals: Vec<(String, String)>,
    /// Dashboard variables (`${name}`, `${name:format}`).
    variables: BTreeSet<String>,
    /// `v.name` options.
    options: BTreeSet<String>,
    /// What each `bucket:` argument is.
    buckets: Vec<String>,
    /// What the scanner could not check.
    unreadable: Vec<String>,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True if an identifier or a member access cannot continue into position `i` from the left.
fn at_word_start(s: &str, i: usize) -> bool {
    i == 0 || !(is_ident(s.as_bytes()[i - 1]) || s.as_bytes()[i - 1] == b'.')
}

fn skip_ws(s: &str, mut i: usize) -> usize {
    while i < s.len() && s.as_bytes()[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn ident_at(s: &str, i: usize) -> Option<(String, usize)> {
    let end = s[i..].bytes().position(|b| !is_ident(b)).map_or(s.len(), |n| i + n);
    (end > i).then(|| (s[i..end].to_string(), end))
}

/// A string literal starting at `i`, and the position after it.
fn string_at(s: &str, i: usize) -> Option<(String, usize)> {
    if s.as_bytes().get(i) != Some(&b'"') {
        return None;
    }
    let mut out = String::new();
    let mut chars = s[i + 1..].char_indices();
    while let Some((n, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1 + n + 1)),
            '\\' => out.extend(chars.next().map(|(_, c)| c)),
            c => out.push(c),
        }
    }
    None
}

/// A list of string literals `["a", "b"]` starting at `i`; `None` if it holds anything else.
fn string_list_at(s: &str, i: usize) -> Option<(Vec<String>, usize)> {
    if s.as_bytes().get(i) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    let mut j = skip_ws(s, i + 1);
    loop {
        match s.as_bytes().get(j)? {
            b']' => return Some((out, j + 1)),
            b',' => j = skip_ws(s, j + 1),
            _ => {
                let (item, next) = string_at(s, j)?;
                out.push(item);
                j = skip_ws(s, next);
            }
        }
    }
}

/// A column reference `r.name` or `r["name"]` at `i`, and the position after it.
fn column_ref_at(s: &str, i: usize) -> Option<(String, usize)> {
    if !at_word_start(s, i) {
        return None;
    }
    if let Some(rest) = s[i..].strip_prefix("r.") {
        let start = s.len() - rest.len();
        return ident_at(s, start);
    }
    if s[i..].starts_with("r[") {
        let (name, next) = string_at(s, i + 2)?;
        return s[next..].starts_with(']').then_some((name, next + 1));
    }
    None
}

/// The query without `//` comments (outside string literals).
fn strip_comments(query: &str) -> String {
    let mut out = String::new();
    for line in query.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut end = line.len();
        for (n, c) in line.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '/' if !in_string && line[n..].starts_with("//") => {
                    end = n;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..end]);
        out.push('\n');
    }
    out
}

/// Positions of the whole-word occurrences of `word` in `s`.
fn word_positions<'a>(s: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    s.match_indices(word).map(|(i, _)| i).filter(move |&i| at_word_start(s, i))
}

impl Flux {
    fn scan(query: &str) -> Flux {
        let s = strip_comments(query);
        let s = s.as_str();
        let mut flux = Flux::default();
        // `contains(value: r.x, set: [...])`: the positions of the references it consumes.
        let mut consumed = BTreeSet::new();
        for at in word_positions(s, "contains(") {
            let i = skip_ws(s, at + "contains(".len());
            let Some(rest) = s[i..].strip_prefix("value:") else { continue };
            let i = skip_ws(s, s.len() - rest.len());
            let Some((column, next)) = column_ref_at(s, i) else { continue };
            let j = skip_ws(s, next);
            let Some(rest) = s[j..].strip_prefix(',') else { continue };
            let j = skip_ws(s, s.len() - rest.len());
            let Some(rest) = s[j..].strip_prefix("set:") else { continue };
            let j = skip_ws(s, s.len() - rest.len());
            match string_list_at(s, j) {
                Some((values, _)) => {
                    consumed.insert(i);
                    for value in values {
                        flux.compared(&column, value);
                    }
                }
                None if column.starts_with('_') => {
                    flux.unreadable.push(format!("`{column}` matched against a set that is not a list of literals"));
                    consumed.insert(i);
                }
                None => {}
            }
        }
        for i in 0..s.len() {
            if !s.is_char_boundary(i) || consumed.contains(&i) {
                continue;
            }
            let Some((column, next)) = column_ref_at(s, i) else { continue };
            let j = skip_ws(s, next);
            let literal = (s[j..].starts_with("==") || s[j..].starts_with("!="))
                .then(|| string_at(s, skip_ws(s, j + 2)))
                .flatten();
            match literal {
                Some((value, _)) => flux.compared(&column, value),
                None if column == "_measurement" || column == "_field" => {
                    flux.unreadable.push(format!("`r.{column}` not compared with a string literal"));
                }
                None => {
                    flux.columns.insert(column);
                }
            }
        }
        for key in ["columns:", "rowKey:", "columnKey:"] {
            for at in word_positions(s, key) {
                // `rename(columns: {...})` maps names; only lists name existing columns.
                if let Some((list, _)) = string_list_at(s, skip_ws(s, at + key.len())) {
                    flux.columns.extend(list);
                }
            }
        }
        for key in ["valueColumn:", "tag:", "key:"] {
            for at in word_positions(s, key) {
                match string_at(s, skip_ws(s, at + key.len())) {
                    Some((column, _)) => {
                        flux.columns.insert(column);
                    }
                    None => flux.unreadable.push(format!("`{key}` without a string literal")),
                }
            }
        }
        for at in word_positions(s, "bucket:") {
            let value = string_at(s, skip_ws(s, at + "bucket:".len())).map(|(v, _)| v);
            flux.buckets.push(value.unwrap_or_else(|| "(not a string literal)".to_string()));
        }
        for at in word_positions(s, "v.") {
            if let Some((option, _)) = ident_at(s, at + 2) {
                flux.options.insert(option);
            }
        }
        for (at, _) in s.match_indices("${") {
            let name: String = s[at + 2..].chars().take_while(|c| *c != '}' && *c != ':').collect();
            flux.variables.insert(name);
        }
        flux
    }

    fn compared(&mut self, column: &str, value: String) {
        match column {
            "_measurement" => {
                self.measurements.insert(value);
            }
            "_field" => {
                self.fields.insert(value);
            }
            _ => {
                self.columns.insert(column.to_string());
                self.literals.push((column.to_string(), value));
            }
        }
    }
}

/// Everything in `query` that fieldline does not write or Grafana does not define.
fn problems(query: &str, schema: &BTreeMap<String, Names>, variables: &BTreeSet<String>) -> Vec<String> {
    let flux = Flux::scan(query);
    let mut out = flux.unreadable.clone();
    if flux.measurements.is_empty() {
        out.push("names no measurement (`r._measurement == \"...\"`)".to_string());
    }
    let mut tags = BTreeSet::new();
    let mut fields = BTreeSet::new();
    for m in &flux.measurements {
        match schema.get(m) {
            Some(n) => {
                tags.extend(n.tags.iter().cloned());
                fields.extend(n.fields.iter().cloned());
            }
            None => out.push(format!("measurement `{m}` is not one fieldline writes")),
        }
    }
    let measurements = flux.measurements.iter().cloned().collect::<Vec<_>>().join(", ");
    for f in &flux.fields {
        if !fields.contains(f) {
            out.push(format!("`{f}` is not a field of {measurements}"));
        }
    }
    // A column is a tag, a field (after a pivot) or one every table has.
    for c in &flux.columns {
        if !(FLUX_COLUMNS.contains(&c.as_str()) || tags.contains(c) || fields.contains(c)) {
            out.push(format!("`{c}` is neither a tag nor a field of {measurements}"));
        }
    }
    let known = known_values();
    for (column, value) in &flux.literals {
        if let Some(values) = known.get(column.as_str())
            && !values.contains(&value.as_str())
        {
            out.push(format!("`{column}` is never \"{value}\" (fieldline writes {values:?})"));
        }
    }
    for v in &flux.variables {
        if !variables.contains(v) && !v.starts_with("__") {
            out.push(format!("`${{{v}}}` is not a variable of the dashboard"));
        }
    }
    for o in &flux.options {
        if !GRAFANA_OPTIONS.contains(&o.as_str()) {
            out.push(format!("`v.{o}` is not defined by Grafana (use the `bucket` variable for the bucket)"));
        }
    }
    for b in &flux.buckets {
        if b != "${bucket}" {
            out.push(format!("bucket {b}: use \"${{bucket}}\""));
        }
    }
    out
}

// ----------------------------------------------------------------------------------------

fn repo(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn dashboard(file: &str) -> Value {
    serde_json::from_str(&repo(&format!("dashboards/grafana/{file}"))).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// All panels, those inside rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"].as_array().unwrap().iter().collect()
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

fn datasource_uid(value: &Value) -> Option<&str> {
    value["datasource"]["uid"].as_str()
}

#[test]
fn panels_have_unique_ids_a_free_place_a_datasource_and_a_flux_query() {
    for (file, uid) in DASHBOARDS {
        let dash = dashboard(file);
        assert_eq!(dash["uid"], uid, "{file}");
        assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()), "{file}: title");
        assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{file}: schemaVersion");
        let panels = panels(&dash);
        assert!(panels.iter().filter(|p| !is_row(p)).count() >= 6, "{file}: too few panels");

        let mut ids = BTreeSet::new();
        let mut places: Vec<(u64, [u64; 4], String)> = Vec::new();
        for panel in &panels {
            let id = panel["id"].as_u64().unwrap_or_else(|| panic!("{file}: panel without an id: {}", panel["title"]));
            let at = format!("{file} panel {id} ({})", panel["title"]);
            assert!(ids.insert(id), "{at}: id used twice");
            let grid = &panel["gridPos"];
            let [x, y, w, h] =
                ["x", "y", "w", "h"].map(|k| grid[k].as_u64().unwrap_or_else(|| panic!("{at}: gridPos.{k}")));
            assert!(w >= 1 && h >= 1 && x + w <= GRID_COLUMNS, "{at}: gridPos {grid}");
            for (other, [ox, oy, ow, oh], other_at) in &places {
                let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
                assert!(!overlap, "{at} overlaps panel {other} ({other_at})");
            }
            places.push((id, [x, y, w, h], panel["title"].to_string()));
            if is_row(panel) {
                continue;
            }
            assert_eq!(panel["datasource"]["type"], "influxdb", "{at}");
            assert_eq!(datasource_uid(panel), Some(DATASOURCE_UID), "{at}");
            let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{at}: no targets"));
            assert!(!targets.is_empty(), "{at}: no targets");
            for target in targets {
                assert!(target["query"].as_str().is_some_and(|q| !q.trim().is_empty()), "{at}: empty Flux query");
                if !target["datasource"].is_null() {
                    assert_eq!(datasource_uid(target), Some(DATASOURCE_UID), "{at}: target datasource");
                }
            }
            let refs: BTreeSet<&str> = targets.iter().filter_map(|t| t["refId"].as_str()).collect();
            assert_eq!(refs.len(), targets.len(), "{at}: refIds missing or repeated");
        }
    }
}

#[test]
fn every_name_a_query_uses_is_one_fieldline_writes() {
    let schema = schema();
    let mut failures = Vec::new();
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, _) in DASHBOARDS {
        let dash = dashboard(file);
        let defined: BTreeSet<String> =
            variables(&dash).iter().filter_map(|v| v["name"].as_str()).map(String::from).collect();
        // The bucket is a hidden constant, not `v.bucket` (Grafana does not define it).
        let bucket = variables(&dash).into_iter().find(|v| v["name"] == "bucket").unwrap();
        assert_eq!(bucket["type"], "constant", "{file}");
        assert_eq!(bucket["query"], "fieldline", "{file}");

        let mut queries: Vec<(String, &str)> = Vec::new();
        for panel in panels(&dash).into_iter().filter(|p| !is_row(p)) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let at = format!("{file} panel {} ({}) query {}", panel["id"], panel["title"], target["refId"]);
                queries.push((at, target["query"].as_str().unwrap_or("")));
            }
        }
        for var in variables(&dash).into_iter().filter(|v| v["type"] == "query") {
            assert_eq!(datasource_uid(var), Some(DATASOURCE_UID), "{file} variable {}", var["name"]);
            let query = var["query"].as_str().or_else(|| var["query"]["query"].as_str()).unwrap_or("");
            queries.push((format!("{file} variable {}", var["name"]), query));
        }
        for (at, query) in queries {
            for problem in problems(query, &schema, &defined) {
                failures.push(format!("{at}: {problem}"));
            }
            let flux = Flux::scan(query);
            for m in flux.measurements {
                used.entry(m).or_default().extend(flux.fields.iter().cloned());
            }
        }
    }
    assert!(failures.is_empty(), "names fieldline does not write:\n{}", failures.join("\n"));
    // What the dashboards show, so a change of coverage is visible in the test output.
    for (m, fields) in &used {
        println!("{m}: {}", fields.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    for m in ["plant", FORECAST_MEASUREMENT, ACCURACY_MEASUREMENT, "nwp", "peony_plot", "pest_trap", "met_station"] {
        assert!(used.get(m).is_some_and(|f| !f.is_empty()), "no panel shows a field of {m}");
    }
}

#[test]
fn provisioning_matches_the_dashboards() {
    let datasource = repo("deploy/grafana/provisioning/datasources/influxdb.yaml");
    for line in [
        "type: influxdb",
        &format!("uid: {DATASOURCE_UID}"),
        "url: http://influxdb:8086",
        "version: Flux",
        "organization: fieldline",
        "defaultBucket: fieldline",
        "token: $INFLUX_TOKEN",
    ] {
        assert!(datasource.lines().any(|l| l.trim() == line), "influxdb.yaml lacks `{line}`");
    }
    let provider = repo("deploy/grafana/provisioning/dashboards/fieldline.yaml");
    assert!(provider.lines().any(|l| l.trim() == "type: file"), "fieldline.yaml: not a file provider");
    assert!(
        provider.lines().any(|l| l.trim() == "path: /var/lib/grafana/dashboards/fieldline"),
        "fieldline.yaml: path"
    );
    let readme = repo("deploy/grafana/README.md");
    assert!(readme.contains(":/var/lib/grafana/dashboards/fieldline"), "README: the dashboards' mount");
}

/// The checker itself: it must object to what does not exist, or the test above proves nothing.
#[test]
fn the_checker_finds_names_that_do_not_exist() {
    let schema = schema();
    let vars: BTreeSet<String> = ["bucket", "site"].into_iter().map(String::from).collect();
    let query = |filter: &str| {
        format!(
            "from(bucket: \"${{bucket}}\")\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n  \
             |> filter(fn: (r) => {filter})\n  |> keep(columns: [\"_time\", \"_value\", \"device\"])"
        )
    };
    let good = [
        r#"r._measurement == "plant" and r.site == "${site}" and r._field == "power_mw""#,
        r#"r["_measurement"] == "pest_trap" and r["species"] == "x" and contains(value: r._field, set: ["count", "catch"])"#,
        r#"r._measurement == "forecast" and r.horizon == "ultra_short" and r._field == "p50_mw" and r.device == "x" or r._measurement == "plant""#,
    ];
    for filter in good {
        assert_eq!(problems(&query(filter), &schema, &vars), Vec::<String>::new(), "{filter}");
    }
    let bad = [
        // a field no kind has
        r#"r._measurement == "plant" and r._field == "power_mwh""#,
        r#"r._measurement == "pest_trap" and contains(value: r._field, set: ["count", "moths"])"#,
        // a field of another kind
        r#"r._measurement == "plant" and r._field == "soil_vwc_pct""#,
        // an unknown measurement, or none
        r#"r._measurement == "weather" and r._field == "air_temp_c""#,
        r#"r._field == "power_mw""#,
        // a tag the measurement does not have
        r#"r._measurement == "peony_plot" and r.plot == "p1" and r._field == "stage""#,
        r#"r._measurement == "plant" and r["horizon"] == "short_term" and r._field == "power_mw""#,
        // a horizon or state fieldline never writes
        r#"r._measurement == "forecast" and r.horizon == "day_ahead" and r._field == "p50_mw""#,
        r#"r._measurement == "fl_alert" and r.state != "closed""#,
        // fieldline's own name, which InfluxDB refuses (the mirror writes fl_alert)
        r#"r._measurement == "_alert" and r.state != "resolved""#,
        // a field the scanner cannot read
        r#"r._measurement == "plant" and r._field =~ /power/"#,
        // an undefined variable, or v.bucket
        r#"r._measurement == "plant" and r.site == "${plant}" and r._field == "power_mw""#,
        r#"r._measurement == "plant" and r._field == "power_mw" and v.bucket == "x""#,
    ];
    for filter in bad {
        assert!(!problems(&query(filter), &schema, &vars).is_empty(), "not caught: {filter}");
    }
    // Column lists and tag lookups are checked too.
    let grouped = r#"from(bucket: "${bucket}") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "nwp")
        |> group(columns: ["issue_time"])"#;
    assert!(!problems(grouped, &schema, &vars).is_empty());
    let tag_values = r#"import "influxdata/influxdb/schema"
        schema.tagValues(bucket: "${bucket}", tag: "plot", predicate: (r) => r._measurement == "peony_plot")"#;
    assert!(!problems(tag_values, &schema, &vars).is_empty());
    let other_bucket = r#"from(bucket: "prod") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "plant")"#;
    assert!(!problems(other_bucket, &schema, &vars).is_empty());
    // Comments are not queries.
    let commented = r#"from(bucket: "${bucket}") |> range(start: -1d)
        // r._field == "no_such_field"
        |> filter(fn: (r) => r._measurement == "plant" and r._field == "power_mw")"#;
    assert_eq!(problems(commented, &schema, &vars), Vec::<String>::new());
}
