// SPDX-License-Identifier: Apache-2.0
// softmax / log-softmax / logsumexp over streamed rows, `targets` and `bench`.
#include "commands.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <span>

#include "logitkit/softmax.h"
#include "logitkit/targets.h"
#include "table.h"

namespace lkcli {
namespace {

constexpr std::size_t kBatchElements = std::size_t{1} << 18;

template <class T>
void apply(RowOp op, logitkit::Rows<const T> x, std::vector<T>& out, Writer& w,
           const logitkit::SoftmaxOptions& o) {
  if (op == RowOp::kLogsumexp) {
    out.resize(x.rows);
    logitkit::logsumexp(x, std::span<T>(out), o);
    w.values(std::span<const T>(out));
    return;
  }
  out.resize(x.rows * x.cols);
  logitkit::Rows<T> y{out.data(), x.rows, x.cols, x.cols};
  if (op == RowOp::kSoftmax)
    logitkit::softmax(x, y, o);
  else
    logitkit::log_softmax(x, y, o);
  w.rows(logitkit::Rows<const T>(y));
}

// Reads rows as they come, batching consecutive rows of equal length into one library call; a
// live stream (Writer::live()) computes and writes each row as it arrives.
template <class T>
void stream(RowOp op, Input& in, Writer& w, const logitkit::SoftmaxOptions& o) {
  const bool per_row = w.live() && w.line_buffered();
  std::vector<T> pending, out;
  std::size_t pending_rows = 0, pending_cols = 0, done = 0;
  // A big file shows a progress line (rows so far) on a terminal; a live filter does not.
  Progress progress(op == RowOp::kSoftmax      ? "softmax"
                    : op == RowOp::kLogSoftmax ? "log-softmax"
                                               : "logsumexp");
  auto flush = [&] {
    if (pending_rows)
      apply<T>(op, {pending.data(), pending_rows, pending_cols, pending_cols}, out, w, o);
    pending.clear();
    pending_rows = 0;
  };
  // Input from a pipe that would wait: compute and write what has arrived.
  in.on_wait([&] {
    flush();
    w.flush_now();
  });
  in.read<T>([&](logitkit::Rows<const T> block, std::size_t, const std::string&) {
    done += block.rows;
    if (!w.live()) progress.update(-1, static_cast<double>(done), "rows");
    if (block.rows > 1 || per_row) {
      flush();
      apply<T>(op, block, out, w, o);
      return;
    }
    if (pending_rows &&
        (block.cols != pending_cols || pending.size() + block.cols > kBatchElements)) {
      flush();
    }
    pending.insert(pending.end(), block.data, block.data + block.cols);
    pending_cols = block.cols;
    ++pending_rows;
  });
  in.on_wait(nullptr);
  flush();
}

// splitmix64: deterministic benchmark inputs.
std::uint64_t next_random(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Progress::Progress(std::string label)
    : label_(std::move(label)), start_(now_seconds()), enabled_(is_terminal(stderr)) {}

Progress::~Progress() { done(); }

void Progress::update(double fraction, double units, const char* unit) {
  if (!enabled_) return;
  const double t = now_seconds();
  if (t - start_ < 2.0 || t - last_ < 0.1) return;
  last_ = t;
  shown_ = true;
  if (fraction >= 0) {
    constexpr int kWidth = 30;
    fraction = std::min(1.0, fraction);
    const int filled = static_cast<int>(fraction * kWidth + 0.5);
    std::fprintf(stderr, "\r[%s%s] %3d%% %s ", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(),
                 static_cast<int>(fraction * 100 + 0.5), label_.c_str());
  } else {
    std::fprintf(stderr, "\r%s: %.0f %s, %.0f s ", label_.c_str(), units, unit, t - start_);
  }
  std::fflush(stderr);
}

void Progress::done() {
  if (shown_) std::fprintf(stderr, "\r%*s\r", 78, "");
  shown_ = false;
}

std::string size_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  return num(bytes, u == 0 ? 20 : 4) + " " + units[u];
}

int run_row_op(RowOp op, RowOpArgs& args) {
  if (args.explain) return run_explain(args);
  const logitkit::SoftmaxOptions o = to_options(args.common);
  args.input.strict = args.common.strict;
  Input in(args.input);
  Writer w(args.output, in);
  in.require_matrix(w.needs_matrix());
  if (op == RowOp::kLogsumexp) w.rename_header({"logsumexp"});
  if (in.is_f64())
    stream<double>(op, in, w, o);
  else
    stream<float>(op, in, w, o);
  w.commit(in, in.header());
  return 0;
}

int run_targets() {
  const logitkit::TargetInfo t = logitkit::targets();
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  std::printf("compiled:  %s\nsupported: %s\nchosen:    %s\n", join(t.compiled).c_str(),
              join(t.supported).c_str(), t.chosen.c_str());
  return 0;
}

int run_bench(const BenchArgs& a) {
  struct {
    std::size_t rows, cols;
    double seconds;
    const CommonFlags& common;
    const std::string& op;
  } args{static_cast<std::size_t>(parse_flag_integer(a.rows, "--rows", 1, LLONG_MAX)),
         static_cast<std::size_t>(parse_flag_integer(a.cols, "--cols", 1, LLONG_MAX)),
         parse_flag_number(a.seconds, "--seconds"), a.common, a.op};
  if (!(args.seconds > 0 && args.seconds <= 3600)) {
    throw UsageError("--seconds: expected a number in (0, 3600], got '" + show_token(a.seconds) +
                     "'");
  }
  const logitkit::SoftmaxOptions o = to_options(args.common);
  std::vector<RowOp> ops;
  std::vector<std::string> names;
  for (auto [op, name] : {std::pair{RowOp::kSoftmax, "softmax"},
                          {RowOp::kLogSoftmax, "log-softmax"},
                          {RowOp::kLogsumexp, "logsumexp"}}) {
    if (args.op == "all" || args.op == name) {
      ops.push_back(op);
      names.push_back(name);
    }
  }
  std::size_t n;
  const std::string shape = a.rows + " x " + a.cols;
  if (__builtin_mul_overflow(args.rows, args.cols, &n) || n > (std::size_t{1} << 60)) {
    throw UsageError("out of memory: --rows " + show_token(a.rows) + " --cols " +
                     show_token(a.cols) + " is more entries than this machine can address");
  }
  const double bytes = 8.0 * static_cast<double>(n) + 4.0 * static_cast<double>(args.rows);
  std::vector<float> x, y, lse;
  with_memory("bench " + shape + " (input and output, float32)", bytes, [&] {
    x.resize(n);
    y.resize(n);
    lse.resize(args.rows);
  });
  std::uint64_t seed = 42;
  for (float& v : x)
    v = static_cast<float>(static_cast<double>(next_random(seed) >> 11) * 0x1p-53 * 20.0 - 10.0);
  const logitkit::Rows<const float> xr{x.data(), args.rows, args.cols, args.cols};
  const logitkit::Rows<float> yr{y.data(), args.rows, args.cols, args.cols};
  Progress bar("bench");
  Table t{{"op", "shape", "calls", "ns/element", "GB/s", "µs/call"}, {}};
  using Clock = std::chrono::steady_clock;
  for (std::size_t k = 0; k < ops.size(); ++k) {
    auto call = [&] {
      if (ops[k] == RowOp::kSoftmax)
        logitkit::softmax(xr, yr, o);
      else if (ops[k] == RowOp::kLogSoftmax)
        logitkit::log_softmax(xr, yr, o);
      else
        logitkit::logsumexp(xr, std::span<float>(lse), o);
    };
    call();
    const auto start = Clock::now();
    std::size_t calls = 0;
    double elapsed = 0;
    while (elapsed < args.seconds) {
      call();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      bar.update((k + std::min(1.0, elapsed / args.seconds)) / ops.size());
    }
    const double ns = elapsed * 1e9 / (static_cast<double>(calls) * n);
    const double bytes = ops[k] == RowOp::kLogsumexp ? 4.0 : 8.0;
    t.rows.push_back({names[k], std::to_string(args.rows) + "x" + std::to_string(args.cols),
                      std::to_string(calls), num(ns, 3), num(bytes / ns, 3),
                      num(elapsed * 1e6 / calls, 4)});
  }
  bar.done();
  const logitkit::TargetInfo info = logitkit::targets();
  std::printf("logitkit bench: float32, target %s, threads %s\n%s", info.chosen.c_str(),
              o.threads ? std::to_string(o.threads).c_str() : "default",
              t.render(Style(use_color())).c_str());
  return 0;
}

}  // namespace lkcli
