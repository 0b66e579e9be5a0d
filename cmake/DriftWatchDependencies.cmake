# Finds the Debian 12 packages DriftWatch builds against (scripts/install-deps.sh installs them).
# Debian ships no CMake package for SOCI or Pistache, so their imported targets are written here.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PISTACHE REQUIRED IMPORTED_TARGET libpistache)
# sd_notify, for systemd's Type=notify readiness (libsystemd-dev).
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

find_path(SOCI_INCLUDE_DIR soci/soci.h REQUIRED)
find_library(SOCI_CORE_LIBRARY soci_core REQUIRED)
find_library(SOCI_SQLITE3_LIBRARY soci_sqlite3 REQUIRED)
find_package(SQLite3 REQUIRED)
add_library(soci::core UNKNOWN IMPORTED)
set_target_properties(soci::core PROPERTIES IMPORTED_LOCATION ${SOCI_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${SOCI_INCLUDE_DIR})
add_library(soci::sqlite3 UNKNOWN IMPORTED)
set_target_properties(soci::sqlite3 PROPERTIES IMPORTED_LOCATION ${SOCI_SQLITE3_LIBRARY}
  INTERFACE_LINK_LIBRARIES "soci::core;SQLite::SQLite3;${CMAKE_DL_LIBS}")
# The PostgreSQL storage plugin: SOCI's PostgreSQL backend, over libpq (libpq-dev).
find_library(SOCI_POSTGRESQL_LIBRARY soci_postgresql REQUIRED)
find_package(PostgreSQL REQUIRED)
add_library(soci::postgresql UNKNOWN IMPORTED)
set_target_properties(soci::postgresql PROPERTIES IMPORTED_LOCATION ${SOCI_POSTGRESQL_LIBRARY}
  INTERFACE_LINK_LIBRARIES "soci::core;PostgreSQL::PostgreSQL;${CMAKE_DL_LIBS}")

find_package(yaml-cpp REQUIRED)
# libcurl (libcurl4-openssl-dev) for the tools' HTTP client, http_client/: CURL::libcurl.
find_package(CURL REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem)
# OTLP ingest: protobuf (libprotobuf-dev, protobuf-compiler) and gzip (zlib1g-dev).
find_package(Protobuf REQUIRED)
find_package(ZLIB REQUIRED)
find_package(RapidJSON REQUIRED)
if(NOT TARGET RapidJSON::RapidJSON)
  add_library(RapidJSON::RapidJSON INTERFACE IMPORTED)
  set_target_properties(RapidJSON::RapidJSON PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${RAPIDJSON_INCLUDE_DIRS}")
endif()
if(DRIFTWATCH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(DRIFTWATCH_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
