// The thread pool that runs parallel loops: persistent workers shared by every kernel of the
// process, a static split so that which thread computes which iterations never depends on timing,
// and the calling thread working too (chunk 0), so a loop costs one wake-up per extra thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace tdsl::runtime {

/// Chunk `t` of `chunks` over [0, n): [t*n/T, (t+1)*n/T), computed without overflow. Chunk
/// sizes differ by at most one and the chunks cover [0, n) in order.
inline std::pair<int64_t, int64_t> staticChunk(int64_t n, int chunks, int t) {
  // t*n/T == t*q + t*r/T with n == q*T + r, and t*r < T*T cannot overflow.
  auto at = [&](int64_t i) {
    int64_t q = n / chunks, r = n % chunks;
    return i * q + i * r / chunks;
  };
  return {at(t), at(int64_t(t) + 1)};
}

/// A pool of worker threads that runs loops split statically into one chunk per thread.
///
/// Workers start on first use, only as many as the loops ask for, and stay: between loops they
/// spin briefly (a kernel called in a loop finds them awake) and then sleep on a futex-backed
/// atomic wait. One loop runs at a time: a loop started from inside a chunk (nested) or while
/// another thread's loop holds the workers runs its chunks one after another on the calling
/// thread, in order. Either way the chunks and their bounds are the same, so results never
/// depend on timing.
class ThreadPool {
public:
  /// A pool for loops of up to `maxThreads` threads: the caller and `maxThreads - 1` workers.
  explicit ThreadPool(int maxThreads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// The process-wide pool, of `hardwareThreads()` threads; created on the first call.
  static ThreadPool &shared();
  /// The hardware threads this process may run on (its CPU affinity; at least 1).
  static int hardwareThreads();

  int maxThreads() const { return maxThreads_; }
  /// Workers started so far.
  int startedWorkers() const { return started_.load(std::memory_order_acquire); }

  /// The number of chunks a loop of `n` iterations asking for `threads` threads is split into:
  /// min(threads, maxThreads(), n), and at least 1.
  int chunksFor(int64_t n, int threads) const;

  using ChunkFn = void (*)(void *context, int64_t begin, int64_t end);
  /// Calls fn(context, begin, end) once per chunk of staticChunk(n, chunksFor(n, threads), t), the
  /// calling thread running chunk 0; returns when every chunk is done. If chunks throw, the
  /// exception of the first failing chunk is rethrown here once no chunk runs any more (in a
  /// parallel run every chunk runs to its end; in a serial one, later chunks do not start).
  void parallelFor(int64_t n, int threads, ChunkFn fn, void *context);

  /// The same with any callable `body(begin, end)`.
  template <typename F> void parallelFor(int64_t n, int threads, F &&body) {
    using Body = std::remove_reference_t<F>;
    parallelFor(
        n, threads,
        [](void *context, int64_t begin, int64_t end) {
          (*static_cast<Body *>(context))(begin, end);
        },
        const_cast<void *>(static_cast<const void *>(&body)));
  }

  /// Whether the calling thread is running a chunk of some pool's loop right now.
  static bool insideChunk();

private:
  struct Worker;
  struct Job {
    ChunkFn fn = nullptr;
    void *context = nullptr;
    int64_t n = 0;
    int chunks = 0;
  };

  void runSerially(int64_t n, int chunks, ChunkFn fn, void *context);
  /// Starts workers until `count` run (or thread creation fails); returns how many run.
  int startWorkers(int count);
  void workerLoop(int index);
  /// Runs chunk `t` of the current job, recording its exception if any.
  void runChunk(int t);
  void waitForWorkers();

  const int maxThreads_;
  std::unique_ptr<Worker[]> workers_; // maxThreads_ - 1 slots; the first started_ are running.
  std::atomic<int> started_{0};
  std::atomic<bool> busy_{false}; // A loop owns the workers.
  std::atomic<bool> stopping_{false};

  Job job_; // Written by the loop's owner before it signals the workers.
  alignas(64) std::atomic<uint32_t> remaining_{0}; // Workers' chunks not yet finished.
  std::atomic<bool> ownerSleeping_{false};
  std::mutex errorMutex_;
  std::exception_ptr error_;
  int errorChunk_ = 0;
};

} // namespace tdsl::runtime
