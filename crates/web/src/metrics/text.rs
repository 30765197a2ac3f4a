//! [`Families`]: metric families gathered for one scrape, and their encoding in Prometheus'
//! text exposition format, version 0.0.4.
//!
//! The format is a few rules (a family's `# HELP` and `# TYPE` lines, then all its samples
//! together; `\\`, `"` and newlines escaped in label values; a histogram as cumulative
//! `_bucket{le=...}` samples ending at `+Inf`, then `_sum` and `_count`), so it is written
//! here directly rather than through the `prometheus-client` crate: that crate's registry
//! holds live metric objects (a `Family` behind a lock, looked up by hashing its labels on
//! every observation) and encodes what they hold, while here every worker counts in plain
//! cells on its own loop and a scrape gathers *snapshots* from each worker — data that only
//! has to be merged and written out once.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What kind of metric a family is: its `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A total that only grows (reset only when its process or worker restarts); its name
    /// ends in `_total`.
    Counter,
    /// A level that goes up and down.
    Gauge,
    /// Observations counted in buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A histogram's data: observations per bucket, not cumulative (the encoding adds them up).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The buckets' upper bounds, ascending, in the metric's unit (seconds for a duration).
    pub bounds: Vec<f64>,
    /// Observations per bucket: `bounds.len() + 1` of them, the last for observations above
    /// every bound.
    pub counts: Vec<u64>,
    /// Every observation added up, in the metric's unit.
    pub sum: f64,
}

impl Histogram {
    /// A histogram of durations, in seconds (Prometheus' base unit): `bounds` and `counts` as
    /// in [`Histogram`].
    pub fn of_durations(bounds: &[Duration], counts: &[u64], sum: Duration) -> Histogram {
        Histogram {
            bounds: bounds.iter().map(Duration::as_secs_f64).collect(),
            counts: counts.to_vec(),
            sum: sum.as_secs_f64(),
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One family: a name, its help and kind, and its samples (each a label set and a value).
#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    labels: Vec<(String, String)>,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    Float(f64),
    Histogram(Histogram),
}

/// The metric families of one scrape, in the order they were first named, ready to be
/// [`encode`](Families::encode)d.
///
/// Recording a sample names its family: the first sample of a name sets its help and kind,
/// and every later one (from another worker, say) joins it, so that the family's samples are
/// written together as the format requires. Labels [`with_label`](Families::with_label)
/// adds come first on every sample: that is how each worker's samples carry `worker="N"`.
///
/// ```
/// use kairos_web::metrics::Families;
///
/// let mut families = Families::new().with_label("worker", "0");
/// families.counter("jobs_done_total", "Jobs done.", &[("queue", "mail")], 7);
/// families.gauge("jobs_waiting", "Jobs waiting now.", &[], 2.0);
/// let expected = [
///     "# HELP jobs_done_total Jobs done.",
///     "# TYPE jobs_done_total counter",
///     r#"jobs_done_total{worker="0",queue="mail"} 7"#,
///     "# HELP jobs_waiting Jobs waiting now.",
///     "# TYPE jobs_waiting gauge",
///     r#"jobs_waiting{worker="0"} 2"#,
/// ];
/// assert_eq!(families.encode(), expected.join("\n") + "\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Families {
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
    labels: Vec<(String, String)>,
}

impl Families {
    /// No families yet.
    pub fn new() -> Families {
        Families::default()
    }

    /// Puts `name="value"` first on every sample recorded from now on.
    ///
    /// # Panics
    /// If `name` is not a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    pub fn with_label(mut self, name: &str, value: &str) -> Families {
        check_label_name(name);
        self.labels.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Records a counter's value. `name` should end in `_total`, and a duration or a size
    /// be in seconds or bytes (Prometheus' naming rules).
    ///
    /// # Panics
    /// If a name is not valid, or `name` was recorded before as another kind: both are
    /// mistakes in the code that records them.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.push(name, help, Kind::Counter, labels, Value::Int(value));
    }

    /// Records a gauge's value (see [`counter`](Families::counter) for the names).
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.push(name, help, Kind::Gauge, labels, Value::Float(value));
    }

    /// Records a histogram (see [`counter`](Families::counter) for the names; a duration's
    /// histogram is named `..._seconds`).
    ///
    /// # Panics
    /// Also if `histogram.counts` does not have one entry more than `histogram.bounds`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        histogram: Histogram,
    ) {
        assert_eq!(
            histogram.counts.len(),
            histogram.bounds.len() + 1,
            "histogram {name}: counts needs one entry per bound and one for +Inf"
        );
        self.push(name, help, Kind::Histogram, labels, Value::Histogram(histogram));
    }

    /// Adds every sample of `other` to the families here, in `other`'s order.
    pub fn merge(&mut self, other: Families) {
        for family in other.families {
            let index = self.family(&family.name, &family.help, family.kind);
            self.families[index].samples.extend(family.samples);
        }
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The families in the text exposition format 0.0.4 (serve it as
    /// [`CONTENT_TYPE`](super::CONTENT_TYPE)).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(128 * self.families.len());
        for family in &self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
            for sample in &family.samples {
                match &sample.value {
                    Value::Int(value) => {
                        line(&mut out, &family.name, &sample.labels, None, *value);
                    }
                    Value::Float(value) => {
                        line(&mut out, &family.name, &sample.labels, None, Float(*value));
                    }
                    Value::Histogram(histogram) => {
                        let bucket = format!("{}_bucket", family.name);
                        let mut cumulative = 0;
                        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
                            cumulative += count;
                            let le = Float(*bound).to_string();
                            line(&mut out, &bucket, &sample.labels, Some(&le), cumulative);
                        }
                        let total = histogram.count();
                        line(&mut out, &bucket, &sample.labels, Some("+Inf"), total);
                        let sum = format!("{}_sum", family.name);
                        line(&mut out, &sum, &sample.labels, None, Float(histogram.sum));
                        let count = format!("{}_count", family.name);
                        line(&mut out, &count, &sample.labels, None, total);
                    }
                }
            }
        }
        out
    }

    fn push(&mut self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)], value: Value) {
        let index = self.family(name, help, kind);
        let labels = self
            .labels
            .iter()
            .cloned()
            .chain(labels.iter().map(|&(name, value)| {
                check_label_name(name);
                (name.to_owned(), value.to_owned())
            }))
            .collect();
        self.families[index].samples.push(Sample { labels, value });
    }

    /// The index of family `name`, made if new.
    fn family(&mut self, name: &str, help: &str, kind: Kind) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            let known = self.families[index].kind;
            assert!(known == kind, "metric {name} is a {known:?}; it cannot also be a {kind:?}");
            return index;
        }
        check_metric_name(name);
        let index = self.families.len();
        self.families.push(Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            samples: Vec::new(),
        });
        self.by_name.insert(name.to_owned(), index);
        index
    }
}

/// A float as the format writes one: `+Inf`, `-Inf`, `NaN`, or Rust's shortest decimal
/// (never an exponent, which Prometheus would read too, but people read these).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            value if value.is_nan() => f.write_str("NaN"),
            f64::INFINITY => f.write_str("+Inf"),
            f64::NEG_INFINITY => f.write_str("-Inf"),
            value => write!(f, "{value}"),
        }
    }
}

/// One sample line: `name{labels,le="..."} value`.
fn line(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let le = le.map(|le| ("le", le));
        let all = labels.iter().map(|(name, value)| (name.as_str(), value.as_str())).chain(le);
        for (i, (name, value)) in all.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value's escapes: backslash, double quote and newline.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A help text's escapes: backslash and newline.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn check_metric_name(name: &str) {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    assert!(
        valid && !name.is_empty(),
        "{name:?} is not a metric name: use letters, digits, '_' and ':', not starting with a digit"
    );
}

fn check_label_name(name: &str) {
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    assert!(
        valid && !name.is_empty() && !name.starts_with("__") && name != "le",
        "{name:?} is not a label name: use letters, digits and '_', not starting with a digit \
         or \"__\", and not \"le\" (a histogram's own)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_a_family_recorded_apart_are_written_together() {
        let mut worker0 = Families::new().with_label("worker", "0");
        worker0.counter("a_total", "A.", &[], 1);
        worker0.gauge("b", "B.", &[], 0.5);
        let mut worker1 = Families::new().with_label("worker", "1");
        worker1.counter("a_total", "A.", &[], 2);
        worker1.gauge("b", "B.", &[], 1.5);
        let mut all = Families::new();
        all.merge(worker0);
        all.merge(worker1);
        assert_eq!(
            all.encode(),
            "# HELP a_total A.\n# TYPE a_total counter\n\
             a_total{worker=\"0\"} 1\na_total{worker=\"1\"} 2\n\
             # HELP b B.\n# TYPE b gauge\n\
             b{worker=\"0\"} 0.5\nb{worker=\"1\"} 1.5\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_buckets_then_inf_sum_and_count() {
        let mut families = Families::new();
        let histogram = Histogram::of_durations(
            &[Duration::from_millis(5), Duration::from_millis(250)],
            &[3, 0, 2],
            Duration::from_millis(2010),
        );
        families.histogram("x_seconds", "X.", &[("route", "/a")], histogram);
        assert_eq!(
            families.encode(),
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{route=\"/a\",le=\"0.005\"} 3\n\
             x_seconds_bucket{route=\"/a\",le=\"0.25\"} 3\n\
             x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n\
             x_seconds_sum{route=\"/a\"} 2.01\n\
             x_seconds_count{route=\"/a\"} 5\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut families = Families::new();
        families.counter(
            "c_total",
            "Help with a \\ and a\nnewline.",
            &[("label", "GET /a → \"q\"\\\n")],
            1,
        );
        assert_eq!(
            families.encode(),
            "# HELP c_total Help with a \\\\ and a\\nnewline.\n# TYPE c_total counter\n\
             c_total{label=\"GET /a → \\\"q\\\"\\\\\\n\"} 1\n"
        );
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        let mut families = Families::new();
        families.gauge("g", "G.", &[("v", "inf")], f64::INFINITY);
        families.gauge("g", "G.", &[("v", "nan")], f64::NAN);
        families.gauge("g", "G.", &[("v", "small")], 0.000_001);
        families.gauge("g", "G.", &[("v", "whole")], 3.0);
        let text = families.encode();
        assert!(text.contains("g{v=\"inf\"} +Inf\n"), "{text}");
        assert!(text.contains("g{v=\"nan\"} NaN\n"), "{text}");
        assert!(text.contains("g{v=\"small\"} 0.000001\n"), "{text}");
        assert!(text.contains("g{v=\"whole\"} 3\n"), "{text}");
    }

    #[test]
    fn a_family_without_labels_has_no_braces() {
        let mut families = Families::new();
        families.counter("up_total", "Up.", &[], 0);
        assert!(families.encode().ends_with("\nup_total 0\n"));
    }

    #[test]
    #[should_panic(expected = "is not a metric name")]
    fn a_bad_metric_name_is_refused() {
        Families::new().counter("2fast", "No.", &[], 1);
    }

    #[test]
    #[should_panic(expected = "is not a label name")]
    fn le_is_the_histograms_own_label() {
        Families::new().gauge("g", "G.", &[("le", "1")], 1.0);
    }

    #[test]
    #[should_panic(expected = "cannot also be a")]
    fn a_name_has_one_kind() {
        let mut families = Families::new();
        families.gauge("g", "G.", &[], 1.0);
        families.counter("g", "G.", &[], 1);
    }
}
