//! The reference solutions graded by the same rubric as the students' crate.

fn main() -> std::process::ExitCode {
    grader::harness::main(
        "lab14",
        env!("CARGO_MANIFEST_DIR"),
        &[
            ("signals", env!("CARGO_BIN_EXE_lab14-solution-signals")),
            ("rpc", env!("CARGO_BIN_EXE_lab14-solution-rpc")),
        ],
    )
}
