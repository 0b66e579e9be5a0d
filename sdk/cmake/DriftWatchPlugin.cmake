# driftwatch_add_plugin(<name> SOURCES <files...>)
#
# Builds a DriftWatch plugin: a shared library named <name>.so (no "lib" prefix) that links the
# SDK, hides every symbol but the entry point, and refuses to link with undefined symbols.
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
  if(DRIFTWATCH_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${DRIFTWATCH_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize" AND NOT DRIFTWATCH_SANITIZE)
    target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  endif()
endfunction()
