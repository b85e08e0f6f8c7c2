//! The grader: runs lab programs under syscall tracing and grades how they communicate.

pub mod batch;
pub mod checks;
pub mod escape;
pub mod formats;
pub mod grade;
pub mod harness;
pub mod lang;
pub mod leaks;
pub mod report;
pub mod rubric;
pub mod run;
pub mod template;
pub mod timeline;
pub mod trace;
pub mod workspace;
