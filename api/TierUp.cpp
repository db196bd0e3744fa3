// The background compile thread of a tiered Jit (see TierUp.h).
#include "api/TierUp.h"

#include <sys/resource.h>
#include <unistd.h>
#include <utility>

namespace tdsl::detail {
namespace {
constexpr int kNice = 10;
} // namespace

TierUp::~TierUp() {
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
  {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(job));
    if (!thread.joinable())
      thread = std::thread([this] { work(); });
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
