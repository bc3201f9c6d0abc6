// Main: the Catch2 runner for the public API tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
