// The card-list feed (snapshot and delta). Random bytes rarely carry a valid SM2 signature, so
// every input is also decoded a second time with a signature made here over its bytes: that
// reaches the checks behind the signature (kind, versions, groups, entries).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/cardlist/feed_format.h"

namespace {

struct Keys {
  yktgw::Sm2PrivateKey priv;
  yktgw::Sm2PublicKey pub;
};

Keys& keys() {
  static Keys k = [] {
    auto priv = yktgw::Sm2PrivateKey::generate();
    if (!priv) __builtin_trap();
    auto pub = priv->public_key();
    if (!pub) __builtin_trap();
    return Keys{std::move(*priv), std::move(*pub)};
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto& k = keys();
  (void)yktgw::decode_feed(in, k.pub);
  const std::string sig = k.priv.sign(in);
  if (sig.empty()) return 0;
  std::string signed_feed(in);
  signed_feed.push_back(static_cast<char>(sig.size() >> 8));
  signed_feed.push_back(static_cast<char>(sig.size() & 0xFF));
  signed_feed += sig;
  if (auto feed = yktgw::decode_feed(signed_feed, k.pub)) {
    // A feed that decodes must encode to bytes that decode to the same entries.
    const std::string again = yktgw::encode_feed(feed->header, feed->entries, k.priv);
    auto back = yktgw::decode_feed(again, k.pub);
    if (!back || back->entries != feed->entries || !(back->header == feed->header)) {
      __builtin_trap();
    }
  }
  return 0;
}
