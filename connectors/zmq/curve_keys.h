#pragma once
// CURVE key pairs for the district link (ZeroMQ CurveZMQ, Z85 text). The gateway holds a client
// pair and pins the platform's public key; the platform holds a server pair. Key files use the
// layout of ZeroMQ's own certificates (czmq zcert "secret" files), so operators can read them
// with the usual ZeroMQ tools, and must not be readable by group or others.

#include <string>
#include <string_view>

#include "gateway/core/result.h"

namespace yktgw::district {

// 40 characters of Z85 each (32 raw bytes).
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
  bool operator==(const CurveKeyPair&) const = default;
};

inline constexpr std::size_t kZ85KeyLength = 40;

// True for 40 characters of the Z85 alphabet that decode to a 32-byte key.
bool is_z85_key(std::string_view text);

// A fresh pair from libzmq's CSPRNG (libsodium). Error "curve_unavailable" when libzmq was
// built without CURVE.
Result<CurveKeyPair> generate_curve_keypair();

// The public key belonging to `secret_key` (both Z85).
Result<std::string> curve_public_key_of(std::string_view secret_key);

// Reads a key file. Refuses a file that group or others may access, a missing or malformed
// key, and a public key that does not belong to the secret key.
Result<CurveKeyPair> read_curve_key_file(const std::string& path);

// Writes a new key file with mode 0600. Refuses to replace an existing file unless
// `overwrite`: a key pair lost by accident means re-enrolling the box with the platform.
Result<void> write_curve_key_file(const std::string& path, const CurveKeyPair& keys,
                                  bool overwrite = false);

// The text of a key file (what write_curve_key_file writes), for tests and tools.
std::string curve_key_file_text(const CurveKeyPair& keys);

}  // namespace yktgw::district
