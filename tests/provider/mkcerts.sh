#!/bin/sh
# mkcerts.sh DIR - make the test certificates that byo-provider.py presents, all in DIR:
#   ca.pem ca.key                  a test CA (trust it with the client's CA-file setting)
#   good.pem good.key              signed by the CA, for DNS:localhost, IP:127.0.0.1, IP:::1
#   wrongname.pem wrongname.key    signed by the CA, for other.invalid only (a name mismatch)
#   expired.pem expired.key        signed by the CA, for localhost, valid only in January 2020
#   selfsigned.pem selfsigned.key  for localhost, self-signed (not from the CA: untrusted)
# Every certificate has exactly one defect (or none, for good.pem), so a test names the cause.
# Idempotent: a complete DIR is left as it is. Safe to run concurrently on the same DIR (flock).
# Keys are EC P-256, so the whole set takes well under a second.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: mkcerts.sh DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

# Serialise concurrent runs (make -j check) so no test reads a half-made set.
if command -v flock >/dev/null 2>&1; then
    exec 9>.mkcerts.lock
    flock 9
fi
if [ -f .complete ]; then
    exit 0
fi

work=.mkcerts.work
rm -rf "$work"
mkdir "$work"

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

# leaf_ext NAME SAN - an extensions section for a server certificate
leaf_ext() {
    cat >"$work/$1.ext" <<EOF
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $2
EOF
}

# The CA.
newkey ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/O=byosmtp tests/CN=byosmtp test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem

# sign NAME CN SAN - a CA-signed leaf valid for ten years
sign() {
    newkey "$1.key"
    leaf_ext "$1" "$3"
    openssl req -new -key "$1.key" -subj "/O=byosmtp tests/CN=$2" -out "$work/$1.csr"
    openssl x509 -req -in "$work/$1.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
        -sha256 -days 3650 -extfile "$work/$1.ext" -extensions leaf -out "$1.pem" 2>/dev/null
}

sign good localhost "DNS:localhost, IP:127.0.0.1, IP:::1"
sign wrongname other.invalid "DNS:other.invalid"

# The expired one: `openssl x509 -req` in OpenSSL 3.0 cannot set a start date in the past,
# `openssl ca` can (-startdate/-enddate).
newkey expired.key
leaf_ext expired "DNS:localhost, IP:127.0.0.1, IP:::1"
openssl req -new -key expired.key -subj "/O=byosmtp tests/CN=localhost" -out "$work/expired.csr"
: >"$work/index.txt"
openssl rand -hex 8 >"$work/serial"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = testca
[testca]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = anything
unique_subject = no
[anything]
organizationName = optional
commonName = supplied
EOF
openssl ca -batch -config "$work/ca.cnf" -cert ca.pem -keyfile ca.key -notext \
    -startdate 200101000000Z -enddate 200201000000Z -extfile "$work/expired.ext" -extensions leaf \
    -in "$work/expired.csr" -out expired.pem 2>/dev/null
if openssl x509 -in expired.pem -noout -checkend 0 >/dev/null; then
    echo "mkcerts.sh: expired.pem is not expired" >&2
    exit 1
fi

# The self-signed one.
newkey selfsigned.key
openssl req -x509 -new -key selfsigned.key -sha256 -days 3650 -subj "/O=byosmtp tests/CN=localhost" \
    -addext "subjectAltName=DNS:localhost, IP:127.0.0.1, IP:::1" -addext "basicConstraints=critical,CA:FALSE" \
    -out selfsigned.pem

rm -rf "$work"
: >.complete
