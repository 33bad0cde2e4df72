// What an application includes: the protocol (SPEC.md), Builder, Lint and MockRequest.
#pragma once

#include <lithe/app.hpp>
#include <lithe/body.hpp>
#include <lithe/builder.hpp>
#include <lithe/close.hpp>
#include <lithe/co.hpp>
#include <lithe/env.hpp>
#include <lithe/headers.hpp>
#include <lithe/lint.hpp>
#include <lithe/log.hpp>
#include <lithe/loop.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/response.hpp>
#include <lithe/str.hpp>
