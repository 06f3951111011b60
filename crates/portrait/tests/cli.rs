//! The CLI: output format, exit codes, debug previews.

mod common;
use common::*;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shenfen-photo"))
}

#[test]
fn check_json_one_line_per_file_exit_zero() {
    let dir = std::env::temp_dir().join(format!("shenfen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.jpg");
    std::fs::write(&garbage, b"not an image").unwrap();
    let out = bin()
        .args(["check", "--json", "--debug-dir"])
        .arg(dir.join("dbg"))
        .arg(data("test3.jpg"))
        .arg(&garbage)
        .arg(data("dogs.jpg"))
        .arg(dir.join("missing.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for v in &lines {
        let o = v.as_object().unwrap();
        let mut keys: Vec<&str> = o.keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["faces", "file", "issues", "score", "timings_ms", "verdict"]);
        for i in v["issues"].as_array().unwrap() {
            let mut k: Vec<&str> = i.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            k.sort();
            assert_eq!(k, ["code", "limit", "message", "severity", "value"]);
        }
    }
    assert_eq!(lines[0]["verdict"], "pass");
    assert_eq!(lines[0]["faces"], 1);
    assert_eq!(lines[1]["verdict"], "error");
    assert_eq!(lines[1]["issues"][0]["code"], "decode_error");
    assert_eq!(lines[2]["verdict"], "fail");
    assert_eq!(lines[2]["issues"][0]["code"], "no_face");
    assert_eq!(lines[3]["verdict"], "error");
    // Previews were written for the decodable files.
    assert!(dir.join("dbg/test3.jpg.debug.png").exists());
    assert!(dir.join("dbg/dogs.jpg.debug.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_are_nonzero() {
    assert_eq!(bin().args(["check"]).output().unwrap().status.code(), Some(2));
    assert_eq!(bin().args(["check", "--purpose", "passport", "x.jpg"]).output().unwrap().status.code(), Some(2));
    assert_eq!(bin().args(["frobnicate"]).output().unwrap().status.code(), Some(2));
}

#[test]
fn final_purpose_and_standardize_and_best() {
    let dir = std::env::temp_dir().join(format!("shenfen-cli2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("id.jpg");
    let o = bin().args(["standardize", "--json"]).arg(data("test1.webp")).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (358, 441));
    // The produced photo passes as a final photo; the source does not (wrong size).
    let o = bin().args(["check", "--json", "--purpose", "final"]).arg(&out).arg(data("test1.webp")).output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["verdict"], "pass", "{}", lines[0]);
    assert!(lines[1]["issues"].as_array().unwrap().iter().any(|i| i["code"] == "not_standard_size"));
    // Refusal: exit 1, no output file.
    let bad = dir.join("nope.jpg");
    let o = bin().args(["standardize", "--json"]).arg(data("dogs.jpg")).arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!bad.exists());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["issues"][0]["code"], "no_face");
    // Best of three.
    let o = bin().args(["best", "--json"]).arg(data("test4.jpg")).arg(data("test3.jpg")).arg(data("dogs.jpg")).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["best"].as_str().unwrap().ends_with("test3.jpg"));
    assert_eq!(v["ranking"].as_array().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
