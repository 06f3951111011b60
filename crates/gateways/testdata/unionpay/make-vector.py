#!/usr/bin/env python3
"""Builds vector.json for UnionPay 5.1.0 signMethod=01 with the openssl COMMAND LINE (independent of the Rust code).

Rule (UnionPay acp SDK, SDKUtil.signBySecureKey / signByCertInfo for signMethod 01):
  sign_string = join('&', sorted(k + '=' + v for k, v in params if k != 'signature' and v != ''))
  digest_hex  = lower-case hex SHA-256 of sign_string (UTF-8)          # openssl dgst -sha256
  signature   = base64(RSA PKCS#1 v1.5 SHA-256 signature of digest_hex)  # openssl dgst -sha256 -sign
Only python's sorting / string joining / JSON output are used here; hashing and signing are openssl.
"""
import json, subprocess

def sh(args, data):
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout

def vector(params, key):
    items = sorted((k, v) for k, v in params.items() if k != "signature" and v != "")
    sign_string = "&".join(f"{k}={v}" for k, v in items)
    digest_hex = sh(["openssl", "dgst", "-sha256", "-r"], sign_string.encode()).decode().split()[0]
    sig = sh(["openssl", "dgst", "-sha256", "-sign", key], digest_hex.encode())
    sig_b64 = sh(["openssl", "base64", "-A"], sig).decode().strip()
    return {"params": params, "sign_string": sign_string, "sha256_hex": digest_hex, "signature": sig_b64}

merchant_cert_serial = sh(["openssl", "x509", "-in", "test-merchant.cert.pem", "-noout", "-serial"], b"").decode().strip().split("=")[1]
cert_id = str(int(merchant_cert_serial, 16))
request = {
    "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01", "txnSubType": "01",
    "bizType": "000201", "channelType": "08", "accessType": "0", "merId": "777290058110048",
    "orderId": "SF20260101120000001", "txnTime": "20260101120000", "txnAmt": "2000", "currencyCode": "156",
    "frontUrl": "https://shenfen.example/pay/return", "backUrl": "https://shenfen.example/pay/notify/unionpay",
    "payTimeout": "20260101123000", "riskRateInfo": "{commodityName=居民身份证补领}", "reqReserved": "",
    "certId": cert_id,
}
signer_pem = open("test-unionpay-signer.cert.pem").read()
notify = {
    "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01", "txnSubType": "01",
    "bizType": "000201", "accessType": "0", "merId": "777290058110048", "orderId": "SF20260101120000001",
    "txnTime": "20260101120000", "txnAmt": "2000", "currencyCode": "156", "queryId": "792601011200001234568",
    "respCode": "00", "respMsg": "成功[0000000]", "settleAmt": "2000", "settleCurrencyCode": "156",
    "settleDate": "0101", "traceNo": "123456", "traceTime": "0101120003", "payType": "0001",
    "accNo": "6216***********0018", "signPubKeyCert": signer_pem,
}
out = {
    "request": dict(vector(request, "test-merchant.key.pem"), signing_cert="test-merchant.cert.pem", cert_id=cert_id),
    "notify": dict(vector(notify, "test-unionpay-signer.key.pem"), signing_cert="test-unionpay-signer.cert.pem"),
}
for part in out.values():
    part["params"]["signature"] = part["signature"]
with open("vector.json", "w") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
