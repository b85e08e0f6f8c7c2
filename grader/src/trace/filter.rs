//! The one seccomp program a run gets: the grader's whole policy for system calls (what to
//! refuse, what to stop the program on) compiled to classic BPF.
//!
//! Why one program of our own rather than a filter per concern: the kernel runs *every*
//! installed filter on each call its action cache cannot settle, and a call whose filter
//! path reads an argument (a `write`, whose descriptor decides whether the grader looks at
//! it) is never settled by the cache. Measured on a pipe flood (`grader/benches/overhead.rs`),
//! the mere presence of a seccomp filter costs about 1.2× in CPU (the kernel's slow
//! system-call entry); each program on top, walked linearly by the call number, adds more.
//! Here the call number is found by a binary search (a handful of comparisons for any call),
//! arguments are read only inside the rules of the call that needs them, so the action
//! cache allows every other call without running the program at all.
//!
//! The rules of a call are tried in order and the first that matches decides; a call no
//! rule matches is allowed. That is how several filters would combine too, as long as the
//! rules are given most restrictive first (errors, then stops), which [`Policy`]'s users do.

use seccompiler::{BpfProgram, sock_filter};

/// What a matching rule does with the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The call fails with this errno; the tracer is not told.
    Errno(u16),
    /// The tracer gets a `PTRACE_EVENT_SECCOMP` stop (with this data) before the call.
    Trace(u16),
}

/// When a rule applies, judged on the call's arguments as the kernel passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    Always,
    /// The low 32 bits of argument `arg` (an `int`), unsigned, at most `limit`.
    LowAtMost {
        arg: u8,
        limit: u32,
    },
    /// The low 32 bits of argument `arg` equal `value`.
    LowEquals {
        arg: u8,
        value: u32,
    },
    /// Any bit of `bits` is set in argument `arg`.
    AnyBit {
        arg: u8,
        bits: u64,
    },
    /// Argument `arg`, masked with `mask`, equals `value`.
    Masked {
        arg: u8,
        mask: u64,
        value: u64,
    },
}

impl Test {
    /// What the compiled program decides, for tests and for the tracer's own reading.
    pub fn holds(self, args: &[u64; 6]) -> bool {
        match self {
            Test::Always => true,
            Test::LowAtMost { arg, limit } => args[arg as usize] as u32 <= limit,
            Test::LowEquals { arg, value } => args[arg as usize] as u32 == value,
            Test::AnyBit { arg, bits } => args[arg as usize] & bits != 0,
            Test::Masked { arg, mask, value } => args[arg as usize] & mask == value,
        }
    }
}

/// One rule: for calls numbered `nr` whose arguments pass `test`, do `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub nr: u32,
    pub test: Test,
    pub action: Action,
}

/// Rules in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// The outcome of a call under a policy (what the compiled program returns, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Act(Action),
    /// A call of another ABI (x32 on x86_64): refused with ENOSYS, since no rule names it.
    ForeignAbi,
}

impl Policy {
    pub fn push(&mut self, nr: u32, test: Test, action: Action) {
        let rule = Rule { nr, test, action };
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
        }
    }

    /// Appends another policy's rules after this one's (they take lower precedence).
    pub fn then(mut self, other: &Policy) -> Policy {
        for rule in &other.rules {
            self.push(rule.nr, rule.test, rule.action);
        }
        self
    }

    /// What the policy decides for a call, by its rules.
    pub fn decide(&self, nr: u32, args: &[u64; 6]) -> Decision {
        if nr >= X32_SYSCALL_BIT {
            return Decision::ForeignAbi;
        }
        self.rules
            .iter()
            .find(|r| r.nr == nr && r.test.holds(args))
            .map_or(Decision::Allow, |r| Decision::Act(r.action))
    }

    /// The program: check the architecture, refuse calls of a foreign ABI, find the call
    /// number by binary search, then try its rules in order.
    pub fn compile(&self) -> BpfProgram {
        let mut numbers: Vec<u32> = self.rules.iter().map(|r| r.nr).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut out = Assembler::default();
        out.load(ARCH_OFFSET);
        out.jump_if(BPF_JEQ, AUDIT_ARCH, 1, 0);
        out.ret(SECCOMP_RET_KILL_PROCESS);
        out.load(NR_OFFSET);
        // Calls of the x32 ABI carry this bit; none of the rules names them, so they would
        // pass unseen. Only x86_64 has such an ABI; elsewhere no call number has the bit.
        out.jump_if(BPF_JGE, X32_SYSCALL_BIT, 0, 1);
        out.ret(SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        self.search(&mut out, &numbers);
        out.finish()
    }

    /// Binary search over `numbers` (sorted; the accumulator holds the call number): each
    /// level is one comparison, a long jump (`ja`, whose offset has 32 bits where a
    /// conditional jump's has 8) reaching the upper half.
    fn search(&self, out: &mut Assembler, numbers: &[u32]) {
        match numbers {
            [] => out.ret(SECCOMP_RET_ALLOW),
            [nr] => {
                out.jump_if(BPF_JEQ, *nr, 1, 0);
                out.ret(SECCOMP_RET_ALLOW);
                self.rules_of(out, *nr);
            }
            _ => {
                let (lower, upper) = numbers.split_at(numbers.len() / 2);
                // A >= first of the upper half: take the long jump; else skip it.
                out.jump_if(BPF_JGE, upper[0], 0, 1);
                let to_upper = out.long_jump();
                self.search(out, lower);
                out.land(to_upper);
                self.search(out, upper);
            }
        }
    }

    /// The rules of call `nr` in order, then allow. The accumulator is reloaded by each test
    /// that reads an argument, and holds nothing any later code needs.
    fn rules_of(&self, out: &mut Assembler, nr: u32) {
        for rule in self.rules.iter().filter(|r| r.nr == nr) {
            let action = match rule.action {
                Action::Errno(errno) => SECCOMP_RET_ERRNO | u32::from(errno),
                Action::Trace(data) => SECCOMP_RET_TRACE | u32::from(data),
            };
            match rule.test {
                Test::Always => {
                    // Later rules of this call can never match.
                    out.ret(action);
                    return;
                }
                Test::LowAtMost { arg, limit } => {
                    out.load(arg_low(arg));
                    out.jump_if(BPF_JGT, limit, 1, 0);
                    out.ret(action);
                }
                Test::LowEquals { arg, value } => {
                    out.load(arg_low(arg));
                    out.jump_if(BPF_JEQ, value, 0, 1);
                    out.ret(action);
                }
                Test::AnyBit { arg, bits } => {
                    let halves = [
                        (arg_low(arg), bits as u32),
                        (arg_low(arg) + 4, (bits >> 32) as u32),
                    ];
                    let halves: Vec<(u32, u32)> = halves.into_iter().filter(|h| h.1 != 0).collect();
                    if halves.is_empty() {
                        continue; // No bit to test: never holds.
                    }
                    for (i, (offset, bits)) in halves.iter().enumerate() {
                        out.load(*offset);
                        // Set: on to the `ret`, past the other half's two instructions.
                        let to_ret = 2 * (halves.len() - 1 - i) as u8;
                        let past_ret = if i + 1 == halves.len() { 1 } else { 0 };
                        out.jump_if(BPF_JSET, *bits, to_ret, past_ret);
                    }
                    out.ret(action);
                }
                Test::Masked { arg, mask, value } => {
                    // Low half then high half; a mismatch in either skips to the next rule.
                    out.load(arg_low(arg));
                    out.and(mask as u32);
                    out.jump_if(BPF_JEQ, value as u32, 0, 4);
                    out.load(arg_low(arg) + 4);
                    out.and((mask >> 32) as u32);
                    out.jump_if(BPF_JEQ, (value >> 32) as u32, 0, 1);
                    out.ret(action);
                }
            }
        }
        out.ret(SECCOMP_RET_ALLOW);
    }
}

// Classic BPF opcodes (linux/bpf_common.h) and seccomp's return values (linux/seccomp.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// Offsets into `struct seccomp_data` { int nr; u32 arch; u64 ip; u64 args[6]; }.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

/// The low 32 bits of argument `arg` (both supported architectures are little-endian).
fn arg_low(arg: u8) -> u32 {
    16 + 8 * u32::from(arg)
}

/// `__X32_SYSCALL_BIT` (asm/unistd.h).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
pub(crate) const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// Emits instructions, and patches the long jumps once their targets are known.
#[derive(Default)]
struct Assembler {
    program: Vec<sock_filter>,
}

/// A long jump waiting for its target.
struct Pending(usize);

impl Assembler {
    fn emit(&mut self, code: u16, jt: u8, jf: u8, k: u32) {
        self.program.push(sock_filter { code, jt, jf, k });
    }
    fn load(&mut self, offset: u32) {
        self.emit(BPF_LD_W_ABS, 0, 0, offset);
    }
    fn and(&mut self, mask: u32) {
        self.emit(BPF_ALU_AND_K, 0, 0, mask);
    }
    fn jump_if(&mut self, op: u16, k: u32, jt: u8, jf: u8) {
        self.emit(op, jt, jf, k);
    }
    fn ret(&mut self, value: u32) {
        self.emit(BPF_RET_K, 0, 0, value);
    }
    fn long_jump(&mut self) -> Pending {
        self.emit(BPF_JA, 0, 0, 0);
        Pending(self.program.len() - 1)
    }
    /// The next instruction is where `jump` lands.
    fn land(&mut self, jump: Pending) {
        let offset = self.program.len() - jump.0 - 1;
        self.program[jump.0].k = u32::try_from(offset).expect("a program under 4 G instructions");
    }
    fn finish(self) -> BpfProgram {
        self.program
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs a program of the instructions [`Policy::compile`] emits, as the kernel would.
    pub(crate) fn run(program: &[sock_filter], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
        run_counting(program, nr, arch, args).0
    }

    /// [`run`], with how many instructions ran and whether any read an argument.
    fn run_counting(
        program: &[sock_filter],
        nr: u32,
        arch: u32,
        args: &[u64; 6],
    ) -> (u32, usize, bool) {
        let (mut steps, mut read_args) = (0, false);
        let word = |offset: u32| -> u32 {
            match offset {
                0 => nr,
                4 => arch,
                o if (16..64).contains(&o) => {
                    let arg = args[((o - 16) / 8) as usize];
                    if (o - 16) % 8 == 0 {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                o => panic!("load at {o}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = &program[pc];
            pc += 1;
            steps += 1;
            read_args |= i.code == BPF_LD_W_ABS && i.k >= 16;
            let jump = |taken: bool| if taken { i.jt as usize } else { i.jf as usize };
            match i.code {
                BPF_LD_W_ABS => a = word(i.k),
                BPF_ALU_AND_K => a &= i.k,
                BPF_JA => pc += i.k as usize,
                BPF_JEQ => pc += jump(a == i.k),
                BPF_JGT => pc += jump(a > i.k),
                BPF_JGE => pc += jump(a >= i.k),
                BPF_JSET => pc += jump(a & i.k != 0),
                BPF_RET_K => return (i.k, steps, read_args),
                code => panic!("opcode {code:#x}"),
            }
        }
    }

    pub(crate) fn decoded(value: u32) -> Decision {
        match value & 0xffff_0000 {
            SECCOMP_RET_ALLOW => Decision::Allow,
            SECCOMP_RET_TRACE => Decision::Act(Action::Trace(value as u16)),
            SECCOMP_RET_ERRNO if value as u16 == libc::ENOSYS as u16 => Decision::ForeignAbi,
            SECCOMP_RET_ERRNO => Decision::Act(Action::Errno(value as u16)),
            other => panic!("return {other:#x}"),
        }
    }

    /// A policy of many calls, every kind of test, and several rules for one call.
    fn sample() -> Policy {
        let mut policy = Policy::default();
        policy.push(
            62,
            Test::LowEquals {
                arg: 0,
                value: (-1i32) as u32,
            },
            Action::Errno(1),
        );
        policy.push(
            62,
            Test::LowEquals {
                arg: 0,
                value: 4242,
            },
            Action::Errno(1),
        );
        policy.push(
            56,
            Test::AnyBit {
                arg: 0,
                bits: 1 << 23,
            },
            Action::Trace(7),
        );
        policy.push(
            56,
            Test::Masked {
                arg: 0,
                mask: 0x4000_0100 | 1 << 40,
                value: 0x100,
            },
            Action::Trace(7),
        );
        policy.push(
            317,
            Test::AnyBit {
                arg: 1,
                bits: 1 << 3 | 1 << 35,
            },
            Action::Trace(7),
        );
        for nr in (0..450).step_by(3) {
            policy.push(nr, Test::LowAtMost { arg: 0, limit: 2 }, Action::Trace(0));
            policy.push(nr, Test::AnyBit { arg: 2, bits: 0x40 }, Action::Trace(0));
        }
        policy.push(435, Test::Always, Action::Trace(7));
        policy.push(435, Test::LowAtMost { arg: 0, limit: 2 }, Action::Trace(0));
        policy
    }

    #[test]
    fn the_program_decides_as_the_rules_do() {
        let policy = sample();
        let program = policy.compile();
        assert!(program.len() < 4096, "{} instructions", program.len());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let interesting = [
            0,
            1,
            2,
            3,
            4242,
            u32::MAX as u64,
            1 << 23,
            0x100,
            0x40,
            1 << 35,
            1 << 3,
        ];
        for nr in (0..460).chain([X32_SYSCALL_BIT | 1, u32::MAX]) {
            for _ in 0..40 {
                let mut args = [0u64; 6];
                for arg in &mut args {
                    *arg = match next() % 3 {
                        0 => interesting[(next() % interesting.len() as u64) as usize],
                        1 => next(),
                        _ => next() & 0xff,
                    };
                }
                let got = decoded(run(&program, nr, AUDIT_ARCH, &args));
                assert_eq!(got, policy.decide(nr, &args), "call {nr}, {args:x?}");
            }
        }
    }

    #[test]
    fn another_architecture_is_killed() {
        let program = sample().compile();
        assert_eq!(
            run(&program, 1, 0x4000_0003, &[0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn an_empty_policy_allows_everything_but_foreign_calls() {
        let program = Policy::default().compile();
        assert_eq!(
            decoded(run(&program, 1, AUDIT_ARCH, &[1; 6])),
            Decision::Allow
        );
        assert_eq!(
            decoded(run(&program, X32_SYSCALL_BIT | 1, AUDIT_ARCH, &[1; 6])),
            Decision::ForeignAbi
        );
    }

    /// The cost of finding a call grows with the logarithm of the calls named, and a call
    /// no rule names never reads an argument (so the kernel's action cache settles it).
    #[test]
    fn an_unnamed_call_costs_a_few_comparisons_and_reads_no_argument() {
        let program = sample().compile();
        for nr in [1, 451, 200_000] {
            let (value, steps, read_args) = run_counting(&program, nr, AUDIT_ARCH, &[0; 6]);
            assert_eq!(value, SECCOMP_RET_ALLOW);
            assert!(!read_args, "call {nr} read an argument");
            assert!(steps <= 24, "call {nr}: {steps} instructions");
        }
    }
}
