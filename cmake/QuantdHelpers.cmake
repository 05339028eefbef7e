# Shared compile settings for every quantd target.
function(quantd_target_defaults target)
  # Includes are root-relative ("core/rtn/rtn.h", "client/io/safetensors_reader.h"); the core's
  # public API is "quantd/core/...". tests/architecture_test.py checks who includes what.
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  # -ffp-contract=off: GCC fuses a*b+c into FMA in C++ whenever the target has FMA (AVX2/AVX-512
  # files, Arm), which would make encodings depend on the build and break bit-identical
  # comparisons with reference code and with the GPU (built with --fmad=false).
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -ffp-contract=off>)
  # GCC 12 reports a false -Wrestrict inside libstdc++ for `"literal" + std::string` at -O2
  # (GCC bug 105329); nothing in quantd's own code triggers it.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
endfunction()

# quantd_test(NAME name SRCS a.cc b.cc DEPS lib...): one GoogleTest binary, registered with ctest.
function(quantd_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest_main GTest::gmock)
  quantd_target_defaults(${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${T_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
