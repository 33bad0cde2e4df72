// The backends the conformance suite is instantiated for. Adding a backend to lithe means
// adding its tag here (see net_client.hpp) and passing every test.
#pragma once

#include "net_client.hpp"

#define LITHE_BACKENDS lithe::test::Epoll, lithe::test::Uv
