# Golden tests: each .tdsl file's RUN lines call the tdsl driver and pipe into FileCheck.
import os
import lit.formats

config.name = "tdsl"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".tdsl"]
config.test_source_root = os.path.join(config.tdsl_source_dir, "tests/lit")
config.test_exec_root = os.path.join(os.path.dirname(config.tdsl_bin_dir), "tests/lit-out")
config.excludes = ["Inputs"]
# `%tdsl-nvrtc`: the driver where it loads NVRTC. LeakSanitizer's exit-time thread tracer can
# crash in a process that loaded NVRTC (its worker threads), failing a run that passed: no leak
# check there under ASan (tests/CMakeLists.txt does the same for the CUDA test binaries).
# Before `%tdsl`, of which it is an extension.
config.substitutions.append(("%tdsl-nvrtc", "env ASAN_OPTIONS=detect_leaks=0 " + os.path.join(config.tdsl_bin_dir, "tdsl")))
config.substitutions.append(("%tdsl", os.path.join(config.tdsl_bin_dir, "tdsl")))
config.substitutions.append(("FileCheck", config.filecheck))
config.substitutions.append(("%verify-diags", "python3 " + os.path.join(config.tdsl_source_dir, "tests/lit/verify_diagnostics.py") + " " + os.path.join(config.tdsl_bin_dir, "tdsl")))
config.environment["HOME"] = os.environ.get("HOME", "/tmp")

# `REQUIRES: chromium` tests screenshot pages in headless Chromium (apt-get install chromium).
import shutil
for browser in ["chromium", "chromium-browser", "google-chrome"]:
    if shutil.which(browser):
        config.available_features.add("chromium")
        config.substitutions.append(("%chromium", shutil.which(browser)))
        break

# `REQUIRES: nvrtc` tests need NVRTC at run time (loaded with dlopen by the CUDA backend).
import ctypes
for candidate in ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
                  os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "lib64/libnvrtc.so")]:
    try:
        ctypes.CDLL(candidate)
        config.available_features.add("nvrtc")
        break
    except OSError:
        pass
