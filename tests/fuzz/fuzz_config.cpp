// The config loader: TOML text, overrides and every value check.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)yktgw::parse_config(text, "fuzz.toml");
  // The same bytes as a --set override, which goes through the declared key types.
  (void)yktgw::parse_config("", "fuzz.toml", {text});
  return 0;
}
