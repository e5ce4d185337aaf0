//! Prints the thread CPU time, in microseconds, of the first and of the second 32-byte
//! `SystemRandom` fill of this process: `first_us second_us`. With CPU jitter entropy compiled into
//! aws-lc, the first fill seeds its DRBG from it (tens of milliseconds); without, both cost
//! microseconds. infra/coldstart/coldstart.py runs it to show which way a build went.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

fn thread_cpu_us() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    assert!(ok, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

fn main() {
    let rng = SystemRandom::new();
    let mut bytes = [0_u8; 32];
    let start = thread_cpu_us();
    let first = rng.fill(&mut bytes).is_ok();
    let after_first = thread_cpu_us();
    let second = rng.fill(&mut bytes).is_ok();
    let after_second = thread_cpu_us();
    assert!(first && second, "aws-lc-rs could not fill");
    println!("{} {}", after_first - start, after_second - after_first);
}
