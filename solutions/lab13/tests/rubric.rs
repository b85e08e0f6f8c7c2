//! The reference solution graded by the same rubric as the students' crate.

fn main() -> std::process::ExitCode {
    grader::harness::main(
        "lab13",
        env!("CARGO_MANIFEST_DIR"),
        &[("ring", env!("CARGO_BIN_EXE_lab13-solution-ring"))],
    )
}
