# Blocklist unit tests and the lookup microbenchmark; included from tests/CMakeLists.txt.
# Real lists for the parser tests live next to the repository (../shared/data); override with
# the environment variable KG_TEST_DATA at run time.
set(KG_BL_TEST_DATA "${CMAKE_CURRENT_LIST_DIR}/../../../shared/data")
get_filename_component(KG_BL_TEST_DATA "${KG_BL_TEST_DATA}" ABSOLUTE)

foreach(t name store parse clients devices profiles)
	add_executable(test_bl_${t} ${CMAKE_CURRENT_LIST_DIR}/test_bl_${t}.c)
	target_link_libraries(test_bl_${t} PRIVATE kgblocklist kgcommon PkgConfig::CMOCKA)
	target_compile_definitions(test_bl_${t} PRIVATE KG_TEST_DATA="${KG_BL_TEST_DATA}")
	add_test(NAME unit_bl_${t} COMMAND test_bl_${t})
endforeach()
set_tests_properties(unit_bl_parse PROPERTIES TIMEOUT 300)

# Not run by ctest: bl_lookup_bench [-n ENTRIES] [-m LOOKUPS] [-d DIR]
add_executable(bl_lookup_bench ${CMAKE_CURRENT_LIST_DIR}/../bench/bl_lookup_bench.c)
target_link_libraries(bl_lookup_bench PRIVATE kgblocklist kgcommon)
