# Helpers only; no targets are defined here.

function(iot_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(IOT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Test code (not the libraries and services it tests) at -O1 -g1 in optimised builds: half the compile time of
# -O2 -g per test file (measured: 11.3 s -> 6.3 s of CPU for forwarding_itest.cpp), and test files are about half
# of a cold build, which CI pays on every run. -g1 keeps function names and line numbers for backtraces.
function(iot_test_code_flags target)
  target_compile_options(${target} PRIVATE $<$<CONFIG:RelWithDebInfo,Release>:-O1 -g1>)
endfunction()

# iot_add_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Makes static library iot_<name> with alias iot::<name>; public headers in include/, private in src/.
function(iot_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(iot_${name} STATIC ${ARG_SOURCES})
  add_library(iot::${name} ALIAS iot_${name})
  target_include_directories(iot_${name}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(iot_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  iot_warnings(iot_${name})
endfunction()

# iot_add_unit_test(<target> SOURCES ... LIBS ... [LABELS ...])
# One Catch2 executable; each TEST_CASE becomes its own CTest entry prefixed with the target name.
function(iot_add_catch_test target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} Catch2::Catch2WithMain)
  target_compile_definitions(${target} PRIVATE IOT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  iot_warnings(${target})
  iot_test_code_flags(${target})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # `-w NoTests`: a CTest entry whose name matched no test case fails instead of passing silently
  # (CMake splits test names at ';', so never put one in a TEST_CASE name).
  catch_discover_tests(${target} TEST_PREFIX "${target}." PROPERTIES LABELS "${ARG_LABELS}"
    EXTRA_ARGS -w NoTests)
endfunction()

# Adds every direct subfolder of `dir` that has a CMakeLists.txt, in name order.
function(iot_add_subdirectories dir)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${dir} ${dir}/*)
  list(SORT children)
  foreach(child IN LISTS children)
    if(IS_DIRECTORY ${dir}/${child} AND EXISTS ${dir}/${child}/CMakeLists.txt)
      add_subdirectory(${dir}/${child})
    endif()
  endforeach()
endfunction()
