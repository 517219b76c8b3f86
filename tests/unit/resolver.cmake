# Resolver (and common) unit tests; included from tests/CMakeLists.txt.
#
# Each test_rs_X.c becomes unit_rs_X. A file may keep tests of bugs not fixed yet in a second
# group run with --known-bugs: that run is registered as unit_rs_X_known_bugs with WILL_FAIL,
# so ctest stays green while the bug is open and turns red when the fix lands (then move the
# test into the main group and drop the entry below).
# Each links the one library it tests (resolver/CMakeLists.txt): kgdns for the DNS code,
# kgpolicy for the config, kgdaemon where rs_cache_ttl_for (config caps) is used.
foreach(t wire:kgdaemon cache:kgdaemon config:kgpolicy upstream:kgpolicy ratelimit:kgdns
	proxy:kgdns frame:kgdns siphash:kgdns signal:kgdns vcache:kgdns)
	string(REPLACE ":" ";" tl ${t})
	list(GET tl 0 t)
	list(GET tl 1 lib)
	add_executable(test_rs_${t} ${CMAKE_CURRENT_LIST_DIR}/test_rs_${t}.c)
	target_link_libraries(test_rs_${t} PRIVATE ${lib} PkgConfig::LDNS PkgConfig::CMOCKA)
	add_test(NAME unit_rs_${t} COMMAND test_rs_${t})
endforeach()


add_executable(test_kg_addr ${CMAKE_CURRENT_LIST_DIR}/test_kg_addr.c)
target_link_libraries(test_kg_addr PRIVATE kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_kg_addr COMMAND test_kg_addr)


# Policy: pure functions of the config library (no server).
add_executable(test_rs_policy ${CMAKE_CURRENT_LIST_DIR}/test_rs_policy.c)
target_link_libraries(test_rs_policy PRIVATE kgpolicy kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_rs_policy COMMAND test_rs_policy)

# A profile record as JSON: the one parser of PUT /api/profiles and the subscriber channel.
add_executable(test_rs_profile_json ${CMAKE_CURRENT_LIST_DIR}/test_rs_profile_json.c)
target_link_libraries(test_rs_profile_json PRIVATE kgpolicy kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_rs_profile_json COMMAND test_rs_profile_json)

# The one decision (rs_decide.c): a table test against a real store, no server.
add_executable(test_rs_decide ${CMAKE_CURRENT_LIST_DIR}/test_rs_decide.c)
target_link_libraries(test_rs_decide PRIVATE kgpolicy kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_rs_decide COMMAND test_rs_decide)

add_executable(test_kg_log ${CMAKE_CURRENT_LIST_DIR}/test_kg_log.c)
target_link_libraries(test_kg_log PRIVATE kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_kg_log COMMAND test_kg_log)

# The one error model (common/kg_err.c).
add_executable(test_kg_err ${CMAKE_CURRENT_LIST_DIR}/test_kg_err.c)
target_link_libraries(test_kg_err PRIVATE kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_kg_err COMMAND test_kg_err)

# kgi18n (common/i18n): the catalogues and the choice of a language, shared by the dashboard and
# the desk's page.
add_executable(test_kg_i18n ${CMAKE_CURRENT_LIST_DIR}/test_kg_i18n.c)
target_link_libraries(test_kg_i18n PRIVATE kgi18n PkgConfig::CMOCKA)
add_test(NAME unit_kg_i18n COMMAND test_kg_i18n)
