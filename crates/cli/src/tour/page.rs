//! `kairos tour --html FILE`: the tour as one self-contained HTML page — per experiment its
//! row (expected, measured, verdict), a sentence on what it proves, and the timeline of its
//! run, drawn by the same renderer the service's pages use (`service/assets/timeline.js`,
//! inlined with its style, so the file opens anywhere, offline, and can be mailed around).
//!
//! Each trace is embedded as a `<script type="application/json">` block: JSON is valid there
//! as long as no `</` ends the element early, and JSON may always spell `/` as `\/`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::report::Kept;
use crate::service::{TIMELINE_CSS, TIMELINE_JS};

/// What an experiment shows, by its section and a word of its name: the chapter's claim the
/// row's verdict checks. The first match wins.
const PROVES: &[(&str, &str, &str)] = &[
    ("2.1", "/sequential", "Awaiting one coroutine after another adds their times up: the loop had nothing else to run while A slept, and B only started after."),
    ("2.1", "/concurrent", "Tasks started before they are awaited wait together: the timeline shows A and B as two tasks whose sleeps overlap, so the whole takes the longest step, not the sum."),
    ("2.2", "gather", "gather runs its awaitables concurrently on one thread: three sleeps, one wait, as long as the longest."),
    ("2.3", "return_exceptions=True", "With return_exceptions=True a failure is a result in its slot; the other steps run to their end."),
    ("2.3", "return_exceptions=False", "Without return_exceptions the first failure is the answer (a 500), and kairos cancels the steps still running: the request ends when A fails, B and C never wake again."),
    ("2.3", "wait_for", "wait_for does not just stop waiting: it cancels the task, whose cleanup runs."),
    ("1.3", "no await", "One thread, no await between read and write: no other task can run in between, so no update is lost."),
    ("1.3", "an await", "An await between read and write lets every other task read the same old value: a race on a single thread."),
    ("3, 5.2", "/bad", "A blocking call inside async def holds the whole loop: the requests run one after another, each poll a red stall the detector reports."),
    ("3, 5.2", "/good", "The same blocking call sent to a thread pool (to_thread) leaves the loop free: the sleeps overlap as jobs on pool threads, and nothing stalls."),
    ("3", "faster", "Moving blocking work off the loop is what makes async code concurrent."),
    ("4", "/async", "A hundred async sleeps cost the loop almost nothing: they all wait at once and end together, one wave."),
    ("4", "/sync", "def routes run on the sync pool, one token each: the pool's size is how many run at once, so a hundred come out in waves."),
    ("6.2", "inline", "CPU work on the loop is a stall like any blocking call: the probe waits the whole job out."),
    ("6.2", "pool=thread", "On the CPU thread pool the loop stays free while the job runs in parallel (Rust has no GIL)."),
    ("6.2", "pool=process", "On the process pool the job runs in a worker process: the loop stays free, and a crash could not take the server down."),
    ("6.2", "login", "A password hash is CPU work: on the loop every other request waits for it, on the CPU pool they do not."),
    ("6.3", "", "A semaphore bounds the calls in flight, not their number: n calls take about n / limit rounds."),
    ("7", "", "A streamed answer leaves as it is made: its first event arrives long before its last."),
    ("5.1", "/db/bad", "A blocking database driver inside async def is a blocking call: each query stalls the loop."),
    ("5.1", "/db/async", "An async driver awaits the database: the loop serves others meanwhile."),
    ("5.1", "/db/sync", "A blocking driver in a def route waits on a sync-pool thread, and the loop stays free."),
    ("next steps", "", "A cache with stampede protection runs one load for many concurrent misses."),
];

fn proves(section: &str, experiment: &str) -> &'static str {
    PROVES
        .iter()
        .find(|(s, word, _)| *s == section && experiment.contains(word))
        .map_or("", |(_, _, sentence)| sentence)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page for `rows`, measured at `scale`.
pub(crate) fn render(rows: &[Kept], scale: f64) -> String {
    let passed = rows.iter().filter(|k| k.row.pass).count();
    let mut body = String::new();
    for (i, kept) in rows.iter().enumerate() {
        let row = &kept.row;
        let verdict = if row.pass { "PASS" } else { "FAIL" };
        let _ = write!(
            body,
            "<article class=\"exp\" id=\"exp-{i}\"><table><tr><th>section</th><th>experiment</th>\
             <th>expected</th><th>measured</th><th>verdict</th></tr><tr><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"{}\">{verdict}</td></tr></table>",
            escape(&row.section),
            escape(&row.experiment),
            escape(&row.expected),
            escape(&row.summary),
            verdict.to_lowercase(),
        );
        let sentence = proves(&row.section, &row.experiment);
        if !sentence.is_empty() {
            let _ =
                write!(body, "<p class=\"proves\"><b>What it proves:</b> {}</p>", escape(sentence));
        }
        match (&kept.trace, kept.span) {
            (Some(trace), _) => {
                let _ = write!(
                    body,
                    "<div class=\"timeline\" data-trace=\"trace-{i}\"></div>\
                     <script type=\"application/json\" id=\"trace-{i}\">{}</script>",
                    trace.replace("</", "<\\/")
                );
            }
            (None, Some(span)) => {
                let _ = write!(
                    body,
                    "<p class=\"no-trace\">No timeline: the run took {:.2} s, but the \
                     recorder held nothing of it.</p>",
                    (span.to_us - span.from_us) / 1e6
                );
            }
            (None, None) => {}
        }
        body.push_str("</article>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>kairos tour: {passed}/{total} passed</title>\n<style>\n{TIMELINE_CSS}\n{PAGE_CSS}</style>\
         </head><body>\n<h1>kairos tour</h1>\n\
         <p class=\"lead\">Each idea of the FastAPI async chapter run against the real service \
         (one worker, {sync} sync-pool tokens), at durations × {scale}: what the chapter \
         predicts, what was measured, and the verdict — <b>{passed}/{total} passed</b>. Under \
         the experiments that have one, the timeline of that run: each task's polls on the \
         loop (red: a stall, a poll that held the loop), the requests as bars, the pools' jobs \
         below. Hover a slice for its details; wheel to zoom, drag to pan.</p>\n\
         {body}\n<script>\n{TIMELINE_JS}\n</script>\n<script>\n{PAGE_JS}</script>\n</body></html>\n",
        total = rows.len(),
        sync = super::SYNC_TOKENS,
    )
}

/// Writes the page to `path`.
pub(crate) fn write(path: &Path, rows: &[Kept], scale: f64) -> anyhow::Result<()> {
    std::fs::write(path, render(rows, scale))
        .with_context(|| format!("cannot write the tour's page to {}", path.display()))
}

const PAGE_CSS: &str = "\
body { margin: 0 auto; max-width: 90rem; padding: 1.5rem; font: 15px/1.5 system-ui, sans-serif;
       color: #1d2330; background: #fbfbfd; }
h1 { font-size: 1.5rem; margin: 0 0 .4rem; }
.lead { max-width: 62rem; }
.exp { background: #fff; border: 1px solid #d9dde5; border-radius: 8px; padding: .6rem .9rem .9rem;
       margin: 0 0 1rem; }
.exp > table { border-collapse: collapse; width: 100%; font-size: .92rem; table-layout: fixed; }
.exp > table th, .exp > table td { text-align: left; padding: .25rem .5rem; vertical-align: top;
       border-bottom: 1px solid #eceef3; }
.exp > table th { color: #5b6475; font-weight: 600; }
.exp > table th:nth-child(1) { width: 6rem; }
.exp > table th:nth-child(2) { width: 32%; }
.exp > table th:nth-child(3) { width: 28%; }
.exp > table th:nth-child(5) { width: 5rem; }
td.pass { color: #1f7a45; font-weight: 700; }
td.fail { color: #b3261e; font-weight: 700; }
.proves { margin: .5rem .5rem; }
.no-trace { color: #5b6475; margin: .4rem .5rem 0; }
.timeline { margin-top: .5rem; }
";

/// Draws every embedded trace once the page is laid out.
const PAGE_JS: &str = "\
for (const box of document.querySelectorAll('.timeline[data-trace]')) {
  try {
    const trace = JSON.parse(document.getElementById(box.dataset.trace).textContent);
    KairosTimeline.render(box, trace, {});
  } catch (error) {
    box.textContent = 'this trace could not be drawn: ' + error.message;
  }
}
";
