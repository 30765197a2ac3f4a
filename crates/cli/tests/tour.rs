//! `kairos tour`, black-box: the real binary at `--scale 0.2` (the size CI runs) prints each
//! experiment as it ends and exits 0 with every verdict PASS, as a table and as JSON lines;
//! it refuses a scale outside (0, 10].
//!
//! The verdicts themselves are built to hold on a loaded machine (counts, orders, lower bounds
//! that sleeps guarantee, ratios with wide margins), so requiring all of them here is a test
//! of the tour, not a benchmark.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

/// Tours run one at a time: two at once on a small machine would share its cores and blur
/// each other's timings, which is what the tour measures.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tour(args: &[&str]) -> Output {
    let _turn = turn();
    Command::new(env!("CARGO_BIN_EXE_kairos"))
        .arg("tour")
        .args(args)
        .output()
        .expect("the kairos binary runs")
}

/// The sections every tour covers, one idea of the chapter each.
const SECTIONS: [&str; 9] = ["1.3", "2.1", "2.2", "2.3", "3, 5.2", "4", "6.2", "6.3", "7"];

#[test]
fn the_tour_at_a_small_scale_prints_each_row_as_it_ends_and_passes_every_experiment() {
    let _turn = turn();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["tour", "--scale", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the kairos binary runs");
    let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
    let (mut table, mut running_at_first_row) = (String::new(), None);
    for line in stdout.lines() {
        let line = line.expect("the tour's stdout");
        if running_at_first_row.is_none() && (line.ends_with("PASS") || line.ends_with("FAIL")) {
            // Seconds of experiments are still to come: the row did not wait for them.
            running_at_first_row = Some(child.try_wait().expect("the tour's status").is_none());
        }
        table.push_str(&line);
        table.push('\n');
    }
    let status = child.wait().expect("the tour ends");
    assert_eq!(running_at_first_row, Some(true), "the first row came only at the end:\n{table}");
    assert!(status.success(), "exit {status:?}\n{table}");

    let rows: Vec<&str> = table.lines().skip(2).take_while(|line| !line.is_empty()).collect();
    assert!(rows.len() >= SECTIONS.len(), "one row per idea at least:\n{table}");
    for row in &rows {
        assert!(row.trim_end().ends_with("PASS"), "{row}\n{table}");
    }
    for section in SECTIONS {
        assert!(rows.iter().any(|l| l.starts_with(section)), "section {section}:\n{table}");
    }
    let tally = format!("{0}/{0} experiments passed", rows.len());
    assert!(table.lines().any(|l| l == tally), "{tally}:\n{table}");
}

#[test]
fn the_json_lines_report_numbers_as_numbers_and_every_verdict_passes() {
    let out = tour(&["--scale", "0.2", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{text}", out.status);
    let rows: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(rows.len() >= SECTIONS.len(), "{text}");
    for row in &rows {
        for field in ["section", "experiment", "expected", "summary"] {
            assert!(row[field].is_string(), "{field} in {row}");
        }
        // An object of numbers (empty for a row whose outcome is not a number, such as the
        // error held in gather's slot).
        let measured = row["measured"].as_object().expect("measured is an object");
        for (name, value) in measured {
            assert!(value.is_number(), "{name} is not a number in {row}");
        }
        assert_eq!(row["verdict"], "PASS", "{row}");
    }
    for section in SECTIONS {
        assert!(rows.iter().any(|r| r["section"] == section), "section {section}:\n{text}");
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
