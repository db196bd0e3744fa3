// The background compile thread of a tiered Jit (see TierUp.h).
#include "api/TierUp.h"

#include <sys/resource.h>
#include <unistd.h>
#include <unordered_set>
#include <utility>

namespace tdsl::detail {
namespace {
constexpr int kNice = 10;

/// Every TierUp whose thread was started, for the exit below.
struct LiveTierUps {
  std::mutex mutex;
  std::unordered_set<TierUp *> live;
};

LiveTierUps &liveTierUps() {
  static auto *registry = new LiveTierUps; // Never destroyed: the exit below runs at any time.
  return *registry;
}

/// A process that exits while a background compile runs must not destroy the statics that
/// compile uses (LLVM makes some during the compile, so they are destroyed before any object
/// made earlier, a static Module's TierUp included). The thread-local objects of the thread that
/// exits are destroyed before any static one (C++ [basic.start.term]), so this guard, made on
/// the thread that posts the first job, stops every TierUp there: queued jobs are dropped and
/// the running ones finish first. It acts only on the main thread, whose thread-local objects
/// are destroyed only when the process exits.
struct StopAtExit {
  ~StopAtExit() {
    if (::gettid() != ::getpid())
      return;
    LiveTierUps &r = liveTierUps();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (TierUp *t : r.live)
      t->stop();
    r.live.clear();
  }
};
} // namespace

TierUp::~TierUp() {
  {
    LiveTierUps &r = liveTierUps();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.erase(this);
  }
  stop();
}

void TierUp::stop() {
  std::deque<std::function<void()>> dropped; // Destroyed outside the lock.
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    dropped.swap(queue);
  }
  wake.notify_all();
  if (thread.joinable())
    thread.join();
}

void TierUp::post(std::function<void()> job) {
  static thread_local StopAtExit stopAtExit;
  (void)stopAtExit; // Made on this thread's first post.
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping)
      return; // The process is exiting: the kernel keeps its fast tier.
    queue.push_back(std::move(job));
    if (thread.joinable()) {
      wake.notify_one();
      return;
    }
  }
  {
    LiveTierUps &r = liveTierUps();
    std::lock_guard<std::mutex> registryLock(r.mutex);
    std::lock_guard<std::mutex> lock(mutex);
    if (!stopping && !thread.joinable()) {
      r.live.insert(this);
      thread = std::thread([this] { work(); });
    }
  }
  wake.notify_one();
}

void TierUp::work() {
  // Below the threads that call kernels (nice 10, this thread only): on a busy machine the
  // optimized tiers wait, not the first calls. Best effort: a failure leaves the priority as is.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kNice);
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping)
        return;
      job = std::move(queue.front());
      queue.pop_front();
    }
    job();
  }
}

} // namespace tdsl::detail
