// PortableTimeline on Linux: a sealed memfd page holding the counter, futex for wake-up.
#include "geyser/portable_timeline.hpp"

#include "fault.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"
#include "../timeout.hpp"

namespace geyser {

namespace detail {

// The shared page as every process sees it. Another process may have been built by another
// compiler, so each field has a fixed size and offset (asserted below); any change to the
// layout must bump kLayoutVersion.
struct TimelinePage {
    std::atomic<uint32_t> magic;
    std::atomic<uint32_t> version;
    std::atomic<uint64_t> value;
    // The futex word. FUTEX_WAIT compares a 32-bit word, so the 64-bit value cannot be waited on
    // directly; every change a waiter must notice (signal, abandonment) bumps this instead.
    std::atomic<uint32_t> sequence;
    std::atomic<uint32_t> abandoned;
    // Threads in any process registered to sleep on `sequence`. A waiter killed while registered
    // leaves it too high, which only costs signallers a needless FUTEX_WAKE.
    std::atomic<uint32_t> waiters;
    uint32_t reserved;
};

}  // namespace detail

namespace {

using detail::TimelinePage;

// The atomics are used from several processes through one physical page. Only lock-free
// atomics keep their state in the object itself (a lock-based one would use a lock table private
// to each process), and the futex syscall reads `sequence` as a plain 32-bit integer.
static_assert(std::atomic<uint64_t>::is_always_lock_free, "timeline value must be lock-free");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "futex word must be lock-free");
static_assert(sizeof(std::atomic<uint32_t>) == 4, "futex word must be exactly 32 bits");
static_assert(sizeof(std::atomic<uint64_t>) == 8 && alignof(std::atomic<uint64_t>) == 8,
              "timeline value must be a naturally aligned 64-bit word");
static_assert(std::is_standard_layout_v<TimelinePage>, "shared page must be standard-layout");
static_assert(offsetof(TimelinePage, magic) == 0 && offsetof(TimelinePage, version) == 4 &&
                  offsetof(TimelinePage, value) == 8 && offsetof(TimelinePage, sequence) == 16 &&
                  offsetof(TimelinePage, abandoned) == 20 && offsetof(TimelinePage, waiters) == 24 &&
                  sizeof(TimelinePage) == 32,
              "shared page layout changed: bump kLayoutVersion and fix these offsets");

// "GYTL" when the page is read as bytes on a little-endian host.
constexpr uint32_t kMagic = 0x4C545947u;
constexpr uint32_t kLayoutVersion = 1;
constexpr const char* kMemfdName = "geyser-timeline";

std::size_t page_size() {
    const long size = ::sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

uint64_t monotonic_ns() {
    timespec ts{};
    if (::clock_gettime(CLOCK_MONOTONIC, &ts) != 0) throw_errno("clock_gettime(CLOCK_MONOTONIC)");
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

std::string format_ms(uint64_t ns) {
    if (ns % 1000000u == 0) return std::to_string(ns / 1000000u);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns) / 1e6);
    return buf;
}

const char* file_kind(mode_t mode) {
    if (S_ISFIFO(mode)) return "pipe or FIFO";
    if (S_ISCHR(mode)) return "character device";
    if (S_ISSOCK(mode)) return "socket";
    if (S_ISDIR(mode)) return "directory";
    if (S_ISBLK(mode)) return "block device";
    if ((mode & S_IFMT) == 0) return "anonymous inode (eventfd, sync file or similar)";
    return "file of another kind";
}

// Shared futexes only: the page is mapped by several processes, and FUTEX_PRIVATE_FLAG would key
// the futex on this process's address space, so a wake would never reach another process.
long futex_wait(std::atomic<uint32_t>& word, uint32_t expected, const timespec& relative) {
    return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, &relative,
                     nullptr, 0);
}

long futex_wake_all(std::atomic<uint32_t>& word) {
    return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
                     nullptr, 0);
}

// Owns a mapping until the PortableTimeline takes it, so every failure after mmap unmaps.
class Mapping {
public:
    Mapping(void* addr, std::size_t size) noexcept : addr_(addr), size_(size) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (addr_ != nullptr) ::munmap(addr_, size_);
    }
    void* get() const noexcept { return addr_; }
    std::size_t size() const noexcept { return size_; }
    [[nodiscard]] void* release() noexcept { return std::exchange(addr_, nullptr); }

private:
    void* addr_;
    std::size_t size_;
};

// Registers the calling thread as a sleeper for as long as it may sleep.
class WaiterRegistration {
public:
    WaiterRegistration() = default;
    WaiterRegistration(const WaiterRegistration&) = delete;
    WaiterRegistration& operator=(const WaiterRegistration&) = delete;
    ~WaiterRegistration() {
        if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_seq_cst);
    }
    bool registered() const noexcept { return count_ != nullptr; }
    void enter(std::atomic<uint32_t>& count) noexcept {
        count.fetch_add(1, std::memory_order_seq_cst);
        count_ = &count;
    }

private:
    std::atomic<uint32_t>* count_ = nullptr;
};

}  // namespace

PortableTimeline::PortableTimeline(UniqueFd fd, TimelinePage* page, std::size_t map_size) noexcept
    : fd_(std::move(fd)), page_(page), map_size_(map_size) {}

PortableTimeline::PortableTimeline(PortableTimeline&& other) noexcept
    : fd_(std::move(other.fd_)),
      page_(std::exchange(other.page_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)) {}

PortableTimeline& PortableTimeline::operator=(PortableTimeline&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = std::move(other.fd_);
        page_ = std::exchange(other.page_, nullptr);
        map_size_ = std::exchange(other.map_size_, 0);
    }
    return *this;
}

PortableTimeline::~PortableTimeline() { reset(); }

void PortableTimeline::reset() noexcept {
    if (page_ != nullptr) ::munmap(page_, map_size_);
    page_ = nullptr;
    map_size_ = 0;
    fd_.reset();
}

TimelinePage& PortableTimeline::page() const {
    if (page_ == nullptr) throw InvalidHandleError("PortableTimeline has been moved from and holds no timeline");
    return *page_;
}

PortableTimeline PortableTimeline::create(uint64_t initial_value) {
    UniqueFd fd(fault::injected("memfd_create") ? (errno = EIO, -1)
                                                : ::memfd_create(kMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) throw_errno("memfd_create", kMemfdName);

    const std::size_t size = page_size();
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate", kMemfdName);
    // Touching a mapped page beyond end-of-file raises SIGBUS, so no holder of the fd may ever
    // shrink it; F_SEAL_SEAL stops anyone from changing that later.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        throw_errno("fcntl(F_ADD_SEALS)", kMemfdName);
    }

    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (addr == MAP_FAILED) throw_errno("mmap", kMemfdName);
    Mapping mapping(addr, size);

    // No other process can see the page yet, so relaxed stores suffice; handing the fd over
    // (fork, SCM_RIGHTS) orders them before any access by the importer.
    auto* page = new (mapping.get()) TimelinePage;
    page->value.store(initial_value, std::memory_order_relaxed);
    page->sequence.store(0, std::memory_order_relaxed);
    page->abandoned.store(0, std::memory_order_relaxed);
    page->waiters.store(0, std::memory_order_relaxed);
    page->reserved = 0;
    page->version.store(kLayoutVersion, std::memory_order_relaxed);
    page->magic.store(kMagic, std::memory_order_relaxed);

    std::size_t map_size = mapping.size();
    return PortableTimeline(std::move(fd), static_cast<TimelinePage*>(mapping.release()), map_size);
}

PortableTimeline PortableTimeline::import_fd(int borrowed_fd) {
    // The caller keeps its fd whatever happens, so work on a duplicate: every failure below then
    // closes only our copy.
    UniqueFd fd = UniqueFd::duplicate_of(borrowed_fd);
    const std::string what = "fd " + std::to_string(borrowed_fd) + " is not a Geyser timeline: ";

    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", "fd " + std::to_string(borrowed_fd));
    if (!S_ISREG(st.st_mode)) {
        throw InvalidHandleError(what + "expected a memfd (regular file), found a " + file_kind(st.st_mode));
    }

    // An O_PATH fd names a file without giving access to it (fstat works, F_GET_SEALS and mmap
    // fail with EBADF): a wrong handle, not a failure of ours.
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0) throw_errno("fcntl(F_GETFL)", "fd " + std::to_string(borrowed_fd));
    if (flags & O_PATH) throw InvalidHandleError(what + "it was opened with O_PATH, which gives no access to the file");

    const int seals = ::fcntl(fd.get(), F_GET_SEALS);
    if (seals < 0) {
        if (errno == EINVAL) {
            throw InvalidHandleError(what + "expected a sealed memfd, found a file that does not support "
                                            "sealing (a regular file on disk?)");
        }
        throw_errno("fcntl(F_GET_SEALS)", "fd " + std::to_string(borrowed_fd));
    }
    // Without F_SEAL_SHRINK any holder could truncate the file, and our next access to the
    // mapping would raise SIGBUS instead of an error.
    if ((seals & F_SEAL_SHRINK) == 0) {
        throw InvalidHandleError(what + "the file is not sealed against shrinking (expected F_SEAL_SHRINK in "
                                        "seals, found " + hex32(static_cast<uint32_t>(seals)) + ")");
    }
    // A writable shared mapping is refused on a file sealed against writing.
    if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
        throw InvalidHandleError(what + "the file is sealed against writing (seals " +
                                 hex32(static_cast<uint32_t>(seals)) + "), but a timeline must be writable");
    }
    // Check the size only now: until F_SEAL_SHRINK was seen, it could still have dropped.
    if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", "fd " + std::to_string(borrowed_fd));
    if (st.st_size < static_cast<off_t>(sizeof(TimelinePage))) {
        throw InvalidHandleError(what + "expected at least " + std::to_string(sizeof(TimelinePage)) +
                                 " bytes, found " + std::to_string(st.st_size));
    }
    // mmap(PROT_WRITE, MAP_SHARED) needs an fd opened for reading and writing.
    if ((flags & O_ACCMODE) != O_RDWR) {
        throw InvalidHandleError(what + "expected an fd opened read-write, found one opened " +
                                 ((flags & O_ACCMODE) == O_RDONLY ? "read-only" : "write-only"));
    }

    // Only the header is ever touched; it lies inside the file, so the rest of the first page
    // being past end-of-file is harmless.
    const std::size_t size = page_size();
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (addr == MAP_FAILED) {
        if (errno == EACCES || errno == EPERM) {
            throw InvalidHandleError(what + "the file cannot be mapped read-write (" +
                                     std::string(errno == EACCES ? "EACCES" : "EPERM") + ")");
        }
        throw_errno("mmap", "fd " + std::to_string(borrowed_fd));
    }
    Mapping mapping(addr, size);

    auto* page = static_cast<TimelinePage*>(mapping.get());
    const uint32_t magic = page->magic.load(std::memory_order_relaxed);
    if (magic != kMagic) {
        throw InvalidHandleError(what + "expected magic " + hex32(kMagic) + " (\"GYTL\") at offset 0, found " +
                                 hex32(magic));
    }
    const uint32_t version = page->version.load(std::memory_order_relaxed);
    if (version != kLayoutVersion) {
        throw InvalidHandleError(what + "expected timeline layout version " + std::to_string(kLayoutVersion) +
                                 ", found " + std::to_string(version));
    }

    return PortableTimeline(std::move(fd), static_cast<TimelinePage*>(mapping.release()), size);
}

UniqueFd PortableTimeline::export_fd() const {
    page();
    return fd_.duplicate();
}

uint64_t PortableTimeline::value() const { return page().value.load(std::memory_order_acquire); }

bool PortableTimeline::try_wait(uint64_t value) const {
    return page().value.load(std::memory_order_acquire) >= value;
}

bool PortableTimeline::abandoned() const {
    return page().abandoned.load(std::memory_order_acquire) != 0;
}

void PortableTimeline::signal(uint64_t value) {
    TimelinePage& p = page();
    // Compare-and-swap rather than a store: a signaller in another process may raise the value
    // between our load and our store, and a plain store would then move it backwards. Equal values
    // still go through the exchange, so every signal is a release that a waiter can acquire.
    uint64_t current = p.value.load(std::memory_order_relaxed);
    do {
        if (value < current) {
            throw InvalidArgumentError("timeline value must not decrease: current " + std::to_string(current) +
                                       ", asked " + std::to_string(value));
        }
    } while (!p.value.compare_exchange_weak(current, value, std::memory_order_seq_cst, std::memory_order_relaxed));

    // Handshake with wait(), every step seq_cst: we store the value, bump the sequence, then read
    // `waiters`; a waiter reads the sequence, then the value, registers in `waiters`, then sleeps
    // only while the sequence is unchanged (FUTEX_WAIT compares it in the kernel). If the waiter
    // read the old value, our bump follows its sequence read. Then either we see its registration
    // and wake it, or our bump came before its registration, so its FUTEX_WAIT sees the new
    // sequence and does not sleep. No wake-up is lost, and with no waiters we skip the syscall.
    p.sequence.fetch_add(1, std::memory_order_seq_cst);
    if (p.waiters.load(std::memory_order_seq_cst) != 0 && futex_wake_all(p.sequence) < 0) {
        throw_errno("futex(FUTEX_WAKE)", "timeline signal " + std::to_string(value));
    }
}

void PortableTimeline::mark_abandoned() {
    TimelinePage& p = page();
    p.abandoned.store(1, std::memory_order_seq_cst);
    p.sequence.fetch_add(1, std::memory_order_seq_cst);
    if (futex_wake_all(p.sequence) < 0) throw_errno("futex(FUTEX_WAKE)", "timeline mark_abandoned");
}

void PortableTimeline::wait(uint64_t value, std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    TimelinePage& p = page();
    if (p.value.load(std::memory_order_acquire) >= value) return;

    const uint64_t start = monotonic_ns();
    const uint64_t deadline =
        timeout_ns > std::numeric_limits<uint64_t>::max() - start ? std::numeric_limits<uint64_t>::max()
                                                                  : start + timeout_ns;
    WaiterRegistration registration;
    uint64_t last_check = start;
    for (;;) {
        // The sequence is read before the value: a signal landing after this read bumps the
        // sequence, so FUTEX_WAIT below refuses to sleep (EAGAIN) instead of missing it.
        const uint32_t seq = p.sequence.load(std::memory_order_seq_cst);
        const uint64_t current = p.value.load(std::memory_order_seq_cst);
        if (current >= value) return;
        if (p.abandoned.load(std::memory_order_seq_cst) != 0) {
            throw PeerGoneError("timeline was abandoned by its producer before reaching value " +
                                std::to_string(value) + " (current " + std::to_string(current) + ")");
        }
        const uint64_t now = monotonic_ns();
        if (now >= deadline) {
            throw TimeoutError("timed out after " + format_ms(timeout_ns) + " ms waiting for timeline value " +
                               std::to_string(value) + " (current " + std::to_string(current) + ")");
        }
        // signal() skips FUTEX_WAKE while it sees no registered waiter. Registering after reading
        // the sequence is enough: a signaller that missed the registration bumped the sequence
        // before it, so FUTEX_WAIT sees the new sequence and returns at once.
        if (!registration.registered()) registration.enter(p.waiters);
        // FUTEX_WAIT's timeout is relative (measured on CLOCK_MONOTONIC), so it is recomputed
        // from the fixed deadline on every pass; early returns just go round the loop again.
        const uint64_t remaining = interrupt_slice_ns(deadline - now);
        timespec relative{};
        relative.tv_sec = static_cast<time_t>(remaining / 1000000000u);
        relative.tv_nsec = static_cast<long>(remaining % 1000000000u);
        if (futex_wait(p.sequence, seq, relative) != 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT) {
                throw_errno("futex(FUTEX_WAIT)", "waiting for timeline value " + std::to_string(value));
            }
            if (errno == EINTR) check_interrupt();
        }
        // Once a slice, however often lower values wake it (the check may take the Python GIL).
        const uint64_t after = monotonic_ns();
        if (after - last_check >= static_cast<uint64_t>(std::chrono::nanoseconds(kInterruptSlice).count())) {
            last_check = after;
            check_interrupt();
        }
    }
}

}  // namespace geyser
