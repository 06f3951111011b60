//! Test-only access to the committed copies of the vectors and keys under `testdata/`.

use serde_json::Value;

pub const VECTORS_JSON: &str = include_str!("../testdata/vectors/vectors.json");

/// One entry of `testdata/vectors/vectors.json`.
pub fn vector(name: &str) -> Value {
    let all: Value = serde_json::from_str(VECTORS_JSON).expect("vectors.json parses");
    all.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("vector {name} missing"))
}

/// A string field of a vector.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("field {key} missing"))
}

pub const WX_TESTKEY_PEM: &str = include_str!("../testdata/vectors/wx_testkey.pem");
pub const TEST_MERCHANT_KEY_PEM: &str =
    include_str!("../testdata/keys/test-merchant-rsa2048.key.pem");
pub const TEST_MERCHANT_PKCS1_KEY_PEM: &str =
    include_str!("../testdata/keys/test-merchant-rsa2048.pkcs1.key.pem");
pub const TEST_MERCHANT_PUB_PEM: &str =
    include_str!("../testdata/keys/test-merchant-rsa2048.pub.pem");
pub const TEST_PLATFORM_KEY_PEM: &str =
    include_str!("../testdata/keys/test-platform-rsa2048.key.pem");
pub const TEST_PLATFORM_PUB_PEM: &str =
    include_str!("../testdata/keys/test-platform-rsa2048.pub.pem");
pub const TEST_PLATFORM_CERT_PEM: &str =
    include_str!("../testdata/keys/test-platform-rsa2048.cert.pem");
