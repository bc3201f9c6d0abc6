// CatchMain: the Catch2 runner, linked into every test binary (unit, e2e, api).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
