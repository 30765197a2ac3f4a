//! A tiny command-line parser: `SUBCOMMAND --name value --name=value --flag`.
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Options that take no value.
const FLAGS: &[&str] = &["new-connection", "help"];

/// The parsed command line.
pub struct Args {
    /// The subcommand (`stream`, `request`, `probe`, `concurrent`).
    pub command: String,
    options: HashMap<String, Option<String>>,
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let command = args.next().ok_or("no subcommand given")?;
        if command == "--help" || command == "-h" || command == "help" {
            return Ok(Args { command: "help".into(), options: HashMap::new() });
        }
        let mut options = HashMap::new();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?} (options start with --)"));
            };
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None if FLAGS.contains(&name) => (name.to_string(), None),
                None => {
                    let value = args.next().ok_or_else(|| format!("--{name} needs a value"))?;
                    (name.to_string(), Some(value))
                }
            };
            if options.insert(name.clone(), value).is_some() {
                return Err(format!("--{name} given twice"));
            }
        }
        Ok(Args { command, options })
    }

    /// Fails on any option not in `known`.
    pub fn allow(&self, known: &[&str]) -> Result<(), String> {
        match self.options.keys().find(|name| !known.contains(&name.as_str())) {
            Some(name) => Err(format!(
                "`{}` does not take --{name} (it takes --{})",
                self.command,
                known.join(", --")
            )),
            None => Ok(()),
        }
    }

    /// The value of `--name`, if given.
    pub fn value(&self, name: &str) -> Result<Option<&str>, String> {
        match self.options.get(name) {
            None => Ok(None),
            Some(Some(value)) => Ok(Some(value)),
            Some(None) => Err(format!("--{name} needs a value")),
        }
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name)?.ok_or_else(|| format!("`{}` needs --{name}", self.command))
    }

    /// `--name` parsed as a number, or `default`.
    pub fn number<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.value(name)? {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| format!("--{name}: {text:?} is not a number")),
        }
    }

    /// `--name` as a duration given in `unit` seconds (1.0 for `-s`, 0.001 for `-ms`).
    pub fn duration(&self, name: &str, default: f64, unit: f64) -> Result<Duration, String> {
        let value = self.number(name, default)?;
        Duration::try_from_secs_f64(value * unit)
            .map_err(|_| format!("--{name}: {value} is not a duration"))
    }

    /// Whether the flag `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
}
