//! The grader: runs lab programs under syscall tracing and grades how they communicate.

pub mod run;
pub mod trace;
pub mod checks;
pub mod rubric;
pub mod grade;
pub mod harness;
pub mod report;
pub mod workspace;
