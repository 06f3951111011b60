#!/bin/sh
# Generates the UnionPay TEST PKI used by the unit tests (run once; outputs are committed).
# TEST MATERIAL ONLY: none of these keys or certificates has anything to do with UnionPay.
set -eu
cd "$(dirname "$0")"
umask 077
D=work; rm -rf "$D"; mkdir -p "$D"; touch "$D/index.txt"; echo 1000 > "$D/serial"
cat > "$D/ca.cnf" <<'CNF'
[ ca ]
default_ca = testca
[ testca ]
dir = work
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
# Root CA (self-signed).
key test-root-ca.key.pem
openssl req -new -x509 -utf8 -key test-root-ca.key.pem -sha256 -days 7300 -set_serial 1 \
  -subj "/C=CN/O=Shenfen TEST/CN=Shenfen TEST UnionPay Root CA" \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out test-root-ca.cert.pem
sign() { # $1 csr, $2 out, $3 issuer cert, $4 issuer key, $5 ext, then extra ca args
  csr=$1 out=$2 ic=$3 ik=$4 ext=$5; shift 5
  openssl ca -batch -utf8 -config "$D/ca.cnf" -cert "$ic" -keyfile "$ik" -extensions "$ext" -in "$csr" -out "$out" -notext "$@" 2>/dev/null
}
# Intermediate CA (issued by the root).
key test-middle-ca.key.pem
openssl req -new -utf8 -key test-middle-ca.key.pem -subj "/C=CN/O=Shenfen TEST/CN=Shenfen TEST UnionPay Intermediate CA" -out "$D/middle.csr"
sign "$D/middle.csr" test-middle-ca.cert.pem test-root-ca.cert.pem test-root-ca.key.pem v3_ca -days 7000
# UnionPay-side signing certificate (issued by the intermediate), CN in UnionPay's '@'-separated form.
key test-unionpay-signer.key.pem
openssl req -new -utf8 -key test-unionpay-signer.key.pem \
  -subj "/C=CN/O=Shenfen TEST/OU=00040000/CN=041@Z12400000000000000@中国银联股份有限公司@00000001" -out "$D/signer.csr"
sign "$D/signer.csr" test-unionpay-signer.cert.pem test-middle-ca.cert.pem test-middle-ca.key.pem v3_leaf -days 3650
# Same key, certificate that EXPIRED (validity 2020-01-01 .. 2021-01-01).
sign "$D/signer.csr" test-unionpay-signer-expired.cert.pem test-middle-ca.cert.pem test-middle-ca.key.pem v3_leaf \
  -startdate 20200101000000Z -enddate 20210101000000Z
# A foreign root and a signer certificate with the same subject, issued by it.
key test-foreign-root-ca.key.pem
openssl req -new -x509 -utf8 -key test-foreign-root-ca.key.pem -sha256 -days 7300 -set_serial 7 \
  -subj "/C=CN/O=Shenfen TEST/CN=Shenfen TEST UnionPay Intermediate CA" \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out test-foreign-root-ca.cert.pem
sign "$D/signer.csr" test-unionpay-signer-foreign.cert.pem test-foreign-root-ca.cert.pem test-foreign-root-ca.key.pem v3_leaf -days 3650
# Merchant signing key and certificate (certId = its decimal serial).
key test-merchant.key.pem
openssl req -new -utf8 -key test-merchant.key.pem -subj "/C=CN/O=Shenfen TEST/CN=777290058110048@TEST merchant" -out "$D/merchant.csr"
sign "$D/merchant.csr" test-merchant.cert.pem test-middle-ca.cert.pem test-middle-ca.key.pem v3_leaf -days 3650
openssl pkey -in test-merchant.key.pem -pubout -out test-merchant.pub.pem
rm -rf "$D" test-foreign-root-ca.key.pem
