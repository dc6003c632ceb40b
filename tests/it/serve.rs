//! `tolk serve` end to end: the real binary on a free loopback port, driven over HTTP (reqwest)
//! with the fixture models and the real Argos zh→en package. Every answer is checked against
//! what the CLI prints for the same input. One server per test group.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{fixture, zh_en_package};

const ZH: &str = "国家统计局今天公布了最新数据。";
const DA: &str = "Danmarks udenrigsminister mødtes i dag med sin russiske kollega i Moskva.";

/// A running `tolk serve`, stopped (SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
    http: Client,
}

fn tolk_bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("tolk")
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(tolk_bin())
            .args(["serve", "--port", "0", "--quiet"])
            .args(args)
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env("HF_HOME", std::env::temp_dir().join("tolk-tests-no-cache"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("tolk serve starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});
        let server = Server {
            child,
            url,
            http: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = self.http.get(self.at("/health")).send() {
                if r.status() == StatusCode::OK {
                    return;
                }
                let body: Value = r.json().unwrap();
                assert_ne!(body["status"], "failed", "{body}");
            }
            assert!(Instant::now() < until, "tolk serve never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(self.at(path)).json(&body).send().unwrap();
        let status = r.status();
        (status, r.json().unwrap_or(Value::Null))
    }

    fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let r = self
            .http
            .post(self.at(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        let status = r.status();
        (status, r.json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(self.at(path)).send().unwrap();
        (r.status(), r.text().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `tolk translate [extra] --model MODEL` prints for `text`.
fn cli(model: &str, extra: &[&str], text: &str) -> String {
    let out = assert_cmd::Command::new(tolk_bin())
        .arg("translate")
        .args(extra)
        .args(["--model", model, "--quiet"])
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .write_stdin(text)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// What `tolk ARGS` prints as JSON for `stdin`.
fn cli_json(args: &[&str], stdin: &str) -> Value {
    let out = assert_cmd::Command::new(tolk_bin())
        .args(args)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .write_stdin(stdin)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn tiny() -> String {
    fixture("marian/tiny-bin").display().to_string()
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
}

#[test]
fn libretranslate_api_answers_like_the_cli() {
    let zh = zh_en_package().map(|p| p.display().to_string());
    let tiny = tiny();
    let mut args = vec![
        "--no-summary",
        "--char-limit",
        "300",
        "--max-body-bytes",
        "65536",
    ];
    let da_model = format!("da={tiny}");
    args.extend(["--model", &da_model]);
    let zh_model = zh.as_ref().map(|z| format!("zh={z}"));
    if let Some(m) = &zh_model {
        args.extend(["--model", m]);
    }
    let s = Server::start(&args);

    // The languages it serves, each into English (and itself).
    let (status, body) = s.get("/languages");
    assert_eq!(status, StatusCode::OK);
    let langs: Value = serde_json::from_str(&body).unwrap();
    let da = langs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["code"] == "da")
        .expect("da listed");
    assert_eq!(da["name"], "Danish");
    assert_eq!(da["targets"], json!(["da", "en"]));
    assert!(langs.as_array().unwrap().iter().any(|l| l["code"] == "en"));
    let (_, settings) = s.get("/frontend/settings");
    let settings: Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(
        (settings["apiKeys"].clone(), settings["charLimit"].clone()),
        (json!(false), json!(300))
    );

    // JSON and form bodies, one text and a list: what the CLI prints for each sentence.
    let expected = cli(&tiny, &[], DA).trim().to_string();
    let (status, v) = s.post_json(
        "/translate",
        json!({"q": DA, "source": "da", "target": "en"}),
    );
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["translatedText"], expected);
    assert!(v.get("detectedLanguage").is_none(), "only for auto: {v}");
    let (_, f) = s.post_form(
        "/translate",
        &[("q", DA), ("source", "da"), ("target", "en")],
    );
    assert_eq!(f["translatedText"], expected);
    let more = ["Det regner i København.", DA, "Ministeren siger ingenting."];
    let (_, list) = s.post_json(
        "/translate",
        json!({"q": more, "source": "da", "target": "en", "alternatives": 2}),
    );
    let singles: Vec<String> = more
        .iter()
        .map(|t| cli(&tiny, &[], t).trim().to_string())
        .collect();
    assert_eq!(
        list["translatedText"],
        json!(singles),
        "a list answers like one request per text"
    );
    assert_eq!(list["alternatives"], json!([[], [], []]));
    let (_, same) = s.post_json(
        "/translate",
        json!({"q": DA, "source": "da", "target": "da"}),
    );
    assert_eq!(
        same["translatedText"], DA,
        "into its own language: unchanged"
    );

    // Detection.
    let article = "Udenrigsministeren sagde i går, at forhandlingerne om en våbenhvile i Syrien fortsætter i næste uge.";
    let (_, auto) = s.post_json(
        "/translate",
        json!({"q": article, "source": "auto", "target": "en"}),
    );
    assert_eq!(auto["detectedLanguage"]["language"], "da", "{auto}");
    let c = auto["detectedLanguage"]["confidence"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&c) && c > 50.0, "{auto}");
    assert_eq!(auto["translatedText"], cli(&tiny, &[], article).trim());
    let (_, det) = s.post_form("/detect", &[("q", article)]);
    assert_eq!(det[0]["language"], "da", "{det}");

    // HTML keeps its markup and translates the text.
    let (_, h) = s.post_json(
        "/translate",
        json!({"q": format!("<p class=\"x\">{DA}</p><code>{DA}</code>"), "source": "da", "target": "en", "format": "html"}),
    );
    assert_eq!(
        h["translatedText"],
        format!("<p class=\"x\">{expected}</p><code>{DA}</code>")
    );

    // The real Argos model, when fetched (CI always has it).
    if let Some(z) = &zh {
        let want = cli(z, &[], ZH).trim().to_string();
        let (_, v) = s.post_json(
            "/translate",
            json!({"q": [ZH, ZH], "source": "auto", "target": "en"}),
        );
        assert_eq!(v["translatedText"], json!([want.clone(), want.clone()]));
        assert_eq!(v["detectedLanguage"][1]["language"], "zh");
        let (_, h) = s.post_json(
            "/translate",
            json!({"q": format!("<p>{ZH}</p>"), "source": "zh", "target": "en", "format": "html"}),
        );
        assert_eq!(h["translatedText"], format!("<p>{want}</p>"));
    }

    // LibreTranslate's errors.
    let cases = [
        (
            json!({"source": "da", "target": "en"}),
            "Invalid request: missing q parameter",
        ),
        (
            json!({"q": "", "source": "da", "target": "en"}),
            "Invalid request: missing q parameter",
        ),
        (
            json!({"q": DA, "target": "en"}),
            "Invalid request: missing source parameter",
        ),
        (
            json!({"q": DA, "source": "da"}),
            "Invalid request: missing target parameter",
        ),
        (
            json!({"q": DA, "source": "xx", "target": "en"}),
            "xx is not supported",
        ),
        (
            json!({"q": DA, "source": "da", "target": "zz"}),
            "zz is not supported",
        ),
        (
            json!({"q": DA, "source": "da", "target": "en", "format": "pdf"}),
            "pdf format is not supported",
        ),
        (
            json!({"q": "æ".repeat(301), "source": "da", "target": "en"}),
            "Invalid request: request (301) exceeds text limit (300)",
        ),
    ];
    for (body, message) in cases {
        let (status, v) = s.post_json("/translate", body.clone());
        assert_eq!(
            (status, error_of(&v)),
            (StatusCode::BAD_REQUEST, message),
            "{body}"
        );
    }
    let r = s
        .http
        .post(s.at("/translate"))
        .header("Content-Type", "application/json")
        .body("{\"q\": ")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(&r.json().unwrap()).contains("not valid JSON"));
    let r = s
        .http
        .post(s.at("/translate"))
        .body(b"q=\xff&source=da&target=en".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(&r.json().unwrap()).contains("UTF-8"));
    let r = s
        .http
        .post(s.at("/translate"))
        .body(vec![b'a'; 70_000])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&r.json().unwrap()).contains("65536 bytes"));
    let (status, _) = s.get("/no/such/thing");
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What the metrics saw.
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains(r#"tolk_requests_total{endpoint="/translate",status="200"}"#),
        "{m}"
    );
    assert!(m.contains(r#"tolk_requests_total{endpoint="/translate",status="400"}"#));
    assert!(m.contains("tolk_batch_sentences_count") && m.contains("tolk_generated_tokens_total"));
    assert!(m.contains("tolk_queue_sentences 0"));
}

#[test]
fn keys_are_required_and_rate_limited_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# newsroom\nk-one\nk-two\n").unwrap();
    let model = format!("da={}", tiny());
    let s = Server::start(&[
        "--no-summary",
        "--model",
        &model,
        "--api-keys",
        keys.to_str().unwrap(),
        "--req-limit",
        "3",
    ]);
    let body = |key: Option<&str>| {
        let mut b = json!({"q": DA, "source": "da", "target": "en"});
        if let Some(k) = key {
            b["api_key"] = k.into();
        }
        b
    };
    let (status, v) = s.post_json("/translate", body(None));
    assert_eq!(
        (status, error_of(&v)),
        (
            StatusCode::FORBIDDEN,
            "Please contact the server operator to get an API key"
        )
    );
    let (status, v) = s.post_json("/translate", body(Some("k-three")));
    assert_eq!(
        (status, error_of(&v)),
        (StatusCode::FORBIDDEN, "Invalid API key")
    );
    let (status, v) = s.post_form("/detect", &[("q", DA)]);
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _) = s.post_json("/translate", body(Some("k-one")));
    assert_eq!(status, StatusCode::OK);
    let r = s
        .http
        .post(s.at("/v1/translate"))
        .bearer_auth("k-one")
        .json(&json!({"text": DA, "source": "da"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _) = s.post_form(
        "/translate",
        &[
            ("q", DA),
            ("source", "da"),
            ("target", "en"),
            ("api_key", "k-one"),
        ],
    );
    assert_eq!(status, StatusCode::OK);
    let (status, v) = s.post_json("/translate", body(Some("k-one")));
    assert_eq!(
        (status, error_of(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "Slowdown: 3 per 1 minute")
    );
    let (status, _) = s.post_json("/translate", body(Some("k-two")));
    assert_eq!(status, StatusCode::OK, "another key has its own budget");
    // Listing and settings need no key.
    let (status, settings) = s.get("/frontend/settings");
    assert_eq!(status, StatusCode::OK);
    let settings: Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(
        (settings["apiKeys"].clone(), settings["keyRequired"].clone()),
        (json!(true), json!(true))
    );
}

#[test]
fn own_api_answers_with_the_clis_json() {
    let tiny = tiny();
    let t5 = fixture("t5/tiny-gated-tied").display().to_string();
    let model = format!("da={tiny}");
    let s = Server::start(&["--model", &model, "--summary-model", &t5]);
    let (status, health) = s.get("/health");
    assert_eq!(status, StatusCode::OK);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ready");
    assert_eq!(health["models"][0]["language"], "da");
    assert_eq!(health["summarizer"]["state"], "ready");

    let text = format!("{DA} Det regner i København.\n\nMinisteren siger ingenting.\n");
    let want: Value = serde_json::from_str(&cli(&tiny, &["--format", "json"], &text)).unwrap();
    let (status, got) = s.post_json("/v1/translate", json!({"text": text, "source": "da"}));
    assert_eq!(status, StatusCode::OK, "{got}");
    for key in [
        "translation",
        "sentences",
        "source_tokens",
        "generated_tokens",
        "fidelity",
    ] {
        assert_eq!(got[key], want[key], "{key}");
    }
    let (_, auto) = s.post_json("/v1/translate", json!({"text": text}));
    assert_eq!(
        (auto["source"].clone(), auto["translation"].clone()),
        (json!("da"), want["translation"].clone())
    );
    let (status, v) = s.post_json("/v1/translate", json!({"text": text, "source": "xx"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&v).starts_with("xx is not supported"), "{v}");

    let english = std::fs::read_to_string(fixture("news_en/glacier-study.txt")).unwrap();
    let want = cli_json(
        &[
            "summarize",
            "--format",
            "json",
            "--sentences",
            "2",
            "--quiet",
            "--model",
            &t5,
        ],
        &english,
    );
    let (status, got) = s.post_json("/v1/summarize", json!({"text": english, "sentences": 2}));
    assert_eq!(status, StatusCode::OK, "{got}");
    for key in [
        "summary",
        "sentences",
        "bound",
        "chunks",
        "rounds",
        "counts",
    ] {
        assert_eq!(got[key], want[key], "{key}");
    }

    let want = cli_json(
        &[
            "brief",
            "--format",
            "json",
            "--quiet",
            "--translate-model",
            &tiny,
            "--summary-model",
            &t5,
        ],
        &text,
    );
    let (status, got) = s.post_json("/v1/brief", json!({"text": text, "source": "da"}));
    assert_eq!(status, StatusCode::OK, "{got}");
    for key in ["summary", "translation", "sentences"] {
        assert_eq!(got[key], want[key], "{key}");
    }
}

#[test]
fn a_full_queue_is_429_and_sigterm_finishes_what_was_accepted() {
    let model = format!("da={}", tiny());
    let mut s = Server::start(&["--no-summary", "--model", &model, "--max-queue", "4"]);
    let (status, v) = s.post_json(
        "/translate",
        json!({"q": [DA, DA, DA, DA, DA], "source": "da", "target": "en"}),
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(error_of(&v).starts_with("Slowdown"), "{v}");

    // A request in flight when SIGTERM arrives is still answered; then the server exits 0.
    // Two texts of two sentences each: exactly the queue's four places.
    let long: Vec<String> = (0..2).map(|i| format!("{DA} Nummer {i}.")).collect();
    let url = s.at("/translate");
    let http = s.http.clone();
    let pending = std::thread::spawn(move || {
        let r = http
            .post(url)
            .json(&json!({"q": long, "source": "da", "target": "en"}))
            .send()
            .unwrap();
        r.status()
    });
    std::thread::sleep(Duration::from_millis(30));
    let pid = s.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(pending.join().unwrap(), StatusCode::OK);
    let until = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(code) = s.child.try_wait().unwrap() {
            break code;
        }
        assert!(Instant::now() < until, "tolk serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "exit status {code:?}");
    assert!(
        s.http.get(s.at("/health")).send().is_err(),
        "no longer accepting"
    );
}
