// The dynamic QR code parser: the bytes a scanner reads off a phone screen.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/credentials/qr_code.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = yktgw::parse_qr(in);
  if (parsed) {
    // What parse_qr accepts must pass the same structural rules when checked on their own.
    if (!yktgw::validate_qr_payload(parsed->payload)) __builtin_trap();
    (void)yktgw::encode_qr_payload(parsed->payload);
  }
  return 0;
}
