#pragma once

#include <string>

namespace yktgw::mqtt {

// Paho offers no socket option hook, and with Nagle's algorithm on, a QoS 1 request/reply over
// loopback waits for delayed ACKs on both hops (about 88 ms instead of 0.17 ms). Call this after
// every (re)connect: it finds this process's TCP sockets whose peer is the broker of `uri`
// (tcp://, ssl://, mqtt://, mqtts://, ws://, wss://) and sets TCP_NODELAY on them.
// Returns how many sockets it set.
int set_tcp_nodelay_to_broker(const std::string& uri);

}  // namespace yktgw::mqtt
