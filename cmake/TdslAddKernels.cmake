# tdsl_add_kernels(NAME FILE [KERNELS kernel...] [CPU level...] [THREADS n]
#                  [TARGET cpu|cuda] [GPU arch...])
#
# Compiles the kernels of the .tdsl FILE ahead of time, at build time, with `tdsl aot`, into a
# static library target NAME whose header NAME.h declares the C functions NAME_KERNEL (and, for
# the CPU, NAME_KERNEL_strided) of each kernel. KERNELS picks some (default: every kernel); CPU
# gives the levels, each kernel compiled once per level and the best this CPU runs picked at the
# first call (host, x86-64-v3, x86-64-v4; default: host); THREADS the thread count the schedules
# are chosen for (default: the build machine's). TARGET cuda compiles for the GPU architectures
# GPU (sm_80, sm_86, sm_89, sm_90; default: sm_80 sm_90) with NVRTC, which the build machine then
# needs. The library links tdsl::tdsl_kernel_runtime and nothing of LLVM or NVRTC. The command
# runs again when FILE or tdsl changes.
function(tdsl_add_kernels name file)
  cmake_parse_arguments(ARG "" "THREADS;TARGET" "KERNELS;CPU;GPU" ${ARGN})
  if(NOT TDSL_EXECUTABLE)
    message(FATAL_ERROR "tdsl_add_kernels: TDSL_EXECUTABLE (the tdsl program) is not set")
  endif()
  get_filename_component(source "${file}" ABSOLUTE)
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${name}.tdsl")
  set(args "${source}" --name ${name} -o "${dir}")
  foreach(kernel IN LISTS ARG_KERNELS)
    list(APPEND args --kernel ${kernel})
  endforeach()
  if(ARG_CPU)
    list(JOIN ARG_CPU "," cpus)
    list(APPEND args --cpu ${cpus})
  endif()
  if(ARG_TARGET)
    list(APPEND args --target ${ARG_TARGET})
  endif()
  if(ARG_GPU)
    list(JOIN ARG_GPU "," gpus)
    list(APPEND args --gpu ${gpus})
  endif()
  if(DEFINED ARG_THREADS)
    list(APPEND args --threads ${ARG_THREADS})
  endif()
  add_custom_command(
    OUTPUT "${dir}/${name}.o" "${dir}/${name}.h"
    COMMAND "${TDSL_EXECUTABLE}" aot ${args} > /dev/null
    DEPENDS "${source}" "${TDSL_EXECUTABLE}"
    COMMENT "tdsl aot ${file} -> ${name}"
    VERBATIM)
  add_library(${name} STATIC "${dir}/${name}.o" "${dir}/${name}.h")
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
  target_include_directories(${name} PUBLIC "${dir}")
  target_link_libraries(${name} PUBLIC tdsl::tdsl_kernel_runtime)
endfunction()
