#!/bin/sh
# Sandbox TEST keys (run once; outputs committed). Never use outside tests.
set -eu
cd "$(dirname "$0")"
for who in merchant platform; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out test-$who-rsa2048.key.pem 2>/dev/null
  openssl pkey -in test-$who-rsa2048.key.pem -pubout -out test-$who-rsa2048.pub.pem
done
# The same merchant key in PKCS#1 ("BEGIN RSA PRIVATE KEY"), the form Alipay's key tool often hands out.
openssl rsa -in test-merchant-rsa2048.key.pem -traditional -out test-merchant-rsa2048.pkcs1.key.pem 2>/dev/null
# A self-signed "platform certificate" for the WeChat Pay sandbox (40-hex-digit serial, like WeChat's).
openssl req -new -x509 -key test-platform-rsa2048.key.pem -sha256 -days 7300 \
  -set_serial 0x3A1B2C3D4E5F60718293A4B5C6D7E8F901234567 -subj "/C=CN/O=Shenfen TEST/CN=TEST Wechatpay platform" \
  -out test-platform-rsa2048.cert.pem
