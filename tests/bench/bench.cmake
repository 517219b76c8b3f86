# Benchmarks are run by hand (tests/bench/forwarder-bench); nothing here is a ctest test.
