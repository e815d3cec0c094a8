#include "gateway/credentials/issuer_keys.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace yktgw {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".pub.pem";

bool is_kid_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// "50-k1.pub.pem" → (50, "k1"); false for any other name.
bool parse_key_file_name(std::string_view name, IssuerRegion& region, std::string& kid) {
  if (!name.ends_with(kSuffix)) return false;
  name.remove_suffix(kSuffix.size());
  if (name.size() < 4 || name[2] != '-') return false;
  if (name[0] < '0' || name[0] > '9' || name[1] < '0' || name[1] > '9') return false;
  const std::string_view k = name.substr(3);
  if (k.size() > 16) return false;
  for (const char c : k)
    if (!is_kid_char(c)) return false;
  region = static_cast<IssuerRegion>((name[0] - '0') * 10 + (name[1] - '0'));
  kid = std::string(k);
  return true;
}

}  // namespace

Result<IssuerKeyRing> IssuerKeyRing::from_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return make_error("issuer_keys", "issuer key directory '" + dir + "' does not exist");
  IssuerKeyRing ring;
  fs::directory_iterator it(dir, ec);
  if (ec)
    return make_error("issuer_keys",
                      "cannot list issuer key directory '" + dir + "': " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    IssuerRegion region = 0;
    std::string kid;
    if (!parse_key_file_name(it->path().filename().string(), region, kid)) continue;
    auto key = Sm2PublicKey::from_pem_file(it->path().string());
    if (!key) return make_error("issuer_keys", key.error().message);
    ring.add(region, std::move(kid), std::move(key.value()));
  }
  if (ec)
    return make_error("issuer_keys",
                      "cannot list issuer key directory '" + dir + "': " + ec.message());
  return ring;
}

void IssuerKeyRing::add(IssuerRegion region, std::string kid, Sm2PublicKey key) {
  keys_.insert_or_assign(std::make_pair(region, std::move(kid)), std::move(key));
}

const Sm2PublicKey* IssuerKeyRing::find(IssuerRegion region, std::string_view kid) const {
  // The key type needs a std::string. A kid is at most 16 characters, so this copy costs next
  // to nothing beside the SM2 verification that follows every lookup.
  const auto it = keys_.find(std::make_pair(region, std::string(kid)));
  return it == keys_.end() ? nullptr : &it->second;
}

std::string IssuerKeyRing::describe() const {
  std::string out;
  for (const auto& [id, key] : keys_) {
    if (!out.empty()) out += ',';
    char region[8];
    std::snprintf(region, sizeof region, "%02u", static_cast<unsigned>(id.first));
    out += region;
    out += '-';
    out += id.second;
  }
  return out;
}

}  // namespace yktgw
