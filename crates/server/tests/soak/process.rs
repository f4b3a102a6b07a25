//! This process's resident memory, open file descriptors and threads, from `/proc/self`.

pub struct Snapshot {
    pub rss_kib: u64,
    pub fds: usize,
    pub threads: u64,
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Snapshot {
    pub fn now() -> Snapshot {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Snapshot {
            rss_kib: status_field(&status, "VmRSS:"),
            fds: std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count),
            threads: status_field(&status, "Threads:"),
        }
    }
}
