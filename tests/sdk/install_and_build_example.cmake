# The set-up of the `sdk_installed` ctest fixture, run with `cmake -P`:
#  1. installs the build tree into a fresh scratch prefix (`cmake --install`), as a user would;
#  2. checks the installed package's version rules (same major, no newer minor than installed);
#  3. configures and builds examples/cusum_detector as a separate project that is told nothing but
#     -DCMAKE_PREFIX_PATH=<prefix> (and the compiler the host was built with), and checks that the
#     plugin was compiled optimised although the project sets no build type.
# Inputs (-D): BUILD_DIR, SCRATCH_DIR, EXAMPLE_SOURCE, VERSION_PROBE_SOURCE, CXX_COMPILER,
# GENERATOR, ABI_MAJOR, ABI_MINOR.
cmake_minimum_required(VERSION 3.25)

foreach(input IN ITEMS BUILD_DIR SCRATCH_DIR EXAMPLE_SOURCE VERSION_PROBE_SOURCE CXX_COMPILER
                       GENERATOR ABI_MAJOR ABI_MINOR)
  if(NOT DEFINED ${input})
    message(FATAL_ERROR "install_and_build_example.cmake: -D${input}=... is required")
  endif()
endforeach()

set(prefix ${SCRATCH_DIR}/prefix)
set(example_build ${SCRATCH_DIR}/cusum_build)

# Runs a command, failing the fixture (with its output) when it fails.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${what} failed (${result}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
endfunction()

# Fresh every run, so nothing left over from an earlier run can hide a missing install rule.
file(REMOVE_RECURSE ${SCRATCH_DIR})
file(MAKE_DIRECTORY ${SCRATCH_DIR})

run("cmake --install ${BUILD_DIR} --prefix ${prefix}"
  ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# find_package(DriftWatchSDK <version>) against the installed package: a project asking for the
# installed major (with any minor up to the installed one) finds it; another major, or a newer
# minor than the installed SDK provides, does not.
math(EXPR newer_minor "${ABI_MINOR} + 1")
math(EXPR other_major "${ABI_MAJOR} + 1")
foreach(probe IN ITEMS "${ABI_MAJOR}:1" "${ABI_MAJOR}.0:1" "${ABI_MAJOR}.${ABI_MINOR}:1"
                       "${ABI_MAJOR}.${newer_minor}:0" "${other_major}:0")
  string(REPLACE ":" ";" probe ${probe})
  list(GET probe 0 wanted)
  list(GET probe 1 should_find)
  set(probe_build ${SCRATCH_DIR}/version_probe_${wanted})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${VERSION_PROBE_SOURCE} -B ${probe_build}
                          -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DWANTED=${wanted}
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(should_find AND NOT result EQUAL 0)
    message(FATAL_ERROR "find_package(DriftWatchSDK ${wanted}) did not find the installed SDK:\n${out}")
  endif()
  if(NOT should_find AND result EQUAL 0)
    message(FATAL_ERROR "find_package(DriftWatchSDK ${wanted}) accepted the installed "
                        "${ABI_MAJOR}.${ABI_MINOR} SDK:\n${out}")
  endif()
  message(STATUS "find_package(DriftWatchSDK ${wanted}): ok")
endforeach()

# The example, exactly as its README tells a plugin author to build it.
# (The compile commands are exported only to be read below; that sets no build type.)
run("configure examples/cusum_detector against ${prefix}"
  ${CMAKE_COMMAND} -S ${EXAMPLE_SOURCE} -B ${example_build} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
run("build examples/cusum_detector" ${CMAKE_COMMAND} --build ${example_build})
if(NOT EXISTS ${example_build}/cusum.so)
  message(FATAL_ERROR "building examples/cusum_detector produced no cusum.so")
endif()

# With no build type CMake compiles without optimisation; driftwatch_add_plugin adds -O2.
file(READ ${example_build}/compile_commands.json compile_commands)
string(REGEX MATCH "\"command\": \"[^\"]*cusum\\.cc\"" cusum_command "${compile_commands}")
if(cusum_command STREQUAL "")
  message(FATAL_ERROR "no compile command for cusum.cc in ${example_build}:\n${compile_commands}")
endif()
if(NOT cusum_command MATCHES " -O2 ")
  message(FATAL_ERROR "cusum.cc was compiled without optimisation (no build type set):\n"
                      "${cusum_command}")
endif()
message(STATUS "cusum.cc compiled with -O2: ok")
