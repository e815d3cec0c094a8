#pragma once
// The gateway's parts seen through status::StatusSource, for the status server. Built and
// owned by the composition root; reads the parts, never changes them.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/status/status_source.h"

namespace yktgw {

class CardListCache;
class Dispatcher;
class PolicyAuthorizer;
class PolicyFile;
class ServiceCatalog;
class SqliteRecordStore;
class Clock;
namespace district {
class DistrictLink;
}
namespace mqtt {
class PahoTerminalLink;
}
namespace outbox {
class DiskQuota;
class Forwarder;
}  // namespace outbox

class GatewayStatus final : public status::StatusSource {
 public:
  struct Deps {
    std::string gateway_id;
    std::string site;
    std::string records_db;
    std::string outbox_db;
    const Clock& clock;
    const Dispatcher& dispatcher;
    const mqtt::PahoTerminalLink& link;
    const SqliteRecordStore& store;
    const CardListCache& cardlist;
    const outbox::Forwarder& forwarder;
    const outbox::DiskQuota& quota;
    const district::DistrictLink& district;
    const PolicyFile& policies;
    const PolicyAuthorizer& engine;
    std::shared_ptr<const ServiceCatalog> catalog;
  };
  explicit GatewayStatus(Deps deps);
  ~GatewayStatus() override;

  status::StatusSnapshot status() const override;
  std::vector<status::TerminalView> terminals() const override;
  Result<std::vector<status::DeadLetterView>> dead_letters() const override;
  Result<std::vector<status::DepthCount>> depth_counts(UtcMillis from_ms) const override;
  std::vector<status::DepthTarget> depth_targets() const override;
  std::map<std::string, int> scenario_items() const override;
  status::Readiness readiness() const override;

 private:
  struct Reader;  // a read-only connection to records.db, opened on first use
  Deps d_;
  UtcMillis started_ms_;
  mutable std::mutex reader_mu_;
  mutable std::unique_ptr<Reader> reader_;
};

}  // namespace yktgw
