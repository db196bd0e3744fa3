// The Python type tdsl.Kernel (KernelObject.h).
#include "python/src/KernelObject.h"

#include "python/src/Arrays.h"
#include "python/src/Errors.h"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>

namespace tdsl::python {
namespace {

std::string typeString(DType dtype, const std::vector<std::string> &dims) {
  std::string text(dtypeName(dtype));
  if (dims.empty())
    return text;
  text += "[";
  for (size_t d = 0; d < dims.size(); ++d)
    text += (d ? ", " : "") + dims[d];
  return text + "]";
}

/// The tensors of one call and what keeps their memory alive until it returns.
struct CallTensors {
  explicit CallTensors(size_t arguments) {
    inputs.reserve(arguments);
    outputs.reserve(arguments);
    held.reserve(arguments);
  }
  std::vector<Tensor> inputs, outputs;
  std::vector<HeldArray> held;
  /// The first array argument in CUDA memory (DLPack kDLCUDA or kDLCUDAManaged), if any: the
  /// call runs on the device then (runDevice), every array must be there, and the inputs are
  /// views in `deviceInputs` (`inputs` holds the Python numbers, converted on the host).
  nb::handle deviceArray;
  std::vector<DeviceTensor> deviceInputs, deviceOutputs;
};

bool inCudaMemory(const HeldArray &array) {
  return array.deviceType() == nb::device::cuda::value ||
         array.deviceType() == nb::device::cuda_managed::value;
}

/// A compiled kernel as a Python callable: `kernel(x, ...)` returns new arrays,
/// `kernel(x, ..., out=y)` (or a tuple of outputs) writes into the caller's.
class PyKernel {
public:
  explicit PyKernel(Kernel kernel) : kernel_(std::move(kernel)) {
    inputNames_ = kernel_.inputNames();
    outputNames_ = kernel_.outputNames();
    inputDims_ = kernel_.inputDims();
    for (size_t i = 0; i < inputNames_.size(); ++i)
      inputDTypes_.push_back(kernel_.inputDType(i));
    for (size_t o = 0; o < outputNames_.size(); ++o)
      outputDTypes_.push_back(kernel_.outputDType(o));
  }

  const Kernel &kernel() const { return kernel_; }
  const std::vector<std::string> &inputNames() const { return inputNames_; }
  const std::vector<std::string> &outputNames() const { return outputNames_; }

  /// `kernel(*args, out=None)`: the type's tp_call (callKernel), so that a call skips the
  /// generic dispatch of nanobind functions. `args` is a tuple, `kwargs` a dict or null.
  nb::object call(PyObject *args, PyObject *kwargs) const {
    nb::handle out = outArgument(kwargs);
    CallTensors call(static_cast<size_t>(PyTuple_GET_SIZE(args)) + outputNames_.size());
    Framework framework = readInputs(args, call);
    if (call.deviceArray.is_valid())
      return callOnDevice(call, framework, out);
    if (out.is_valid() && !out.is_none()) {
      readOutputs(out, call);
      run(call);
      return nb::borrow(out);
    }
    std::vector<std::vector<int64_t>> shapes = outputShapes(call.inputs);
    std::vector<nb::object> results;
    for (size_t o = 0; o < shapes.size(); ++o) {
      call.outputs.emplace_back();
      results.push_back(newArray(shapes[o], outputDTypes_[o], framework, call.outputs.back()));
    }
    run(call);
    return resultOf(results);
  }

  /// A call's value: its one output, or a tuple of several.
  static nb::object resultOf(const std::vector<nb::object> &outputs) {
    if (outputs.size() == 1)
      return outputs[0];
    nb::tuple tuple = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(outputs.size())));
    for (size_t o = 0; o < outputs.size(); ++o)
      PyTuple_SET_ITEM(tuple.ptr(), static_cast<Py_ssize_t>(o), outputs[o].inc_ref().ptr());
    return tuple;
  }

  /// How a call on these arrays runs (Kernel::explainCall): which are read and written in
  /// place, and which are copied because of their strides.
  std::string explainCall(nb::args args, nb::kwargs kwargs) const {
    nb::handle out = outArgument(kwargs.ptr());
    CallTensors call(args.size() + outputNames_.size());
    readHostInputs(args.ptr(), call);
    if (out.is_valid() && !out.is_none())
      readOutputs(out, call);
    return kernel_.explainCall(call.inputs, call.outputs);
  }

  /// The reference interpreter's results (f64 arithmetic), as new arrays.
  nb::object interpret(nb::args args) const {
    CallTensors call(args.size());
    Framework framework = readHostInputs(args.ptr(), call);
    std::vector<Tensor> results;
    {
      nb::gil_scoped_release release;
      results = kernel_.interpret(call.inputs);
    }
    std::vector<nb::object> arrays;
    for (const Tensor &t : results)
      arrays.push_back(arrayOf(t, framework));
    return resultOf(arrays);
  }

  nb::dict profile(nb::args args, int runs, int warmup, bool roofline) const {
    CallTensors call(args.size());
    readHostInputs(args.ptr(), call);
    ProfileOptions options;
    options.runs = runs;
    options.warmup = warmup;
    options.roofline = roofline;
    Profile p;
    {
      nb::gil_scoped_release release;
      p = kernel_.profile(call.inputs, options);
    }
    return profileDict(p);
  }

  std::string repr() const {
    std::string text = "<tdsl.Kernel " + kernel_.name() + "(";
    for (size_t i = 0; i < inputNames_.size(); ++i)
      text += (i ? ", " : "") + inputNames_[i] + ": " + typeString(inputDTypes_[i], inputDims_[i]);
    text += ") -> ";
    for (size_t o = 0; o < outputNames_.size(); ++o)
      text += (o ? ", " : "") + outputNames_[o] + ": " + std::string(dtypeName(outputDTypes_[o]));
    return text + ">";
  }

private:
  /// The `out=` keyword argument (an invalid handle without one); any other keyword is an error.
  nb::handle outArgument(PyObject *kwargs) const {
    nb::handle out;
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (kwargs && PyDict_Next(kwargs, &position, &key, &value)) {
      if (PyUnicode_CompareWithASCIIString(key, "out") != 0)
        throw nb::type_error(("kernel " + kernel_.name() +
                              "() got an unexpected keyword argument '" +
                              nb::cast<std::string>(nb::str(key)) + "' (only out=)")
                                 .c_str());
      out = value;
    }
    return out;
  }

  std::string inputLabel(size_t i) const {
    return "input " + inputNames_[i] + " (" + typeString(inputDTypes_[i], inputDims_[i]) +
           ") of kernel " + kernel_.name();
  }

  /// Reads the inputs into `call`; returns the framework of the first array among them.
  Framework readInputs(PyObject *args, CallTensors &call) const {
    size_t count = static_cast<size_t>(PyTuple_GET_SIZE(args));
    if (count != inputNames_.size()) {
      std::string names;
      for (const std::string &n : inputNames_)
        names += (names.empty() ? "" : ", ") + n;
      throw mismatch("kernel " + kernel_.name() + " takes " + std::to_string(inputNames_.size()) +
                     " inputs (" + names + "), got " + std::to_string(count));
    }
    std::optional<Framework> framework;
    for (size_t i = 0; i < count; ++i) {
      nb::handle arg = PyTuple_GET_ITEM(args, static_cast<Py_ssize_t>(i));
      if (PyBool_Check(arg.ptr()) || PyLong_Check(arg.ptr()) || PyFloat_Check(arg.ptr())) {
        call.inputs.push_back(scalar(arg, i));
        continue;
      }
      HeldArray &array = call.held.emplace_back();
      HeldArray::Status status = array.acquire(arg, /*writable=*/false);
      if (status != HeldArray::Status::Ok)
        throw mismatch(inputLabel(i) + ": " + whyNot(status, arg));
      if (!framework)
        framework = frameworkOf(arg);
      if (inCudaMemory(array)) {
        if (!call.deviceArray.is_valid())
          call.deviceArray = arg;
        call.inputs.emplace_back(); // Its device view is made below.
        continue;
      }
      call.inputs.push_back(
          hostTensor(array, inputDTypes_[i], /*output=*/false, [&] { return inputLabel(i); }));
    }
    if (call.deviceArray.is_valid())
      readDeviceInputs(args, call);
    return framework.value_or(Framework::NumPy);
  }

  /// The inputs of a call on the device: views of the CUDA arrays, Python numbers copied to
  /// the device; an array in host memory is an error.
  void readDeviceInputs(PyObject *args, CallTensors &call) const {
    size_t held = 0;
    for (size_t i = 0; i < call.inputs.size(); ++i) {
      PyObject *arg = PyTuple_GET_ITEM(args, static_cast<Py_ssize_t>(i));
      if (PyBool_Check(arg) || PyLong_Check(arg) || PyFloat_Check(arg)) {
        call.deviceInputs.push_back(DeviceTensor::fromHost(call.inputs[i], kernel_.cudaDevice()));
        continue;
      }
      call.deviceInputs.push_back(
          deviceTensor(call.held[held++], inputDTypes_[i], [&] { return inputLabel(i); }));
    }
  }

  /// A view of a CUDA array (runDevice requires it contiguous, and says so).
  template <typename Label>
  static DeviceTensor deviceTensor(const HeldArray &array, DType expected, const Label &label) {
    if (!inCudaMemory(array))
      throw mismatch(label() + ": the array is in host memory (DLPack device type " +
                     std::to_string(array.deviceType()) +
                     ") while others are in CUDA memory; pass all of them on one device");
    DType dtype = arrayDType(array, expected, label);
    std::vector<int64_t> strides = viewStrides(array, label);
    return DeviceTensor::view(reinterpret_cast<uint64_t>(array.data()), array.shapeVector(), dtype,
                              std::move(strides), array.deviceId());
  }

  /// readInputs for what takes host arrays only (interpret, profile, explain_call).
  Framework readHostInputs(PyObject *args, CallTensors &call) const {
    Framework framework = readInputs(args, call);
    if (call.deviceArray.is_valid())
      throw mismatch("kernel " + kernel_.name() +
                     ": this takes arrays in host memory (it copies them to the device itself)");
    return framework;
  }

  static std::string whyNot(HeldArray::Status status, nb::handle arg) {
    switch (status) {
    case HeldArray::Status::ReadOnly:
      return "the array is read-only";
    default:
      return "expected an array (NumPy, or any object with __dlpack__) or a Python number, got " +
             nb::cast<std::string>(nb::str(arg.type().attr("__name__")));
    }
  }

  /// A Python number as a 0-d tensor of the parameter's dtype: ints must fit it exactly, and
  /// floats only go to float parameters.
  Tensor scalar(nb::handle value, size_t i) const {
    DType dtype = inputDTypes_[i];
    if (!inputDims_[i].empty())
      throw mismatch(inputLabel(i) + ": a Python number is a 0-d value; pass an array");
    Tensor t = Tensor::zeros({}, dtype);
    if (PyFloat_Check(value.ptr())) {
      if (!isFloat(dtype))
        throw RuntimeError(ErrorCode::InexactScalar,
                           inputLabel(i) + ": a float is not a value of " +
                               std::string(dtypeName(dtype)) + "; pass an int");
      t.set(0, PyFloat_AsDouble(value.ptr()));
      return t;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (isFloat(dtype)) {
      t.set(0, overflow ? PyFloat_AsDouble(nb::float_(nb::borrow(value)).ptr())
                        : static_cast<double>(v));
      return t;
    }
    int64_t low = dtype == DType::Bool ? 0 : intMin(dtype);
    int64_t high = dtype == DType::Bool ? 1 : intMax(dtype);
    if (overflow || v < low || v > high)
      throw RuntimeError(ErrorCode::InexactScalar,
                         inputLabel(i) + ": " + nb::cast<std::string>(nb::str(value)) +
                             " is out of the range of " + std::string(dtypeName(dtype)));
    t.setInt(0, v);
    return t;
  }

  /// A view of a host array with `dtype`'s elements (a NumPy uint16 array for bf16) and its
  /// strides: read-only for an input, writable for an output. `label` names it in errors.
  template <typename Label>
  static Tensor hostTensor(const HeldArray &array, DType expected, bool output,
                           const Label &label) {
    if (array.deviceType() != nb::device::cpu::value)
      throw mismatch(label() + ": the array is not in host memory (DLPack device type " +
                     std::to_string(array.deviceType()) + ")");
    DType dtype = arrayDType(array, expected, label);
    std::vector<int64_t> strides = viewStrides(array, label);
    if (output)
      return Tensor::view(array.data(), array.shapeVector(), dtype, std::move(strides));
    return Tensor::view(static_cast<const void *>(array.data()), array.shapeVector(), dtype,
                        std::move(strides));
  }

  /// The strides (in elements) a view of `array` takes: none for a row-major array.
  template <typename Label>
  static std::vector<int64_t> viewStrides(const HeldArray &array, const Label &label) {
    if (array.isRowMajor())
      return {};
    std::optional<std::vector<int64_t>> elementStrides = array.elementStrides();
    if (!elementStrides)
      throw mismatch(label() + ": the array's strides are not multiples of its element size");
    return std::move(*elementStrides);
  }

  /// The tdsl dtype of an array's elements: its own, or bf16 for NumPy's stand-in (uint16 bits)
  /// where the parameter is bf16.
  template <typename Label>
  static DType arrayDType(const HeldArray &array, DType expected, const Label &label) {
    if (expected == DType::BF16 && array.dtype() == dtypeToDLPack(DType::BF16, Framework::NumPy))
      return DType::BF16;
    std::optional<DType> dtype = dtypeFromDLPack(array.dtype());
    if (!dtype)
      throw mismatch(label() + ": the array's dtype (DLPack code " +
                     std::to_string(array.dtype().code) + ", " +
                     std::to_string(array.dtype().bits) + " bits) is not one tdsl has");
    return *dtype;
  }

  void readOutputs(nb::handle out, CallTensors &call) const {
    size_t count = 1;
    bool sequence = PyTuple_Check(out.ptr()) || PyList_Check(out.ptr());
    if (sequence)
      count = static_cast<size_t>(PySequence_Size(out.ptr()));
    if (count != outputNames_.size())
      throw mismatch("kernel " + kernel_.name() + " has " + std::to_string(outputNames_.size()) +
                     " outputs, out= gave " + std::to_string(count));
    for (size_t o = 0; o < count; ++o) {
      nb::handle item = sequence ? nb::handle(PySequence_Fast_GET_ITEM(out.ptr(), o)) : out;
      auto label = [&] { return "output " + outputNames_[o] + " of kernel " + kernel_.name(); };
      HeldArray &array = call.held.emplace_back();
      HeldArray::Status status = array.acquire(item, /*writable=*/true);
      if (status != HeldArray::Status::Ok)
        throw mismatch(label() + ": " + whyNot(status, item));
      if (call.deviceArray.is_valid())
        call.deviceOutputs.push_back(deviceTensor(array, outputDTypes_[o], label));
      else
        call.outputs.push_back(hostTensor(array, outputDTypes_[o], /*output=*/true, label));
    }
  }

  /// A call on CUDA arrays: enqueued on the caller's current stream (PyTorch's, for torch
  /// tensors; tdsl's own otherwise) without synchronizing, into `out` or into new torch tensors
  /// on the inputs' device.
  nb::object callOnDevice(CallTensors &call, Framework framework, nb::handle out) const {
    nb::object torch, device;
    if (framework == Framework::Torch) {
      torch = nb::module_::import_("torch");
      device = call.deviceArray.attr("device");
    }
    std::vector<nb::object> results;
    if (out.is_valid() && !out.is_none()) {
      readOutputs(out, call);
    } else {
      if (framework != Framework::Torch)
        throw mismatch("kernel " + kernel_.name() +
                       ": new results in CUDA memory are made for torch tensors only; pass out=");
      std::vector<std::vector<int64_t>> shapes = kernel_.outputShapes(hostShapes(call));
      for (size_t o = 0; o < shapes.size(); ++o) {
        nb::tuple shape = nb::tuple(nb::cast(shapes[o]));
        nb::object dtype = torch.attr(torchDTypeName(outputDTypes_[o]));
        results.push_back(
            torch.attr("empty")(shape, nb::arg("dtype") = dtype, nb::arg("device") = device));
        HeldArray &array = call.held.emplace_back();
        if (array.acquire(results.back(), /*writable=*/true) != HeldArray::Status::Ok)
          throw nb::python_error();
        call.deviceOutputs.push_back(
            deviceTensor(array, outputDTypes_[o], [&] { return outputNames_[o]; }));
      }
    }
    void *stream = nullptr;
    if (framework == Framework::Torch) {
      nb::object current = torch.attr("cuda").attr("current_stream")(device);
      stream = reinterpret_cast<void *>(nb::cast<uintptr_t>(current.attr("cuda_stream")));
    }
    {
      nb::gil_scoped_release release;
      kernel_.runDevice(call.deviceInputs, call.deviceOutputs, stream);
    }
    if (out.is_valid() && !out.is_none())
      return nb::borrow(out);
    return resultOf(results);
  }

  /// Host views of the device inputs' shapes and dtypes for Kernel::outputShapes, which reads
  /// nothing but those (their addresses are the device's, never dereferenced).
  static std::vector<Tensor> hostShapes(const CallTensors &call) {
    std::vector<Tensor> shapes;
    for (const DeviceTensor &t : call.deviceInputs)
      shapes.push_back(
          Tensor::view(reinterpret_cast<const void *>(t.devicePointer()), t.shape(), t.dtype()));
    return shapes;
  }

  static const char *torchDTypeName(DType dtype) {
    switch (dtype) {
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::I32:
      return "int32";
    case DType::I64:
      return "int64";
    case DType::Bool:
      return "bool";
    case DType::U8:
      return "uint8";
    case DType::I8:
      return "int8";
    case DType::I16:
      return "int16";
    }
    return "float32";
  }

  void run(const CallTensors &call) const {
    nb::gil_scoped_release release;
    kernel_.run(call.inputs, call.outputs);
  }

  static nb::dict profileDict(const Profile &p) {
    nb::dict d;
    d["kernel"] = p.kernel;
    d["target"] = p.target;
    d["threads"] = p.threads;
    nb::dict shape;
    for (const auto &[symbol, size] : p.shape)
      shape[nb::cast(symbol)] = size;
    d["shape"] = shape;
    d["runs"] = p.runs;
    d["warmup"] = p.warmup;
    d["first_call_seconds"] = p.firstCallSeconds;
    d["first_call_tier"] = p.firstCallTier;
    d["tier"] = p.tier;
    d["median_seconds"] = p.medianSeconds;
    d["min_seconds"] = p.minSeconds;
    d["times"] = p.times;
    d["bytes"] = p.bytes;
    d["flops"] = p.flops;
    d["gbps"] = p.gbps;
    d["gflops"] = p.gflops;
    d["intermediate_bytes"] = p.intermediateBytes;
    d["packed_panel_bytes"] = p.packedPanelBytes;
    d["intensity"] = p.intensity;
    d["bound"] = p.bound;
    d["roofline_fraction"] = p.rooflineFraction;
    d["ceiling_gflops"] = p.ceilingGflops;
    return d;
  }

  /// Kernel::outputShapes, remembered for the last input shapes seen: binding the symbols
  /// through the IR costs more than the rest of a small call, and calls repeat their shapes.
  std::vector<std::vector<int64_t>> outputShapes(const std::vector<Tensor> &inputs) const {
    {
      std::lock_guard<std::mutex> lock(shapes_->mutex);
      bool same = shapes_->inputs.size() == inputs.size();
      for (size_t i = 0; same && i < inputs.size(); ++i)
        same = shapes_->inputs[i] == inputs[i].shape();
      if (same)
        return shapes_->outputs;
    }
    std::vector<std::vector<int64_t>> outputs = kernel_.outputShapes(inputs);
    std::lock_guard<std::mutex> lock(shapes_->mutex);
    shapes_->inputs.clear();
    for (const Tensor &t : inputs)
      shapes_->inputs.push_back(t.shape());
    shapes_->outputs = outputs;
    return outputs;
  }

  struct LastShapes {
    std::mutex mutex;
    std::vector<std::vector<int64_t>> inputs, outputs;
  };

  Kernel kernel_;
  std::shared_ptr<LastShapes> shapes_ = std::make_shared<LastShapes>();
  std::vector<std::string> inputNames_, outputNames_;
  std::vector<std::vector<std::string>> inputDims_;
  std::vector<DType> inputDTypes_, outputDTypes_;
};

/// Kernel's tp_call: PyKernel::call with its C++ exceptions raised as Python's.
PyObject *callKernel(PyObject *self, PyObject *args, PyObject *kwargs) noexcept {
  try {
    return nb::inst_ptr<PyKernel>(self)->call(args, kwargs).release().ptr();
  } catch (...) {
    setPythonError();
    return nullptr;
  }
}

PyType_Slot kernelSlots[] = {{Py_tp_call, reinterpret_cast<void *>(callKernel)}, {0, nullptr}};

} // namespace

void defineKernel(nb::module_ &m) {
  nb::class_<PyKernel>(m, "Kernel", nb::type_slots(kernelSlots),
                       "A compiled kernel: kernel(*inputs) returns new arrays, "
                       "kernel(*inputs, out=outputs) writes into the caller's.")
      .def("explain_call", &PyKernel::explainCall,
           "How a call on these arrays runs: in place, or which are copied for their strides.")
      .def("interpret", &PyKernel::interpret,
           "The reference interpreter's results (f64 arithmetic), as new arrays.")
      .def("profile", &PyKernel::profile, nb::arg("args"), nb::arg("runs") = 0,
           nb::arg("warmup") = 2, nb::arg("roofline") = true,
           "Times the kernel on these inputs (Kernel::profile): a dict of the figures.")
      .def(
          "dump",
          [](const PyKernel &k, const std::string &stage) {
            std::optional<Stage> s = parseStage(stage);
            if (!s)
              throw nb::value_error(
                  ("unknown stage '" + stage +
                   "' (ast, tensor, fused, schedule, loops, llvm, asm, cuda, ptx)")
                      .c_str());
            return k.kernel().dump(*s);
          },
          nb::arg("stage"), "One stage as text, as `tdsl emit --stage=STAGE` prints it.")
      .def(
          "dump_after",
          [](const PyKernel &k, const std::string &pass) { return k.kernel().dumpAfter(pass); },
          nb::arg("pass_name"), "The IR after each run of one lowering pass.")
      .def(
          "explain", [](const PyKernel &k) { return k.kernel().explain(); },
          "Why the compiler fused and scheduled what it did.")
      .def(
          "wait_for_final_tier",
          [](const PyKernel &k) {
            nb::gil_scoped_release release;
            k.kernel().waitForFinalTier();
          },
          "Compiles the kernel if needed and waits until its calls run the final tier.")
      .def(
          "with_threads",
          [](const PyKernel &k, int threads) {
            return kernelObject(k.kernel().withThreads(threads));
          },
          nb::arg("threads"), "The same kernel, its calls on `threads` threads.")
      .def_prop_ro("name", [](const PyKernel &k) { return k.kernel().name(); })
      .def_prop_ro("inputs", &PyKernel::inputNames)
      .def_prop_ro("outputs", &PyKernel::outputNames)
      .def_prop_ro("threads", [](const PyKernel &k) { return k.kernel().threads(); })
      .def_prop_ro("tier",
                   [](const PyKernel &k) { return std::string(tierName(k.kernel().tier())); })
      .def("__repr__", &PyKernel::repr);
}

nb::object kernelObject(Kernel kernel) { return nb::cast(PyKernel(std::move(kernel))); }

} // namespace tdsl::python
