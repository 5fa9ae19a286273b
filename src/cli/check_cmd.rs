//! `sn27 check`: the preflight doctor (see [`crate::doctor`]) as a table or JSON; exit 1 when
//! a check fails.

use std::process::ExitCode;

use serde_json::json;

use super::runtime;
use crate::config::{ConfigSource, Severity};
use crate::doctor::{examine, Finding, Verdict};

pub fn run(source: &ConfigSource, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::load_or_defaults(source) {
        Ok(loaded) => loaded,
        Err(errors) => {
            let detail: Vec<String> = errors
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.to_string())
                .collect();
            let finding = Finding {
                check: "config",
                verdict: Verdict::Fail,
                detail: detail.join("\n"),
                fix: Some(format!(
                    "fix {} (`sn27 config check` lists every problem)",
                    source.path.display()
                )),
                fatal: true,
            };
            return Ok(report(source, None, &[finding], json));
        }
    };
    let config = loaded.config;
    if loaded.file.is_none() {
        // Not configured yet: what the host offers, on the built-in defaults.
        let mut findings = vec![Finding {
            check: "config",
            verdict: Verdict::Fail,
            detail: format!(
                "no configuration file at {}: the host was checked on the built-in defaults \
                 (a miner); wallet, chain and registration are checked once it exists",
                source.path.display()
            ),
            fix: Some(format!(
                "`sn27 config example > {}`, then set role and [wallet]",
                source.path.display()
            )),
            fatal: false,
        }];
        findings.extend(runtime()?.block_on(crate::doctor::examine_host(&config)));
        return Ok(report(source, None, &findings, json));
    }
    let mut findings = vec![if loaded.warnings.is_empty() {
        Finding {
            check: "config",
            verdict: Verdict::Ok,
            detail: format!("{} is valid", source.path.display()),
            fix: None,
            fatal: false,
        }
    } else {
        Finding {
            check: "config",
            verdict: Verdict::Warn,
            detail: loaded
                .warnings
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            fix: Some("see `sn27 config check`".into()),
            fatal: false,
        }
    }];
    findings.extend(runtime()?.block_on(examine(&config)));
    let role = config.role.map(|r| match r {
        crate::config::Role::Miner => "miner",
        crate::config::Role::Validator => "validator",
    });
    Ok(report(source, role, &findings, json))
}

fn report(source: &ConfigSource, role: Option<&str>, findings: &[Finding], json: bool) -> ExitCode {
    let failed = findings.iter().any(|f| f.verdict == Verdict::Fail);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "config": source.path.display().to_string(),
                "role": role,
                "ok": !failed,
                "checks": findings,
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "sn27 check ({}, {})",
            role.unwrap_or("no role"),
            source.path.display()
        );
        for finding in findings {
            let mark = match finding.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "WARN",
                Verdict::Fail => "FAIL",
            };
            let mut lines = finding.detail.lines();
            println!(
                "  {mark}  {:<17} {}",
                finding.check,
                lines.next().unwrap_or_default()
            );
            for line in lines {
                println!("        {:<17} {line}", "");
            }
            if let Some(fix) = &finding.fix {
                println!("        {:<17} fix: {fix}", "");
            }
        }
        println!(
            "{}",
            if failed {
                "a required check failed: `sn27 run` would not start"
            } else {
                "ready to run"
            }
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
