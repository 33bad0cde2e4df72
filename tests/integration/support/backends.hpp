// The backends the conformance suite is instantiated for. Adding a backend to lithe means
// adding its tags here (see net_client.hpp) and passing every test. The TLS tags run the same
// backends behind HTTPS with the dev certificates.
#pragma once

#include "net_client.hpp"

#define LITHE_BACKENDS lithe::test::Epoll, lithe::test::Uv, lithe::test::Uring
#define LITHE_TLS_BACKENDS lithe::test::EpollTls, lithe::test::UvTls, lithe::test::UringTls
#define LITHE_BACKENDS_AND_TLS LITHE_BACKENDS, LITHE_TLS_BACKENDS
