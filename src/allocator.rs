//! How the process's memory allocator keeps and returns memory (glibc on Linux; elsewhere
//! these do nothing).

/// Large buffers (argon2id's 19 MiB, 5 MiB upload parts) go back to the system when freed;
/// smaller ones (256 KiB read buffers) stay on the heap for reuse.
/// Left alone, glibc raises its mmap threshold after the first such free and keeps them
/// on the heap of every thread that touched one: hundreds of MiB after a burst of logins.
/// Call before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    }
}

/// Hands the free pages of every heap back to the system. glibc keeps freed memory in
/// its per-thread heaps for reuse, so a burst (many answers cached, then dropped) would
/// otherwise stay in the process's resident memory for good.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only returns unused pages; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
