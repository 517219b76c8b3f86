# Fuzz targets for every parser of outside input; included from tests/CMakeLists.txt.
#
# Always: fuzz_replay_<target>, the target linked with replay_main.c instead of libFuzzer,
# run by ctest over tests/fuzz/corpus/<target> (seeds and saved crashers). With KG_FUZZ=ON
# (clang): fuzz_<target>, the libFuzzer binaries; tests/fuzz/run-fuzzers builds and runs them.
set(KG_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KG_FUZZ_TARGETS query response config proxy tcp_frame http_body h1)

# The resolver library each target exercises (resolver/CMakeLists.txt).
set(KG_FUZZ_LIB_query kgdns)
set(KG_FUZZ_LIB_proxy kgdns)
set(KG_FUZZ_LIB_tcp_frame kgdns)
set(KG_FUZZ_LIB_h1 kgdns)
set(KG_FUZZ_LIB_config kgpolicy)
set(KG_FUZZ_LIB_response kgdaemon)
set(KG_FUZZ_LIB_http_body kghttp)

foreach(t ${KG_FUZZ_TARGETS})
	add_executable(fuzz_replay_${t} ${KG_FUZZ_DIR}/fuzz_${t}.c ${KG_FUZZ_DIR}/replay_main.c)
	target_include_directories(fuzz_replay_${t} PRIVATE ${KG_FUZZ_DIR})
	target_link_libraries(fuzz_replay_${t} PRIVATE ${KG_FUZZ_LIB_${t}} kgcommon PkgConfig::LDNS)
	add_test(NAME fuzz_replay_${t} COMMAND fuzz_replay_${t} ${KG_FUZZ_DIR}/corpus/${t})
	# Crashers of bugs not fixed yet must still crash (each in its own process); once one
	# passes this test turns red to say the bug is fixed: move the file into corpus/<target>/.
	if(EXISTS ${KG_FUZZ_DIR}/known-bugs/${t})
		add_test(NAME fuzz_replay_${t}_known_bugs COMMAND fuzz_replay_${t} --expect-failure
			${KG_FUZZ_DIR}/known-bugs/${t})
	endif()
endforeach()

if(KG_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
		message(FATAL_ERROR "KG_FUZZ=ON needs clang: CC=clang cmake -DKG_FUZZ=ON ...")
	endif()
	if(NOT KG_SANITIZE)
		# The coverage hooks in the libraries come from the sanitizer runtime, which every
		# other program linking them (kidguard, the tests) then needs too.
		message(FATAL_ERROR "KG_FUZZ=ON needs KG_SANITIZE=ON")
	endif()
	# Coverage feedback from the code under test, not only from the harness.
	# kgsync and kgblocklist too: without them fuzz_feed_line and fuzz_manifest saw only the
	# harness (cov 7 after 150M runs).
	foreach(lib kgdns kgpolicy kgdaemon kgtls kghttp kgcommon kgsync kgblocklist kgdesk)
		if(TARGET ${lib})
			target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
		endif()
	endforeach()
	foreach(t ${KG_FUZZ_TARGETS})
		add_executable(fuzz_${t} ${KG_FUZZ_DIR}/fuzz_${t}.c)
		target_include_directories(fuzz_${t} PRIVATE ${KG_FUZZ_DIR})
		target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
		target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
		target_link_libraries(fuzz_${t} PRIVATE ${KG_FUZZ_LIB_${t}} kgcommon PkgConfig::LDNS)
	endforeach()
endif()

# Targets outside the resolver, linked with the libraries given after the name only.
function(kg_fuzz_target t)
	add_executable(fuzz_replay_${t} ${KG_FUZZ_DIR}/fuzz_${t}.c ${KG_FUZZ_DIR}/replay_main.c)
	target_include_directories(fuzz_replay_${t} PRIVATE ${KG_FUZZ_DIR})
	target_link_libraries(fuzz_replay_${t} PRIVATE ${ARGN})
	add_test(NAME fuzz_replay_${t} COMMAND fuzz_replay_${t} ${KG_FUZZ_DIR}/corpus/${t})
	if(KG_FUZZ)
		add_executable(fuzz_${t} ${KG_FUZZ_DIR}/fuzz_${t}.c)
		target_include_directories(fuzz_${t} PRIVATE ${KG_FUZZ_DIR})
		target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
		target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
		target_link_libraries(fuzz_${t} PRIVATE ${ARGN})
	endif()
endfunction()

# The feed (sync/): the line parsers (feed and subscriber table) and the manifest/envelope
# parsers, linked with kgsync.
foreach(t feed_line manifest subs_line)
	kg_fuzz_target(${t} kgsync kgblocklist kgcommon)
endforeach()

# The list formats kidguard-ctl imports (blocklist/): kgblocklist only, as the parsers are.
kg_fuzz_target(list_line kgblocklist kgcommon)
# RPZ zone files, whole (the reader's state between lines): kgblocklist, which links ldns.
kg_fuzz_target(rpz kgblocklist kgcommon)

# The desk's intake (tools/desk/): POST /signal and POST /report bodies, linked with kgdesk.
kg_fuzz_target(desk_intake kgdesk kgblocklist kgcommon)
