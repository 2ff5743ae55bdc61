//! A workload that prints the file descriptors it was started with, to show
//! that its init leaks none of its own (a signalfd, a pipe) into the app.
//!
//! Prints one line, `fds 0 1 2`, listing /proc/self/fd without the
//! descriptor used to read that directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test workload: a failure should stop it loudly"
)]

use std::ffi::CStr;

fn main() {
    let mut fds = Vec::new();
    // SAFETY: opendir/readdir/closedir on a constant path; each entry is
    // read before the next readdir call.
    unsafe {
        let dir = libc::opendir(c"/proc/self/fd".as_ptr());
        assert!(
            !dir.is_null(),
            "opendir: {}",
            std::io::Error::last_os_error()
        );
        let own = libc::dirfd(dir);
        loop {
            let entry = libc::readdir(dir);
            if entry.is_null() {
                break;
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr());
            if let Ok(fd) = name.to_str().unwrap_or("").parse::<i32>() {
                if fd != own {
                    fds.push(fd);
                }
            }
        }
        libc::closedir(dir);
    }
    fds.sort_unstable();
    let list: Vec<String> = fds.iter().map(i32::to_string).collect();
    println!("fds {}", list.join(" "));
}
