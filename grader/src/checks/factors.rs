//! The `factor` contract's output checks: the right factors, once each, and bad input
//! rejected cleanly.

use super::{Case, and_list};
use crate::escape::{quoted, visible};
use crate::trace::{End, Event};
use std::collections::{BTreeMap, BTreeSet};

/// The line the program prints before reading.
pub const PROMPT: &str = "Give a number to factor.";
/// The parent's last line.
pub const FINISHED: &str = "Finished.";

/// Every divisor d of n with 2 <= d <= n/2, by trial division up to the square root.
pub fn expected_factors(n: u64) -> BTreeSet<u64> {
    let mut factors = BTreeSet::new();
    let mut i: u64 = 2;
    while i <= n / i {
        if n.is_multiple_of(i) {
            factors.insert(i);
            factors.insert(n / i);
        }
        i += 1;
    }
    factors
}

/// Parses stdin the way the contract does: one decimal integer 1..=u64::MAX, whitespace
/// around it allowed.
pub fn parse_input(stdin: &str) -> Option<u64> {
    let line = stdin.lines().next()?;
    line.trim().parse::<u64>().ok().filter(|n| *n >= 1)
}

/// The program's first process exited with status 0 (else: how it ended, and the first line
/// of stderr) and its stdout was kept whole (not cut at the output limit).
pub(super) fn exited_zero_with_all_output(run: &crate::run::RunOutcome) -> Result<(), String> {
    let root = run.trace.root().expect("checked by completed()");
    if root.end != Some(End::Exited { code: 0 }) {
        let stderr = run.stderr.text();
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(format!(
            "expected exit status 0, got {}{}",
            describe_end(root.end),
            if first.is_empty() {
                String::new()
            } else {
                format!("; stderr says {}", quoted(first))
            }
        ));
    }
    if run.stdout.truncated() {
        return Err(format!(
            "the program wrote {} bytes to stdout, far more than expected",
            run.stdout.total
        ));
    }
    Ok(())
}

pub(super) fn factors(case: &Case<'_>) -> Result<(), String> {
    let n = parse_input(case.stdin).ok_or("the rubric gave this check a bad input")?;
    let run = case.run;
    let stdout = run.stdout.text();
    exited_zero_with_all_output(run)?;
    let lines: Vec<&str> = stdout.lines().collect();
    match lines.first() {
        Some(first) if first.trim_end() == PROMPT => {}
        Some(first) => {
            return Err(format!(
                "expected the first line to be {PROMPT:?}, got {}",
                quoted(first)
            ));
        }
        None => return Err("the program printed nothing on stdout".to_string()),
    }
    match lines.last() {
        Some(last) if last.trim_end() == FINISHED && lines.len() > 1 => {}
        Some(last) => {
            return Err(format!(
                "expected the last line to be {FINISHED:?}, got {}",
                quoted(last)
            ));
        }
        None => unreachable!("lines has a first line"),
    }
    let expected = expected_factors(n);
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for line in &lines[1..lines.len() - 1] {
        let Some(d) = line
            .trim_end()
            .strip_suffix(" is a factor")
            .and_then(|d| d.parse::<u64>().ok())
        else {
            return Err(format!(
                "unexpected line {}; every line between the prompt and {FINISHED:?} must \
                 read `<d> is a factor`",
                quoted(line)
            ));
        };
        *seen.entry(d).or_default() += 1;
    }
    let printed: BTreeSet<u64> = seen.keys().copied().collect();
    let missing: Vec<u64> = expected.difference(&printed).copied().collect();
    let wrong: Vec<u64> = printed.difference(&expected).copied().collect();
    let twice: Vec<u64> = seen
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(d, _)| *d)
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        // A worker that crashed explains the missing factors better than any count.
        let crashed = super::crashed_workers(&case.run.trace);
        let because = if crashed.is_empty() {
            String::new()
        } else {
            format!(" ({})", super::and_list(&crashed))
        };
        problems.push(format!(
            "{} of the {} factors are missing ({}){because}",
            missing.len(),
            expected.len(),
            sample(&missing)
        ));
    }
    if !wrong.is_empty() {
        problems.push(format!(
            "{} printed numbers are not factors in 2..=n/2 ({})",
            wrong.len(),
            sample(&wrong)
        ));
    }
    if !twice.is_empty() {
        problems.push(format!(
            "{} factors are printed more than once ({})",
            twice.len(),
            sample(&twice)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}.", and_list(&problems)))
    }
}

pub(super) fn rejects_bad_input(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    let root = run.trace.root().expect("checked by completed()");
    let forked: Vec<String> = run.trace.descendants().map(|(_, p)| p.name()).collect();
    if !forked.is_empty() {
        return Err(format!(
            "bad input must be rejected before forking, but the parent forked {}",
            and_list(&forked)
        ));
    }
    if root.end != Some(End::Exited { code: 2 }) {
        return Err(format!(
            "expected exit status 2, got {}",
            describe_end(root.end)
        ));
    }
    let stderr = run.stderr.text();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [line] if line.starts_with("error:") => {}
        [] => return Err("expected one line starting with `error:` on stderr, got nothing".into()),
        [line] => {
            return Err(format!(
                "expected the stderr line to start with `error:`, got {}",
                quoted(line)
            ));
        }
        _ => {
            let shown: Vec<String> = lines.iter().map(|l| quoted(l)).collect();
            return Err(format!(
                "expected one line on stderr, got {}: [{}]",
                lines.len(),
                shown.join(", ")
            ));
        }
    }
    let created: Vec<String> = root
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ShmGet { ret, .. } if *ret >= 0 => Some(format!("shmget = {ret}")),
            Event::Mknod { path, ret: 0, .. } => Some(format!("mknod({})", visible(path))),
            Event::MqOpen { name, flags, ret } if *ret >= 0 && flags & libc::O_CREAT != 0 => {
                Some(format!("mq_open({}, O_CREAT)", visible(name)))
            }
            Event::Bind { path, ret: 0, .. } if !path.is_empty() => {
                Some(format!("bind({})", visible(path)))
            }
            Event::Open { path, flags, ret }
                if *ret >= 0 && flags & libc::O_CREAT != 0 && path.starts_with("/dev/shm/") =>
            {
                Some(format!("shm_open({}, O_CREAT)", visible(path)))
            }
            _ => None,
        })
        .collect();
    if let Some(leak) = run.leaks.first() {
        return Err(format!(
            "nothing may be left behind, but {}",
            super::leak_text(leak)
        ));
    }
    if !created.is_empty() {
        return Err(format!(
            "validate before creating anything: the program called {}",
            and_list(&created)
        ));
    }
    Ok(())
}

/// `exit status 1`, `killed by SIGSEGV`.
pub(super) fn describe_end(end: Option<End>) -> String {
    match end {
        Some(End::Exited { code }) => format!("exit status {code}"),
        Some(End::Signaled { signal, .. }) => {
            format!("death by signal {}", super::signal_name(signal))
        }
        Some(End::Killed) => "a kill by the grader".to_string(),
        None => "no exit".to_string(),
    }
}

/// Up to five numbers, then `…`.
fn sample(numbers: &[u64]) -> String {
    let shown: Vec<String> = numbers.iter().take(5).map(u64::to_string).collect();
    if numbers.len() > 5 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_of_small_numbers() {
        assert_eq!(
            expected_factors(60).into_iter().collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6, 10, 12, 15, 20, 30]
        );
        assert!(expected_factors(97).is_empty());
        assert!(expected_factors(1).is_empty());
        assert_eq!(
            expected_factors(49).into_iter().collect::<Vec<_>>(),
            vec![7]
        );
    }

    #[test]
    fn the_large_case_has_17278_factors() {
        assert_eq!(expected_factors(97_821_761_637_600).len(), 17278);
    }

    #[test]
    fn parses_like_the_contract() {
        assert_eq!(parse_input("  360 \t\n"), Some(360));
        assert_eq!(parse_input("18446744073709551615\n"), Some(u64::MAX));
        for bad in ["", "\n", "0\n", "-3\n", "12abc\n", "18446744073709551616\n"] {
            assert_eq!(parse_input(bad), None, "{bad:?}");
        }
    }
}
