// SPDX-License-Identifier: Apache-2.0
// Force-included into every translation unit of the WebAssembly build (scripts/web.sh).
// Debian 12's Emscripten 3.1.6 ships a libc++ without std::bit_cast (C++20); clang provides the
// builtin that libc++ later wraps, so the library's sources compile unchanged.
#ifndef LOGITKIT_WEB_NATIVE_COMPAT_H_
#define LOGITKIT_WEB_NATIVE_COMPAT_H_
#ifdef __cplusplus
#include <cstdint>
#include <type_traits>
#include <version>
#if !defined(__cpp_lib_bit_cast)
namespace std {
template <class To, class From>
  requires(sizeof(To) == sizeof(From) && is_trivially_copyable_v<To> &&
           is_trivially_copyable_v<From>)
constexpr To bit_cast(const From& from) noexcept {
  return __builtin_bit_cast(To, from);
}
}  // namespace std
#endif
#endif
#endif  // LOGITKIT_WEB_NATIVE_COMPAT_H_
