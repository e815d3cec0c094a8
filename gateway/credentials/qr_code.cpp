#include "gateway/credentials/qr_code.h"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "gateway/credentials/citizen_number.h"

// Everything here may run on a code an attacker printed. nlohmann is used only in its
// non-throwing forms (parse with allow_exceptions=false, find, type checks before get); the
// catch at the entry point is a safety net for a missed check or exhausted memory.

namespace yktgw {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxSignatureChars = 200;  // DER SM2 signatures are at most 72 bytes
constexpr std::size_t kMaxListItems = 32;
constexpr std::size_t kMaxListItemChars = 32;

Error malformed(std::string what) { return make_error("malformed", "QR code: " + std::move(what)); }

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_hex(char c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_kid_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}
bool is_masked_char(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || c == '*'; }

template <typename Pred>
bool all_of(std::string_view s, Pred pred) {
  for (const char c : s)
    if (!pred(c)) return false;
  return true;
}

std::string birth_text(const BirthDate& b) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", b.year, b.month, b.day);
  return buf;
}

std::string issuer_text(IssuerRegion r) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u", static_cast<unsigned>(r));
  return buf;
}

// A member that counts as absent when missing or null, as in the terminal protocol.
const Json* member(const Json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> required_string(const Json& obj, const char* name) {
  const Json* v = member(obj, name);
  if (v == nullptr) return malformed(std::string("missing field '") + name + "'");
  if (!v->is_string()) return malformed(std::string("field '") + name + "' must be a string");
  return v->get<std::string>();
}

Result<std::int64_t> required_int(const Json& obj, const char* name) {
  const Json* v = member(obj, name);
  if (v == nullptr) return malformed(std::string("missing field '") + name + "'");
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return malformed(std::string("field '") + name + "' is out of range");
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<std::int64_t>();
  return malformed(std::string("field '") + name + "' must be an integer");
}

Result<std::vector<std::string>> optional_list(const Json& obj, const char* name) {
  std::vector<std::string> out;
  const Json* v = member(obj, name);
  if (v == nullptr) return out;
  if (!v->is_array()) return malformed(std::string("field '") + name + "' must be an array");
  if (v->size() > kMaxListItems)
    return malformed(std::string("field '") + name + "' has more than 32 items");
  for (const Json& item : *v) {
    if (!item.is_string())
      return malformed(std::string("field '") + name + "' must hold strings only");
    const auto& s = item.get_ref<const std::string&>();
    if (s.empty() || s.size() > kMaxListItemChars)
      return malformed(std::string("items of '") + name + "' must be 1-32 characters");
    out.push_back(s);
  }
  return out;
}

Result<QrPayload> payload_from_json(const Json& doc) {
  if (!doc.is_object()) return malformed("payload is not a JSON object");
  QrPayload p;
  auto v = required_int(doc, "v");
  if (!v) return v.error();
  if (*v != kQrPayloadVersion) return malformed("unsupported payload version");
  p.version = static_cast<int>(*v);

  auto iss = required_string(doc, "iss");
  if (!iss) return iss.error();
  if (iss->size() != 2 || !all_of(*iss, is_digit))
    return malformed("field 'iss' must be two digits");
  p.issuer = static_cast<IssuerRegion>(((*iss)[0] - '0') * 10 + ((*iss)[1] - '0'));

  auto kid = required_string(doc, "kid");
  if (!kid) return kid.error();
  p.kid = std::move(*kid);
  auto tok = required_string(doc, "tok");
  if (!tok) return tok.error();
  p.token = std::move(*tok);
  auto msk = required_string(doc, "msk");
  if (!msk) return msk.error();
  p.masked = std::move(*msk);

  if (const Json* b = member(doc, "birth")) {
    if (!b->is_string()) return malformed("field 'birth' must be a string");
    const auto& s = b->get_ref<const std::string&>();
    if (s.size() != 8 || !all_of(s, is_digit)) return malformed("field 'birth' must be YYYYMMDD");
    p.birth.year = std::stoi(s.substr(0, 4));
    p.birth.month = std::stoi(s.substr(4, 2));
    p.birth.day = std::stoi(s.substr(6, 2));
    // "00000000" would otherwise read as "unknown" and slip past validate_qr_payload.
    if (p.birth.year < 1900) return malformed("field 'birth' is not a real date from 1900 on");
  }
  auto attr = optional_list(doc, "attr");
  if (!attr) return attr.error();
  p.attributes = std::move(*attr);
  auto grp = optional_list(doc, "grp");
  if (!grp) return grp.error();
  p.groups = std::move(*grp);

  auto iat = required_int(doc, "iat");
  if (!iat) return iat.error();
  p.issued_ms = *iat;
  auto exp = required_int(doc, "exp");
  if (!exp) return exp.error();
  p.expires_ms = *exp;
  auto nonce = required_string(doc, "nonce");
  if (!nonce) return nonce.error();
  p.nonce = std::move(*nonce);

  if (auto r = validate_qr_payload(p); !r) return r.error();
  return p;
}

Result<ParsedQr> parse_unguarded(std::string_view code) {
  if (code.size() > kMaxQrBytes) return malformed("longer than 4096 bytes");
  if (!code.starts_with(kQrPrefix)) return malformed("does not start with YKT1.");
  const std::size_t dot = code.find('.', kQrPrefix.size());
  if (dot == std::string_view::npos) return malformed("expected YKT1.<payload>.<signature>");
  const std::string_view payload_b64 = code.substr(kQrPrefix.size(), dot - kQrPrefix.size());
  const std::string_view sig_b64 = code.substr(dot + 1);
  if (payload_b64.empty() || sig_b64.empty() || sig_b64.find('.') != std::string_view::npos)
    return malformed("expected YKT1.<payload>.<signature>");
  if (sig_b64.size() > kMaxSignatureChars) return malformed("signature too long");

  ParsedQr out;
  std::string json_text;
  if (!base64url_decode(payload_b64, json_text)) return malformed("payload is not base64url");
  if (!base64url_decode(sig_b64, out.signature)) return malformed("signature is not base64url");

  const Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return malformed("payload is not valid JSON");
  auto payload = payload_from_json(doc);
  if (!payload) return payload.error();
  out.payload = std::move(*payload);
  out.signed_text = std::string(code.substr(0, dot));
  return out;
}

}  // namespace

Result<void> validate_qr_payload(const QrPayload& p) {
  if (p.version != kQrPayloadVersion) return malformed("unsupported payload version");
  if (p.issuer > 99) return malformed("field 'iss' must be two digits");
  if (p.kid.empty() || p.kid.size() > 16 || !all_of(p.kid, is_kid_char))
    return malformed("field 'kid' must be 1-16 of A-Z a-z 0-9 _ -");
  if (p.token.size() != 64 || !all_of(p.token, is_lower_hex))
    return malformed("field 'tok' must be 64 lower-case hex digits");
  if (p.masked.empty() || p.masked.size() > 32 || !all_of(p.masked, is_masked_char))
    return malformed("field 'msk' must be 1-32 of 0-9 A-Z *");
  if (p.birth.known() || p.birth.month != 0 || p.birth.day != 0) {
    if (p.birth.year < 1900 || !is_real_date(p.birth.year, p.birth.month, p.birth.day))
      return malformed("field 'birth' is not a real date from 1900 on");
  }
  if (p.attributes.size() > kMaxListItems || p.groups.size() > kMaxListItems)
    return malformed("'attr' and 'grp' hold at most 32 items");
  for (const auto* list : {&p.attributes, &p.groups}) {
    for (const std::string& s : *list)
      if (s.empty() || s.size() > kMaxListItemChars)
        return malformed("items of 'attr' and 'grp' must be 1-32 characters");
  }
  if (p.issued_ms < 0 || p.expires_ms < 0) return malformed("'iat' and 'exp' must not be negative");
  if (p.expires_ms < p.issued_ms) return malformed("'exp' is before 'iat'");
  if (p.nonce.size() < 16 || p.nonce.size() > 32 || !all_of(p.nonce, is_hex))
    return malformed("field 'nonce' must be 16-32 hex digits");
  return {};
}

std::string encode_qr_payload(const QrPayload& p) {
  nlohmann::ordered_json j;
  j["v"] = p.version;
  j["iss"] = issuer_text(p.issuer);
  j["kid"] = p.kid;
  j["tok"] = p.token;
  j["msk"] = p.masked;
  if (p.birth.known()) j["birth"] = birth_text(p.birth);
  if (!p.attributes.empty()) j["attr"] = p.attributes;
  if (!p.groups.empty()) j["grp"] = p.groups;
  j["iat"] = p.issued_ms;
  j["exp"] = p.expires_ms;
  j["nonce"] = p.nonce;
  // replace: a stray invalid UTF-8 byte in a caller's string must not throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string sign_qr_json(std::string_view payload_json, const Sm2PrivateKey& key) {
  std::string code(kQrPrefix);
  code += base64url_encode(payload_json);
  const std::string sig = key.sign(code);
  if (sig.empty()) return {};
  code += '.';
  code += base64url_encode(sig);
  return code;
}

std::string mint_qr(const QrPayload& payload, const Sm2PrivateKey& key) {
  try {
    return sign_qr_json(encode_qr_payload(payload), key);
  } catch (const std::exception&) {  // memory exhaustion; callers treat empty as failure
    return {};
  }
}

Result<ParsedQr> parse_qr(std::string_view code) {
  try {
    return parse_unguarded(code);
  } catch (const std::exception&) {
    return malformed("could not be parsed");
  }
}

}  // namespace yktgw
