#pragma once
// Names of TOML value types as both config loaders (main config, policies file) print them in
// "must be an integer, got string" errors. Only for files that already include toml++.

#include <toml++/toml.h>

#include <string_view>

namespace yktgw {

inline std::string_view toml_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace yktgw
