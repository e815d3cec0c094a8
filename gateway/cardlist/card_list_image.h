#pragma once
// A binary image of the in-memory index, kept next to cardlist.db so a restart reads a few
// hundred MiB in well under a second instead of walking tens of millions of SQLite rows. It is
// a cache: SQLite stays the source of truth, the image is used only when its list version,
// time and feed id match the database's, and any damage (size, order, SHA-256) makes the
// caller fall back to SQLite and write a fresh one.

#include <memory>
#include <string>

#include "gateway/cardlist/attribute_names.h"
#include "gateway/cardlist/card_index.h"
#include "gateway/core/result.h"

namespace yktgw {

// Writes `index`, whose attribute bits follow `names`, to `path` atomically: a temporary file
// in the same directory, fsync, rename over `path`, fsync of the directory.
Result<void> write_card_list_image(const std::string& path, const CardIndex& index,
                                   const AttributeNames& names);

// Reads an image, moving attribute bits to `names` if it was written with another group order.
// Error codes: image_missing (no file), image_corrupt (anything else wrong with it).
Result<std::shared_ptr<const CardIndex>> read_card_list_image(const std::string& path,
                                                              const AttributeNames& names);

}  // namespace yktgw
