# Packaging tests: the manual page documents every config key (fast, no build needed), and the
# Debian package builds, passes lintian, installs and runs (about 30 s: build ~10 s, lintian
# ~10 s). Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
# Each runs alone too:
#   /usr/bin/python3 tests/packaging/check-man-keys.py
#   /usr/bin/python3 tests/packaging/test_package.py -v
add_test(NAME packaging_man_keys
	COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/packaging/check-man-keys.py
		--repo ${PROJECT_SOURCE_DIR})
set_tests_properties(packaging_man_keys PROPERTIES TIMEOUT 60 LABELS packaging)

add_test(NAME packaging_deb
	COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_package.py -v)
set_tests_properties(packaging_deb PROPERTIES
	ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1"
	TIMEOUT 300
	LABELS packaging
	# builds with every core: keep it from competing with the timing-sensitive tests
	RUN_SERIAL TRUE)

# The Prometheus alert rules: valid, and the fleet alerts fire on made-up series (a diverged
# subscriber table with equal counts, drift) and stay quiet on a converged fleet.
find_program(KG_PROMTOOL promtool)
if(KG_PROMTOOL)
	add_test(NAME packaging_alerts
		COMMAND ${KG_PROMTOOL} test rules kidguard-alerts-test.yml
		WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/packaging)
	set_tests_properties(packaging_alerts PROPERTIES TIMEOUT 60 LABELS packaging)
endif()
