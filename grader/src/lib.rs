//! The grader: runs lab programs under syscall tracing and grades how they communicate.

pub mod checks;
pub mod grade;
pub mod harness;
pub mod report;
pub mod rubric;
pub mod run;
pub mod trace;
pub mod workspace;
