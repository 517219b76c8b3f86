# The desk's classifier library (tools/desk/dk_model.h), on a synthetic fixture.
add_executable(test_dk_model ${CMAKE_CURRENT_LIST_DIR}/test_dk_model.c)
target_link_libraries(test_dk_model PRIVATE kgdesk_model PkgConfig::CMOCKA)
target_compile_definitions(test_dk_model PRIVATE
	DK_FIXTURE="${CMAKE_SOURCE_DIR}/tests/fixtures/desk/samples.txt")
add_test(NAME unit_dk_model COMMAND test_dk_model)

# The figures of docs/desk.md "Classifier", on the real lists when the shared data folder is
# next to the checkout (SOURCES.md): adult and gambling need precision >= 0.85 at 50 % recall.
set(KG_DESK_DATA "${CMAKE_SOURCE_DIR}/../shared/data" CACHE PATH "labelled lists for dk-eval")
if(EXISTS "${KG_DESK_DATA}/blocklists/sinfonietta")
	add_test(NAME desk_eval COMMAND dk-eval --data ${KG_DESK_DATA} --min-p50 0.85)
endif()

# kgdesk (tools/desk/dk.h): the intake's parsers, the store, triage, the rate limiter.
add_executable(test_dk_desk ${CMAKE_CURRENT_LIST_DIR}/test_dk_desk.c)
target_link_libraries(test_dk_desk PRIVATE kgdesk kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_dk_desk COMMAND test_dk_desk)
