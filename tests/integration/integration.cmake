# Integration tests: the real kidguard binary against a real upstream (unbound,
# authoritative for the test zones) over loopback, with real DNS clients
# (Debian's python3-dnspython, kdig/dig).  Included from tests/CMakeLists.txt,
# so CMAKE_CURRENT_SOURCE_DIR is tests/.  Each file also runs alone:
#   /usr/bin/python3 tests/integration/test_cache.py --build-dir build
set(KG_INTEG_PYTHON /usr/bin/python3)
set(KG_INTEG_TESTS forwarding cache tcp edns_malformed acl failures cli blocklist policy http
	dashboard isp tls doh_h1 adversarial spoofing ratelimit multiworker statedir decide
	cname_chain private_answers desk i18n household family)
list(APPEND KG_INTEG_TESTS errors) # the one error model (common/kg_err.h)
list(APPEND KG_INTEG_TESTS fleet) # the subscriber channel: two nodes behind dnsdist
list(APPEND KG_INTEG_TESTS signal) # [signal], the early-warning signal (issue 18)
foreach(t ${KG_INTEG_TESTS})
	add_test(NAME integ_${t}
		COMMAND ${KG_INTEG_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${t}.py)
	set_tests_properties(integ_${t} PROPERTIES
		ENVIRONMENT "KG_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1"
		TIMEOUT 180
		LABELS integration)
endforeach()
# The subset tests/sanitize runs under ThreadSanitizer: workers > 1 under concurrent load.
set_tests_properties(integ_multiworker PROPERTIES LABELS "integration;multiworker")
# Chromium drives the dashboard: tests/run runs these against the -Werror build, the other
# integration tests once, under ASan+UBSan (tests/sanitize).
set_tests_properties(integ_dashboard integ_family PROPERTIES LABELS "integration;browser")
# Three daemons, a feed, the desk, a classifier trained on the fixture and Chromium: longer.
set_tests_properties(integ_desk PROPERTIES TIMEOUT 400)
