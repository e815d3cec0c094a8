// The chip card number validator (citizen number / card serial).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/credentials/citizen_number.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first 8 bytes (when present) pick "today", so dates around the limits get explored.
  yktgw::UtcMillis now = 1764379200000;
  if (size >= 8) {
    std::int64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | data[i];
    now = v;
  }
  (void)yktgw::citizen_check_char(in);
  (void)yktgw::china_date_of(now);
  (void)yktgw::classify_card_number(in, yktgw::china_date_of(1764379200000));
  (void)yktgw::classify_card_number(in, yktgw::china_date_of(now));
  return 0;
}
