//! The report: one row per experiment, printed the moment the experiment ends — as a line of
//! a table, or as one JSON object per line whose measurements are numbers.

use serde::Serialize;
use serde_json::{Map, Value};

/// What an experiment measured: the table's words, the same figures as numbers, the verdict.
#[derive(Debug)]
pub(crate) struct Measured {
    summary: String,
    values: Map<String, Value>,
    pass: bool,
}

impl Measured {
    /// The words the table prints in its `measured` column.
    pub(crate) fn new(summary: impl Into<String>) -> Measured {
        Measured { summary: summary.into(), values: Map::new(), pass: false }
    }

    /// One figure, as JSON reports it: a number, its unit in its name (`wall_s`, `slow_polls`).
    pub(crate) fn value(mut self, name: &str, value: impl Into<Value>) -> Measured {
        self.values.insert(name.to_owned(), value.into());
        self
    }

    /// Whether the figures have the shape the chapter predicts.
    pub(crate) fn verdict(mut self, pass: bool) -> Measured {
        self.pass = pass;
        self
    }
}

/// One experiment's outcome, as JSON prints it.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) section: String,
    pub(crate) experiment: String,
    /// What the chapter predicts, in words.
    pub(crate) expected: String,
    /// The measurements, as numbers.
    pub(crate) measured: Map<String, Value>,
    /// The measurements in words, as the table prints them.
    pub(crate) summary: String,
    /// Why the experiment could not run, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// Serialised as the verdict's word, the same one the table prints.
    #[serde(rename = "verdict", serialize_with = "verdict")]
    pub(crate) pass: bool,
}

impl Row {
    /// The row of an experiment that ran, or a FAIL row saying why it could not.
    pub(crate) fn new(
        section: &str,
        experiment: &str,
        expected: String,
        result: anyhow::Result<Measured>,
    ) -> Row {
        let (summary, measured, error, pass) = match result {
            Ok(m) => (m.summary, m.values, None, m.pass),
            Err(e) => (format!("error: {e:#}"), Map::new(), Some(format!("{e:#}")), false),
        };
        Row {
            section: section.to_owned(),
            experiment: experiment.to_owned(),
            expected,
            measured,
            summary,
            error,
            pass,
        }
    }
}

fn verdict<S: serde::Serializer>(pass: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(word(*pass))
}

fn word(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Column widths of the table: fixed, since each row is printed before the next exists; a
/// longer cell pushes the rest of its line right.
const WIDTHS: [usize; 4] = [7, 50, 48, 50];

/// The report being printed: rows go out as they come, the tally at the end.
pub(crate) struct Report {
    json: bool,
    rows: usize,
    passed: usize,
}

impl Report {
    /// Starts the report (the table's header; nothing for JSON Lines).
    pub(crate) fn new(json: bool) -> Report {
        if !json {
            let header = ["section", "experiment", "expected", "measured", "verdict"];
            print!("{}", line(header));
            let rules = WIDTHS.map(|w| "-".repeat(w));
            print!("{}", line([&rules[0], &rules[1], &rules[2], &rules[3], "-------"]));
        }
        Report { json, rows: 0, passed: 0 }
    }

    /// Prints `row` now, so a long tour shows its progress (Rust's stdout writes out each
    /// line as it ends, into a pipe too).
    pub(crate) fn push(&mut self, row: Row) {
        self.rows += 1;
        self.passed += usize::from(row.pass);
        if self.json {
            match serde_json::to_string(&row) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("a row could not be written as JSON: {e}"),
            }
        } else {
            let cells = [&*row.section, &*row.experiment, &*row.expected, &*row.summary];
            print!("{}", line([cells[0], cells[1], cells[2], cells[3], word(row.pass)]));
        }
    }

    /// Ends the report with its tally (table only); true if every verdict passed.
    pub(crate) fn finish(self) -> bool {
        if !self.json {
            println!("\n{}/{} experiments passed", self.passed, self.rows);
        }
        self.rows > 0 && self.passed == self.rows
    }
}

/// Cells padded to their column's width, the verdict last.
fn line(cells: [&str; 5]) -> String {
    let mut out = String::new();
    for (cell, width) in cells.iter().zip(WIDTHS) {
        out.push_str(&format!("{cell:<width$}  "));
    }
    out.push_str(cells[4]);
    format!("{}\n", out.trim_end())
}
