# Benchmarks are run by hand (tests/bench/forwarder-bench); nothing here is a ctest test.

# Verdict-cache lookups alone (tests/bench/vcache_bench.c); built only when asked for.
add_executable(vcache_bench EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/vcache_bench.c)
target_link_libraries(vcache_bench PRIVATE kgdns)
