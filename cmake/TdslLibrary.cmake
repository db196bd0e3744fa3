# tdsl_add_library(NAME DIR DEPS...): one library from every .cpp in DIR, rooted at the source
# tree so includes read "ir/IR.h".
function(tdsl_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>) # Installed: the public headers only (see TdslInstall.cmake).
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()
