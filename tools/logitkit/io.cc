// SPDX-License-Identifier: Apache-2.0
// Streaming readers for arguments, text, CSV, JSON (SAX) and .npy (memory map), and the
// staged writer for the same formats.
#include "io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common.h"

namespace lkcli {
namespace {

static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

constexpr std::size_t kBlockElements = std::size_t{1} << 20;
constexpr std::size_t kSpillBytes = std::size_t{8} << 20;

bool ends_with_ci(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  if (s.size() < n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - n + i])) != suffix[i]) return false;
  }
  return true;
}

bool format_from_extension(const std::string& path, Format& f) {
  if (ends_with_ci(path, ".npy"))
    f = Format::kNpy;
  else if (ends_with_ci(path, ".json"))
    f = Format::kJson;
  else if (ends_with_ci(path, ".jsonl") || ends_with_ci(path, ".ndjson"))
    f = Format::kJsonLines;
  else if (ends_with_ci(path, ".csv"))
    f = Format::kCsv;
  else if (ends_with_ci(path, ".txt"))
    f = Format::kText;
  else
    return false;
  return true;
}

Format format_from_name(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  if (name == "jsonl") return Format::kJsonLines;
  return Format::kNpy;
}

std::string errno_text() { return std::strerror(errno); }

template <class T>
void check_nan_strict(logitkit::Rows<const T> block, std::size_t first_row,
                      const std::string& name) {
  for (std::size_t r = 0; r < block.rows; ++r) {
    for (std::size_t c = 0; c < block.cols; ++c) {
      if (std::isnan(block.row(r)[c])) {
        throw UsageError(name + ": row " + std::to_string(first_row + r + 1) + ", column " +
                         std::to_string(c + 1) + ": NaN in the input (--strict)");
      }
    }
  }
}

// A token of a text or CSV line and its 1-based column.
struct Field {
  std::string_view text;
  std::size_t column;
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits a line into fields: text separates by blanks or commas, CSV by commas (fields trimmed;
// a field in double quotes is the text between them). Returns false with `bad_column` and `why`
// set on an empty field (two commas in a row, or a leading or trailing comma) or a bad quote.
bool split_line(std::string_view s, bool csv, std::vector<Field>& out, std::size_t& bad_column,
                const char*& why) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = s.size();
  bool after_comma = false;
  why = "empty field";
  while (true) {
    while (i < n && is_blank(s[i])) ++i;
    if (i == n) {
      if (after_comma) {
        bad_column = i + 1;
        return false;
      }
      return true;
    }
    if (s[i] == ',') {
      bad_column = i + 1;
      return false;
    }
    const std::size_t start = i;
    if (csv && s[i] == '"') {
      const std::size_t close = s.find('"', i + 1);
      if (close == std::string_view::npos) {
        bad_column = i + 1;
        why = "unterminated quoted field";
        return false;
      }
      out.push_back({s.substr(i + 1, close - i - 1), i + 1});
      i = close + 1;
      while (i < n && is_blank(s[i])) ++i;
      if (i < n && s[i] != ',') {
        bad_column = i + 1;
        why = "text after a quoted field";
        return false;
      }
    } else if (csv) {
      while (i < n && s[i] != ',') ++i;
      std::size_t end = i;
      while (end > start && is_blank(s[end - 1])) --end;
      out.push_back({s.substr(start, end - start), start + 1});
    } else {
      while (i < n && !is_blank(s[i]) && s[i] != ',') ++i;
      out.push_back({s.substr(start, i - start), start + 1});
      while (i < n && is_blank(s[i])) ++i;
    }
    after_comma = i < n && s[i] == ',';
    if (after_comma)
      ++i;
    else if (csv && i < n)
      return true;
  }
}

// nlohmann SAX handler: a top-level array of numbers (one row) or of arrays of numbers (rows).
template <class T>
class JsonRows : public nlohmann::json_sax<nlohmann::json> {
 public:
  using Callback = typename Input::template Callback<T>;
  // `line`: one line of JSON Lines, whose position `name` already names the row.
  JsonRows(const std::string& name, const InputSpec& spec, const Callback& cb, bool line = false)
      : name_(name), spec_(spec), cb_(cb), line_(line) {}

  bool null() override { return bad("null"); }
  bool boolean(bool) override { return bad("a boolean"); }
  bool number_integer(number_integer_t v) override { return push(static_cast<T>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return push(static_cast<T>(v)); }
  bool number_float(number_float_t, const string_t& text) override {
    T v;
    const Parsed p = parse_number(text, v);
    if (p != Parsed::kOk) problem(number_problem(p, text, type_name<T>()));
    return push(v);
  }
  // A string holding a number (the writer quotes inf and nan: JSON has no spelling for them).
  bool string(string_t& s) override {
    T v;
    const Parsed p = parse_number(s, v);
    if (p == Parsed::kMalformed) return bad("the string \"" + show_token(s) + "\"");
    if (p == Parsed::kOverflow) problem(number_problem(p, s, type_name<T>()));
    return push(v);
  }
  bool binary(binary_t&) override { return bad("binary data"); }
  bool start_object(std::size_t) override { return bad("an object"); }
  bool key(string_t&) override { return bad("an object"); }
  bool end_object() override { return bad("an object"); }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ == 2) {
      if (flat_) bad("an array");
      nested_ = true;
      row_.clear();
    }
    if (depth_ > 2) bad("an array nested in a row");
    return true;
  }
  bool end_array() override {
    if (depth_ == 2 || (depth_ == 1 && flat_)) emit();
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    // 406: a number past double's range; the same rule as every other reader.
    if (ex.id == 406) problem(number_problem(Parsed::kOverflow, last_token, type_name<T>()));
    std::string what = ex.what();
    const auto p = what.find("] ");
    if (p != std::string::npos) what = what.substr(p + 2);
    if (depth_ == 0 && rows_ > 0 && what.find("unexpected '['") != std::string::npos) {
      what += " (one array per line is JSON Lines: --format jsonl, or a .jsonl file)";
    }
    throw UsageError(name_ + ": " + what);
  }

  std::size_t rows() const { return rows_; }
  bool flat() const { return flat_; }

 private:
  bool push(T v) {
    if (depth_ == 0) bad("a bare number (expected an array of rows)");
    if (depth_ == 1) {
      if (nested_) bad("a number outside a row");
      flat_ = true;
    }
    if (spec_.strict && std::isnan(v)) {
      throw UsageError(where() + ", entry " + std::to_string(row_.size() + 1) +
                       ": NaN in the input (--strict)");
    }
    row_.push_back(v);
    return true;
  }
  std::string where() const {
    return line_ ? name_ : name_ + ": row " + std::to_string(rows_ + 1);
  }
  [[noreturn]] void problem(const std::string& what) {
    throw UsageError(where() + ", entry " + std::to_string(row_.size() + 1) + ": " + what);
  }
  bool bad(const std::string& what) {
    if (depth_ == 0)
      throw UsageError(name_ + ": expected an array of rows of numbers, got " + what);
    throw UsageError(where() + ", entry " + std::to_string(row_.size() + 1) +
                     ": expected a number, got " + what);
  }
  void emit() {
    if (row_.empty()) throw UsageError(where() + ": the row is empty");
    if (spec_.require_matrix && rows_ > 0 && row_.size() != cols_) {
      throw UsageError(where() + " has " + std::to_string(row_.size()) + " values but row 1 has " +
                       std::to_string(cols_) + " (a matrix is needed here)");
    }
    if (rows_ == 0) cols_ = row_.size();
    cb_(logitkit::one_row<const T>(row_.data(), row_.size()), rows_, where());
    ++rows_;
  }

  const std::string& name_;
  const InputSpec& spec_;
  const Callback& cb_;
  bool line_;
  std::vector<T> row_;
  int depth_ = 0;
  bool flat_ = false, nested_ = false;
  std::size_t rows_ = 0, cols_ = 0;
};

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::kText:
      return "text";
    case Format::kCsv:
      return "csv";
    case Format::kJson:
      return "json";
    case Format::kJsonLines:
      return "jsonl";
    case Format::kNpy:
      return "npy";
  }
  return "?";
}

template <class T>
void append_value(std::string& s, T v) {
  if (std::isnan(v)) {
    s += "nan";
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                               sizeof(T) == 4 ? 9 : 17);
  s.append(buf, r.ptr);
}

std::string format_value(float v) {
  std::string s;
  append_value(s, v);
  return s;
}

std::string format_value(double v) {
  std::string s;
  append_value(s, v);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Input

Input::Input(const InputSpec& spec) : spec_(spec) {
  std::string path = spec.path;
  if (!spec.values.empty()) {
    bool all_numbers = true;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < spec.values.size() && all_numbers; ++i) {
      double v;
      if (parse_number(spec.values[i], v) == Parsed::kMalformed) {
        all_numbers = false;
        bad = i;
      }
    }
    if (all_numbers) {
      args_ = spec.values;
    } else if (spec.values.size() == 1) {
      path = spec.values[0];
      if (path != "-" && access(path.c_str(), R_OK) != 0) {
        throw UsageError("'" + show_token(path) + "' is neither a number nor a readable file (" +
                         errno_text() + ")");
      }
    } else if (bad == 0 && (spec.values[0] == "-" || access(spec.values[0].c_str(), R_OK) == 0)) {
      // A file followed by stray arguments (often the values of a comma-separated option such as
      // -y 0,3 written as -y 0 3).
      std::string rest;
      for (std::size_t i = 1; i < spec.values.size(); ++i) {
        rest += ' ';
        rest += show_token(spec.values[i]);
      }
      std::string m = "argument 1 is the input file '";
      m += show_token(spec.values[0]);
      m += "', so the arguments after it are not logits:";
      m += rest;
      m += " (give one file, or the logits as numbers; list options take comma-separated "
           "values, e.g. -y 0,3)";
      throw UsageError(m);
    } else {
      throw UsageError("argument " + std::to_string(bad + 1) + ": malformed number '" +
                       show_token(spec.values[bad]) + "'");
    }
    if (!spec.path.empty()) {
      throw UsageError("give the input as arguments or with --input, not both");
    }
  }
  if (!args_.empty()) {
    name_ = "<arguments>";
    format_ = Format::kText;
    if (spec.format != "auto" && spec.format != "text") {
      throw UsageError("--format " + spec.format + " does not apply to numbers given as arguments");
    }
    f64_ = spec.dtype == "float64";
    return;
  }
  if (path.empty() || path == "-") {
    if (is_terminal(stdin)) {
      throw UsageError("no input: give logits as arguments, --input FILE, or rows on stdin");
    }
    name_ = "<stdin>";
    file_ = stdin;
  } else {
    name_ = path;
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) throw UsageError("cannot open '" + path + "': " + errno_text());
    owns_file_ = true;
    struct stat st;
    if (fstat(fileno(file_), &st) == 0 && S_ISDIR(st.st_mode)) {
      throw UsageError("cannot read '" + path + "': it is a directory");
    }
  }
  struct stat st;
  pipe_ = file_ == stdin && !(fstat(fileno(stdin), &st) == 0 && S_ISREG(st.st_mode));
  skip_bom();
  if (spec.format != "auto") {
    format_ = format_from_name(spec.format);
  } else if (file_ == stdin || !format_from_extension(path, format_)) {
    const int c = std::getc(file_);
    if (c != EOF) std::ungetc(c, file_);
    format_ = c == 0x93 ? Format::kNpy : (c == '[' || c == '{') ? Format::kJson : Format::kText;
  }
  if (format_ == Format::kNpy) open_npy_header();
  f64_ = spec.dtype == "float64" || (spec.dtype == "auto" && format_ == Format::kNpy && npy_f64_);
}

Input::~Input() {
  if (map_) munmap(const_cast<unsigned char*>(map_), map_size_);
  if (owns_file_) std::fclose(file_);
}

// A UTF-8 byte order mark (EF BB BF) at the start of a text, CSV or JSON input is skipped.
void Input::skip_bom() {
  const int c = std::getc(file_);
  if (c != 0xEF) {
    if (c != EOF) std::ungetc(c, file_);
    return;
  }
  const int c2 = std::getc(file_), c3 = std::getc(file_);
  if (c2 != 0xBB || c3 != 0xBF) {
    char bytes[16];
    std::snprintf(bytes, sizeof bytes, c2 == EOF ? "EF" : "EF %02X", c2);
    throw UsageError(name_ + ":1:1: malformed number: the input starts with the bytes " + bytes +
                     ", not a number or a UTF-8 byte order mark");
  }
}

void Input::open_npy_header() {
  auto fail = [&](const std::string& what) -> void {
    throw UsageError(name_ + ": not a readable .npy file: " + what);
  };
  unsigned char pre[12];
  if (std::fread(pre, 1, 10, file_) != 10) fail("too short");
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) fail("bad magic string");
  const int major = pre[6];
  std::size_t hlen;
  std::size_t offset;
  if (major == 1) {
    hlen = pre[8] | (std::size_t{pre[9]} << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (std::fread(pre + 10, 1, 2, file_) != 2) fail("too short");
    hlen = pre[8] | (std::size_t{pre[9]} << 8) | (std::size_t{pre[10]} << 16) |
           (std::size_t{pre[11]} << 24);
    offset = 12;
  } else {
    fail("unknown format version " + std::to_string(major));
    return;
  }
  // NumPy writes headers of a few hundred bytes; refuse absurd lengths before allocating.
  constexpr std::size_t kMaxHeader = std::size_t{1} << 20;
  if (hlen > kMaxHeader) fail("header length " + std::to_string(hlen) + " is implausible");
  std::string h(hlen, '\0');
  if (std::fread(h.data(), 1, hlen, file_) != hlen) fail("truncated header");
  npy_offset_ = offset + hlen;
  auto value_after = [&](const char* key) -> std::string_view {
    const auto k = h.find(key);
    if (k == std::string::npos) fail(std::string("no ") + key + " in the header");
    std::string_view rest(h);
    rest.remove_prefix(k + std::strlen(key));
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':')) rest.remove_prefix(1);
    return rest;
  };
  std::string_view descr = value_after("'descr'");
  if (descr.starts_with("'<f4'"))
    npy_f64_ = false;
  else if (descr.starts_with("'<f8'"))
    npy_f64_ = true;
  else {
    const auto end = descr.find('\'', 1);
    throw UsageError(name_ + ": unsupported .npy dtype " +
                     std::string(descr.substr(0, end == std::string_view::npos ? 8 : end + 1)) +
                     " (float32 or float64, little-endian)");
  }
  if (value_after("'fortran_order'").starts_with("True")) {
    throw UsageError(name_ + ": Fortran-order .npy arrays are not supported (C order only)");
  }
  std::string_view shape = value_after("'shape'");
  if (!shape.starts_with('(')) fail("malformed shape");
  const auto close = shape.find(')');
  if (close == std::string_view::npos) fail("malformed shape");
  shape = shape.substr(1, close - 1);
  std::vector<std::size_t> dims;
  while (!shape.empty()) {
    while (!shape.empty() && (shape.front() == ' ' || shape.front() == ',')) shape.remove_prefix(1);
    if (shape.empty()) break;
    std::size_t d;
    auto [p, ec] = std::from_chars(shape.data(), shape.data() + shape.size(), d);
    if (ec != std::errc()) fail("malformed shape");
    dims.push_back(d);
    shape.remove_prefix(p - shape.data());
  }
  if (dims.empty()) throw UsageError(name_ + ": a 0-d .npy array has no rows");
  npy_cols_ = dims.back();
  leading_.assign(dims.begin(), dims.end() - 1);
  // The element count and byte size must not wrap around (a hostile shape would otherwise pass
  // the truncation check and read past the mapping).
  auto mul = [&](std::size_t a, std::size_t b) {
    std::size_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail("the shape's size overflows");
    return r;
  };
  npy_rows_ = 1;
  for (std::size_t d : leading_) npy_rows_ = mul(npy_rows_, d);
  one_d_ = dims.size() == 1;
  if (npy_rows_ == 0 || npy_cols_ == 0)
    throw UsageError("empty input: " + name_ + " has no entries");
  const std::size_t bytes = mul(mul(npy_rows_, npy_cols_), npy_f64_ ? 8 : 4);
  if (bytes > std::numeric_limits<std::size_t>::max() - npy_offset_) fail("the shape's size overflows");
  struct stat st;
  if (owns_file_ && fstat(fileno(file_), &st) == 0 && S_ISREG(st.st_mode)) {
    const std::size_t size = static_cast<std::size_t>(st.st_size);
    if (size < npy_offset_ + bytes) {
      const std::size_t data = size > npy_offset_ ? size - npy_offset_ : 0;
      const std::size_t row_bytes = npy_cols_ * (npy_f64_ ? 8 : 4);
      throw UsageError(name_ + ": truncated .npy file: row " + std::to_string(data / row_bytes + 1) +
                       " of " + std::to_string(npy_rows_) + " is incomplete (" +
                       std::to_string(size) + " bytes, the header announces " +
                       std::to_string(npy_offset_ + bytes) + ")");
    }
    void* m = mmap(nullptr, npy_offset_ + bytes, PROT_READ, MAP_PRIVATE, fileno(file_), 0);
    if (m == MAP_FAILED) throw UsageError("cannot map '" + name_ + "': " + errno_text());
    madvise(m, npy_offset_ + bytes, MADV_SEQUENTIAL);
    map_ = static_cast<const unsigned char*>(m);
    map_size_ = npy_offset_ + bytes;
  }
}

template <class T>
void Input::read(const Callback<T>& on_block) {
  switch (format_) {
    case Format::kText:
    case Format::kCsv:
      if (!args_.empty())
        read_args<T>(on_block);
      else
        read_text<T>(on_block);
      break;
    case Format::kJson:
      read_json<T>(on_block);
      break;
    case Format::kJsonLines:
      read_json_lines<T>(on_block);
      break;
    case Format::kNpy:
      read_npy<T>(on_block);
      break;
  }
}

template <class T>
void Input::read_args(const Callback<T>& cb) {
  std::vector<T> row(args_.size());
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const Parsed p = parse_number(args_[i], row[i]);
    if (p != Parsed::kOk) {
      throw UsageError("argument " + std::to_string(i + 1) + ": " +
                       number_problem(p, args_[i], type_name<T>()));
    }
    if (spec_.strict && std::isnan(row[i])) {
      throw UsageError("argument " + std::to_string(i + 1) + ": NaN in the input (--strict)");
    }
  }
  one_d_ = true;
  cb(logitkit::one_row<const T>(row.data(), row.size()), 0, name_);
}

// True when reading the next line from `f` would wait for the writer of the pipe.
bool would_block(std::FILE* f) {
  if (f->_IO_read_ptr < f->_IO_read_end) return false;  // glibc: bytes buffered
  pollfd p{fileno(f), POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

void Input::before_read() {
  if (on_wait_ && pipe_ && would_block(file_)) on_wait_();
}

template <class T>
void Input::read_text(const Callback<T>& cb) {
  const bool csv = format_ == Format::kCsv;
  char* line = nullptr;
  std::size_t cap = 0;
  ssize_t len;
  std::size_t lineno = 0, rows = 0, cols = 0;
  std::vector<Field> fields;
  std::vector<T> row;
  struct Free {
    char*& p;
    ~Free() { std::free(p); }
  } free_line{line};
  while ((before_read(), len = getline(&line, &cap, file_)) != -1) {
    ++lineno;
    std::string_view s(line, static_cast<std::size_t>(len));
    const std::string at = name_ + ":" + std::to_string(lineno);
    std::size_t bad_column = 0;
    const char* why = "";
    std::size_t first = 0;
    while (first < s.size() && is_blank(s[first])) ++first;
    if (first == s.size() || (!csv && s[first] == '#')) continue;
    if (!split_line(s, csv, fields, bad_column, why)) {
      throw UsageError(at + ":" + std::to_string(bad_column) + ": " + why);
    }
    row.resize(fields.size());
    bool none_numeric = true;
    for (const Field& f : fields) {
      T v;
      if (parse_number(f.text, v) != Parsed::kMalformed) none_numeric = false;
    }
    if (csv && rows == 0 && header_.empty() && none_numeric) {
      for (const Field& f : fields) header_.emplace_back(f.text);
      continue;
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const Parsed p = parse_number(fields[i].text, row[i]);
      if (p != Parsed::kOk) {
        throw UsageError(at + ":" + std::to_string(fields[i].column) + ": " +
                         number_problem(p, fields[i].text, type_name<T>()));
      }
      if (spec_.strict && std::isnan(row[i])) {
        throw UsageError(at + ":" + std::to_string(fields[i].column) +
                         ": NaN in the input (--strict)");
      }
    }
    if (spec_.require_matrix && rows > 0 && row.size() != cols) {
      throw UsageError(at + ": this row has " + std::to_string(row.size()) +
                       " values but the first row has " + std::to_string(cols) +
                       " (a matrix is needed here)");
    }
    if (rows == 0) cols = row.size();
    cb(logitkit::one_row<const T>(row.data(), row.size()), rows, at);
    ++rows;
  }
  if (std::ferror(file_)) throw UsageError("cannot read " + name_ + ": " + errno_text());
  if (rows == 0) throw UsageError("empty input: no rows in " + name_);
}

template <class T>
void Input::read_json(const Callback<T>& cb) {
  JsonRows<T> handler(name_, spec_, cb);
  nlohmann::json::sax_parse(file_, &handler);
  if (handler.rows() == 0) throw UsageError("empty input: no rows in " + name_);
  one_d_ = handler.flat();
  if (one_d_) leading_.clear();
}

// JSON Lines: each non-blank line one JSON array of numbers (one row); positions are the line.
template <class T>
void Input::read_json_lines(const Callback<T>& cb) {
  char* line = nullptr;
  std::size_t cap = 0;
  ssize_t len;
  std::size_t lineno = 0, rows = 0, cols = 0;
  struct Free {
    char*& p;
    ~Free() { std::free(p); }
  } free_line{line};
  InputSpec one = spec_;
  one.require_matrix = false;
  while ((before_read(), len = getline(&line, &cap, file_)) != -1) {
    ++lineno;
    std::string_view s(line, static_cast<std::size_t>(len));
    std::size_t first = 0;
    while (first < s.size() && is_blank(s[first])) ++first;
    if (first == s.size()) continue;
    const std::string at = name_ + ":" + std::to_string(lineno);
    std::size_t got = 0;
    auto on_row = [&](logitkit::Rows<const T> block, std::size_t, const std::string&) {
      if (spec_.require_matrix && rows > 0 && block.cols != cols) {
        throw UsageError(at + ": this row has " + std::to_string(block.cols) +
                         " values but the first row has " + std::to_string(cols) +
                         " (a matrix is needed here)");
      }
      if (rows == 0) cols = block.cols;
      cb(block, rows, at);
      ++rows;
      ++got;
    };
    const Callback<T> cb_line = on_row;
    JsonRows<T> handler(at, one, cb_line, true);
    nlohmann::json::sax_parse(s, &handler);
    if (!handler.flat() || got != 1) {
      throw UsageError(at + ": expected one array of numbers per line (JSON Lines)");
    }
  }
  if (std::ferror(file_)) throw UsageError("cannot read " + name_ + ": " + errno_text());
  if (rows == 0) throw UsageError("empty input: no rows in " + name_);
}

template <class T>
void Input::read_npy(const Callback<T>& cb) {
  const std::size_t cols = npy_cols_;
  const std::size_t block_rows = std::max<std::size_t>(1, kBlockElements / cols);
  const std::size_t elem = npy_f64_ ? 8 : 4;
  std::vector<unsigned char> raw;
  std::vector<T> converted;
  for (std::size_t r0 = 0; r0 < npy_rows_; r0 += block_rows) {
    const std::size_t n = std::min(block_rows, npy_rows_ - r0);
    const unsigned char* bytes;
    if (map_) {
      bytes = map_ + npy_offset_ + r0 * cols * elem;
    } else {
      raw.resize(n * cols * elem);
      const std::size_t got = std::fread(raw.data(), 1, raw.size(), file_);
      if (got != raw.size()) {
        throw UsageError(name_ + ": truncated .npy data: row " +
                         std::to_string(r0 + got / (cols * elem) + 1) + " of " +
                         std::to_string(npy_rows_) + " is incomplete");
      }
      bytes = raw.data();
    }
    const std::string where = name_ + ": row " + std::to_string(r0 + 1);
    const bool same =
        (sizeof(T) == elem) && reinterpret_cast<std::uintptr_t>(bytes) % alignof(T) == 0;
    logitkit::Rows<const T> block;
    if (same) {
      block = {reinterpret_cast<const T*>(bytes), n, cols, cols};
    } else {
      converted.resize(n * cols);
      for (std::size_t i = 0; i < n * cols; ++i) {
        if (npy_f64_) {
          double d;
          std::memcpy(&d, bytes + i * 8, 8);
          converted[i] = static_cast<T>(d);
        } else {
          float f;
          std::memcpy(&f, bytes + i * 4, 4);
          converted[i] = static_cast<T>(f);
        }
      }
      block = {converted.data(), n, cols, cols};
    }
    if (spec_.strict) check_nan_strict(block, r0, name_);
    cb(block, r0, where);
  }
}

template void Input::read<float>(const Callback<float>&);
template void Input::read<double>(const Callback<double>&);

// ---------------------------------------------------------------------------------------------
// Writer

Writer::Writer(const OutputSpec& spec, const Input& input)
    : spec_(spec), f64_(input.is_f64()), input_(&input) {
  if (spec.format != "auto") {
    format_ = format_from_name(spec.format);
  } else if (spec.path.empty() || !format_from_extension(spec.path, format_)) {
    format_ = input.format();
  }
  if (format_ == Format::kNpy && spec.path.empty() && is_terminal(stdout)) {
    throw UsageError("refusing to write binary .npy to a terminal: use -o FILE or a pipe");
  }
  live_ = (spec.line_buffered || input.is_pipe()) &&
          (format_ == Format::kText || format_ == Format::kCsv || format_ == Format::kJsonLines);
}

Writer::~Writer() {
  if (spill_) std::fclose(spill_);
  if (out_ && out_ != stdout) std::fclose(out_);
}

std::string Writer::csv_header(const std::vector<std::string>& header) const {
  if (format_ != Format::kCsv || header.empty()) return {};
  const std::vector<std::string>& h = rename_.empty() ? header : rename_;
  std::string s;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const bool quote = h[i].find_first_of(",\"") != std::string::npos;
    s += (i ? "," : "") + (quote ? "\"" + h[i] + "\"" : h[i]);
  }
  return s + "\n";
}

void Writer::start_live() {
  started_ = true;
  out_ = stdout;
  if (!spec_.path.empty()) {
    out_ = std::fopen(spec_.path.c_str(), "wb");
    if (!out_) throw UsageError("cannot write '" + spec_.path + "': " + errno_text());
  }
  const std::string h = csv_header(input_->header());
  if (std::fwrite(h.data(), 1, h.size(), out_) != h.size()) {
    throw std::runtime_error("cannot write the output: " + errno_text());
  }
}

void Writer::flush_now() {
  if (!live_) return;
  if (!started_) start_live();
  if (std::fwrite(mem_.data(), 1, mem_.size(), out_) != mem_.size() || std::fflush(out_) != 0) {
    throw std::runtime_error("cannot write the output: " + errno_text());
  }
  mem_.clear();
}

void Writer::flush_live() {
  if (spec_.line_buffered) flush_now();
}

void Writer::append(const char* p, std::size_t n) {
  if (live_ && (started_ || mem_.size() + n > kSpillBytes)) {
    // Written already (or too much to hold): keep going as a stream.
    if (mem_.size() + n > kSpillBytes) flush_now();
    mem_.append(p, n);
    return;
  }
  if (!mem_.empty() && mem_.size() + n > kSpillBytes) {
    if (!spill_) {
      spill_ = std::tmpfile();
      if (!spill_) throw std::runtime_error("cannot create a temporary file: " + errno_text());
    }
    if (std::fwrite(mem_.data(), 1, mem_.size(), spill_) != mem_.size()) {
      throw std::runtime_error("cannot write a temporary file: " + errno_text());
    }
    mem_.clear();
  }
  mem_.append(p, n);
}

template <class T>
void Writer::put_rows(logitkit::Rows<const T> y) {
  if (y.rows == 0) return;
  if (any_ && scalar_) throw std::logic_error("Writer: rows after values");
  if (needs_matrix() && any_ && y.cols != cols_) {
    throw UsageError("row " + std::to_string(rows_ + 1) + " has " + std::to_string(y.cols) +
                     " values but row 1 has " + std::to_string(cols_) + " (" +
                     format_name(format_) + " output needs a matrix)");
  }
  if (!any_) cols_ = y.cols;
  std::string s;
  for (std::size_t r = 0; r < y.rows; ++r) {
    const T* p = y.row(r);
    if (format_ == Format::kNpy) {
      append(reinterpret_cast<const char*>(p), y.cols * sizeof(T));
      continue;
    }
    s.clear();
    const bool json = format_ == Format::kJson || format_ == Format::kJsonLines;
    if (format_ == Format::kJson) s += (rows_ + r == 0) ? "[" : ",\n  [";
    if (format_ == Format::kJsonLines) s += "[";
    for (std::size_t c = 0; c < y.cols; ++c) {
      if (c) s += format_ == Format::kText ? " " : format_ == Format::kCsv ? "," : ", ";
      if (json && !std::isfinite(p[c])) {
        s += '"';
        s += format_value(p[c]);
        s += '"';
      } else {
        append_value(s, p[c]);
      }
    }
    s += format_ == Format::kJson ? "]" : format_ == Format::kJsonLines ? "]\n" : "\n";
    append(s);
  }
  rows_ += y.rows;
  any_ = true;
  f64_ = sizeof(T) == 8;
  flush_live();
}

template <class T>
void Writer::put_values(std::span<const T> v) {
  if (v.empty()) return;
  if (any_ && !scalar_) throw std::logic_error("Writer: values after rows");
  scalar_ = true;
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (format_ == Format::kNpy) {
      append(reinterpret_cast<const char*>(&v[i]), sizeof(T));
      continue;
    }
    const std::string t = format_value(v[i]);
    const std::string json_value = std::isfinite(v[i]) ? t : "\"" + t + "\"";
    if (format_ == Format::kJson) {
      s = (rows_ + i == 0 ? "" : ", ") + json_value;
    } else if (format_ == Format::kJsonLines) {
      s = json_value + "\n";
    } else {
      s = t + "\n";
    }
    append(s);
  }
  rows_ += v.size();
  any_ = true;
  f64_ = sizeof(T) == 8;
  flush_live();
}

void Writer::rows(logitkit::Rows<const float> y) { put_rows(y); }
void Writer::rows(logitkit::Rows<const double> y) { put_rows(y); }
void Writer::values(std::span<const float> v) { put_values(v); }
void Writer::values(std::span<const double> v) { put_values(v); }

void Writer::commit(const Input& input, const std::vector<std::string>& header) {
  if (started_) {
    flush_now();
    const bool ok = (out_ == stdout ? std::fflush(out_) : std::fclose(out_)) == 0;
    out_ = nullptr;
    if (!ok) throw std::runtime_error("cannot write the output: " + errno_text());
    return;
  }
  const bool one_d = input.one_dimensional() && rows_ == 1;
  std::string prefix, suffix;
  switch (format_) {
    case Format::kText:
    case Format::kJsonLines:
      break;
    case Format::kCsv:
      prefix = csv_header(header);
      break;
    case Format::kJson:
      if (scalar_) {
        prefix = one_d ? "" : "[";
        suffix = one_d ? "\n" : "]\n";
      } else if (one_d) {
        suffix = "\n";
      } else {
        prefix = "[\n  ";
        suffix = "\n]\n";
      }
      break;
    case Format::kNpy: {
      std::vector<std::size_t> shape =
          input.format() == Format::kNpy ? input.leading_shape() : std::vector<std::size_t>{rows_};
      std::size_t prod = 1;
      for (std::size_t d : shape) prod *= d;
      if (prod != rows_) shape = {rows_};
      if (one_d) shape.clear();
      if (!scalar_) shape.push_back(cols_);
      std::string dict = std::string("{'descr': '") + (f64_ ? "<f8" : "<f4") +
                         "', 'fortran_order': False, 'shape': (";
      for (std::size_t i = 0; i < shape.size(); ++i) {
        dict += std::to_string(shape[i]) + (shape.size() == 1      ? ","
                                            : i + 1 < shape.size() ? ", "
                                                                   : "");
      }
      dict += "), }";
      std::size_t total = 10 + dict.size() + 1;
      dict.append((64 - total % 64) % 64, ' ');
      dict += '\n';
      prefix = std::string("\x93NUMPY\x01\x00", 8);
      prefix += static_cast<char>(dict.size() & 0xff);
      prefix += static_cast<char>(dict.size() >> 8);
      prefix += dict;
      break;
    }
  }
  std::FILE* out = stdout;
  if (!spec_.path.empty()) {
    out = std::fopen(spec_.path.c_str(), "wb");
    if (!out) throw UsageError("cannot write '" + spec_.path + "': " + errno_text());
  }
  bool ok = std::fwrite(prefix.data(), 1, prefix.size(), out) == prefix.size();
  if (spill_) {
    std::rewind(spill_);
    char buf[1 << 16];
    std::size_t n;
    while (ok && (n = std::fread(buf, 1, sizeof buf, spill_)) > 0) {
      ok = std::fwrite(buf, 1, n, out) == n;
    }
  }
  ok = ok && std::fwrite(mem_.data(), 1, mem_.size(), out) == mem_.size();
  ok = ok && std::fwrite(suffix.data(), 1, suffix.size(), out) == suffix.size();
  ok = (out == stdout ? std::fflush(out) : std::fclose(out)) == 0 && ok;
  if (!ok) throw std::runtime_error("cannot write the output: " + errno_text());
}

}  // namespace lkcli
