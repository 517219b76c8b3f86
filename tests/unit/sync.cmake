# Sync unit tests (the feed format, hashed store entries) and the sync integration tests;
# included from tests/CMakeLists.txt.
add_executable(test_sy_format ${CMAKE_CURRENT_LIST_DIR}/test_sy_format.c)
target_link_libraries(test_sy_format PRIVATE kgsync kgblocklist kgcommon PkgConfig::CMOCKA
	PkgConfig::CRYPTO PkgConfig::ZLIB)
add_test(NAME unit_sy_format COMMAND test_sy_format)

add_executable(test_bl_hash ${CMAKE_CURRENT_LIST_DIR}/test_bl_hash.c)
target_link_libraries(test_bl_hash PRIVATE kgblocklist kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_bl_hash COMMAND test_bl_hash)

# The signed feed end to end (kidguard-feed, a python HTTPS server, the daemon's sync process,
# kidguard-sync-once for the attacks). Registered here rather than in integration.cmake.
foreach(t sync sync_attacks keyroll)
	add_test(NAME integ_${t}
		COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/../integration/test_${t}.py)
	set_tests_properties(integ_${t} PROPERTIES
		ENVIRONMENT "KG_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1"
		TIMEOUT 900 LABELS integration)
endforeach()
