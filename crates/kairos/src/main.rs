//! The `kairos` command. `serve` (the chapter's service) and `tour` (each idea of the
//! chapter, measured) arrive with the service issue; today the runtime's ideas run as
//! examples of `kairos-rt`, listed by `kairos help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

const EXAMPLES: &[(&str, &str)] = &[
    ("sequential_vs_concurrent", "2.1-2.2: await one by one (3 s) vs tasks and gather (2 s)"),
    ("wait_for", "2.3: wait_for times out and cancels a slow task"),
    ("counter_race", "1.3: no race without an await, lost updates with one"),
    ("blocking_detection", "3.1 + 5.2: a blocking call is reported; run_in_executor is not"),
    ("thread_pool", "3.2: ThreadPoolExecutor(max_workers=4, thread_name_prefix='cpu')"),
    ("semaphore", "6.3: Semaphore(5) around 20 calls, never more than 5 in flight"),
];

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "help".to_owned());
    match command.as_str() {
        "help" | "--help" | "-h" => {
            help();
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("kairos: '{other}' is not available yet (serve and tour come next).\n");
            help();
            ExitCode::from(2)
        }
    }
}

fn help() {
    println!("kairos — the FastAPI async chapter, built for real in Rust.\n");
    println!("The event loop's ideas, each run and measured:");
    for (name, what) in EXAMPLES {
        println!("  cargo run --release -p kairos-rt --example {name:<26} # {what}");
    }
}
