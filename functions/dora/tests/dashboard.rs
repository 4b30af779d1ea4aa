//! template.yaml agrees with the crate: the DORA dashboard reads exactly the metrics the
//! calculators write (`dora::model::METRICS`, dimension `Pipeline`, the namespace parameter), draws
//! the tiers of `dora::tiers`, and every variable a DORA function is given is one the crate reads.
//!
//! The template is read as text: CloudFormation's tags (`!Sub`, `!Ref`) make a YAML parse awkward,
//! and the parts read here (the dashboard's JSON body, a function's variables) have a plain shape.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dora::model::{
    DEFAULT_NAMESPACE, DEPLOYMENT_COUNT, FAILED_DEPLOYMENT_COUNT, LEAD_TIME_FOR_CHANGES, METRICS,
    PIPELINE_DIMENSION, TIME_TO_RESTORE,
};
use dora::tiers;
use serde_json::Value;

/// The four DORA binaries, as `BuildProperties: Binary:` names them.
const BINARIES: [&str; 4] = [
    "dora-deployment-frequency",
    "dora-lead-time",
    "dora-change-failure-rate",
    "dora-time-to-restore",
];
/// The template parameter that holds the namespace (METRICS_NAMESPACE).
const NAMESPACE_PARAMETER: &str = "DoraMetricsNamespace";
const REPORT: &str = "2023 Accelerate State of DevOps Report";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of the top-level section `name:` (`Resources`, `Parameters`…).
fn section<'a>(tpl: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("{name}:");
    let mut lines = tpl.lines().skip_while(|l| l.trim_end() != header);
    assert!(
        lines.next().is_some(),
        "template.yaml has no {header} section"
    );
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .collect()
}

/// The lines of one entry of a section (`  Name:` up to the next entry at the same indentation).
fn entry<'a>(section: &[&'a str], name: &str) -> Vec<&'a str> {
    let header = format!("  {name}:");
    let start = section
        .iter()
        .position(|l| l.trim_end() == header)
        .unwrap_or_else(|| panic!("template.yaml declares no {name}"));
    section[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > 2 || l.trim_start().starts_with('#'))
        .copied()
        .collect()
}

/// The value of `key: value` in an entry, at any depth (the first one).
fn scalar(lines: &[&str], key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    lines.iter().find_map(|l| {
        let rest = l.trim().strip_prefix(&prefix)?;
        Some(rest.trim().trim_matches('"').to_string())
    })
}

/// The map under `heading:` (the keys one level deeper), e.g. `Variables:` -> names and values.
fn mapping(lines: &[&str], heading: &str) -> BTreeMap<String, String> {
    let Some(start) = lines.iter().position(|l| l.trim() == heading) else {
        return BTreeMap::new();
    };
    let depth = indent(lines[start]);
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > depth)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Logical id of each DORA function, by binary name.
fn dora_functions(tpl: &str) -> BTreeMap<&'static str, String> {
    let resources = section(tpl, "Resources");
    let mut found = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in &resources {
        if indent(line) == 2 && line.trim_end().ends_with(':') && !line.trim().starts_with('#') {
            current = Some(line.trim().trim_end_matches(':'));
        }
        if let (Some(id), Some(binary)) = (current, line.trim().strip_prefix("Binary:"))
            && let Some(name) = BINARIES.iter().find(|b| **b == binary.trim())
        {
            found.insert(*name, id.to_string());
        }
    }
    found
}

/// The namespace parameter's default, which is what the functions get unless overridden.
fn namespace_default(tpl: &str) -> String {
    let parameters = section(tpl, "Parameters");
    scalar(&entry(&parameters, NAMESPACE_PARAMETER), "Default")
        .expect("DoraMetricsNamespace has a Default")
}

/// The dashboard's body as JSON, with `${DoraMetricsNamespace}` and `${AWS::Region}` substituted
/// (by the parameter's default and a region) as CloudFormation's !Sub does.
fn dashboard(tpl: &str) -> Value {
    let resources = section(tpl, "Resources");
    let block = entry(&resources, "DoraDashboard");
    assert_eq!(
        scalar(&block, "Type").as_deref(),
        Some("AWS::CloudWatch::Dashboard")
    );
    let start = block
        .iter()
        .position(|l| l.trim() == "DashboardBody: !Sub |")
        .expect("DoraDashboard's DashboardBody is a !Sub block scalar");
    let depth = indent(block[start]);
    let body: Vec<&str> = block[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > depth)
        .copied()
        .collect();
    let json = body
        .join("\n")
        .replace(
            &format!("${{{NAMESPACE_PARAMETER}}}"),
            &namespace_default(tpl),
        )
        .replace("${AWS::Region}", "eu-west-1");
    assert!(
        !json.contains("${"),
        "the dashboard substitutes only the namespace and the region: {}",
        &json[json.find("${").unwrap_or(0)..][..40.min(json.len())]
    );
    serde_json::from_str(&json).expect("the dashboard body is JSON")
}

/// One series a graph reads: its namespace, metric, dimension names, statistic and id, whether
/// it comes from a SEARCH expression, and the widget it is in.
#[derive(Debug, Clone)]
struct Series {
    namespace: String,
    metric: String,
    dimensions: Vec<String>,
    stat: Option<String>,
    id: Option<String>,
    search: bool,
    widget: usize,
}

/// `SEARCH('{NS,Dim} MetricName="X"', 'stat', period)` -> (namespace, dimensions, metric, stat).
fn searches(expression: &str) -> Vec<(String, Vec<String>, String, String)> {
    let mut found = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find("SEARCH(") {
        rest = &rest[at + "SEARCH(".len()..];
        let args: Vec<&str> = rest.split('\'').collect();
        // args: ["", query, ", ", stat, ", period)..."]
        assert!(
            args.len() >= 4,
            "SEARCH with quoted query and statistic: {expression}"
        );
        let (query, stat) = (args[1], args[3]);
        let schema = query
            .strip_prefix('{')
            .and_then(|q| q.split_once('}'))
            .unwrap_or_else(|| panic!("SEARCH query starts with a {{schema}}: {query}"));
        let mut names = schema.0.split(',').map(|s| s.trim().to_string());
        let namespace = names.next().unwrap_or_default();
        let dimensions: Vec<String> = names.collect();
        let metric = schema
            .1
            .split("MetricName=\"")
            .nth(1)
            .and_then(|m| m.split('"').next())
            .unwrap_or_else(|| panic!("SEARCH names its metric exactly: {query}"))
            .to_string();
        found.push((namespace, dimensions, metric, stat.to_string()));
    }
    found
}

/// Every series of every graph widget.
fn series(dashboard: &Value) -> Vec<Series> {
    let widgets = dashboard["widgets"].as_array().expect("widgets");
    let mut all = Vec::new();
    for (w, widget) in widgets.iter().enumerate() {
        if widget["type"] != "metric" {
            continue;
        }
        let props = &widget["properties"];
        let default_stat = props["stat"].as_str().map(str::to_string);
        for row in props["metrics"].as_array().expect("a graph lists metrics") {
            let row = row.as_array().expect("each metrics row is an array");
            let options = row.iter().find(|v| v.is_object());
            let id = options.and_then(|o| o["id"].as_str()).map(str::to_string);
            if let Some(expression) = options.and_then(|o| o["expression"].as_str()) {
                for (namespace, dimensions, metric, stat) in searches(expression) {
                    all.push(Series {
                        namespace,
                        metric,
                        dimensions,
                        stat: Some(stat),
                        id: id.clone(),
                        search: true,
                        widget: w,
                    });
                }
                continue;
            }
            let strings: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
            assert!(
                strings.len() >= 2 && strings.len().is_multiple_of(2),
                "a metric row is namespace, name, then dimension name/value pairs: {row:?}"
            );
            all.push(Series {
                namespace: strings[0].to_string(),
                metric: strings[1].to_string(),
                dimensions: strings[2..]
                    .iter()
                    .step_by(2)
                    .map(|s| s.to_string())
                    .collect(),
                stat: options
                    .and_then(|o| o["stat"].as_str())
                    .map(str::to_string)
                    .or_else(|| default_stat.clone()),
                id,
                search: false,
                widget: w,
            });
        }
    }
    all
}

#[test]
fn the_namespace_parameter_defaults_to_the_crates_namespace() {
    assert_eq!(namespace_default(&template()), DEFAULT_NAMESPACE);
}

#[test]
fn the_dashboard_reads_every_metric_the_calculators_write() {
    let read: BTreeSet<String> = series(&dashboard(&template()))
        .into_iter()
        .map(|s| s.metric)
        .collect();
    for metric in METRICS {
        assert!(read.contains(metric), "the dashboard never reads {metric}");
    }
}

#[test]
fn the_dashboard_reads_no_other_metric_and_no_other_namespace() {
    let tpl = template();
    let namespace = namespace_default(&tpl);
    let all = series(&dashboard(&tpl));
    assert!(!all.is_empty());
    for s in &all {
        assert_eq!(
            s.namespace, namespace,
            "{} is read from another namespace",
            s.metric
        );
        assert!(
            METRICS.contains(&s.metric.as_str()),
            "the dashboard reads {}, which no calculator writes (they write {METRICS:?})",
            s.metric
        );
    }
}

#[test]
fn every_metric_is_shown_in_total_without_dimensions_and_per_pipeline() {
    let all = series(&dashboard(&template()));
    for metric in METRICS {
        assert!(
            all.iter()
                .any(|s| s.metric == metric && !s.search && s.dimensions.is_empty()),
            "{metric}: no all-pipelines series (the one without dimensions)"
        );
        assert!(
            all.iter()
                .any(|s| s.metric == metric && s.search && s.dimensions == [PIPELINE_DIMENSION]),
            "{metric}: no per-pipeline SEARCH on exactly the {PIPELINE_DIMENSION} dimension"
        );
        assert!(
            all.iter()
                .filter(|s| s.metric == metric)
                .all(|s| s.dimensions.is_empty() || s.dimensions == [PIPELINE_DIMENSION]),
            "{metric}: a series with a dimension the calculators do not write"
        );
    }
}

#[test]
fn lead_time_and_time_to_restore_are_shown_as_p50_and_p90_in_total_and_per_pipeline() {
    let all = series(&dashboard(&template()));
    for metric in [LEAD_TIME_FOR_CHANGES, TIME_TO_RESTORE] {
        for stat in ["p50", "p90"] {
            for per_pipeline in [false, true] {
                assert!(
                    all.iter().any(|s| s.metric == metric
                        && s.search == per_pipeline
                        && s.stat.as_deref() == Some(stat)),
                    "{metric}: no {stat} {}",
                    if per_pipeline {
                        "per pipeline"
                    } else {
                        "in total"
                    }
                );
            }
        }
    }
}

#[test]
fn counts_are_summed() {
    for s in series(&dashboard(&template())) {
        if s.metric == DEPLOYMENT_COUNT || s.metric == FAILED_DEPLOYMENT_COUNT {
            assert_eq!(s.stat.as_deref(), Some("Sum"), "{s:?}");
        }
    }
}

#[test]
fn change_failure_rate_is_failed_deployments_over_deployments_times_100() {
    let body = dashboard(&template());
    let all = series(&body);
    let id_of = |metric: &str| {
        all.iter()
            .filter(|s| s.metric == metric && !s.search)
            .filter_map(|s| s.id.clone())
            .collect::<Vec<_>>()
    };
    let (failed, deployed) = (id_of(FAILED_DEPLOYMENT_COUNT), id_of(DEPLOYMENT_COUNT));
    let expressions: Vec<String> = body["widgets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|row| row.get(0)?.get("expression")?.as_str().map(str::to_string))
        .collect();
    let rate = expressions.iter().find(|e| {
        let Some((numerator, denominator)) = e.split_once('/') else {
            return false;
        };
        numerator.contains("100")
            && failed.iter().any(|id| numerator.contains(id.as_str()))
            && deployed.iter().any(|id| denominator.trim() == id)
    });
    assert!(
        rate.is_some(),
        "no expression 100 * {FAILED_DEPLOYMENT_COUNT} / {DEPLOYMENT_COUNT} (ids {failed:?} / {deployed:?}) in {expressions:?}"
    );
}

/// One widget's tier lines: (value, the widget's period, label).
type Lines = Vec<(f64, f64, String)>;

/// The horizontal annotations of each annotated widget, by the key it shows.
fn annotations_by_key(body: &Value) -> BTreeMap<&'static str, Vec<Lines>> {
    let all = series(body);
    let mut by_key: BTreeMap<&'static str, Vec<Lines>> = BTreeMap::new();
    for (w, widget) in body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .enumerate()
    {
        let Some(lines) = widget["properties"]["annotations"]["horizontal"].as_array() else {
            continue;
        };
        let reads = |m: &str| all.iter().any(|s| s.widget == w && s.metric == m);
        let key = if reads(FAILED_DEPLOYMENT_COUNT) {
            FAILED_DEPLOYMENT_COUNT
        } else if reads(DEPLOYMENT_COUNT) {
            DEPLOYMENT_COUNT
        } else if reads(LEAD_TIME_FOR_CHANGES) {
            LEAD_TIME_FOR_CHANGES
        } else if reads(TIME_TO_RESTORE) {
            TIME_TO_RESTORE
        } else {
            panic!("widget {w} has tier lines but reads no DORA metric")
        };
        let period = widget["properties"]["period"].as_f64().expect("a period");
        let lines = lines
            .iter()
            .map(|line| {
                let value = line["value"].as_f64().expect("an annotation value");
                let label = line["label"].as_str().unwrap_or_default().to_string();
                (value, period, label)
            })
            .collect();
        by_key.entry(key).or_default().push(lines);
    }
    by_key
}

/// Each widget of `key` draws exactly the lines `expected(period)` (within 0.1 %).
fn assert_lines(key: &str, widgets: &[Lines], expected: impl Fn(f64) -> Vec<f64>) {
    assert!(!widgets.is_empty(), "{key}: no tier lines");
    for lines in widgets {
        let period = lines.first().map_or(0.0, |l| l.1);
        let mut values: Vec<f64> = lines.iter().map(|l| l.0).collect();
        values.sort_by(f64::total_cmp);
        let mut want = expected(period);
        want.sort_by(f64::total_cmp);
        assert_eq!(
            values.len(),
            want.len(),
            "{key}: lines {values:?}, tiers {want:?}"
        );
        for (got, want) in values.iter().zip(&want) {
            assert!(
                (got - want).abs() <= want * 0.001,
                "{key}: a tier line at {got}, dora::tiers says {want} (all: {values:?})"
            );
        }
    }
}

#[test]
fn the_tier_lines_are_the_thresholds_of_dora_tiers_in_the_widgets_units() {
    let by_key = annotations_by_key(&dashboard(&template()));
    // Deployments per widget period (a week: 7 × the per-day thresholds).
    assert_lines(DEPLOYMENT_COUNT, &by_key[DEPLOYMENT_COUNT], |period| {
        [
            tiers::DEPLOYS_PER_DAY_ELITE,
            tiers::DEPLOYS_PER_DAY_HIGH,
            tiers::DEPLOYS_PER_DAY_MEDIUM,
        ]
        .map(|per_day| per_day * period / tiers::DAY as f64)
        .to_vec()
    });
    // Hours.
    let hours = |s: i64| s as f64 / tiers::HOUR as f64;
    assert_lines(
        LEAD_TIME_FOR_CHANGES,
        &by_key[LEAD_TIME_FOR_CHANGES],
        |_| {
            vec![
                hours(tiers::LEAD_TIME_ELITE_SECONDS),
                hours(tiers::LEAD_TIME_HIGH_SECONDS),
                hours(tiers::LEAD_TIME_MEDIUM_SECONDS),
            ]
        },
    );
    assert_lines(TIME_TO_RESTORE, &by_key[TIME_TO_RESTORE], |_| {
        vec![
            hours(tiers::TIME_TO_RESTORE_ELITE_SECONDS),
            hours(tiers::TIME_TO_RESTORE_HIGH_SECONDS),
            hours(tiers::TIME_TO_RESTORE_MEDIUM_SECONDS),
        ]
    });
    // Percent.
    assert_lines(
        FAILED_DEPLOYMENT_COUNT,
        &by_key[FAILED_DEPLOYMENT_COUNT],
        |_| {
            [
                tiers::CHANGE_FAILURE_RATE_ELITE,
                tiers::CHANGE_FAILURE_RATE_HIGH,
                tiers::CHANGE_FAILURE_RATE_MEDIUM,
            ]
            .map(|rate| rate * 100.0)
            .to_vec()
        },
    );
}

#[test]
fn lead_time_and_time_to_restore_are_drawn_in_hours_to_match_their_tier_lines() {
    let body = dashboard(&template());
    for widget in body["widgets"].as_array().expect("widgets") {
        let props = &widget["properties"];
        let text = props["metrics"].to_string();
        let is_duration = text.contains(LEAD_TIME_FOR_CHANGES) || text.contains(TIME_TO_RESTORE);
        if !is_duration {
            continue;
        }
        assert_eq!(
            props["yAxis"]["left"]["label"], "hours",
            "{}",
            props["title"]
        );
        for row in props["metrics"].as_array().expect("metrics") {
            let options = row
                .as_array()
                .and_then(|r| r.iter().find(|v| v.is_object()));
            let visible = options.and_then(|o| o["visible"].as_bool()).unwrap_or(true);
            if visible {
                let expression = options.and_then(|o| o["expression"].as_str());
                assert!(
                    expression.is_some_and(|e| e.trim_end().ends_with("/ 3600")),
                    "a visible duration series is seconds / 3600: {row}"
                );
            }
        }
    }
}

#[test]
fn the_tier_lines_cite_the_report_and_year_that_dora_tiers_uses() {
    assert!(tiers::SOURCE.contains("2023") && tiers::SOURCE.contains("State of DevOps Report"));
    let by_key = annotations_by_key(&dashboard(&template()));
    // The 2023 clusters give no rework-rate thresholds: its widgets draw no tier lines.
    for metric in METRICS
        .into_iter()
        .filter(|m| *m != dora::model::REWORK_DEPLOYMENT_COUNT)
    {
        let lines = by_key
            .get(metric)
            .unwrap_or_else(|| panic!("{metric}: no tier lines"));
        for widget in lines {
            assert!(
                widget.iter().any(|(_, _, label)| label.contains(REPORT)),
                "{metric}: a widget whose tier lines do not cite the {REPORT}"
            );
        }
    }
}

/// Every `.rs` file under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).expect("read a source file"));
            }
        }
    }
    text
}

#[test]
fn there_are_four_dora_functions_each_with_its_binary() {
    let functions = dora_functions(&template());
    assert_eq!(
        functions.keys().copied().collect::<BTreeSet<_>>(),
        BINARIES.into_iter().collect(),
        "template.yaml declares {functions:?}"
    );
    for binary in BINARIES {
        let path = root().join(format!("functions/dora/src/bin/{binary}.rs"));
        assert!(path.is_file(), "{binary} has no {}", path.display());
    }
}

#[test]
fn every_variable_a_dora_function_declares_is_one_the_crate_reads() {
    let tpl = template();
    let crate_sources = sources(&root().join("functions/dora/src"));
    let shared_sources = sources(&root().join("shared/src"));
    let resources = section(&tpl, "Resources");
    for (binary, id) in dora_functions(&tpl) {
        let variables = mapping(&entry(&resources, &id), "Variables:");
        assert!(!variables.is_empty(), "{binary} declares no variables");
        for name in variables.keys() {
            assert!(
                crate_sources.contains(&format!("\"{name}\"")),
                "{binary} is given {name}, which functions/dora never reads"
            );
        }
    }
    // The Globals every function gets: read by the crate or by the shared crate it builds on.
    let globals = section(&tpl, "Globals");
    for name in mapping(&globals, "Variables:").keys() {
        let quoted = format!("\"{name}\"");
        assert!(
            crate_sources.contains(&quoted) || shared_sources.contains(&quoted),
            "Globals give {name}, which neither functions/dora nor shared reads"
        );
    }
}

#[test]
fn the_calculators_listen_to_pipeline_successes_and_the_failure_keys_to_opsitems() {
    let tpl = template();
    let resources = section(&tpl, "Resources");
    for (binary, id) in dora_functions(&tpl) {
        let text = entry(&resources, &id).join("\n");
        assert!(text.contains("source: [aws.codepipeline]"), "{binary}");
        assert!(
            text.contains("CodePipeline Pipeline Execution State Change"),
            "{binary}"
        );
        assert!(
            text.contains("CodePipeline Stage Execution State Change"),
            "{binary}"
        );
        let opsitems = text.contains("source: [aws.ssm]")
            && text.contains("detail-type: [OpsItem Create, OpsItem Update]");
        let wants_opsitems = matches!(binary, "dora-change-failure-rate" | "dora-time-to-restore");
        assert_eq!(opsitems, wants_opsitems, "{binary}: OpsItem rule");
    }
}

#[test]
fn the_forwarder_sends_exactly_the_events_the_calculators_listen_to() {
    let forwarder = std::fs::read_to_string(root().join("templates/dora-forwarder.yaml"))
        .expect("read templates/dora-forwarder.yaml");
    let tpl = template();
    let resources = section(&tpl, "Resources");
    let patterns = [
        "source: [aws.codepipeline]",
        "- CodePipeline Pipeline Execution State Change",
        "- CodePipeline Stage Execution State Change",
        "state: [SUCCEEDED]",
        "source: [aws.ssm]",
        "detail-type: [OpsItem Create, OpsItem Update]",
    ];
    for pattern in patterns {
        assert!(forwarder.contains(pattern), "the forwarder lacks {pattern}");
        let listened = dora_functions(&tpl)
            .values()
            .any(|id| entry(&resources, id).iter().any(|l| l.trim() == pattern));
        assert!(listened, "no DORA function listens to {pattern}");
    }
    // The central side accepts them: a bus policy for the allowed accounts and one for the org.
    for (policy, condition) in [
        (
            "DoraEventBusPolicyAccounts",
            "HasCrossAccountAllowedAccounts",
        ),
        ("DoraEventBusPolicyOrganization", "HasCrossAccountOrgId"),
    ] {
        let block = entry(&resources, policy);
        assert_eq!(
            scalar(&block, "Type").as_deref(),
            Some("AWS::Events::EventBusPolicy")
        );
        assert_eq!(scalar(&block, "Condition").as_deref(), Some(condition));
        assert_eq!(
            scalar(&block, "Action").as_deref(),
            Some("events:PutEvents")
        );
    }
}
