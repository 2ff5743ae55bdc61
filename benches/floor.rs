//! The start-up floor: a static Rust program that only starts its command,
//! waits for it and exits with its status, built like graceinit (same
//! target, flags and `no_main`). `floor CMD...` forks and execs;
//! `floor --spawn CMD...` uses glibc's posix_spawn (clone with CLONE_VM |
//! CLONE_VFORK). benches/compare.py builds it with rustc and measures it
//! beside the inits, so "how close to the floor" comes from the same run.
#![no_main]

use std::ffi::{c_char, c_int};

extern "C" {
    static environ: *const *const c_char;
    fn fork() -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn posix_spawn(
        pid: *mut c_int,
        path: *const c_char,
        actions: *const u8,
        attr: *const u8,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
}

#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    if argc < 2 {
        return 2;
    }
    // SAFETY: argv holds argc pointers and a NULL, as exec left it.
    unsafe {
        let first = std::ffi::CStr::from_ptr(*argv.add(1));
        let mut pid = 0;
        if first.to_bytes() == b"--spawn" {
            let command = argv.add(2);
            let null = std::ptr::null();
            if *command == null
                || posix_spawn(
                    &mut pid,
                    *command,
                    null.cast(),
                    null.cast(),
                    command,
                    environ,
                ) != 0
            {
                return 127;
            }
        } else {
            pid = fork();
            if pid == 0 {
                execv(*argv.add(1), argv.add(1));
                _exit(127);
            }
        }
        let mut status = 0;
        waitpid(pid, &mut status, 0);
        (status >> 8) & 0xff
    }
}
