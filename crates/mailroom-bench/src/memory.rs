//! Peak memory, read from Linux's `/proc` (the `VmHWM` a process reached, the same figure as
//! `getrusage`'s `ru_maxrss`), which needs no unsafe code. Elsewhere the figures are unknown.

/// The peak resident memory of a process in bytes (`None` where `/proc` does not tell).
pub fn peak(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// This process's resident memory now, in bytes (`VmRSS`).
pub fn current() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Starts this process's peak anew from its current size, so that the peak read later is that of
/// the work in between (writing 5 to `clear_refs`, Linux 4.0 and later). Says whether it could.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes as megabytes (10⁶), for the report.
pub fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
