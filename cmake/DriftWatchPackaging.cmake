# Debian packages, built with CPack from the install rules (docs/operations.md, Installing the
# package):
#   driftwatch      the service, the simulator, the bundled plugins, /etc/driftwatch/driftwatch.yaml
#                   (a conffile), the systemd unit and the documentation
#   driftwatch-sdk  the plugin SDK: headers, the CMake package, the plugin guide and the example
# `cmake --build build --target package` (or scripts/package.sh) writes them into the build
# directory. The version is the project's (project() in the top CMakeLists.txt), the one
# `driftwatch --version` prints. Depends is computed from the shared libraries by dpkg-shlibdeps.
include(GNUInstallDirs)

# Files that only make sense in a system package (absolute paths): installed by CPack, which
# installs component by component, never by a plain `cmake --install` (EXCLUDE_FROM_ALL).
set(DRIFTWATCH_PACKAGE_DIR ${PROJECT_SOURCE_DIR}/packaging/debian)

# /etc/driftwatch/driftwatch.yaml: examples/driftwatch.yaml (every default, written out) under
# a header that says where it is and how the service uses it.
file(READ ${PROJECT_SOURCE_DIR}/examples/driftwatch.yaml example_config)
string(FIND "${example_config}" "\n\n" header_end)
string(SUBSTRING "${example_config}" ${header_end} -1 example_body)
file(READ ${DRIFTWATCH_PACKAGE_DIR}/config-header.yaml config_header)
file(WRITE ${CMAKE_BINARY_DIR}/packaging/driftwatch.yaml "${config_header}${example_body}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/examples/driftwatch.yaml ${DRIFTWATCH_PACKAGE_DIR}/config-header.yaml)
install(FILES ${CMAKE_BINARY_DIR}/packaging/driftwatch.yaml DESTINATION /etc/driftwatch
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${DRIFTWATCH_PACKAGE_DIR}/driftwatch.service DESTINATION /lib/systemd/system
  COMPONENT service EXCLUDE_FROM_ALL)

# Documentation.
set(service_docs README.md docs/operations.md docs/behaviour.md docs/configuration.md docs/api.md
  docs/architecture.md docs/replay.md docs/detectors.md docs/simulator.md docs/storage-guide.md)
foreach(doc IN LISTS service_docs)
  install(FILES ${PROJECT_SOURCE_DIR}/${doc} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/driftwatch
    COMPONENT service EXCLUDE_FROM_ALL)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/docs/plugin-guide.md ${PROJECT_SOURCE_DIR}/docs/storage-guide.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/driftwatch-sdk COMPONENT sdk EXCLUDE_FROM_ALL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/cusum_detector
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/driftwatch-sdk/examples COMPONENT sdk EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME driftwatch)
set(CPACK_PACKAGE_VENDOR "DriftWatch")
set(CPACK_PACKAGE_CONTACT "DriftWatch maintainers <driftwatch@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL service sdk)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_SERVICE_PACKAGE_NAME driftwatch)
set(CPACK_DEBIAN_SERVICE_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst creates the system user the unit runs as.
set(CPACK_DEBIAN_SERVICE_PACKAGE_DEPENDS "adduser")
# The first line is the summary (CPack prepends CPACK_PACKAGE_DESCRIPTION_SUMMARY when it is set,
# so it is not: each package has its own).
set(CPACK_DEBIAN_SERVICE_DESCRIPTION "Statistical drift detection for service reliability
DriftWatch watches each backend service's telemetry (latency, payload size)
and tells, per service, whether its behaviour has drifted from its own
history. One service with a REST API, an embedded database, and detector and
storage plugins; runs under systemd as the driftwatch unit.")
configure_file(${DRIFTWATCH_PACKAGE_DIR}/conffiles ${CMAKE_BINARY_DIR}/packaging/control/conffiles
  COPYONLY)
foreach(script IN ITEMS postinst prerm postrm)
  # configure_file, not file(COPY): an edited script is copied again at the next build.
  configure_file(${DRIFTWATCH_PACKAGE_DIR}/${script} ${CMAKE_BINARY_DIR}/packaging/control/${script}
    COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
  list(APPEND service_control_extra ${CMAKE_BINARY_DIR}/packaging/control/${script})
endforeach()
set(CPACK_DEBIAN_SERVICE_PACKAGE_CONTROL_EXTRA
  "${CMAKE_BINARY_DIR}/packaging/control/conffiles;${service_control_extra}")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME driftwatch-sdk)
set(CPACK_DEBIAN_SDK_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_SUGGESTS "driftwatch (= ${PROJECT_VERSION}), cmake, g++")
set(CPACK_DEBIAN_SDK_DESCRIPTION "SDK to build DriftWatch detector and storage plugins
The C ABI (driftwatch/plugin.h), its header-only C++ layer, and the CMake
package (find_package(DriftWatchSDK)) to build detector and storage plugins
for DriftWatch, with the plugin guide and an example detector.")

include(CPack)
