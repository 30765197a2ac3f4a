//! The files of `deploy/` that no other test runs: the systemd unit (checked by
//! `systemd-analyze verify`) and the Kubernetes manifest (parsed as YAML, its probes on the
//! service's health checks); every flag either gives is one `kairos serve` has; and the
//! README's Deployment section points at each file. nginx.conf and haproxy.cfg are run by
//! `deploy.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(repo().join("deploy").join(name)).unwrap()
}

/// `kairos serve --help`, which lists every flag.
fn serve_help() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_kairos")).args(["serve", "--help"]).output();
    String::from_utf8(output.unwrap().stdout).unwrap()
}

/// Every `--flag` in `text` is one of `kairos serve`'s (but `others`: another command's).
fn flags_exist(text: &str, file: &str, others: &[&str]) {
    let help = serve_help();
    let flags = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with("--") && word.len() > 2 && !others.contains(word));
    let mut checked = 0;
    for flag in flags {
        let listed = help.match_indices(flag).any(|(at, _)| {
            let next = help[at + flag.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        assert!(listed, "{file} gives {flag}, which serve lacks");
        checked += 1;
    }
    assert!(checked > 3, "{file}: only {checked} flags found");
}

#[test]
fn the_systemd_unit_verifies_and_its_flags_exist() {
    let unit = deploy_file("kairos.service");
    let exec: String = unit
        .split("ExecStart=")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    flags_exist(&exec, "kairos.service", &[]);
    let Ok(verify) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed (package systemd): the unit is not verified");
        return;
    };
    // Verified with the binary under test in place of /usr/local/bin/kairos (verify checks
    // that the command exists and is executable).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kairos.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/kairos", env!("CARGO_BIN_EXE_kairos")))
        .unwrap();
    let output = Command::new(verify).arg("verify").arg(&path).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "systemd-analyze: {said}");
}

#[test]
fn the_kubernetes_manifest_parses_and_probes_the_health_checks() {
    let script = r#"
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
print(json.dumps(docs))
"#;
    let path = repo().join("deploy/kubernetes.yaml");
    // Debian's python3-yaml (scripts/test.sh installs it), not a virtual environment's.
    let output = Command::new("/usr/bin/python3").args(["-c", script]).arg(&path).output();
    let output = output.expect("/usr/bin/python3 runs (apt-get install python3-yaml)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let docs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(docs[0]["kind"], "Deployment");
    assert_eq!(docs[1]["kind"], "Service");
    let container = &docs[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args[0], "serve");
    flags_exist(&args.join(" "), "kubernetes.yaml", &[]);
    // The pod's grace period covers the delay and the drain, or SIGKILL cuts requests.
    let value_of = |flag: &str| -> u64 {
        let at = args.iter().position(|arg| arg == flag).unwrap();
        args[at + 1].parse().unwrap()
    };
    let grace = docs[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64();
    let needed = value_of("--shutdown-delay") + value_of("--timeout-graceful-shutdown");
    assert!(grace.unwrap() > needed, "terminationGracePeriodSeconds must exceed {needed}");
}

#[test]
fn the_readme_points_at_every_deployment_file() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("\n## Deployment").nth(1).expect("a Deployment section");
    let section = section.split("\n## ").next().unwrap();
    for entry in std::fs::read_dir(repo().join("deploy")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(section.contains(&format!("deploy/{name}")), "the README does not name {name}");
    }
    // curl's and cargo's own flags aside.
    flags_exist(section, "README.md's Deployment section", &["--unix-socket", "--test"]);
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
