#pragma once
// Per-terminal MAC on card requests: HMAC-SM3 with the terminal's own key over a canonical form
// of the request (docs/qr-code.md, section "Terminal MAC"). It proves the request came from a
// terminal that holds the key and that nobody changed the card number or amount on the way.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/reason.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"

namespace yktgw {

// The terminal protocol version the canonical form is defined for.
inline constexpr int kMacCanonicalVersion = 1;

// The canonical form of a request, the MAC's input:
//   v|req_id|terminal|scenario|ts|credential.type|card_no|amount_fen
// v is 1, numbers in plain decimal, card_no exactly as sent (empty for QR types). A '\' or '|'
// inside a field is written as "\\" or "\|", so no two requests share a canonical form.
// The result holds the full card number: never log it.
std::string mac_canonical_form(const AuthRequest& request);

// Lower-case hex of HMAC-SM3(key, canonical); 64 characters, empty only if OpenSSL fails.
// `key` is raw bytes. Terminals and the simulator compute their MAC with this.
std::string terminal_mac_hex(std::string_view key, std::string_view canonical);

// Raw bytes of an even-length hex string; false on anything else.
bool decode_hex(std::string_view hex, std::string& out);

// The per-terminal keys, loaded once at start. Thread-safe for concurrent check() and compute().
class TerminalMacKeys {
 public:
  static constexpr std::size_t kMinKeyBytes = 16;

  TerminalMacKeys();  // no keys: every MAC sent is bad_mac, every required one mac_required
  // Lines "terminal_id hex_key"; '#' starts a comment; blank lines are skipped. The file must
  // not be accessible to group or others, like the card-token key file.
  static Result<TerminalMacKeys> from_file(const std::string& path);
  // The same format from text; `name` stands in for a file name in errors.
  static Result<TerminalMacKeys> parse(std::string_view text, const std::string& name);

  TerminalMacKeys(TerminalMacKeys&&) noexcept;
  TerminalMacKeys& operator=(TerminalMacKeys&&) noexcept;
  ~TerminalMacKeys();

  // Adds or replaces the key (raw bytes, at least kMinKeyBytes) of one terminal.
  Result<void> add(std::string terminal, std::string_view key);

  std::size_t size() const;
  bool has_key(std::string_view terminal) const;

  // ok, mac_required (none sent though required) or bad_mac (sent, and wrong, malformed or the
  // terminal has no key). An absent MAC that is not required is ok. The comparison takes the
  // same time wherever the first wrong digit is.
  Reason check(std::string_view terminal, std::string_view canonical, std::string_view mac_hex,
               bool required) const;

  // The MAC this terminal's key gives; empty when it has no key.
  std::string compute(std::string_view terminal, std::string_view canonical) const;

 private:
  struct Keyed;
  std::map<std::string, std::unique_ptr<Keyed>, std::less<>> keys_;
};

}  // namespace yktgw
