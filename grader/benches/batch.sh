#!/usr/bin/env bash
# What `grader batch` saves: N synthetic submissions (a mix of solved, untouched stubs and
# code that does not compile) graded by `grader batch` (one shared target directory, builds
# one at a time, grading in parallel) against the naive way, a fresh clone per submission
# running `cargo test -p lab11` with a target directory of its own.
#
#   bash grader/benches/batch.sh [N]          # N defaults to 40
#   NAIVE_N=3 bash grader/benches/batch.sh 40 # time 3 naive runs, extrapolate to 40
#
# Environment: N, NAIVE_N (naive runs actually timed; default N), JOBS (grader batch --jobs),
# CARGO_TARGET_DIR (where the grader itself is built). Everything runs offline.
set -euo pipefail

N=${1:-${N:-40}}
NAIVE_N=${NAIVE_N:-$N}
if ((NAIVE_N > N)); then NAIVE_N=$N; fi
if ((N < 1 || NAIVE_N < 1)); then
    echo "N and NAIVE_N must be at least 1" >&2
    exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/grader-batch-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
elapsed() { calc "$2 - $1"; }

echo "building the grader…" >&2
cargo build --quiet --offline -p grader --manifest-path "$root/Cargo.toml"
grader=$target/debug/grader

# Submission i: 0 solved, 1 stubs, 2 does not compile, repeating.
kind_of() {
    case $(($1 % 3)) in
        0) echo solved ;;
        1) echo stub ;;
        2) echo broken ;;
    esac
}

# Writes the student crate's sources of submission $1 into folder $2.
student_sources() {
    local dest=$2/labs/lab11
    mkdir -p "$dest"
    cp -r "$root/labs/lab11/src" "$dest/"
    case $(kind_of "$1") in
        solved) cp "$root"/solutions/lab11/src/bin/*.rs "$dest/src/bin/" ;;
        broken) printf 'fn main() { let n: u32 = "%d"; }\n' "$1" >"$dest/src/bin/pipe.rs" ;;
        stub) printf '\n// submission %d\n' "$1" >>"$dest/src/lib.rs" ;;
    esac
}

echo "generating $N submissions…" >&2
for ((i = 0; i < N; i++)); do
    student_sources "$i" "$work/subs/$(printf 'student-%03d' "$i")"
done

echo "grader batch on $N submissions…" >&2
start=$(now)
"$grader" batch lab11 "$work/subs" --out "$work/grades" --root "$root" ${JOBS:+--jobs "$JOBS"} \
    2>"$work/batch.log"
batch_secs=$(elapsed "$start" "$(now)")
tail -n 1 "$work/batch.log" >&2

# The naive way: a whole clone of the kit per submission, `cargo test -p lab11` in it with a
# target directory of its own (everything, the grader and its dependencies, compiles again).
naive_secs=0
for ((i = 0; i < NAIVE_N; i++)); do
    clone=$work/naive/$i
    mkdir -p "$clone"
    tar -C "$root" --exclude=./target --exclude=./.git --exclude-caches-all -cf - . |
        tar -C "$clone" -xf -
    student_sources "$i" "$clone"
    echo "naive run $((i + 1))/$NAIVE_N ($(kind_of "$i"))…" >&2
    start=$(now)
    (cd "$clone" && CARGO_TARGET_DIR=$clone/target cargo test --quiet --offline -p lab11) \
        >"$work/naive-$i.log" 2>&1 || true
    secs=$(elapsed "$start" "$(now)")
    echo "  $secs s" >&2
    naive_secs=$(calc "$naive_secs + $secs")
    rm -rf "$clone"
done

measured=$naive_secs
if ((NAIVE_N < N)); then
    naive_secs=$(calc "$naive_secs * $N / $NAIVE_N")
    note=" (extrapolated: $NAIVE_N of $N naive runs timed, $measured s, × $N / $NAIVE_N)"
else
    note=""
fi
printf 'submissions:        %d\n' "$N"
printf 'grader batch:       %.1f s\n' "$batch_secs"
printf 'naive cargo test:   %.1f s%s\n' "$naive_secs" "$note"
printf 'speed-up:           %.1fx\n' "$(calc "$naive_secs / $batch_secs")"
