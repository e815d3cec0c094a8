#pragma once
// The composition root: builds every component from the config, wires them, and owns their
// lifecycle. Nothing else in the gateway knows which implementation sits behind an interface.

#include <memory>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/core/result.h"

namespace yktgw {

class GatewayApp {
 public:
  // Opens the stores, loads the card list, starts the workers and connects to the broker.
  // A bad key file or an unopenable store is an error here, before anything runs.
  static Result<std::unique_ptr<GatewayApp>> start(const Config& config);
  ~GatewayApp();

  // SIGHUP: applies what can change at run time, logs what needs a restart.
  void reload(const Config& next);
  // Called about once a second from the main loop.
  void tick();
  // SIGTERM/SIGINT: stop intake, finish queued messages, commit and ack, disconnect.
  void shutdown();

 private:
  struct Parts;
  explicit GatewayApp(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> p_;
};

// Everything start() reads before it opens a store or a socket: key files, credential
// issuer keys, policies and service items, link options, routes. For `yktgw check-config`;
// nothing is written.
Result<void> preflight(const Config& config);

// Every file and directory the config names for reading (KeySpec::path_role) can be opened;
// otherwise "FILE:LINE:COL: key 'a.b': cannot read 'PATH': REASON". preflight() and start()
// begin with it.
Result<void> check_input_paths(const Config& config);

// Creates `dir` and its parents when missing (mode 0750).
Result<void> make_dirs(const std::string& dir);

}  // namespace yktgw
