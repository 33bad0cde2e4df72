# install(): headers, the static libraries, and a CMake config package, so another project
# writes find_package(lithe) and links lithe::server (or lithe::core + a backend), lithe::redis,
# lithe::json.
include(CMakePackageConfigHelpers)

set(LITHE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lithe)
set(LITHE_INSTALL_TARGETS lithe_core lithe_llhttp lithe_warnings lithe_epoll lithe_uv lithe_uring
                          lithe_middleware lithe_redis lithe_server)
# lithe::json when it was built (nlohmann-json found); its users then find nlohmann-json too.
set(LITHE_JSON_DEPENDENCY "")
if(TARGET lithe_json)
  list(APPEND LITHE_INSTALL_TARGETS lithe_json)
  set(LITHE_JSON_DEPENDENCY "find_dependency(nlohmann_json 3.10)")
endif()
install(TARGETS ${LITHE_INSTALL_TARGETS}
        EXPORT lithe-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir core/include backends/epoll/include backends/uv/include backends/uring/include middleware/include server/include)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/lithe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} OPTIONAL)
endforeach()
install(EXPORT lithe-targets NAMESPACE lithe:: DESTINATION ${LITHE_INSTALL_CMAKEDIR})

file(WRITE ${PROJECT_BINARY_DIR}/lithe-config.cmake.in [[
@PACKAGE_INIT@
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(ZLIB)
find_dependency(OpenSSL)
find_dependency(PkgConfig)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(LIBURING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
@LITHE_JSON_DEPENDENCY@
include("${CMAKE_CURRENT_LIST_DIR}/lithe-targets.cmake")
]])
configure_package_config_file(${PROJECT_BINARY_DIR}/lithe-config.cmake.in
  ${PROJECT_BINARY_DIR}/lithe-config.cmake INSTALL_DESTINATION ${LITHE_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lithe-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lithe-config.cmake ${PROJECT_BINARY_DIR}/lithe-config-version.cmake
        DESTINATION ${LITHE_INSTALL_CMAKEDIR})
