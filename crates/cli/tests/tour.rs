//! `kairos tour`, black-box: the real binary at `--scale 0.2` (the size CI runs) exits 0 with
//! every experiment PASS, as a table and as JSON, and refuses a scale outside (0, 10].

use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

/// Tours run one at a time: two at once on a small machine would share its cores and blur
/// each other's timings, which is what the tour measures.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn tour(args: &[&str]) -> Output {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Command::new(env!("CARGO_BIN_EXE_kairos"))
        .arg("tour")
        .args(args)
        .output()
        .expect("the kairos binary runs")
}

#[test]
fn the_tour_at_a_small_scale_passes_every_experiment() {
    let out = tour(&["--scale", "0.2"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{table}", out.status);
    let rows: Vec<&str> = table.lines().skip(2).take_while(|line| !line.is_empty()).collect();
    assert!(rows.len() >= 9, "one row per idea at least:\n{table}");
    for row in rows {
        assert!(row.trim_end().ends_with("PASS"), "{row}\n{table}");
    }
    for section in ["1.3", "2.1", "2.2", "2.3", "3, 5.2", "4", "6.2", "6.3", "7"] {
        assert!(table.lines().any(|l| l.starts_with(section)), "section {section}:\n{table}");
    }
}

#[test]
fn the_json_report_parses_and_every_verdict_passes() {
    let out = tour(&["--scale", "0.2", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{text}", out.status);
    let rows: Vec<Value> = serde_json::from_str(&text).expect("the report is a JSON array");
    assert!(rows.len() >= 9);
    for row in &rows {
        for field in ["section", "experiment", "expected", "measured"] {
            assert!(row[field].is_string(), "{field} in {row}");
        }
        assert_eq!(row["verdict"], "PASS", "{row}");
    }
}

#[test]
fn a_scale_outside_its_range_is_a_usage_error() {
    for scale in ["0", "-1", "10.5", "nan", "fast"] {
        // `--scale=-1`, so that clap does not read `-1` as a flag of its own.
        let out = tour(&[&format!("--scale={scale}")]);
        assert_eq!(out.status.code(), Some(2), "--scale {scale}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value"), "--scale {scale}");
    }
}
