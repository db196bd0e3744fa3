// The pool's hand-off protocol. The owner of a loop writes the job, sets `remaining_`, then bumps
// each needed worker's ticket (release); a worker that sees a new ticket (acquire) runs its chunk
// and decrements `remaining_`. Sleeping on either side uses the "flag, then recheck" handshake
// with sequentially consistent operations, so a notify is only issued when someone may sleep and
// a wake-up is never lost.
#include "runtime/ThreadPool.h"

#include "runtime/KernelAbi.h"

#include <algorithm>
#include <system_error>

#ifdef __linux__
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tdsl::runtime {
namespace {

/// Waiting for a flag: first `kSpinIterations` checks with a `pause` between them (a few
/// microseconds, which covers back-to-back kernel calls), then `kYieldIterations` checks that
/// yield the core (when there are more threads than cores, the one we wait for may need it), and
/// only then a sleep in the kernel.
constexpr int kSpinIterations = 1000;
constexpr int kYieldIterations = 16;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

/// Spins, then yields, while `busy()` holds; returns whether it still holds (time to sleep).
template <typename Busy> bool spinWhile(Busy &&busy) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (!busy())
      return false;
    cpuRelax();
  }
  for (int i = 0; i < kYieldIterations; ++i) {
    if (!busy())
      return false;
    std::this_thread::yield();
  }
  return busy();
}

thread_local bool tlsInsideChunk = false;

/// Sets the flag for a scope and restores the previous value.
class InsideChunk {
public:
  InsideChunk() : previous(tlsInsideChunk) { tlsInsideChunk = true; }
  ~InsideChunk() { tlsInsideChunk = previous; }
  InsideChunk(const InsideChunk &) = delete;
  InsideChunk &operator=(const InsideChunk &) = delete;

private:
  bool previous;
};

} // namespace

struct ThreadPool::Worker {
  alignas(64) std::atomic<uint32_t> ticket{0};
  std::atomic<bool> sleeping{false};
  std::thread thread;
};

ThreadPool::ThreadPool(int maxThreads)
    : maxThreads_(std::max(1, maxThreads)),
      workers_(std::make_unique<Worker[]>(static_cast<size_t>(maxThreads_ - 1))) {}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_seq_cst);
  int started = started_.load(std::memory_order_acquire);
  for (int w = 0; w < started; ++w) {
    workers_[w].ticket.fetch_add(1, std::memory_order_seq_cst);
    workers_[w].ticket.notify_one();
  }
  for (int w = 0; w < started; ++w)
    workers_[w].thread.join();
}

ThreadPool &ThreadPool::shared() {
  static ThreadPool pool(hardwareThreads());
  return pool;
}

int ThreadPool::hardwareThreads() {
  static const int count = [] {
#ifdef __linux__
    // The CPUs this process may run on (containers and taskset restrict them), not all online.
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
      return CPU_COUNT(&set);
#endif
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return count;
}

bool ThreadPool::insideChunk() { return tlsInsideChunk; }

int ThreadPool::chunksFor(int64_t n, int threads) const {
  int64_t chunks = std::min<int64_t>({int64_t(threads), int64_t(maxThreads_), n});
  return static_cast<int>(std::max<int64_t>(chunks, 1));
}

int ThreadPool::startWorkers(int count) {
  int started = started_.load(std::memory_order_relaxed);
  for (; started < count; ++started) {
    try {
      workers_[started].thread = std::thread([this, started] { workerLoop(started); });
    } catch (const std::system_error &) {
      break; // Out of threads: use the ones that run.
    }
    started_.store(started + 1, std::memory_order_release);
  }
  return started;
}

void ThreadPool::runSerially(int64_t n, int chunks, ChunkFn fn, void *context) {
  InsideChunk inside;
  for (int t = 0; t < chunks; ++t) {
    auto [begin, end] = staticChunk(n, chunks, t);
    fn(context, begin, end);
  }
}

void ThreadPool::runChunk(int t) {
  auto [begin, end] = staticChunk(job_.n, job_.chunks, t);
  try {
    job_.fn(job_.context, begin, end);
  } catch (...) {
    std::lock_guard<std::mutex> lock(errorMutex_);
    if (!error_ || t < errorChunk_) {
      error_ = std::current_exception();
      errorChunk_ = t;
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int threads, ChunkFn fn, void *context) {
  if (n <= 0)
    return;
  int chunks = chunksFor(n, threads);
  if (chunks == 1 || tlsInsideChunk || busy_.exchange(true, std::memory_order_acquire))
    return runSerially(n, chunks, fn, context);

  // This thread owns the workers until busy_ is released. If fewer workers start than asked
  // for, the split follows the ones that run (it only depends on this pool's state, never on
  // timing: workers that start stay).
  chunks = std::min(chunks, startWorkers(chunks - 1) + 1);
  if (chunks == 1) {
    busy_.store(false, std::memory_order_release);
    return runSerially(n, chunks, fn, context);
  }
  job_ = Job{fn, context, n, chunks};
  error_ = nullptr;
  remaining_.store(static_cast<uint32_t>(chunks - 1), std::memory_order_relaxed);
  for (int w = 0; w < chunks - 1; ++w) {
    Worker &worker = workers_[w];
    worker.ticket.fetch_add(1, std::memory_order_seq_cst);
    if (worker.sleeping.load(std::memory_order_seq_cst))
      worker.ticket.notify_one();
  }
  {
    InsideChunk inside;
    runChunk(0);
  }
  waitForWorkers();
  std::exception_ptr error = std::exchange(error_, nullptr);
  busy_.store(false, std::memory_order_release);
  if (error)
    std::rethrow_exception(error);
}

void ThreadPool::waitForWorkers() {
  if (!spinWhile([&] { return remaining_.load(std::memory_order_acquire) != 0; }))
    return;
  ownerSleeping_.store(true, std::memory_order_seq_cst);
  for (uint32_t left; (left = remaining_.load(std::memory_order_seq_cst)) != 0;)
    remaining_.wait(left, std::memory_order_acquire);
  ownerSleeping_.store(false, std::memory_order_relaxed);
}

void ThreadPool::workerLoop(int index) {
  Worker &self = workers_[index];
  tlsInsideChunk = true; // Any loop a chunk starts on a worker is nested: it runs serially.
  uint32_t seen = 0;
  for (;;) {
    uint32_t ticket = seen;
    if (spinWhile([&] { return (ticket = self.ticket.load(std::memory_order_acquire)) == seen; })) {
      self.sleeping.store(true, std::memory_order_seq_cst);
      while ((ticket = self.ticket.load(std::memory_order_seq_cst)) == seen)
        self.ticket.wait(seen, std::memory_order_acquire);
      self.sleeping.store(false, std::memory_order_relaxed);
    }
    seen = ticket;
    if (stopping_.load(std::memory_order_acquire))
      return;
    runChunk(index + 1);
    if (remaining_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        ownerSleeping_.load(std::memory_order_seq_cst))
      remaining_.notify_one();
  }
}

} // namespace tdsl::runtime

extern "C" void tdsl_parallel_for(void *runtime, int64_t n, tdsl_loop_body body,
                                  void *closure) noexcept {
  using tdsl::runtime::CallRuntime;
  const auto *rt = static_cast<const CallRuntime *>(runtime);
  if (n <= 0)
    return;
  if (rt && rt->parallelFor && !tdsl::runtime::tlsInsideChunk) {
    // The caller's pool: its ranges run as chunks, so loops nested in them stay serial.
    struct Hooked {
      tdsl_loop_body body;
      void *closure;
    } hooked{body, closure};
    auto chunk = [](void *context, int64_t begin, int64_t end) {
      const auto *h = static_cast<const Hooked *>(context);
      tdsl::runtime::InsideChunk inside;
      h->body(h->closure, begin, end);
    };
    rt->parallelFor(rt->parallelForUser, n, chunk, &hooked);
    return;
  }
  if (!rt || !rt->pool || rt->threads <= 1) {
    body(closure, 0, n);
    return;
  }
  // Generated bodies do not throw; parallelFor itself only throws what a chunk throws.
  rt->pool->parallelFor(n, rt->threads, body, closure);
}
