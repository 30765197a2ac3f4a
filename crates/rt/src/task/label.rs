//! [`Label`]: what a task is doing right now, for the stall detector.
//!
//! A task's name and spawn site say what it *is*; for a long-lived task — a server's connection
//! task serves one request after another — that is not enough to find the code that blocked
//! the loop. A label says what the task is *doing*: a framework wraps each request's handler in
//! [`Label::scope`], and a stall report then names the request (`GET /items/{id} → get_item`)
//! beside the task.
//!
//! Labels are interned once, process-wide, when an application is built (a route table makes
//! one per route); a scope's poll then costs two relaxed stores (a poll outside any scope
//! pays nothing), and the watchdog thread looks the text up only when it writes a report. So the set of labels must be bounded — one per
//! route, not one per request (a path with its ids filled in would grow the table forever).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use crate::context;

/// What a task is doing, such as the route a request is being served by; see the module docs.
///
/// Interned: the same text always gives the same label, and a label is a `Copy` number.
///
/// ```
/// use std::time::Duration;
/// use kairos_rt::task::Label;
///
/// let stalls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let sink = std::sync::Arc::clone(&stalls);
/// kairos_rt::Builder::new()
///     .slow_callback_duration(Some(Duration::from_millis(50)))
///     .on_diagnostic(move |d| {
///         if let kairos_rt::Diagnostic::SlowPoll(report) = d {
///             sink.lock().unwrap().push(report.clone());
///         }
///     })
///     .run(async {
///         let label = Label::new("GET /bad → bad_endpoint");
///         // A blocking call inside the scope: the report names the label, not only the task.
///         label.scope(async { std::thread::sleep(Duration::from_millis(200)) }).await;
///     });
/// let stalls = stalls.lock().unwrap();
/// assert_eq!(stalls[0].label.as_deref(), Some("GET /bad → bad_endpoint"));
/// assert!(stalls[0].to_string().contains("while running GET /bad → bad_endpoint"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(NonZeroU32);

impl Label {
    /// The label for `text`, made on first use and the same one afterwards.
    ///
    /// # Panics
    /// Past 2³² − 1 distinct labels: labels name routes or jobs, never single requests.
    pub fn new(text: impl AsRef<str>) -> Label {
        let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
        let text = text.as_ref();
        if let Some(&label) = table.by_text.get(text) {
            return label;
        }
        let number = u32::try_from(table.texts.len() + 1)
            .ok()
            .and_then(NonZeroU32::new)
            .expect("more than 2^32 - 1 labels: label routes or kinds of work, not requests");
        let label = Label(number);
        let text: Arc<str> = Arc::from(text);
        table.texts.push(Arc::clone(&text));
        table.by_text.insert(text, label);
        label
    }

    /// The label's text.
    pub fn text(self) -> Arc<str> {
        let table = table().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&table.texts[self.0.get() as usize - 1])
    }

    /// Runs `future` under this label: while it is being polled, the stall detector reports
    /// the label beside the task. Costs two relaxed stores per poll; outside a loop it does
    /// nothing but poll `future`.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped { label: self, future }
    }

    /// The number the stall monitor publishes (never 0, which means "no label").
    pub(crate) fn number(self) -> u32 {
        self.0.get()
    }

    /// The text of a published number, if it is one.
    pub(crate) fn text_of(number: u32) -> Option<Arc<str>> {
        NonZeroU32::new(number).map(|n| Label(n).text())
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Label").field(&self.text()).finish()
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

#[derive(Default)]
struct Table {
    texts: Vec<Arc<str>>,
    by_text: HashMap<Arc<str>, Label>,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(Mutex::default)
}

pin_project_lite::pin_project! {
    /// A future running under a [`Label`]; see [`Label::scope`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Scoped<F> {
        label: Label,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let label = *this.label;
        let mut future = Some(this.future);
        // Inside the loop, publish the label around the inner poll. It is stamped with the
        // loop's poll counter and read only during that poll, so a scope that panics leaves
        // nothing behind.
        let polled = context::with_core(|core| {
            let outer = core.monitor.enter_label(label.number());
            let polled = future.take().expect("polled once").poll(cx);
            core.monitor.leave_label(outer);
            polled
        });
        match polled {
            Some(polled) => polled,
            None => future.take().expect("not polled yet").poll(cx),
        }
    }
}
