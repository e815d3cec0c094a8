#pragma once
// Card numbers never reach a table or a log in full: each becomes a keyed HMAC-SM3 token (to
// look up and join on) plus a masked form (for people). The key lives in a file outside the
// database so a copied database alone cannot be brute-forced over the small ID-number space.

#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/result.h"

namespace yktgw {

class CardTokenizer {
 public:
  // `key` is the raw secret (at least 16 bytes).
  static Result<CardTokenizer> create(std::string key);
  // Reads a key file holding hex (at least 32 hex digits). Refuses files that others can read.
  static Result<CardTokenizer> from_key_file(const std::string& path);

  CardTokenizer(CardTokenizer&&) noexcept;
  CardTokenizer& operator=(CardTokenizer&&) noexcept;
  ~CardTokenizer();

  // Lower-case hex of HMAC-SM3(key, normalised card number); 64 characters.
  // Normalising: surrounding spaces removed, letters upper-cased (the X check digit).
  std::string token(std::string_view card_no) const;

 private:
  struct Impl;
  explicit CardTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// 500156********1234 for an 18-digit number: first 6 and last 4 kept from 16 characters on;
// shorter serials keep 3 and 2 (10..15) or only the last one (4..9).
std::string mask_card_number(std::string_view card_no);

}  // namespace yktgw
