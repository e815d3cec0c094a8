#pragma once
// Declared keys for the policy engine's own files (policies.toml, service-items.toml), in the
// style of the main config: every table lists its keys with type, default and description; the
// reader refuses unknown keys, wrong types and bad values with file:line:column and the key
// path, and reports the problem nearest the top of the file. Internal to gateway/policy: toml++
// types do not leave this folder.

#include <toml++/toml.h>

#include <compare>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/core/result.h"

namespace yktgw::policy_file {

enum class FieldType : std::uint8_t {
  string,
  integer,
  boolean,
  string_list,
  integer_list,
  table_list
};

std::string_view type_name(FieldType t);  // "a string", "an integer", ...

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::string;
  std::string default_text;  // as written in TOML; empty when required
  bool required = false;
  std::string description;     // one line, English
  std::int64_t min_value = 0;  // integers and integer-list elements: inclusive range
  std::int64_t max_value = 0;
  std::vector<std::string> choices;               // strings, string-list elements; empty: any
  const std::vector<FieldSpec>* items = nullptr;  // table_list: the keys of each element
};

struct SourcePos {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  auto operator<=>(const SourcePos&) const = default;
};

class Fields;
using FieldValue = std::variant<std::string, std::int64_t, bool, std::vector<std::string>,
                                std::vector<std::int64_t>, std::vector<Fields>>;

// One table's values after checking: every declared key has a value (from the file or its
// default), with the position to blame when a later, semantic check fails.
class Fields {
 public:
  struct Entry {
    FieldValue value;
    SourcePos pos;
    bool given = false;               // set in the file
    std::vector<SourcePos> item_pos;  // lists: where each element is
  };

  std::string path;  // "scenario.canteen", "terminal[2]"
  SourcePos pos;     // where the table starts

  const std::string& text(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  const std::vector<std::string>& strings(std::string_view key) const;
  const std::vector<std::int64_t>& integers(std::string_view key) const;
  const std::vector<Fields>& tables(std::string_view key) const;
  bool given(std::string_view key) const;
  // The value's position, or the table's when the value is a default.
  SourcePos pos_of(std::string_view key) const;
  SourcePos item_pos(std::string_view key, std::size_t i) const;
  std::string key_path(std::string_view key) const;

  std::map<std::string, Entry, std::less<>> entries;

 private:
  const Entry& entry(std::string_view key) const;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  // Parses TOML text; a syntax error comes back with file:line:column.
  Result<toml::table> parse(const std::string& text) const;

  // Checks `table` against the union of `spec_sets`. Problems are collected, not returned:
  // call first_problem() when done. `unknown_hint` is appended to unknown-key messages;
  // `skip_key` names a key the caller reads itself.
  Fields read(const toml::table& table, const std::string& path, SourcePos table_pos,
              std::span<const std::vector<FieldSpec>* const> spec_sets,
              std::string_view unknown_hint = {}, std::string_view skip_key = {});

  void fail(SourcePos pos, std::string code, const std::string& what);
  // "key 'a.b' has invalid value 'v': why"
  void invalid(const Fields& f, std::string_view key, const std::string& value,
               const std::string& why);
  bool failed() const { return !problems_.empty(); }
  Result<void> first_problem() const;
  std::string at(SourcePos pos) const;
  const std::string& file() const { return file_; }

 private:
  struct Problem {
    SourcePos pos;
    Error error;
  };
  void read_value(const FieldSpec& spec, const toml::node& node, const std::string& path,
                  SourcePos pos, Fields::Entry& out);
  std::string file_;
  std::vector<Problem> problems_;
};

SourcePos pos_of(const toml::source_region& r);
std::string toml_quote(std::string_view s);

}  // namespace yktgw::policy_file
