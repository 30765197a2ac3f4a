//! The report: one row per experiment, printed the moment the experiment ends — as a line of
//! a table, or as one JSON object per line whose measurements are numbers — and kept, with
//! the trace of its run, for the HTML page when `--html` asks for one.
//!
//! An experiment that has a timeline to show calls [`Report::mark`] when its run starts; its
//! row, pushed when it ends, covers `[mark, push]`, and the trace of that window is taken at
//! the push, while the recorder still holds it (its ring keeps the recent past only).

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

/// When an experiment's run began and ended, on the trace clock (microseconds, as a trace's
/// `ts`: the tour runs the server in its own process, so it reads the same clock).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) from_us: f64,
    pub(crate) to_us: f64,
}

impl Span {
    /// A span starting now, to be ended by [`Span::end`].
    pub(crate) fn start() -> f64 {
        kairos::rt::record::now_micros()
    }

    /// The span from `from_us` to now.
    pub(crate) fn end(from_us: f64) -> Span {
        Span { from_us, to_us: kairos::rt::record::now_micros() }
    }
}

/// The trace of a window as `/debug/trace` exports it (Trace Event JSON), or `None` when
/// there is none to give.
pub(crate) type Snapshot = Box<dyn Fn(Span) -> Option<String>>;

/// A row as the HTML page shows it: the row, when its run happened, what the recorder saw.
pub(crate) struct Kept {
    pub(crate) row: Row,
    pub(crate) span: Option<Span>,
    pub(crate) trace: Option<String>,
}

/// The report being printed: rows go out as they come, the tally at the end.
pub(crate) struct Report {
    json: bool,
    rows: usize,
    passed: usize,
    /// The start of the run whose row comes next, if it asked for a timeline.
    mark: Option<f64>,
    /// The next row's run, given whole by [`Report::span`].
    span: Option<Span>,
    /// Every row, with its trace, when the page is wanted.
    kept: Option<(Vec<Kept>, Snapshot)>,
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
        Report { json, rows: 0, passed: 0, mark: None, span: None, kept: None }
    }

    /// Keeps every row for the HTML page, each marked run with the trace `snapshot` gives
    /// for its window.
    pub(crate) fn keep(mut self, snapshot: Snapshot) -> Report {
        self.kept = Some((Vec::new(), snapshot));
        self
    }

    /// The run of the next row starts now: its page entry gets the timeline of the run.
    pub(crate) fn mark(&mut self) {
        self.mark = Some(Span::start());
    }

    /// The next row's run was `span` (for a run measured before the row before it).
    pub(crate) fn span(&mut self, span: Span) {
        self.mark = None;
        self.span = Some(span);
    }

    /// Prints `row` now, so a long tour shows its progress (Rust's stdout writes out each
    /// line as it ends, into a pipe too).
    pub(crate) fn push(&mut self, row: Row) {
        let marked = self.mark.take().map(Span::end);
        let span = self.span.take().or(marked);
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
        if let Some((kept, snapshot)) = &mut self.kept {
            let trace = span.and_then(snapshot);
            kept.push(Kept { row, span, trace });
        }
    }

    /// Ends the report with its tally (table only): whether every verdict passed, and the
    /// rows kept for the page.
    pub(crate) fn finish(self) -> (bool, Vec<Kept>) {
        if !self.json {
            println!("\n{}/{} experiments passed", self.passed, self.rows);
        }
        let passed = self.rows > 0 && self.passed == self.rows;
        (passed, self.kept.map(|(kept, _)| kept).unwrap_or_default())
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
