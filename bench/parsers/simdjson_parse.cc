/* simdjson_parse.cc -- issue 12, item 3: how fast simdjson (C++, Debian's
 * libsimdjson-dev) reads an instance file against yajl's events, the
 * decoder's parser, in the same run. Three ways, each over the whole
 * file, MB/s (10^6 bytes) at the median and best of N runs:
 *   yajl      yajl_parse with callbacks that only count (the lexing floor
 *             of the current decoder, before any tape or instance);
 *   dom       simdjson's DOM parse and a walk visiting every value;
 *   ondemand  simdjson's On-Demand API, walking every value.
 * Not part of the build (C++; the design card says C11):
 *   apt-get install libsimdjson-dev libyajl-dev
 *   g++ -O2 -std=c++17 -o /tmp/simdjson_parse bench/parsers/simdjson_parse.cc \
 *     $(pkg-config --cflags --libs simdjson yajl)
 *   build/bench_process --quick --only 2000x20000 --keep /tmp/inst
 *   /tmp/simdjson_parse /tmp/inst/positions-2000x20000-k16.json 20 */
#include <simdjson.h>
#include <yajl/yajl_parse.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

static double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static size_t n_values;
static int y_null(void *) {
  return ++n_values, 1;
}
static int y_bool(void *, int) {
  return ++n_values, 1;
}
static int y_num(void *, const char *, size_t) {
  return ++n_values, 1;
}
static int y_str(void *, const unsigned char *, size_t) {
  return ++n_values, 1;
}
static int y_ev(void *) {
  return 1;
}

static int yajl_once(const char *text, size_t len) {
  static const yajl_callbacks cb = {y_null, y_bool, nullptr, nullptr,
                                    y_num,  y_str,  y_ev,    y_str,
                                    y_ev,   y_ev,   y_ev};
  yajl_handle h = yajl_alloc(&cb, nullptr, nullptr);
  int ok = yajl_parse(h, (const unsigned char *)text, len) == yajl_status_ok &&
           yajl_complete_parse(h) == yajl_status_ok;
  yajl_free(h);
  return ok;
}

static void dom_walk(simdjson::dom::element e) {
  using namespace simdjson;
  switch (e.type()) {
  case dom::element_type::ARRAY:
    for (dom::element c : dom::array(e))
      dom_walk(c);
    break;
  case dom::element_type::OBJECT:
    for (dom::key_value_pair kv : dom::object(e))
      dom_walk(kv.value);
    break;
  default:
    n_values++;
  }
}

static void od_walk(simdjson::ondemand::value v) {
  using namespace simdjson;
  switch (v.type()) {
  case ondemand::json_type::array:
    for (auto c : v.get_array())
      od_walk(c.value());
    break;
  case ondemand::json_type::object:
    for (auto f : v.get_object())
      od_walk(f.value());
    break;
  case ondemand::json_type::number:
    (void)double(v.get_double());
    n_values++;
    break;
  case ondemand::json_type::string:
    (void)std::string_view(v.get_string());
    n_values++;
    break;
  default:
    n_values++;
  }
}

int main(int argc, char **argv) {
  if (argc < 2)
    return std::fprintf(stderr, "usage: simdjson_parse FILE [RUNS]\n"), 2;
  int runs = argc > 2 ? std::atoi(argv[2]) : 10;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(argv[1]).get(text))
    return std::fprintf(stderr, "cannot read %s\n", argv[1]), 1;
  const char *names[] = {"yajl events", "simdjson dom", "simdjson ondemand"};
  simdjson::dom::parser dp;
  simdjson::ondemand::parser op;
  for (int way = 0; way < 3; way++) {
    std::vector<double> t;
    for (int r = 0; r < runs; r++) {
      n_values = 0;
      double t0 = now_ms();
      if (way == 0 && !yajl_once(text.data(), text.size()))
        return std::fprintf(stderr, "yajl failed\n"), 1;
      if (way == 1) {
        simdjson::dom::element root;
        if (dp.parse(text).get(root))
          return std::fprintf(stderr, "dom failed\n"), 1;
        dom_walk(root);
      }
      if (way == 2) {
        simdjson::ondemand::document doc = op.iterate(text);
        od_walk(doc.get_value());
      }
      t.push_back(now_ms() - t0);
    }
    std::sort(t.begin(), t.end());
    double mb = text.size() / 1e6;
    std::printf("%-18s %8zu values  median %7.2f ms %7.1f MB/s  best %7.2f ms "
                "%7.1f MB/s\n",
                names[way], n_values, t[t.size() / 2],
                mb / t[t.size() / 2] * 1e3, t[0], mb / t[0] * 1e3);
  }
  return 0;
}
