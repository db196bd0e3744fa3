// Times the issue-5 GPU workloads (bench/gpu/gpu.tdsl) compiled by tdsl for Target::cuda(), on
// device tensors, with CUDA events (median of repeats after warm-up), plus a device-to-device
// copy for the bandwidth ceiling, NVRTC compile times (cold and from the disk cache) and the host
// overhead of one launch. Prints CSV: workload,ms,gbps,tflops,note — bench/gpu/peers.py prints the
// same for PyTorch, and scripts/gpu_check.sh joins them into a table.
//
//   bench_gpu <path to gpu.tdsl> [--quick] [--only KERNEL,...] [--no-check]
//
// --no-check skips the comparisons with the interpreter (the long rows' take tens of seconds of
// CPU), for timing runs of binaries whose correctness the tests cover.
#include "api/KernelCache.h"
#include "api/Numerics.h"
#include "runtime/Convert.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace tdsl;
namespace cu = tdsl::runtime::cuda;

namespace {

void row(const std::string &name, double ms, double bytes, double flops, const std::string &note) {
  std::fprintf(stderr, "# done %s\n", name.c_str()); // Where a crash stopped the run.
  std::printf("%s,%.4f,%.1f,%.3f,%s\n", name.c_str(), ms, bytes / ms / 1e6, flops / ms / 1e9,
              note.c_str());
  std::fflush(stdout);
}

bool checking = true; // Off with --no-check.

/// Checks one output against the interpreter on a small input (the timed sizes are too big for
/// the f64 interpreter), at the tolerance of `judged` where given (a kernel that rounds an f32
/// intermediate to bf16 on purpose); returns "ok" or what differs ("unchecked" with --no-check).
std::string check(const Kernel &k, const std::vector<Tensor> &small,
                  std::optional<DType> judged = std::nullopt) {
  if (!checking)
    return "unchecked";
  std::vector<Tensor> got = k(small), want = k.interpret(small);
  auto at = [&](const Tensor &t) { return judged ? runtime::convertTo(t, *judged) : t; };
  for (size_t o = 0; o < got.size(); ++o)
    if (!withinTolerance(at(got[o]), at(want[o])))
      return "MISMATCH " + describe(runtime::compare(got[o], want[o]), got[o].shape());
  return "ok";
}

double timeKernel(const Kernel &k, const std::vector<DeviceTensor> &in,
                  const std::vector<DeviceTensor> &out, int repeats) {
  return cu::device().timeMs([&] { k.runDevice(in, out); }, 2, repeats);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_gpu gpu.tdsl [--quick] [--only KERNEL,...] [--no-check]\n");
    return 2;
  }
  if (!cu::status().available) {
    std::fprintf(stderr, "no GPU: %s\n", cu::status().reason.c_str());
    return 1;
  }
  bool quick = false;
  std::string only; // Comma-separated kernels of gpu.tdsl to time (empty: all).
  for (int a = 2; a < argc; ++a) {
    std::string arg = argv[a];
    if (arg == "--quick")
      quick = true;
    else if (arg == "--only" && a + 1 < argc)
      only = "," + std::string(argv[++a]) + ",";
    else if (arg == "--no-check")
      checking = false;
  }
  auto wants = [&](const std::string &kernel) {
    return only.empty() || only.find("," + kernel + ",") != std::string::npos;
  };
  const cu::DeviceInfo &dev = cu::device().info();
  std::printf("# device: %s, sm_%d%d, %d SMs, %zu MiB, L2 %d KiB\n", dev.name.c_str(), dev.major,
              dev.minor, dev.multiprocessors, dev.totalMemory >> 20, dev.l2Bytes >> 10);
  std::printf("workload,ms,GB/s,TFLOP/s,note\n");

  Module m = Jit(Target::cuda()).compileFile(argv[1]);
  const int64_t n = quick ? (1 << 24) : (int64_t(1) << 28); // 256M f32 = 1 GiB
  const int64_t R = quick ? 1024 : 16384, C = 8192;

  // Copy ceiling: bytes read + written.
  {
    DeviceTensor a = DeviceTensor::fromHost(Tensor::randn({n}, DType::F32, 1));
    DeviceTensor b = DeviceTensor::empty({n}, DType::F32);
    double ms = cu::device().timeMs(
        [&] { cu::device().copyOnDevice(b.devicePointer(), a.devicePointer(), a.nbytes()); }, 2,
        20);
    row("copy_d2d", ms, 2.0 * a.nbytes(), 0, "cuMemcpyDtoD");
  }
  for (const char *name : {"coscos", "gelu_tanh"}) {
    if (!wants(name))
      continue;
    Kernel k = m.kernel(name);
    std::string ok = check(k, {Tensor::randn({1000}, DType::F32, 3)});
    DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({n}, DType::F32, 2));
    DeviceTensor y = DeviceTensor::empty({n}, DType::F32);
    double ms = timeKernel(k, {x}, {y}, 20);
    row(name, ms, 2.0 * x.nbytes(), 0, ok);
  }
  for (const char *name : {"softmax", "layernorm", "rowsum", "colsum"}) {
    if (!wants(name))
      continue;
    Kernel k = m.kernel(name);
    std::string ok = check(k, {Tensor::randn({37, 300}, DType::F32, 3)});
    DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({R, C}, DType::F32, 2));
    std::vector<DeviceTensor> out = k.callDevice({x});
    double ms = timeKernel(k, {x}, out, 5);
    row(name, ms, double(x.nbytes() + out[0].nbytes()), 0, ok);
  }
  {
    // Rows of other lengths (issue 19): 1536 (65536 rows), 4096, 6000, 8192 (16384 rows),
    // 16384 (8192 rows), 32768 (4096 rows); logsumexp over a 32000-wide vocabulary (4096 rows).
    const std::vector<std::pair<int64_t, int64_t>> shapes = {
        {65536, 1536}, {16384, 4096}, {16384, 6000}, {16384, 8192}, {8192, 16384}, {4096, 32768}};
    auto rowsOf = [&](int64_t rows) { return quick ? rows / 16 : rows; };
    for (const char *name : {"softmax", "layernorm", "rmsnorm"})
      for (auto [rows, cols] : shapes) {
        if ((cols == C && std::string(name) != "rmsnorm") || !wants(name))
          continue; // Timed above.
        Kernel k = m.kernel(name);
        // The interpreter recomputes softmax's maximum at each point (C^2 a row): its long rows
        // are checked at 12000 points (a row a block, as the timed rows past 8192 are).
        const int64_t checked =
            std::string(name) == "softmax" ? std::min<int64_t>(cols, 12000) : cols;
        std::string ok = check(k, k.randomInputs({{"R", cols > C ? 1 : 5}, {"C", checked}}, 3));
        if (checked != cols)
          ok += " (checked at " + std::to_string(checked) + ")";
        std::vector<Tensor> host = k.randomInputs({{"R", rowsOf(rows)}, {"C", cols}}, 2);
        std::vector<DeviceTensor> in;
        for (const Tensor &t : host)
          in.push_back(DeviceTensor::fromHost(t));
        std::vector<DeviceTensor> out = k.callDevice(in);
        double ms = timeKernel(k, in, out, 5);
        row(std::string(name) + "_" + std::to_string(cols), ms,
            double(in[0].nbytes() + out[0].nbytes()), 0, ok);
      }
  }
  if (wants("logsumexp")) {
    Kernel k = m.kernel("logsumexp");
    std::string ok = check(k, k.randomInputs({{"R", 1}, {"C", 32000}}, 3));
    DeviceTensor x =
        DeviceTensor::fromHost(Tensor::randn({quick ? 256 : 4096, 32000}, DType::F32, 2));
    std::vector<DeviceTensor> out = k.callDevice({x});
    double ms = timeKernel(k, {x}, out, 5);
    row("logsumexp_32000", ms, double(x.nbytes() + out[0].nbytes()), 0, ok);
  }
  if (wants("transpose")) {
    // A permutation: 32x32 tiles through shared memory.
    const int64_t s = quick ? 4096 : 8192;
    Kernel k = m.kernel("transpose");
    std::string ok = check(k, {Tensor::randn({37, 300}, DType::F32, 3)});
    DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({s, s}, DType::F32, 2));
    std::vector<DeviceTensor> out = k.callDevice({x});
    double ms = timeKernel(k, {x}, out, 10);
    row("transpose", ms, 2.0 * x.nbytes(), 0, ok);
  }
  if (wants("total")) {
    // Two deterministic stages (partials per block, then one block): the 256M input.
    Kernel k = m.kernel("total");
    std::string ok = check(k, {Tensor::randn({5000}, DType::F32, 3)});
    DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({n}, DType::F32, 2));
    std::vector<DeviceTensor> out = k.callDevice({x});
    double ms = timeKernel(k, {x}, out, 10);
    row("total", ms, double(x.nbytes()), 0, ok);
  }
  for (const char *name : {"cumsum", "argmax_rows"}) {
    // Version 1 row kernels: a prefix sum (rows of 8192 and one long row each of 64 Ki), argmax.
    Kernel k = m.kernel(name);
    std::string ok = check(k, {Tensor::randn({37, 300}, DType::F32, 3)});
    if (!wants(name))
      continue;
    for (int64_t cols : {C, int64_t(65536)}) {
      if (cols != C && std::string(name) != "cumsum")
        continue;
      DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({R * C / cols, cols}, DType::F32, 2));
      std::vector<DeviceTensor> out = k.callDevice({x});
      double ms = timeKernel(k, {x}, out, 5);
      row(std::string(name) + (cols == C ? "" : "_65536"), ms, double(x.nbytes() + out[0].nbytes()),
          0, ok);
    }
  }
  if (wants("gemv_i8")) {
    // An i8 GEMV over the row sum's rows (16384 x 8192 bytes): the bytes read, 2 ops a product.
    Kernel k = m.kernel("gemv_i8");
    std::string ok = check(k, k.randomInputs({{"R", 37}, {"C", 301}}, 3));
    std::vector<Tensor> host = k.randomInputs({{"R", R}, {"C", C}}, 5);
    DeviceTensor w = DeviceTensor::fromHost(host[0]), x = DeviceTensor::fromHost(host[1]);
    std::vector<DeviceTensor> out = k.callDevice({w, x});
    double ms = timeKernel(k, {w, x}, out, 10);
    row("gemv_i8", ms, double(w.nbytes() + x.nbytes() + out[0].nbytes()), 2.0 * R * C, ok);
  }
  if (wants("embedding")) {
    // A gather of whole rows: 64 Ki ids into a 50000 x 1024 table (the rows read, then written).
    Kernel k = m.kernel("embedding");
    std::string ok = check(k, k.randomInputs({{"V", 300}, {"D", 70}, {"T", 45}}, 3));
    const int64_t tokens = quick ? 8192 : 65536;
    std::vector<Tensor> host = k.randomInputs({{"V", 50000}, {"D", 1024}, {"T", tokens}}, 5);
    DeviceTensor table = DeviceTensor::fromHost(host[0]), ids = DeviceTensor::fromHost(host[1]);
    std::vector<DeviceTensor> out = k.callDevice({table, ids});
    double ms = timeKernel(k, {table, ids}, out, 10);
    row("embedding", ms, 2.0 * out[0].nbytes() + ids.nbytes(), 0, ok);
  }
  for (int64_t s : quick ? std::vector<int64_t>{1024} : std::vector<int64_t>{4096, 8192}) {
    if (!wants("sgemm"))
      break;
    Kernel k = m.kernel("sgemm");
    std::string ok =
        check(k, {Tensor::randn({33, 70}, DType::F32, 3), Tensor::randn({70, 45}, DType::F32, 4)});
    DeviceTensor a = DeviceTensor::fromHost(Tensor::randn({s, s}, DType::F32, 5));
    DeviceTensor b = DeviceTensor::fromHost(Tensor::randn({s, s}, DType::F32, 6));
    std::vector<DeviceTensor> out = k.callDevice({a, b});
    double ms = timeKernel(k, {a, b}, out, 3);
    row("sgemm_" + std::to_string(s), ms, 3.0 * a.nbytes(), 2.0 * s * s * s, ok);
  }
  if (wants("bf16_gemm"))
    try {
      // bf16 inputs, f32 accumulation: tensor cores (wgmma on Hopper) on the 16-bit values.
      const int64_t s = quick ? 1024 : 8192;
      Kernel k = m.kernel("bf16_gemm");
      std::string ok = check(k, k.randomInputs({{"M", 200}, {"K", 300}, {"N", 520}}, 3));
      std::vector<Tensor> host = k.randomInputs({{"M", s}, {"K", s}, {"N", s}}, 5);
      DeviceTensor a = DeviceTensor::fromHost(host[0]), b = DeviceTensor::fromHost(host[1]);
      std::vector<DeviceTensor> out = k.callDevice({a, b});
      double ms = timeKernel(k, {a, b}, out, 3);
      row("bf16_gemm_" + std::to_string(s), ms, 2.0 * a.nbytes(), 2.0 * s * s * s, ok);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "bf16_gemm: %s\n", e.what());
    }
  if (wants("gemm_bias_gelu")) {
    // Issue 19's contractions: a GEMM with its bias and GELU (fp32 4096^3), 64 products of
    // 512x64 by 64x512 (bf16), attention on 64 bf16 heads of 1024 x 64.
    const int64_t s = quick ? 1024 : 4096;
    Kernel k = m.kernel("gemm_bias_gelu");
    std::string ok = check(k, k.randomInputs({{"M", 33}, {"K", 70}, {"N", 45}}, 3));
    std::vector<Tensor> host = k.randomInputs({{"M", s}, {"K", s}, {"N", s}}, 5);
    std::vector<DeviceTensor> in;
    for (const Tensor &t : host)
      in.push_back(DeviceTensor::fromHost(t));
    std::vector<DeviceTensor> out = k.callDevice(in);
    double ms = timeKernel(k, in, out, 3);
    row("gemm_bias_gelu_" + std::to_string(s), ms, 3.0 * in[0].nbytes(), 2.0 * s * s * s, ok);
  }
  // Small batched products, f32 outputs and bf16 ones (cuBLAS's peer writes bf16).
  for (const char *name : {"batched_bf16", "batched_bf16_out"}) {
    if (!wants("batched_bf16") && !wants(name))
      continue;
    const int64_t batch = 64, rows = 512, depth = 64;
    Kernel k = m.kernel(name);
    std::string ok = check(k, k.randomInputs({{"B", 3}, {"M", 33}, {"K", 20}, {"N", 45}}, 3));
    std::vector<Tensor> host =
        k.randomInputs({{"B", batch}, {"M", rows}, {"K", depth}, {"N", rows}}, 5);
    DeviceTensor a = DeviceTensor::fromHost(host[0]), b = DeviceTensor::fromHost(host[1]);
    std::vector<DeviceTensor> out = k.callDevice({a, b});
    double ms = timeKernel(k, {a, b}, out, 5);
    row(name, ms, double(a.nbytes() + b.nbytes() + out[0].nbytes()),
        2.0 * batch * rows * depth * rows, ok);
  }
  // Attention on 64 bf16 heads of 1024 x 64, without a mask and causal (`where(u <= t, ...)`
  // on the scores: half the products, the FLOPs counted as SDPA's causal ones); with
  // attention_shapes also sequences of 4096 and heads of 128 (rows `attention_bf16_4096x128`).
  auto attention = [&](const std::string &name, const std::string &kernel, int64_t length,
                       int64_t dim) {
    const int64_t heads = quick ? 8 : 64;
    const double share = kernel == "attention_bf16" ? 1.0 : 0.5;
    Kernel k = m.kernel(kernel);
    // The tensor-core kernel rounds P to bf16 before P·V (docs/language.md): judged at f16's
    // tolerance, as the tests do.
    std::string ok =
        check(k, k.randomInputs({{"B", 2}, {"T", 37}, {"E", dim > 64 ? 100 : 16}}, 3), DType::F16);
    std::vector<Tensor> host = k.randomInputs({{"B", heads}, {"T", length}, {"E", dim}}, 5);
    std::vector<DeviceTensor> in;
    for (const Tensor &t : host)
      in.push_back(DeviceTensor::fromHost(t));
    std::vector<DeviceTensor> out = k.callDevice(in);
    double ms = timeKernel(k, in, out, 3);
    row(name, ms, 3.0 * in[0].nbytes() + out[0].nbytes(),
        share * 4.0 * heads * length * length * dim, ok);
  };
  for (const char *name : {"attention_bf16", "attention_causal_bf16"}) {
    if (wants(name))
      attention(name, name, 1024, 64);
    if (wants("attention_shapes"))
      for (auto [length, dim] : {std::pair<int64_t, int64_t>{4096, 64}, {1024, 128}, {4096, 128}})
        attention(std::string(name) + "_" + std::to_string(length) + "x" + std::to_string(dim),
                  name, length, dim);
  }
  if (wants("softmax")) {
    // NVRTC: cold (nothing cached; NVRTC already loaded by the kernels above), then from disk
    // through a fresh KernelCache (nothing in its memory). Module load is not included.
    std::string source =
        m.kernel("softmax").dump(Stage::Cuda) + "\n// bench " +
        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "tdsl-bench-cache";
    std::filesystem::remove_all(dir);
    cache::CacheKey key = cache::makeCudaKey("softmax", source, dev.name, dev.smArch());
    cache::Counters &counters = cache::counters();
    uint64_t misses = counters.misses, diskHits = counters.diskHits;
    auto t0 = std::chrono::steady_clock::now();
    cache::KernelCache(dir.string()).cubin(key);
    auto t1 = std::chrono::steady_clock::now();
    row("nvrtc_softmax_cold", std::chrono::duration<double, std::milli>(t1 - t0).count(), 0, 0,
        counters.misses == misses + 1 ? "compiled" : "UNEXPECTED cache hit");
    t0 = std::chrono::steady_clock::now();
    cache::KernelCache(dir.string()).cubin(key);
    t1 = std::chrono::steady_clock::now();
    row("nvrtc_softmax_disk", std::chrono::duration<double, std::milli>(t1 - t0).count(), 0, 0,
        counters.diskHits == diskHits + 1 ? "disk hit" : "UNEXPECTED miss");
    std::filesystem::remove_all(dir);
  }
  if (wants("tiny")) {
    // Host overhead: back-to-back runDevice calls of a 1-element kernel, wall clock per call.
    Kernel k = m.kernel("tiny");
    DeviceTensor x = DeviceTensor::fromHost(Tensor::randn({1}, DType::F32, 1));
    DeviceTensor y = DeviceTensor::empty({1}, DType::F32);
    for (int i = 0; i < 1000; ++i)
      k.runDevice({x}, {y});
    cu::device().synchronize("warm-up");
    const int calls = 20000;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i)
      k.runDevice({x}, {y});
    auto t1 = std::chrono::steady_clock::now();
    cu::device().synchronize("overhead");
    auto t2 = std::chrono::steady_clock::now();
    double enqueue = std::chrono::duration<double, std::micro>(t1 - t0).count() / calls;
    double total = std::chrono::duration<double, std::micro>(t2 - t0).count() / calls;
    row("launch_overhead_us", enqueue / 1000.0, 0, 0,
        "host us/call " + std::to_string(enqueue) + "; with GPU drain " + std::to_string(total));
  }
  return 0;
}
