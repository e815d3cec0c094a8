#include "gateway/policy/toml_fields.h"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "gateway/config/toml_names.h"

namespace yktgw::policy_file {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// Values that end up in messages: control characters escaped and long ones cut, since a broken
// file can hold anything.
std::string shown(std::string_view s) {
  std::string out;
  const std::size_t n = std::min<std::size_t>(s.size(), 80);
  for (std::size_t i = 0; i < n; ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch < 0x20 || ch == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

// A quoted key with a dot in it is one key, not a path: show it quoted.
std::string child_path(const std::string& prefix, std::string_view key) {
  std::string part(key);
  if (key.empty() || key.find_first_of(". ") != std::string_view::npos) part = toml_quote(key);
  return prefix.empty() ? part : prefix + "." + part;
}

}  // namespace

std::string_view type_name(FieldType t) {
  switch (t) {
    case FieldType::string:
      return "a string";
    case FieldType::integer:
      return "an integer";
    case FieldType::boolean:
      return "a boolean";
    case FieldType::string_list:
      return "an array of strings";
    case FieldType::integer_list:
      return "an array of integers";
    case FieldType::table_list:
      return "an array of tables";
  }
  return "a value";
}

SourcePos pos_of(const toml::source_region& r) { return SourcePos{r.begin.line, r.begin.column}; }

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// ---- Fields -----------------------------------------------------------------------------------

const Fields::Entry& Fields::entry(std::string_view key) const {
  const auto it = entries.find(key);
  // Callers ask only for keys of the spec they read with; a miss is a programming error, and
  // an empty entry keeps it from becoming undefined behaviour.
  static const Entry kEmpty{std::string(), {}, false, {}};
  return it == entries.end() ? kEmpty : it->second;
}

const std::string& Fields::text(std::string_view key) const {
  static const std::string kNone;
  const auto* v = std::get_if<std::string>(&entry(key).value);
  return v ? *v : kNone;
}

std::int64_t Fields::integer(std::string_view key) const {
  const auto* v = std::get_if<std::int64_t>(&entry(key).value);
  return v ? *v : 0;
}

bool Fields::boolean(std::string_view key) const {
  const auto* v = std::get_if<bool>(&entry(key).value);
  return v ? *v : false;
}

const std::vector<std::string>& Fields::strings(std::string_view key) const {
  static const std::vector<std::string> kNone;
  const auto* v = std::get_if<std::vector<std::string>>(&entry(key).value);
  return v ? *v : kNone;
}

const std::vector<std::int64_t>& Fields::integers(std::string_view key) const {
  static const std::vector<std::int64_t> kNone;
  const auto* v = std::get_if<std::vector<std::int64_t>>(&entry(key).value);
  return v ? *v : kNone;
}

const std::vector<Fields>& Fields::tables(std::string_view key) const {
  static const std::vector<Fields> kNone;
  const auto* v = std::get_if<std::vector<Fields>>(&entry(key).value);
  return v ? *v : kNone;
}

bool Fields::given(std::string_view key) const { return entry(key).given; }

SourcePos Fields::pos_of(std::string_view key) const {
  const Entry& e = entry(key);
  return e.given ? e.pos : pos;
}

SourcePos Fields::item_pos(std::string_view key, std::size_t i) const {
  const Entry& e = entry(key);
  return i < e.item_pos.size() ? e.item_pos[i] : pos_of(key);
}

std::string Fields::key_path(std::string_view key) const { return child_path(path, key); }

// ---- Reader -----------------------------------------------------------------------------------

std::string Reader::at(SourcePos pos) const {
  return file_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

void Reader::fail(SourcePos pos, std::string code, const std::string& what) {
  problems_.push_back(Problem{pos, make_error(std::move(code), at(pos) + ": " + what)});
}

void Reader::invalid(const Fields& f, std::string_view key, const std::string& value,
                     const std::string& why) {
  fail(f.pos_of(key), "invalid_value",
       "key '" + f.key_path(key) + "' has invalid value '" + shown(value) + "': " + why);
}

Result<void> Reader::first_problem() const {
  if (problems_.empty()) return {};
  return std::min_element(problems_.begin(), problems_.end(),
                          [](const Problem& a, const Problem& b) { return a.pos < b.pos; })
      ->error;
}

Result<toml::table> Reader::parse(const std::string& text) const {
  try {
    return toml::parse(std::string_view(text), std::string_view(file_));
  } catch (const toml::parse_error& e) {
    return make_error("syntax", at(pos_of(e.source())) + ": " + std::string(e.description()));
  } catch (const std::exception& e) {  // allocation failure and the like; never escape
    return make_error("syntax", file_ + ": " + e.what());
  }
}

void Reader::read_value(const FieldSpec& spec, const toml::node& node, const std::string& path,
                        SourcePos pos, Fields::Entry& out) {
  auto wrong = [&](SourcePos p, std::string_view got) {
    fail(p, "wrong_type",
         "key '" + path + "' must be " + std::string(type_name(spec.type)) + ", got " +
             std::string(got));
  };
  auto bad = [&](SourcePos p, const std::string& value, const std::string& why) {
    fail(p, "invalid_value", "key '" + path + "' has invalid value '" + shown(value) + "': " + why);
  };
  auto check_int = [&](SourcePos p, std::int64_t v) {
    if (v < spec.min_value || v > spec.max_value) {
      bad(p, std::to_string(v),
          "expected an integer in " + std::to_string(spec.min_value) + ".." +
              std::to_string(spec.max_value));
      return false;
    }
    return true;
  };
  auto check_str = [&](SourcePos p, const std::string& v) {
    if (!spec.choices.empty() &&
        std::find(spec.choices.begin(), spec.choices.end(), v) == spec.choices.end()) {
      bad(p, v, "expected one of " + join(spec.choices));
      return false;
    }
    return true;
  };
  out.pos = pos;
  switch (spec.type) {
    case FieldType::string:
      if (const auto* v = node.as_string()) {
        if (check_str(pos, v->get())) out.value = v->get();
      } else {
        wrong(pos, toml_type_name(node.type()));
      }
      return;
    case FieldType::integer:
      if (const auto* v = node.as_integer()) {
        if (check_int(pos, v->get())) out.value = v->get();
      } else {
        wrong(pos, toml_type_name(node.type()));
      }
      return;
    case FieldType::boolean:
      if (const auto* v = node.as_boolean()) {
        out.value = v->get();
      } else {
        wrong(pos, toml_type_name(node.type()));
      }
      return;
    case FieldType::string_list:
    case FieldType::integer_list:
    case FieldType::table_list:
      break;
  }
  const toml::array* arr = node.as_array();
  if (arr == nullptr) {
    wrong(pos, toml_type_name(node.type()));
    return;
  }
  std::vector<std::string> strings;
  std::vector<std::int64_t> integers;
  std::vector<Fields> tables;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = *arr->get(i);
    const SourcePos ep = pos_of(el.source());
    const std::string ipath = path + "[" + std::to_string(i) + "]";
    out.item_pos.push_back(ep);
    if (spec.type == FieldType::string_list) {
      if (const auto* v = el.as_string()) {
        if (check_str(ep, v->get())) strings.push_back(v->get());
      } else {
        fail(ep, "wrong_type",
             "key '" + ipath + "' must be a string, got " + std::string(toml_type_name(el.type())));
      }
    } else if (spec.type == FieldType::integer_list) {
      if (const auto* v = el.as_integer()) {
        if (check_int(ep, v->get())) integers.push_back(v->get());
      } else {
        fail(ep, "wrong_type",
             "key '" + ipath + "' must be an integer, got " +
                 std::string(toml_type_name(el.type())));
      }
    } else if (const auto* t = el.as_table()) {
      const std::vector<FieldSpec>* sets[] = {spec.items};
      tables.push_back(read(*t, ipath, ep, sets));
    } else {
      fail(ep, "wrong_type",
           "key '" + ipath + "' must be a table, got " + std::string(toml_type_name(el.type())));
    }
  }
  if (spec.type == FieldType::string_list) out.value = std::move(strings);
  if (spec.type == FieldType::integer_list) out.value = std::move(integers);
  if (spec.type == FieldType::table_list) out.value = std::move(tables);
}

Fields Reader::read(const toml::table& table, const std::string& path, SourcePos table_pos,
                    std::span<const std::vector<FieldSpec>* const> spec_sets,
                    std::string_view unknown_hint, std::string_view skip_key) {
  Fields out;
  out.path = path;
  out.pos = table_pos;
  auto find_spec = [&](std::string_view name) -> const FieldSpec* {
    for (const auto* set : spec_sets) {
      for (const FieldSpec& s : *set) {
        if (s.name == name) return &s;
      }
    }
    return nullptr;
  };
  for (auto&& [key, node] : table) {
    if (!skip_key.empty() && key.str() == skip_key) continue;
    const std::string kpath = child_path(path, key.str());
    const FieldSpec* spec = find_spec(key.str());
    if (spec == nullptr) {
      std::string msg = "unknown key '" + kpath + "'";
      if (!unknown_hint.empty()) msg += " (" + std::string(unknown_hint) + ")";
      fail(pos_of(key.source()), "unknown_key", msg);
      continue;
    }
    Fields::Entry e;
    e.given = true;
    read_value(*spec, node, kpath, pos_of(node.source()), e);
    out.entries.insert_or_assign(spec->name, std::move(e));
  }
  for (const auto* set : spec_sets) {
    for (const FieldSpec& s : *set) {
      if (out.entries.contains(s.name)) continue;
      if (s.required) {
        fail(table_pos, "missing_key", "missing required key '" + child_path(path, s.name) + "'");
        continue;
      }
      // Defaults are written as TOML in the spec (that is what the docs show) and read back by
      // the same code as file values, so the two cannot disagree.
      Fields::Entry e;
      try {
        const std::string doc_text = "v = " + s.default_text;
        const toml::table doc =
            toml::parse(std::string_view(doc_text), std::string_view("<default>"));
        Reader inner("built-in default");
        inner.read_value(s, *doc.get("v"), child_path(path, s.name), table_pos, e);
        if (auto r = inner.first_problem(); !r) fail(table_pos, "schema", r.error().message);
      } catch (const std::exception& ex) {
        fail(table_pos, "schema",
             "built-in default of '" + child_path(path, s.name) + "' is not TOML: " + ex.what());
      }
      e.pos = table_pos;
      e.given = false;
      out.entries.insert_or_assign(s.name, std::move(e));
    }
  }
  return out;
}

}  // namespace yktgw::policy_file
