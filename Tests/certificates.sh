#!/bin/sh
# Throwaway certificates for the TLS tests, made with the openssl CLI:
#   sh Tests/certificates.sh DIR
# writes DIR/ca.pem (a test CA), DIR/server.pem + DIR/server.key (a certificate for
# 127.0.0.1, subjectAltName IP:127.0.0.1, signed by that CA) and DIR/other-ca.pem (an
# unrelated CA, whose trust must not be enough). Valid for two days; keys are P-256.
set -eu
cd "$1"
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$1" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$2.key" -out "$2.pem" 2>/dev/null
}
ca "Minga test CA" ca
ca "Some other CA" other-ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
