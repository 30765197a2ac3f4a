//! Summaries of timings and errors, as the JSON the orchestrator reads.
use serde_json::{json, Map, Value};

/// At most this many error messages are kept as samples.
const MAX_SAMPLES: usize = 5;

/// `value` rounded to `digits` decimals (JSON stays short and readable).
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// The nearest-rank percentile `p` (0–100) of `sorted`; `None` when it is empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `{"p50": …, "p99": …, "max": …}` (the keys asked for: `min`, `max` or `pNN`) of `values`,
/// each rounded to 0.001; `null`s when there are no values.
pub fn summary(values: &[f64], keys: &[&str]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut out = Map::new();
    for &key in keys {
        let p = match key {
            "min" => 0.0,
            "max" => 100.0,
            _ => key.trim_start_matches('p').parse().expect("percentile key like p50"),
        };
        out.insert(key.to_string(), json!(percentile(&sorted, p).map(|v| round(v, 3))));
    }
    Value::Object(out)
}

/// A count of errors and the first few messages.
#[derive(Default)]
pub struct Errors {
    /// How many errors.
    pub count: u64,
    /// The first [`MAX_SAMPLES`] messages.
    pub samples: Vec<String>,
}

impl Errors {
    /// Records one error.
    pub fn push(&mut self, message: impl Into<String>) {
        self.count += 1;
        self.samples_only(message);
    }

    /// Keeps a message as a sample without counting it (timeouts are counted apart).
    pub fn samples_only(&mut self, message: impl Into<String>) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(message.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
