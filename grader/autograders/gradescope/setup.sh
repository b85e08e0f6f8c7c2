#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04).
# It installs gcc, strace, python3 and a Rust toolchain, builds the grader, and prepares a
# work copy of the kit owned by `student`, with its dependencies fetched and built, so
# that run_autograder grades offline and quickly. The kit is the zip's kit/ folder,
# unpacked at /autograder/source/kit (see README.md).
set -euo pipefail

SOURCE="${SOURCE:-/autograder/source}"
KIT="$SOURCE/kit"
WORK="${WORK:-/home/student/kit}"
STUDENT="${STUDENT:-student}"
# The lab: the zip's `lab` file (one line, e.g. lab14), else lab11.
LAB="${LAB:-$(cat "$SOURCE/lab" 2>/dev/null || echo lab11)}"
RUST_DIR=/opt/rust

log() { printf '\nsetup.sh: %s\n' "$*"; }

[ -f "$KIT/Cargo.toml" ] || {
    echo "setup.sh: no kit at $KIT (the zip must hold kit/ next to setup.sh)" >&2
    exit 1
}

log "system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    ca-certificates curl gcc libc6-dev strace python3 util-linux coreutils >/dev/null

log "Rust (Ubuntu 22.04's rustc is too old for the kit's edition 2024)"
# Toolchains in a root-owned, world-readable place; the package cache (CARGO_HOME) is the
# student's, because cargo writes lock files there even when offline. Each submission runs
# in a fresh container, so nothing a student program changes there outlives its grading.
export RUSTUP_HOME="$RUST_DIR/rustup"
export CARGO_HOME="$RUST_DIR/cargo"
if [ ! -x "$CARGO_HOME/bin/cargo" ]; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --no-modify-path --profile minimal --default-toolchain stable
fi
chmod -R a+rX "$RUST_DIR"
export PATH="$CARGO_HOME/bin:$PATH"
rustc --version

log "the user that runs student code"
id -u "$STUDENT" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$STUDENT"
student_home="$(getent passwd "$STUDENT" | cut -d: -f6)"
export CARGO_HOME="$student_home/.cargo"
mkdir -p "$CARGO_HOME"
# What run_autograder sources: the toolchain's binaries, with the student's package cache.
cat >"$RUST_DIR/env" <<EOF
export RUSTUP_HOME="$RUSTUP_HOME"
export CARGO_HOME="$CARGO_HOME"
export PATH="$RUST_DIR/cargo/bin:\$PATH"
EOF

log "fetching dependencies"
(cd "$KIT" && cargo fetch --locked)

log "building the grader"
(cd "$KIT" && cargo build --release --locked -p grader)
install -m 0755 "$KIT/target/release/grader" /usr/local/bin/lab-grader

log "a quick look: the reference solutions, graded here (needs ptrace; failure is only reported)"
(cd "$KIT" && /usr/local/bin/lab-grader check "$LAB" --solutions --root "$KIT") ||
    echo "setup.sh: WARNING: grading the solutions failed here; check the first submission's results"

log "the work copy at $WORK"
rm -rf "$WORK"
mkdir -p "$(dirname "$WORK")"
cp -R "$KIT" "$WORK"
rm -rf "$WORK/target"
# Student programs can read the work copy: give them the stubs, not the answers. The
# solutions crate stays a workspace member, so its sources become the stubs.
cp "$KIT/labs/$LAB/src/bin/"*.rs "$WORK/solutions/$LAB/src/bin/"
chown -R "$STUDENT:" "$WORK" "$CARGO_HOME"

log "building the stubs once as $STUDENT (warms the dependencies)"
runuser -u "$STUDENT" -- env HOME="$student_home" PATH="$PATH" RUSTUP_HOME="$RUSTUP_HOME" \
    CARGO_HOME="$CARGO_HOME" CARGO_NET_OFFLINE=true \
    sh -c "cd '$WORK' && cargo build --quiet --bins -p '$LAB'"

# The kit (with the solutions) and the results are root's alone.
chmod 0700 "$SOURCE"
mkdir -p /autograder/results
chmod 0700 /autograder/results
log "done"
