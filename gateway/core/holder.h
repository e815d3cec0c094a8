#pragma once
// What a decoded credential tells about its holder, and what the card list adds. Only tokens
// and masked numbers: never the full card or citizen number.

#include <cstdint>
#include <string>

namespace yktgw {

// Province-level code of the issuer: the first two digits of the citizen number, or the region
// named in a QR code. 50 Chongqing, 51 Sichuan, 52 Guizhou, 54 Tibet; 0 when unknown.
using IssuerRegion = std::uint16_t;
inline constexpr IssuerRegion kRegionChongqing = 50;
inline constexpr IssuerRegion kRegionSichuan = 51;
inline constexpr IssuerRegion kRegionGuizhou = 52;
inline constexpr IssuerRegion kRegionTibet = 54;

// Holder attributes as a bit set. The first bits are fixed; named groups (staff, students,
// site workers, ...) take the bits from kFirstGroupBit on, in the order of the config's list.
using HolderAttributes = std::uint32_t;
inline constexpr HolderAttributes kAttrDisabled = 1u << 0;       // 残疾人
inline constexpr HolderAttributes kAttrLocalResident = 1u << 1;  // 本地居民
inline constexpr int kFirstGroupBit = 8;
inline constexpr int kMaxGroups = 24;

struct BirthDate {
  int year = 0;  // 0: unknown
  int month = 0;
  int day = 0;
  bool known() const { return year != 0; }
  bool operator==(const BirthDate&) const = default;
};

struct Holder {
  std::string token;   // HMAC-SM3 card token, lower-case hex; the card list's key
  std::string masked;  // e.g. 500156********1234
  IssuerRegion region = 0;
  BirthDate birth;
  HolderAttributes attributes = 0;  // from the credential itself (QR payload); the card list adds
  bool operator==(const Holder&) const = default;
};

}  // namespace yktgw
