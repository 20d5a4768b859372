//! The Python side of the comparison: the bench's own virtual environment (created on first
//! use from `bench/requirements.txt`, rebuilt when that file changes) and one run of
//! `bench/lifetimes_bench.py`, whose JSON report is parsed here.
//!
//! Knobs: `MAITRE_BENCH_VENV` (where the venv lives, default
//! `$HOME/.cache/maitre-bench-venv`), `MAITRE_BENCH_PYTHON` (interpreter that creates it,
//! default `python3`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use maitre_tagging::domain::model::BgNbdParams;
use serde_json::Value;

/// Written into the venv after a successful install: the requirements it was built from.
const INSTALLED_MARKER: &str = "maitre-bench-requirements.txt";

/// What `lifetimes_bench.py` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LifetimesReport {
    pub customers: u64,
    pub scored_customers: u64,
    pub fit_s: f64,
    pub score_s: f64,
    pub params: BgNbdParams,
    pub mean_p_alive: f64,
    pub mean_expected_visits: f64,
    /// e.g. "lifetimes 0.11.3, numpy 1.23.5, …".
    pub versions: String,
}

/// The venv directory: `$MAITRE_BENCH_VENV`, else `$HOME/.cache/maitre-bench-venv`.
pub fn venv_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MAITRE_BENCH_VENV").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("neither MAITRE_BENCH_VENV nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/maitre-bench-venv"))
}

/// The venv's interpreter, creating the venv and installing `requirements` when it is
/// missing or was built from other requirements. pip's output goes to stderr.
pub fn ensure_venv(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let wanted = fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let python = venv.join("bin/python");
    let marker = venv.join(INSTALLED_MARKER);
    if python.exists() && fs::read_to_string(&marker).is_ok_and(|built| built == wanted) {
        return Ok(python);
    }
    if !python.exists() {
        let creator = std::env::var("MAITRE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!(
            "creating the bench venv at {} with {creator}",
            venv.display()
        );
        run_to_stderr(Command::new(&creator).arg("-m").arg("venv").arg(venv))
            .with_context(|| format!("{creator} -m venv {}", venv.display()))?;
    }
    eprintln!(
        "installing {} into {}",
        requirements.display(),
        venv.display()
    );
    run_to_stderr(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
    )
    .context("pip install of the bench requirements")?;
    fs::write(&marker, wanted).with_context(|| format!("writing {}", marker.display()))?;
    Ok(python)
}

/// Runs the script on `csv` and parses its report.
pub fn run_lifetimes_bench(
    python: &Path,
    script: &Path,
    csv: &Path,
    replicate: u32,
    horizon_days: f64,
    runs: usize,
) -> Result<LifetimesReport> {
    let output = Command::new(python)
        .arg(script)
        .arg("--csv")
        .arg(csv)
        .args(["--replicate", &replicate.to_string()])
        .args(["--horizon-days", &horizon_days.to_string()])
        .args(["--runs", &runs.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{} exited with {}:\n{}",
            script.display(),
            output.status,
            tail.join("\n")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("lifetimes_bench.py printed no JSON report")?;
    parse_report(json)
}

/// Parses the script's JSON report.
pub fn parse_report(json: &str) -> Result<LifetimesReport> {
    let report: Value = serde_json::from_str(json).context("lifetimes report is not JSON")?;
    let number = |path: &[&str]| -> Result<f64> {
        path.iter()
            .try_fold(&report, |v, key| v.get(key))
            .and_then(Value::as_f64)
            .filter(|n| n.is_finite())
            .with_context(|| {
                format!(
                    "lifetimes report lacks a finite number at {}",
                    path.join(".")
                )
            })
    };
    let versions = report
        .get("versions")
        .and_then(Value::as_object)
        .map(|all| {
            all.iter()
                .map(|(name, v)| format!("{name} {}", v.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(LifetimesReport {
        customers: number(&["customers"])? as u64,
        scored_customers: number(&["scored_customers"])? as u64,
        fit_s: number(&["fit_s"])?,
        score_s: number(&["score_s"])?,
        params: BgNbdParams {
            r: number(&["params", "r"])?,
            alpha: number(&["params", "alpha"])?,
            a: number(&["params", "a"])?,
            b: number(&["params", "b"])?,
        },
        mean_p_alive: number(&["mean_p_alive"])?,
        mean_expected_visits: number(&["mean_expected_visits"])?,
        versions,
    })
}

/// Runs a setup command with its output on our stderr (the tables own stdout).
fn run_to_stderr(command: &mut Command) -> Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("could not start")?;
    if !status.success() {
        bail!("exited with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"customers": 100000, "scored_customers": 1000000, "fit_s": 1.25,
        "score_s": 0.52, "params": {"r": 0.81, "alpha": 20.3, "a": 0.61, "b": 4.1},
        "mean_p_alive": 0.7, "mean_expected_visits": 0.4,
        "versions": {"python": "3.11.7", "lifetimes": "0.11.3"}}"#;

    #[test]
    fn parses_the_scripts_report() {
        let parsed = parse_report(REPORT);
        let Ok(report) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(report.scored_customers, 1_000_000);
        assert_eq!(report.fit_s, 1.25);
        assert_eq!(report.params.alpha, 20.3);
        assert_eq!(report.versions, "lifetimes 0.11.3, python 3.11.7");
    }

    #[test]
    fn rejects_reports_with_missing_or_non_finite_numbers() {
        let missing = REPORT.replace(r#""a": 0.61, "#, "");
        let err = parse_report(&missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("params.a"), "{err}");
        // Python's json writes NaN, which is not JSON: rejected before it reaches a table.
        assert!(parse_report(&REPORT.replace("1.25", "NaN")).is_err());
        assert!(parse_report("not json").is_err());
    }

    #[test]
    fn a_venv_with_matching_requirements_is_reused_without_pip() {
        let dir =
            std::env::temp_dir().join(format!("maitre-bench-venv-test-{}", std::process::id()));
        let requirements = dir.join("requirements.txt");
        let venv = dir.join("venv");
        let created = fs::create_dir_all(venv.join("bin"))
            .and_then(|()| fs::write(&requirements, "lifetimes==0.11.3\n"))
            .and_then(|()| fs::write(venv.join("bin/python"), ""))
            .and_then(|()| fs::write(venv.join(INSTALLED_MARKER), "lifetimes==0.11.3\n"));
        assert!(created.is_ok(), "{created:?}");
        let python = ensure_venv(&venv, &requirements);
        assert_eq!(python.ok(), Some(venv.join("bin/python")));
        // Changed requirements force a reinstall, which fails on the fake interpreter.
        assert!(fs::write(&requirements, "lifetimes==0.11.2\n").is_ok());
        assert!(ensure_venv(&venv, &requirements).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
