// The background thread of a tiered Jit (Tiering::Tiered): after a kernel's first call ran its
// fast tier, the kernel's optimized tier is compiled here, one kernel at a time, oldest first,
// off the threads that call kernels, at a lower priority than theirs (nice 10).
//
// Lifetime: the Jit and each of its kernels hold the TierUp; the queued jobs hold none of them
// (only what they compile and where they publish it), so the TierUp is always destroyed on a
// caller's thread, never on its own. Destroying it drops the jobs still queued and joins the
// thread, which finishes the job it is running. When the process exits from its main thread,
// every TierUp is stopped before any static object is destroyed (TierUp.cpp).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tdsl::detail {

class TierUp {
public:
  TierUp() = default;
  TierUp(const TierUp &) = delete;
  TierUp &operator=(const TierUp &) = delete;
  ~TierUp();

  /// Queues `job` for the background thread (started by the first post). A job must not throw
  /// and must not own the TierUp.
  void post(std::function<void()> job);

  /// Drops the queued jobs, waits for the running one and refuses later posts.
  void stop();

private:
  void work();

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
  std::thread thread;
};

} // namespace tdsl::detail
