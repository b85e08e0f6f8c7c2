//! The reference solutions graded by the same rubric as the students' crate.

fn main() -> std::process::ExitCode {
    grader::harness::main(
        "lab12",
        env!("CARGO_MANIFEST_DIR"),
        &[
            ("fifo", env!("CARGO_BIN_EXE_lab12-solution-fifo")),
            ("mqueue", env!("CARGO_BIN_EXE_lab12-solution-mqueue")),
            ("socket", env!("CARGO_BIN_EXE_lab12-solution-socket")),
        ],
    )
}
