//! The report: one row per experiment, printed as an aligned table or as JSON.

use serde::Serialize;

/// One experiment's outcome.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) section: String,
    pub(crate) experiment: String,
    pub(crate) expected: String,
    pub(crate) measured: String,
    /// Serialised as the verdict's word, the same one the table prints.
    #[serde(rename = "verdict", serialize_with = "verdict")]
    pub(crate) pass: bool,
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

/// The rows as a JSON array.
pub(crate) fn json(rows: &[Row]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(rows)
}

/// The rows as a table, columns padded to their widest cell, and a closing tally.
pub(crate) fn table(rows: &[Row]) -> String {
    let header = ["section", "experiment", "expected", "measured", "verdict"];
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| [&*r.section, &*r.experiment, &*r.expected, &*r.measured, word(r.pass)])
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |row: &[&str; 5]| {
        let padded: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&header);
    out.push_str(&line(&widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str)));
    for row in &cells {
        out.push_str(&line(row));
    }
    let passed = rows.iter().filter(|r| r.pass).count();
    out.push_str(&format!("\n{passed}/{} experiments passed\n", rows.len()));
    out
}
