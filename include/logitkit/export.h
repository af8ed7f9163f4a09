// SPDX-License-Identifier: Apache-2.0
// LOGITKIT_API: symbol visibility for the shared library (the library builds with hidden visibility).
#ifndef LOGITKIT_EXPORT_H_
#define LOGITKIT_EXPORT_H_

#if defined(_WIN32)
#define LOGITKIT_API
#else
#define LOGITKIT_API __attribute__((visibility("default")))
#endif

#endif  // LOGITKIT_EXPORT_H_
