//! A server under test, judged from the conversation the grader held with it as its client
//! (`run::client`) and from the trace.

use super::{Case, completed, factors::describe_end, panic_message};
use crate::escape::visible;
use crate::trace::End;

/// Every step of the input's client script went as expected; when the script waits for
/// the server to exit (after a signal), it exited with status 0.
pub(super) fn client_script(case: &Case<'_>) -> Result<(), String> {
    let run = case.run;
    // A stub's todo! explains more than "nothing accepted a connection".
    if let Some(panic) = panic_message(&run.stderr.text()) {
        return Err(format!("the program panicked: {}", visible(&panic)));
    }
    if run.client.is_empty() {
        return Err("the rubric gave this check an input without a client script".to_string());
    }
    if let Some(failed) = run.client.iter().position(|step| !step.ok) {
        let step = &run.client[failed];
        let before = match failed {
            0 => String::new(),
            1 => format!(" (after: {})", run.client[0].step),
            n => format!(
                " (after {n} steps that went as expected, the last: {})",
                run.client[n - 1].step
            ),
        };
        return Err(format!(
            "the grader, as a client, tried to {}: {}{before}",
            step.step, step.detail
        ));
    }
    completed(case)?;
    if run.client.iter().any(|s| s.awaited_exit) {
        let root = run.trace.root().expect("checked by completed()");
        if root.end != Some(End::Exited { code: 0 }) {
            return Err(format!(
                "after the signal the server should exit with status 0; it ended with {}",
                describe_end(root.end)
            ));
        }
    }
    Ok(())
}
