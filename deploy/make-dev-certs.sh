#!/usr/bin/env bash
# Makes development certificates for the HTTPS cross-province link (docs/upstream-https.md):
#   ca.pem / ca.key                  a development CA (pin it with https.ca_file)
#   server.pem / server.key          the platform's certificate for 127.0.0.1 and localhost
#   client.pem / client.key          a gateway's client certificate for mTLS
#   client-expired.pem / .key        the same, expired (for tests of refused certificates)
#   other-ca.pem / other-ca.key      an unrelated CA (for tests of a wrong pinned CA)
# 开发用证书，切勿用于生产。 / For development and tests only; never in production.
#
# Usage: deploy/make-dev-certs.sh DIR [CLIENT_NAME]
#   DIR          created when missing; existing files in it are replaced
#   CLIENT_NAME  the client certificate's CN (default: the example gateway id wl-xiangkou-01)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 DIR [CLIENT_NAME]" >&2
  exit 2
fi
dir=$1
client_name=${2:-wl-xiangkou-01}
command -v openssl >/dev/null || { echo "make-dev-certs: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# P-256 keys: quick to make, and every TLS stack in use here (OpenSSL via libcurl and
# cpp-httplib) speaks ECDSA.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {  # name subject
  newkey "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "$2" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
}

sign() {  # name subject extfile [days]
  newkey "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$work/$1.csr"
  openssl x509 -req -in "$work/$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -CAserial "$work/ca.srl" -sha256 -days "${4:-825}" -extfile "$3" -out "$1.pem" 2>/dev/null
}

make_ca ca "/O=yktgw development/CN=yktgw dev CA"
make_ca other-ca "/O=somebody else/CN=unrelated dev CA"

cat >"$work/server.ext" <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
cat >"$work/client.ext" <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT

sign server "/O=yktgw development/CN=localhost" "$work/server.ext"
sign client "/O=yktgw development/CN=$client_name" "$work/client.ext"

# An expired client certificate: `openssl x509 -req` cannot date a certificate in the past, so
# this one goes through a throw-away `openssl ca` set-up with explicit start and end dates.
newkey client-expired.key
openssl req -new -key client-expired.key -subj "/O=yktgw development/CN=$client_name" \
  -out "$work/expired.csr"
mkdir -p "$work/ca/newcerts"
: >"$work/ca/index.txt"
echo 01 >"$work/ca/serial"
cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = none
[anything]
organizationName = optional
commonName = supplied
[client_ext]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
CNF
openssl ca -batch -config "$work/ca.cnf" -cert ca.pem -keyfile ca.key -extensions client_ext \
  -startdate 20200101000000Z -enddate 20200201000000Z -in "$work/expired.csr" \
  -out client-expired.pem -notext 2>/dev/null

chmod 644 ./*.pem
chmod 600 ./*.key
echo "make-dev-certs: wrote ca, server (127.0.0.1, localhost), client (CN=$client_name)," \
  "client-expired and other-ca into $(pwd)"
