# `cmake --install`: the libraries, the public headers (include/tdsl), the tdsl CLI and a
# relocatable package configuration, so that an installed tdsl is found with find_package(tdsl)
# (CMAKE_PREFIX_PATH=<prefix>) and used through tdsl::tdsl. Everything the config names is
# relative to its own directory, so the prefix can be moved after installing.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ${TDSL_EXPORTED_TARGETS} EXPORT tdslTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TDSL_HAVE_DLPACK)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tdsl DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tdsl DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    PATTERN DLPack.h EXCLUDE)
endif()
if(TARGET tdsl_cli)
  install(TARGETS tdsl_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(TDSL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tdsl)
install(EXPORT tdslTargets NAMESPACE tdsl:: DESTINATION ${TDSL_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tdslConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tdslConfig.cmake ${PROJECT_BINARY_DIR}/tdslConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/TdslAddKernels.cmake DESTINATION ${TDSL_INSTALL_CMAKEDIR})
