# llhttp has no -dev package in Debian 12: node-llhttp ships its C sources, built here as a
# static library. Nothing is vendored; the sources are read from the system at build time.
set(LITHE_LLHTTP_SRC_DIR "/usr/share/llhttp" CACHE PATH "llhttp C sources (Debian: node-llhttp)")
set(LITHE_LLHTTP_INCLUDE_DIR "/usr/share/include/llhttp" CACHE PATH "llhttp.h (Debian: node-llhttp)")
if(NOT EXISTS "${LITHE_LLHTTP_SRC_DIR}/llhttp.c" OR NOT EXISTS "${LITHE_LLHTTP_INCLUDE_DIR}/llhttp.h")
  message(FATAL_ERROR "llhttp sources not found: apt-get install node-llhttp "
                      "(or set LITHE_LLHTTP_SRC_DIR / LITHE_LLHTTP_INCLUDE_DIR)")
endif()
add_library(lithe_llhttp STATIC
  ${LITHE_LLHTTP_SRC_DIR}/api.c
  ${LITHE_LLHTTP_SRC_DIR}/http.c
  ${LITHE_LLHTTP_SRC_DIR}/llhttp.c)
target_include_directories(lithe_llhttp SYSTEM PUBLIC $<BUILD_INTERFACE:${LITHE_LLHTTP_INCLUDE_DIR}>)
set_target_properties(lithe_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
# Strict mode: bare LF, obsolete line folding and other lenient parses are errors (RFC 9112).
target_compile_definitions(lithe_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
target_compile_options(lithe_llhttp PRIVATE -O2 -w)
