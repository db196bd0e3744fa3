// Kernel::profile (`tdsl bench`): call once (which compiles, the Jit compiling lazily), wait for
// the final tier (a tiered kernel's optimized code), warm up untimed, then time repeated calls
// into preallocated outputs with steady_clock. Bytes moved are each input read once plus each
// output written once, the floor any implementation must pay; FLOPs are counted on the
// normalized tensor IR (countFlops) so they do not depend on how the code was scheduled. With
// ceilings, the kernel's place on the roofline.
#include "api/CallPlan.h"
#include "api/Inspect.h"

#include "ir/IRVisitor.h"
#include "ir/Kernel.h"
#include "ir/Shapes.h"
#include "passes/Fuse.h"
#include "passes/Pipeline.h"
#include "passes/Scan.h"
#include "runtime/Cuda.h"
#include "support/Check.h"

#include <algorithm>
#include <chrono>
#include <functional>

namespace tdsl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Values bound while counting: the kernel's symbols, then the indices a triangular extent
/// names (`k < t + 1` is counted at each t).
struct Bound {
  std::vector<ir::Var> vars;
  std::vector<int64_t> values;
};

int64_t points(const std::vector<ir::IterVar> &vars, const Bound &b) {
  int64_t n = 1;
  for (const ir::IterVar &v : vars)
    n *= std::max<int64_t>(0, ir::evalInt(v.extent, b.vars, b.values));
  return n;
}

/// Operations of one evaluation of `e`, by the rule in Profile's comment (tdsl/Inspect.h).
int64_t flopsOf(const ir::Expr &e, const Bound &b) {
  auto count = [&](const ir::Expr &x) { return flopsOf(x, b); };
  switch (e->kind) {
  case ir::ExprKind::IntImm:
  case ir::ExprKind::FloatImm:
  case ir::ExprKind::VarRef:
    return 0;
  case ir::ExprKind::Unary: {
    const ir::Unary *n = e->as<ir::Unary>();
    return (n->op == ir::UnaryOp::Neg ? 1 : 0) + count(n->a);
  }
  case ir::ExprKind::Binary: {
    const ir::Binary *n = e->as<ir::Binary>();
    bool logical = n->op == ir::BinaryOp::And || n->op == ir::BinaryOp::Or;
    return (logical ? 0 : 1) + count(n->a) + count(n->b);
  }
  case ir::ExprKind::Call: {
    int64_t total = 1;
    for (const ir::Expr &arg : e->as<ir::Call>()->args)
      total += count(arg);
    return total;
  }
  case ir::ExprKind::Select: {
    const ir::Select *n = e->as<ir::Select>();
    return 1 + count(n->cond) + count(n->a) + count(n->b);
  }
  case ir::ExprKind::Cast:
    return count(e->as<ir::Cast>()->a);
  case ir::ExprKind::Access: {
    const ir::Access *n = e->as<ir::Access>();
    return n->fallback ? count(n->fallback) : 0;
  }
  case ir::ExprKind::Reduce: {
    const ir::Reduce *n = e->as<ir::Reduce>();
    int64_t perPoint = count(n->body) + 1;
    return points(n->axes, b) * perPoint + (n->op == ir::ReduceOp::Mean ? 1 : 0);
  }
  default:
    TDSL_UNREACHABLE("a loop-level node in tensor IR");
  }
}

double median(std::vector<double> values) {
  TDSL_CHECK(!values.empty()) << "median of no values";
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

} // namespace

int64_t detail::countFlops(const ir::Kernel &kernel, const std::vector<int64_t> &symbols) {
  int64_t total = 0;
  Bound b{kernel.symbols, symbols};
  for (const ir::Definition &def : kernel.defs) {
    if (!passes::isTriangular(def)) {
      total += points(def.indices, b) * flopsOf(def.value, b);
      continue;
    }
    const ir::Reduce *r = passes::topReduce(def);
    if (passes::recognizeScan(def)) { // One new point per point of the scanned index.
      int64_t mean = r->op == ir::ReduceOp::Mean ? 1 : 0;
      total += points(def.indices, b) * (flopsOf(r->body, b) + 1 + mean);
      continue;
    }
    // The indices the extents name are bound, point by point; the others multiply.
    std::vector<ir::IterVar> named, others;
    for (const ir::IterVar &iv : def.indices)
      (r && std::any_of(r->axes.begin(), r->axes.end(),
                        [&](const ir::IterVar &a) { return ir::usesAny(a.extent, {iv.var}); })
           ? named
           : others)
          .push_back(iv);
    int64_t rest = points(others, b);
    std::function<void(size_t)> over = [&](size_t k) {
      if (k == named.size()) {
        total += rest * flopsOf(def.value, b);
        return;
      }
      int64_t extent = ir::evalInt(named[k].extent, b.vars, b.values);
      b.vars.push_back(named[k].var);
      b.values.push_back(0);
      for (; b.values.back() < extent; ++b.values.back())
        over(k + 1);
      b.vars.pop_back();
      b.values.pop_back();
    };
    over(0);
  }
  return total;
}

Profile Kernel::profile(const std::vector<Tensor> &inputs, const ProfileOptions &options) const {
  if (options.runs < 0 || options.warmup < 0 || options.minRuns < 0 || !(options.minSeconds >= 0))
    throw RuntimeError(ErrorCode::BadFlag,
                       "profile: runs, warmup, minRuns and minSeconds must be at least 0");
  const ir::Kernel &irKernel = detail::kernelIR(*state);
  const bool cuda = detail::kernelTarget(*state).kind == Target::Kind::Cuda;
  // Checks the inputs' count, dtypes and shapes (throwing RuntimeError) before anything runs.
  std::vector<std::vector<int64_t>> shapesOut = outputShapes(inputs);
  std::vector<std::vector<int64_t>> shapesIn;
  for (const Tensor &t : inputs)
    shapesIn.push_back(t.shape());
  std::vector<int64_t> symbols = ir::bindSymbols(irKernel, shapesIn);

  Profile p;
  p.kernel = irKernel.name;
  p.target = cuda ? "cuda" : "cpu";
  p.threads = threads_;
  for (size_t i = 0; i < irKernel.symbols.size(); ++i)
    p.shape.emplace_back(irKernel.symbols[i]->name, symbols[i]);
  p.flops = detail::countFlops(passes::normalize(irKernel), symbols);
  for (const Tensor &t : inputs)
    p.bytes += static_cast<int64_t>(t.nbytes());
  p.layoutCopies = detail::layoutCopies(irKernel, inputs, {});
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < shapesOut.size(); ++i) {
    outputs.push_back(Tensor::zeros(shapesOut[i], outputDType(i)));
    p.bytes += static_cast<int64_t>(outputs.back().nbytes());
  }

  // On the GPU the tensors stay on the device and each timed call ends with a synchronize: the
  // time of the kernels and their launches, without host-device copies.
  std::function<void()> runOnce = [&] { run(inputs, outputs); };
  std::vector<DeviceTensor> deviceInputs, deviceOutputs;
  if (cuda) {
    for (const Tensor &t : inputs)
      deviceInputs.push_back(DeviceTensor::fromHost(t, cudaDevice()));
    for (const Tensor &t : outputs)
      deviceOutputs.push_back(DeviceTensor::empty(t.shape(), t.dtype(), cudaDevice()));
    runOnce = [&] {
      runDevice(deviceInputs, deviceOutputs);
      runtime::cuda::device(cudaDevice()).synchronize(irKernel.name);
    };
  }
  // The ceilings first: measuring them (once per machine) must not overlap the timed runs.
  if (options.roofline) {
    CalibrationOptions calibration;
    calibration.cudaDevice = cudaDevice(); // The kernel's GPU (unused for the CPU).
    p.ceilings =
        options.ceilings ? *options.ceilings : calibrate(detail::kernelTarget(*state), calibration);
  }

  // The first call compiles (the Jit compiles lazily) and warms the caches and the TLB.
  detail::resetIntermediatePeak(*state);
  Clock::time_point start = Clock::now();
  runOnce();
  p.firstCallSeconds = seconds(start, Clock::now());
  if (!cuda) { // The timed calls run the final tier: a tiered kernel's optimized code.
    p.firstCallTier = tierName(tier());
    Clock::time_point waitStart = Clock::now();
    waitForFinalTier();
    p.finalTierWaitSeconds = seconds(waitStart, Clock::now());
    p.tier = tierName(tier());
  }
  p.warmup = options.warmup;
  for (int i = 0; i < options.warmup; ++i)
    runOnce();

  const size_t maxRuns = 1000000;
  Clock::time_point began = Clock::now();
  auto enough = [&] {
    if (options.runs > 0)
      return p.times.size() >= static_cast<size_t>(options.runs);
    return p.times.size() >= maxRuns ||
           (p.times.size() >= static_cast<size_t>(std::max(options.minRuns, 1)) &&
            seconds(began, Clock::now()) >= options.minSeconds);
  };
  while (!enough()) {
    Clock::time_point t0 = Clock::now();
    runOnce();
    p.times.push_back(seconds(t0, Clock::now()));
    if (options.progress)
      options.progress(p.times.size(), seconds(began, Clock::now()));
  }

  p.intermediateBytes = detail::intermediatePeakBytes(*state);
  p.packedPanelBytes = detail::packedPanelPeakBytes(*state);
  p.lastLevelCacheBytes =
      cuda ? runtime::cuda::device(cudaDevice()).info().l2Bytes : detail::hostCacheBytes(3);
  if (p.lastLevelCacheBytes == 0 && !cuda)
    p.lastLevelCacheBytes = detail::hostCacheBytes(2);
  p.cacheResident = p.lastLevelCacheBytes > 0 &&
                    p.bytes + p.intermediateBytes + p.packedPanelBytes <= p.lastLevelCacheBytes;
  p.runs = p.times.size();
  p.medianSeconds = median(p.times);
  p.minSeconds = *std::min_element(p.times.begin(), p.times.end());
  const double med = p.medianSeconds;
  const double bytes = static_cast<double>(p.bytes), flops = static_cast<double>(p.flops);
  p.gbps = med > 0 ? bytes / med / 1e9 : 0;
  p.gflops = med > 0 ? flops / med / 1e9 : 0;
  p.intensity = p.bytes > 0 ? flops / bytes : 0;

  // The roofline: the time the ceilings allow for these FLOPs and bytes, max(flops / peak,
  // bytes / bandwidth), over the time taken. A kernel far from it whose whole call is a few
  // microseconds is bound by fixed costs (the call, the threads' hand-off), not by the machine.
  if (p.ceilings) {
    p.tensorCores = detail::usesTensorCores(*state) && p.ceilings->matrixPeakGflops > 0;
    double peak =
        (p.tensorCores ? p.ceilings->matrixPeakGflops : p.ceilings->peakGflops(p.threads)) * 1e9;
    double bw = p.ceilings->bandwidthGbps(p.threads) * 1e9;
    double computeSeconds = flops / peak;
    double memorySeconds = bytes / bw;
    double rooflineSeconds = std::max(computeSeconds, memorySeconds);
    p.rooflineFraction = med > 0 ? rooflineSeconds / med : 0;
    p.ceilingGflops = std::min(peak, p.intensity * bw) / 1e9;
    p.bound = (p.rooflineFraction < 0.25 && med < 50e-6) ? "overhead"
              : computeSeconds > memorySeconds           ? "compute"
                                                         : "memory";
  }
  return p;
}

} // namespace tdsl
