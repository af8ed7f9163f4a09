// SPDX-License-Identifier: Apache-2.0
// Row input (arguments, text, CSV, JSON, .npy) streamed to a callback, and staged row output.
#ifndef LOGITKIT_TOOLS_IO_H_
#define LOGITKIT_TOOLS_IO_H_

#include <cstddef>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "logitkit/rows.h"

namespace lkcli {

enum class Format { kText, kCsv, kJson, kJsonLines, kNpy };
const char* format_name(Format f);

// What the user asked to read.
struct InputSpec {
  std::vector<std::string> values;  // positional arguments: numbers (one row) or one file name
  std::string path;                 // --input; "-" is stdin
  std::string format = "auto";      // auto|text|csv|json|jsonl|npy
  std::string dtype = "auto";       // auto|float32|float64
  bool strict = false;              // NaN in the input is an error (file:line:column)
  bool require_matrix = false;      // every row must have the first row's length
};

// An opened input: its resolved format and element type, ready to stream.
class Input {
 public:
  explicit Input(const InputSpec& spec);
  ~Input();
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  Format format() const { return format_; }
  // True when the rows come from a pipe or terminal (not a regular file): they are processed and
  // written as they arrive.
  bool is_pipe() const { return pipe_; }
  bool is_f64() const { return f64_; }
  // After reading: the CSV header (empty if none) and the leading shape of an .npy input
  // (every dimension but the last; empty for a 1-D array) or of a flat JSON array.
  const std::vector<std::string>& header() const { return header_; }
  bool one_dimensional() const { return one_d_; }
  const std::vector<std::size_t>& leading_shape() const { return leading_; }

  // Streams every row as blocks of rows of equal length; `first_row` counts rows from 0 and
  // `where` names the position of the block's first row for messages ("data.txt:3").
  // Throws UsageError for malformed input, ragged rows where a matrix is required, an empty
  // row or an empty input.
  template <class T>
  using Callback = std::function<void(logitkit::Rows<const T> block, std::size_t first_row,
                                      const std::string& where)>;
  template <class T>
  void read(const Callback<T>& on_block);
  // Makes rows of different lengths an error (set once the output format is known).
  void require_matrix(bool on) { spec_.require_matrix = on; }
  // Called (text, CSV, JSON Lines from a pipe) before a read that would wait for more input:
  // the place to compute and write the rows read so far.
  void on_wait(std::function<void()> f) { on_wait_ = std::move(f); }

 private:
  template <class T>
  void read_args(const Callback<T>& cb);
  template <class T>
  void read_text(const Callback<T>& cb);
  template <class T>
  void read_json(const Callback<T>& cb);
  template <class T>
  void read_npy(const Callback<T>& cb);
  template <class T>
  void read_json_lines(const Callback<T>& cb);
  void skip_bom();
  void before_read();
  std::function<void()> on_wait_;
  void open_npy_header();

  InputSpec spec_;
  std::vector<std::string> args_;
  std::string name_;
  Format format_ = Format::kText;
  bool f64_ = false;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  bool pipe_ = false;
  std::vector<std::string> header_;
  bool one_d_ = false;
  std::vector<std::size_t> leading_;
  // .npy: element count per row and total rows, data offset, stored element type.
  std::size_t npy_cols_ = 0, npy_rows_ = 0, npy_offset_ = 0;
  bool npy_f64_ = false;
  const unsigned char* map_ = nullptr;
  std::size_t map_size_ = 0;
};

// Where and how to write.
struct OutputSpec {
  std::string path;  // -o; empty is stdout
  std::string format =
      "auto";  // auto (the input's format, or the file extension)|text|csv|json|jsonl|npy
  bool line_buffered = false;  // write (and flush) each row as soon as it is computed
};

// Output staged in memory (spilling to a temporary file past 8 MiB) and written to its
// destination only by commit(), so that an error leaves stdout and the output file untouched.
// Live mode (text, CSV or JSON Lines output, with --line-buffered or rows read from a pipe):
// flush_now() writes what is staged, which the commands call whenever the input would make
// them wait (and --line-buffered after every row), so that the command works as a filter; an
// error after such a write stops the output after the rows already written (input that is
// all there when read is still all or nothing).
class Writer {
 public:
  Writer(const OutputSpec& spec, const Input& input);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  bool needs_matrix() const { return format_ == Format::kCsv || format_ == Format::kNpy; }
  bool live() const { return live_; }
  bool line_buffered() const { return spec_.line_buffered; }
  // Live mode: writes and flushes everything staged so far (nothing otherwise).
  void flush_now();
  // A CSV header to write instead of the input's (logsumexp's one column).
  void rename_header(std::vector<std::string> h) { rename_ = std::move(h); }

  // One output row per input row.
  void rows(logitkit::Rows<const float> y);
  void rows(logitkit::Rows<const double> y);
  // One value per input row (logsumexp, a loss).
  void values(std::span<const float> v);
  void values(std::span<const double> v);
  // Writes everything to the destination, shaped after `input` (read by now: a 1-D input gives
  // 1-D output). `header` is the CSV header (may be empty).
  void commit(const Input& input, const std::vector<std::string>& header);

 private:
  template <class T>
  void put_rows(logitkit::Rows<const T> y);
  template <class T>
  void put_values(std::span<const T> v);
  void append(const char* p, std::size_t n);
  void append(const std::string& s) { append(s.data(), s.size()); }
  void start_live();
  void flush_live();
  std::string csv_header(const std::vector<std::string>& header) const;

  OutputSpec spec_;
  Format format_;
  std::string mem_;
  std::FILE* spill_ = nullptr;
  std::size_t rows_ = 0, cols_ = 0;
  bool scalar_ = false, f64_ = false, any_ = false;
  bool live_ = false, started_ = false;
  const Input* input_;
  std::vector<std::string> rename_;
  std::FILE* out_ = nullptr;
};

// A value printed as %.9g (float) or %.17g (double); NaN as "nan" whatever its sign bit.
std::string format_value(float v);
std::string format_value(double v);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_IO_H_
