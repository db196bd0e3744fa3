// tdsl._tdsl: the C++ API (include/tdsl/tdsl.h) for Python, under the package python/tdsl:
// Jit, Module, Kernel (KernelObject.h), calibrate, and the errors (Errors.h).
#include "python/src/Arrays.h"
#include "python/src/Errors.h"
#include "python/src/KernelObject.h"

#include "tdsl/tdsl.h"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;

namespace tdsl::python {
namespace {

Target parseTarget(const std::string &name) {
  if (name == "cpu")
    return Target::cpu();
  if (name == "cuda")
    return Target::cuda();
  throw nb::value_error(("unknown target '" + name + "' (cpu or cuda)").c_str());
}

Tiering parseTiering(const std::string &name) {
  if (name == "tiered")
    return Tiering::Tiered;
  if (name == "optimized")
    return Tiering::OptimizedOnly;
  if (name == "fast")
    return Tiering::FastOnly;
  throw nb::value_error(("unknown tiering '" + name + "' (tiered, optimized or fast)").c_str());
}

nb::dict ceilingsDict(const Ceilings &c) {
  nb::dict d;
  d["fingerprint"] = c.fingerprint;
  d["isa"] = c.isa;
  d["threads"] = c.threads;
  d["peak_gflops_1"] = c.peakGflops1;
  d["peak_gflops_all"] = c.peakGflopsAll;
  d["bandwidth_gbps_1"] = c.bandwidthGbps1;
  d["bandwidth_gbps_all"] = c.bandwidthGbpsAll;
  d["matrix_peak_gflops"] = c.matrixPeakGflops;
  d["path"] = c.path;
  d["from_cache"] = c.fromCache;
  return d;
}

} // namespace
} // namespace tdsl::python

NB_MODULE(_tdsl, m) {
  using namespace tdsl;
  using namespace tdsl::python;
  m.doc() = "tdsl's C++ API for Python (use the package tdsl)";
  findNumPy();

  defineErrors(m);
  defineKernel(m);

  nb::class_<Module>(m, "Module")
      .def("kernel", [](const Module &mod,
                        const std::string &name) { return kernelObject(mod.kernel(name)); })
      .def("kernel_names", &Module::kernelNames)
      .def("explain", &Module::explain);

  nb::class_<Jit>(m, "Jit")
      .def(
          "__init__",
          [](Jit *self, const std::string &target, int threads, const std::string &tiering,
             bool diskCache, const std::string &cacheDir, int cudaDevice) {
            JitOptions options;
            options.cudaDevice = cudaDevice;
            options.target = parseTarget(target);
            options.threads = threads;
            options.tiering = parseTiering(tiering);
            options.diskCache = diskCache;
            options.cacheDir = cacheDir;
            new (self) Jit(options);
          },
          nb::arg("target") = "cpu", nb::arg("threads") = 0, nb::arg("tiering") = "tiered",
          nb::arg("disk_cache") = true, nb::arg("cache_dir") = "", nb::arg("cuda_device") = -1)
      .def(
          "compile",
          [](const Jit &jit, const std::string &source, const std::string &name) {
            nb::gil_scoped_release release;
            return jit.compile(source, name);
          },
          nb::arg("source"), nb::arg("name") = "<string>")
      .def(
          "compile_file",
          [](const Jit &jit, const std::string &path) {
            nb::gil_scoped_release release;
            return jit.compileFile(path);
          },
          nb::arg("path"))
      .def_prop_ro("threads", &Jit::threads);

  m.def(
      "calibrate",
      [](const std::string &target, bool force) {
        Target t = parseTarget(target);
        Ceilings c;
        {
          nb::gil_scoped_release release;
          c = tdsl::calibrate(t, force);
        }
        return ceilingsDict(c);
      },
      nb::arg("target") = "cpu", nb::arg("force") = false,
      "This machine's peak FLOP/s and copy bandwidth (cached), as `tdsl calibrate` measures.");
}
