//! The process's memory allocator: mimalloc, made for servers. Under load glibc's malloc
//! spent a fifth of the CPU of an uncached catalog read (arena locks, chunk
//! consolidation) and kept freed memory on per-thread heaps.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands free pages back to the system now rather than after mimalloc's purge delay, so a
/// burst (many answers cached, then dropped) leaves the process's resident memory soon.
pub fn release_free_memory() {
    // SAFETY: mi_collect only frees unused memory the allocator holds; any thread may call it.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
