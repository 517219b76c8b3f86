# kgdesk unit tests (tools/desk/dk.h): parsers, store, triage, rate limiter.
add_executable(test_dk_desk ${CMAKE_CURRENT_LIST_DIR}/test_dk_desk.c)
target_link_libraries(test_dk_desk PRIVATE kgdesk kgcommon PkgConfig::CMOCKA)
add_test(NAME unit_dk_desk COMMAND test_dk_desk)
