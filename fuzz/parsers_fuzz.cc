// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the CLI's input readers (text, CSV, JSON, .npy) on arbitrary bytes.
//
// Byte 0 picks the options: bits 0-2 the --format (auto, text, csv, json, npy), bits 3-4 the
// --dtype (auto, float32, float64), bit 5 --strict, bit 6 require_matrix, bit 7 whether the
// bytes arrive through a pipe (the streaming fread path) or a regular file (the mmap path).
// The rest is the file. Every block handed to the callback must be a well-formed view whose
// entries can all be read; strict input has no NaN; a required matrix keeps one row length;
// rows are numbered consecutively. The only exception allowed out is UsageError.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/logitkit/common.h"
#include "tools/logitkit/io.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// A readable path holding `data`: a memfd (regular file) or the read end of a filled pipe.
// Returns the descriptor to close, or -1 when the input cannot be staged that way.
int stage(const std::uint8_t* data, std::size_t size, bool pipe_mode, std::string& path) {
  int fd;
  if (pipe_mode) {
    int p[2];
    if (size > 60000 || pipe(p) != 0) return -1;  // must fit the pipe buffer (64 KiB)
    if (size > 0 && write(p[1], data, size) != static_cast<ssize_t>(size)) {
      close(p[0]);
      close(p[1]);
      return -1;
    }
    close(p[1]);
    fd = p[0];
  } else {
    fd = memfd_create("parsers_fuzz", 0);
    if (fd < 0) return -1;
    if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) {
      close(fd);
      return -1;
    }
  }
  path = "/proc/self/fd/" + std::to_string(fd);
  return fd;
}

template <class T>
void read_all(lkcli::Input& input, const lkcli::InputSpec& spec, lkcli::Writer& writer) {
  std::size_t next_row = 0, first_cols = 0;
  input.read<T>([&](logitkit::Rows<const T> block, std::size_t first_row, const std::string& where) {
    check(block.rows >= 1 && block.cols >= 1, "empty block");
    check(block.row_stride >= block.cols, "row_stride < cols");
    check(block.data != nullptr, "null data");
    check(first_row == next_row, "rows not numbered consecutively");
    check(!where.empty(), "no position");
    if (next_row == 0) first_cols = block.cols;
    if (spec.require_matrix) check(block.cols == first_cols, "ragged rows in a required matrix");
    volatile T sink = 0;
    for (std::size_t r = 0; r < block.rows; ++r) {
      for (std::size_t c = 0; c < block.cols; ++c) {
        const T v = block.row(r)[c];
        if (spec.strict) check(!std::isnan(v), "NaN passed --strict");
        sink = sink + v;
      }
    }
    next_row += block.rows;
    writer.rows(block);
  });
  check(next_row > 0, "read() returned without rows");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const kFormats[] = {"auto", "text", "csv", "json", "npy"};
  static const char* const kDtypes[] = {"auto", "float32", "float64"};
  const std::uint8_t cfg = data[0];
  lkcli::InputSpec spec;
  spec.format = kFormats[(cfg & 7) % 5];
  spec.dtype = kDtypes[((cfg >> 3) & 3) % 3];
  spec.strict = cfg & 0x20;
  spec.require_matrix = cfg & 0x40;
  std::string path;
  const int fd = stage(data + 1, size - 1, cfg & 0x80, path);
  if (fd < 0) return 0;
  spec.path = path;
  try {
    lkcli::Input input(spec);
    lkcli::OutputSpec out;  // staged in memory, never committed
    lkcli::Writer writer(out, input);
    if (input.is_f64()) read_all<double>(input, spec, writer);
    else read_all<float>(input, spec, writer);
  } catch (const lkcli::UsageError&) {
    // Malformed input, reported to the user: fine.
  }
  close(fd);
  return 0;
}
