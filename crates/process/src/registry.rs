//! [`ProcessFn`]: a function a worker process can run, and the registry that names them.
//!
//! A process cannot receive a closure or a function pointer from another process: addresses
//! mean nothing across `exec`. So a job travels as a *name* plus serialised arguments, and
//! both sides look the name up in the same table. The table is the list given to
//! [`worker_main`](crate::worker_main) on the first line of `main`: the parent process
//! records it there (and returns at once), a worker process records the same list (the same
//! binary runs the same line) and then serves. One list, in one place, read by both sides, is
//! what keeps parent and workers in agreement; a job missing from it is refused when it is
//! submitted, with an error that names it, never sent to a worker that cannot run it.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A function that can run in a worker process: a registered name and a plain `fn` whose
/// argument and result are serde types.
///
/// Declare it as a `static` next to the function, and list it in
/// [`worker_main`](crate::worker_main):
///
/// ```
/// use kairos_process::ProcessFn;
///
/// /// The chapter's CPU-bound function (section 6.2).
/// fn cpu_intensive_task(n: u64) -> u64 {
///     (0..n).map(|i| i.wrapping_mul(i)).fold(0, u64::wrapping_add)
/// }
///
/// static CPU_TASK: ProcessFn<u64, u64> = ProcessFn::new("cpu_intensive_task", cpu_intensive_task);
///
/// fn main() {
///     kairos_process::worker_main(&[&CPU_TASK]);
///     // ... the program; see ProcessPool for the rest.
/// }
/// ```
///
/// Several arguments travel as a tuple (`ProcessFn<(String, u32), Vec<u8>>`); a job that can
/// fail returns a `Result` (`ProcessFn<Query, Result<Rows, String>>`), which travels like any
/// value. Names must be unique within the list; a good habit is the function's own name.
///
/// `Vec<u8>` arguments are serialised byte by byte by serde; for megabytes of bytes, wrap them
/// in a type serialised with `serialize_bytes` (such as `serde_bytes::ByteBuf`), which is
/// copied in one piece.
pub struct ProcessFn<A, R> {
    name: &'static str,
    f: fn(A) -> R,
}

impl<A, R> ProcessFn<A, R> {
    /// Names `f` so that a worker process can find it. `const`, so it can initialise a
    /// `static`.
    pub const fn new(name: &'static str, f: fn(A) -> R) -> Self {
        ProcessFn { name, f }
    }

    /// The registered name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the function here, in this process (handy in tests and for a fallback path).
    pub fn call(&self, args: A) -> R {
        (self.f)(args)
    }
}

impl<A, R> Clone for ProcessFn<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for ProcessFn<A, R> {}

impl<A, R> fmt::Debug for ProcessFn<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessFn")
            .field("name", &self.name)
            .field("args", &std::any::type_name::<A>())
            .field("result", &std::any::type_name::<R>())
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What [`worker_main`](crate::worker_main)'s list holds: any [`ProcessFn`], with its
/// argument and result types erased. Implemented only by `ProcessFn`.
pub trait Registered: sealed::Sealed + Sync + 'static {
    /// The registered name.
    fn name(&self) -> &'static str;

    #[doc(hidden)]
    /// The `(A, R)` pair, so a submission with the same name but other types is refused.
    fn signature(&self) -> TypeId;

    #[doc(hidden)]
    /// Decodes the argument, runs the function, and appends the encoded result to `out`.
    /// Panics of the function propagate (the worker catches them).
    fn run(&self, args: &[u8], out: Vec<u8>) -> Result<Vec<u8>, String>;
}

impl<A, R> sealed::Sealed for ProcessFn<A, R> {}

impl<A, R> Registered for ProcessFn<A, R>
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn signature(&self) -> TypeId {
        TypeId::of::<(A, R)>()
    }

    fn run(&self, args: &[u8], out: Vec<u8>) -> Result<Vec<u8>, String> {
        let args: A = postcard::from_bytes(args).map_err(|e| {
            format!(
                "the argument of job {:?} could not be decoded as {}: {e}",
                self.name,
                std::any::type_name::<A>()
            )
        })?;
        let result = (self.f)(args);
        postcard::to_extend(&result, out).map_err(|e| {
            format!(
                "the result of job {:?} ({}) could not be encoded: {e}",
                self.name,
                std::any::type_name::<R>()
            )
        })
    }
}

/// The jobs this binary can run in a worker, by name.
pub(super) struct Registry {
    jobs: HashMap<&'static str, &'static dyn Registered>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl Registry {
    fn build(jobs: &[&'static dyn Registered]) -> Registry {
        let mut map = HashMap::with_capacity(jobs.len());
        for job in jobs {
            if map.insert(job.name(), *job).is_some() {
                panic!(
                    "kairos_process::worker_main: two jobs are registered under the name \
                     {:?}; give each ProcessFn a unique name",
                    job.name()
                );
            }
        }
        Registry { jobs: map }
    }

    /// The job registered under `name`.
    pub(super) fn get(&self, name: &str) -> Option<&'static dyn Registered> {
        self.jobs.get(name).copied()
    }

    /// Checks that a submission of `name` with argument/result types `signature` matches a
    /// registered job; the error says what to fix.
    pub(super) fn check(&self, name: &str, signature: TypeId) -> Result<(), String> {
        match self.get(name) {
            Some(job) if job.signature() == signature => Ok(()),
            Some(_) => Err(format!(
                "a job named {name:?} is registered, but with other argument or result types \
                 than the ProcessFn submitted; submit the ProcessFn that worker_main lists"
            )),
            None => Err(format!(
                "no job named {name:?} is registered; add it to the list given to \
                 kairos_process::worker_main at the start of main (registered: {})",
                self.names()
            )),
        }
    }

    fn names(&self) -> String {
        let mut names: Vec<_> = self.jobs.keys().copied().collect();
        names.sort_unstable();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// Records the list given to `worker_main`. A second call must give the same names.
pub(super) fn install(jobs: &[&'static dyn Registered]) -> &'static Registry {
    let registry = REGISTRY.get_or_init(|| Registry::build(jobs));
    let mut given: Vec<_> = jobs.iter().map(|job| job.name()).collect();
    let mut known: Vec<_> = registry.jobs.keys().copied().collect();
    given.sort_unstable();
    given.dedup();
    known.sort_unstable();
    assert!(
        given == known,
        "kairos_process::worker_main was called twice with different jobs ({} then {}); \
         call it once, as the first statement of main",
        known.join(", "),
        given.join(", ")
    );
    registry
}

/// The registry, if `worker_main` ran in this process.
pub(super) fn installed() -> Option<&'static Registry> {
    REGISTRY.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    static DOUBLE: ProcessFn<u32, u32> = ProcessFn::new("double", double);
    static OTHER_DOUBLE: ProcessFn<u64, u64> = ProcessFn::new("double", |x| x * 2);

    #[test]
    fn a_registered_job_runs_from_encoded_arguments() {
        let registry = Registry::build(&[&DOUBLE]);
        let job = registry.get("double").unwrap();
        let out = job.run(&postcard::to_stdvec(&21u32).unwrap(), Vec::new()).unwrap();
        assert_eq!(postcard::from_bytes::<u32>(&out).unwrap(), 42);
        assert!(job.run(&[], Vec::new()).unwrap_err().contains("could not be decoded as u32"));
    }

    #[test]
    fn submissions_are_checked_by_name_and_types() {
        let registry = Registry::build(&[&DOUBLE]);
        assert!(registry.check("double", TypeId::of::<(u32, u32)>()).is_ok());
        let wrong_types = registry.check("double", TypeId::of::<(u64, u64)>()).unwrap_err();
        assert!(wrong_types.contains("other argument or result types"), "{wrong_types}");
        let missing = registry.check("triple", TypeId::of::<(u32, u32)>()).unwrap_err();
        assert!(missing.contains("\"triple\"") && missing.contains("registered: double"));
    }

    #[test]
    #[should_panic(expected = "two jobs are registered under the name \"double\"")]
    fn duplicate_names_are_refused() {
        Registry::build(&[&DOUBLE, &OTHER_DOUBLE]);
    }
}
