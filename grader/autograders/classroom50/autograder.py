#!/usr/bin/env python3
"""Classroom 50 autograder for one lab of the IPC kit.

Commit this file as <classroom>/autograders/<assignment>/autograder.py in your classroom50
config repository, next to kit.tar.gz (the kit, made with `git archive`; see README.md).
Classroom 50's runner runs it once per submission, in the student's checkout, with the
identity variables (CLASSROOM, ASSIGNMENT, SUBMISSION_TAG, COMMIT_URL, RELEASE_URL,
REVIEW_URL, OWNER, ...) and CLASSROOM50_BUNDLE_DIR, the folder this file came in.

It never builds the student's copy of the grader, tests or rubric: it unpacks the kit from
the bundle, lays the student's labs/<lab>/src over it (the only files a student may edit;
symbolic links are dropped), and runs `grader check <lab> --format classroom50` on that,
which writes ./result.json and ./release-body.md in the checkout once every student program
has ended. Exit 0 whenever grading ran, whatever the score; non-zero (the runner then
records an error, and publishes no score) only when it could not grade.

Time: the runner's grade job has 15 minutes in all (toolchain, builds, grading, publishing),
and it does not time this script, so every step here has a limit of its own.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

# The lab this assignment grades; a `lab` file in the bundle (one line) overrides it.
LAB = "lab11"
# Seconds for building the grader and the student's programs, and for grading them. Their
# sum stays well under the 15-minute grade job, which also installs Rust first.
BUILD_SECONDS = 8 * 60
GRADE_SECONDS = 3 * 60


def log(message: str) -> None:
    print(f"autograder: {message}", flush=True)


def main() -> int:
    checkout = pathlib.Path.cwd()
    bundle = pathlib.Path(os.environ.get("CLASSROOM50_BUNDLE_DIR") or pathlib.Path(__file__).parent)
    lab_file = bundle / "lab"
    lab = lab_file.read_text().strip() if lab_file.is_file() else LAB
    archive = bundle / "kit.tar.gz"
    if not archive.is_file():
        log(f"no kit.tar.gz in the bundle ({bundle}): see the kit's grader/autograders/classroom50/README.md")
        return 1
    work = pathlib.Path(tempfile.mkdtemp(prefix="ipc-kit-"))
    kit = work / "kit"
    with tarfile.open(archive) as tar:
        # The archive is the teacher's own; "data" still refuses links out and devices.
        tar.extractall(work, filter="data")
    if not (kit / "labs" / lab / "rubric.toml").is_file():
        log(f"kit.tar.gz has no kit/labs/{lab}/rubric.toml (make it with git archive --prefix=kit/)")
        return 1

    # The student's editable files over the pristine kit: labs/<lab>/src only.
    theirs = checkout / "labs" / lab / "src"
    ours = kit / "labs" / lab / "src"
    if theirs.is_dir():
        for path in sorted(theirs.rglob("*")):
            rel = path.relative_to(theirs)
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                log(f"ignored (not a plain file): labs/{lab}/src/{rel}")
                continue
            target = ours / rel
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    else:
        log(f"no labs/{lab}/src in the submission: the stubs are graded")
    # Every source of the lab dated now: the archive's files keep their commit's times, and
    # cargo, which tells a workspace it has built before by its relative paths, would take
    # a target directory's binaries from an earlier submission for up to date.
    for path in ours.rglob("*"):
        if path.is_file():
            os.utime(path)

    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(work / "target"))
    env["CARGO_TERM_COLOR"] = "never"
    # GRADER names a grader already built from this same kit (the kit's own test of this
    # script, or a runner image that has one); the runner's environment is the teacher's.
    prebuilt = env.pop("GRADER", "")
    if prebuilt:
        grader = pathlib.Path(prebuilt)
        log(f"using the grader at {grader}")
    else:
        cargo = ["cargo", "build", "--quiet", "--locked", "-p", "grader", "--manifest-path", str(kit / "Cargo.toml")]
        log(f"building the grader ({' '.join(cargo[:4])} ...)")
        try:
            built = subprocess.run(cargo, env=env, timeout=BUILD_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            log(f"building the grader took over {BUILD_SECONDS} s")
            return 1
        if built.returncode != 0:
            log("the grader does not build (the kit in the bundle, not the student's code)")
            return 1
        grader = pathlib.Path(env["CARGO_TARGET_DIR"]) / "debug" / "grader"
    # The grader builds the student's programs itself (a compile error is a graded result)
    # and writes result.json in the working directory: the checkout.
    command = [str(grader), "check", lab, "--root", str(kit), "--format", "classroom50"]
    log(" ".join(command[1:]))
    try:
        graded = subprocess.run(command, cwd=checkout, env=env, timeout=BUILD_SECONDS + GRADE_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        log("grading took too long")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return graded.returncode


if __name__ == "__main__":
    sys.exit(main())
