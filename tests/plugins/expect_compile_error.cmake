# Compiles SOURCE with -DVIOLATION=<VIOLATION> (syntax only, as C++17 with every warning an error)
# and checks the outcome, run with `cmake -P` by ctest:
#  - EXPECTED empty: it must compile;
#  - otherwise it must fail with exactly one error, whose text contains EXPECTED.
# Inputs (-D): COMPILER, INCLUDE_DIR, SOURCE, VIOLATION, EXPECTED.
cmake_minimum_required(VERSION 3.25)
execute_process(
  COMMAND ${COMPILER} -std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Werror
          -I${INCLUDE_DIR} -DVIOLATION=${VIOLATION} ${SOURCE}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(EXPECTED STREQUAL "")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "a class that follows the contract does not compile:\n${out}")
  endif()
  return()
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "violation ${VIOLATION} compiled; expected the error '${EXPECTED}'")
endif()
string(FIND "${out}" "${EXPECTED}" at)
string(REGEX MATCHALL "error:" errors "${out}")
list(LENGTH errors error_count)
if(at EQUAL -1 OR NOT error_count EQUAL 1)
  message(FATAL_ERROR "violation ${VIOLATION}: expected one error saying '${EXPECTED}', got "
                      "${error_count}:\n${out}")
endif()
message(STATUS "violation ${VIOLATION}: ${EXPECTED}")
