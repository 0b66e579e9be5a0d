# driftwatch_add_plugin(<name> SOURCES <files...>)
#
# Builds a DriftWatch plugin: a shared library named <name>.so (no "lib" prefix) that links the
# SDK, hides every symbol but the entry point, refuses to link with undefined symbols, and is
# optimised (-O2) when the project sets no build type.
# Set DRIFTWATCH_PLUGIN_OUTPUT_DIR before calling to choose where the .so lands in the build tree.
function(driftwatch_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES")
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE DriftWatch::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  # A plugin runs on the host's hot path (on_observe, under a shard's lock), and CMake's default
  # with no build type is no optimisation at all: a project that sets none still gets -O2.
  # Assertions stay on, as they are with no build type.
  target_compile_options(${name} PRIVATE $<$<CONFIG:>:-O2>)
  if(DRIFTWATCH_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${DRIFTWATCH_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize" AND NOT DRIFTWATCH_SANITIZE)
    target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  endif()
endfunction()
