//! Integration tests for `tolk::hub`: downloads through a local fake Hub, the offline cache,
//! revisions, errors and local folders. Options are passed explicitly; no process env changes.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tolk::hub::{HubOptions, ModelRef, ModelSource};
use tolk::Error;

use crate::support::hub_server::HubServer;

/// A folder of small fake model files: `files` are (relative name, contents).
fn fake_repo(files: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

fn online(server: &HubServer, home: &Path) -> HubOptions {
    HubOptions {
        endpoint: server.endpoint(),
        cache_dir: home.join("hub"),
        offline: false,
        token: None,
        progress: false,
    }
}

fn offline(opts: &HubOptions) -> HubOptions {
    HubOptions {
        offline: true,
        ..opts.clone()
    }
}

fn hub_ref(s: &str) -> ModelRef {
    s.parse().unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// 300 KB of non-repeating bytes: bigger than one socket buffer, so ranges and streaming matter.
fn weights_bytes(seed: u8) -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

#[test]
fn download_then_read_offline_without_requests() {
    let weights = weights_bytes(1);
    let repo = fake_repo(&[
        ("config.json", b"{\"d_model\": 8}"),
        ("source.spm", b"spm-bytes"),
        ("model.safetensors", &weights),
        ("sub/extra.txt", b"nested"),
    ]);
    let server = HubServer::start(&[("acme/opus-mt-xx-en", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let opts = online(&server, home.path());
    let r = hub_ref("acme/opus-mt-xx-en");

    let src = ModelSource::open(&r, &opts).unwrap();
    assert_eq!(read(&src.file("config.json").unwrap()), b"{\"d_model\": 8}");
    assert_eq!(read(&src.file("sub/extra.txt").unwrap()), b"nested");
    assert_eq!(read(&src.file("source.spm").unwrap()), b"spm-bytes");
    let w = src.weights().unwrap().main().to_path_buf();
    assert!(w.ends_with("model.safetensors"), "{}", w.display());
    assert_eq!(read(&w), weights);
    assert_eq!(src.optional_file("tokenizer.json").unwrap(), None);
    let d = src.describe();
    assert!(d.contains("acme/opus-mt-xx-en@main"), "{d}");
    assert!(d.contains(home.path().join("hub").to_str().unwrap()), "{d}");
    // The LFS file went through the Hub-style redirect.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /lfs-cdn/")),
        "{:?}",
        server.requests()
    );

    // Standard cache layout, shared with Python tools.
    let commit = server.commit("acme/opus-mt-xx-en", "main").unwrap();
    let repo_dir = home.path().join("hub/models--acme--opus-mt-xx-en");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    assert!(repo_dir
        .join("snapshots")
        .join(&commit)
        .join("config.json")
        .exists());
    assert!(w.starts_with(repo_dir.join("snapshots").join(&commit)));

    // Online again: files come from the cache, only the listing is fetched.
    let before = server.request_count();
    let again = ModelSource::open(&r, &opts).unwrap();
    assert_eq!(read(&again.file("source.spm").unwrap()), b"spm-bytes");
    assert_eq!(read(again.weights().unwrap().main()), weights);
    assert_eq!(
        server.request_count(),
        before + 1,
        "{:?}",
        server.requests()
    );

    // Offline with the server up: zero requests.
    let before = server.request_count();
    let off = ModelSource::open(&r, &offline(&opts)).unwrap();
    assert_eq!(read(&off.file("config.json").unwrap()), b"{\"d_model\": 8}");
    assert_eq!(read(off.weights().unwrap().main()), weights);
    assert_eq!(off.optional_file("tokenizer.json").unwrap(), None);
    assert!(off.describe().contains("offline"), "{}", off.describe());
    assert_eq!(server.request_count(), before);

    // Offline with the server gone.
    drop(server);
    let off = ModelSource::open(&r, &offline(&opts)).unwrap();
    assert_eq!(read(&off.file("source.spm").unwrap()), b"spm-bytes");
    assert_eq!(read(off.weights().unwrap().main()), weights);
}

#[test]
fn weights_fall_back_to_pytorch_bin() {
    let bin = weights_bytes(2);
    let repo = fake_repo(&[("config.json", b"{}"), ("pytorch_model.bin", &bin)]);
    let server = HubServer::start(&[("acme/pt-only", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let opts = online(&server, home.path());
    let src = ModelSource::open(&hub_ref("acme/pt-only"), &opts).unwrap();
    let w = src.weights().unwrap().main().to_path_buf();
    assert!(w.ends_with("pytorch_model.bin"), "{}", w.display());
    assert_eq!(read(&w), bin);
    // Offline the snapshot says the same.
    let off = ModelSource::open(&hub_ref("acme/pt-only"), &offline(&opts)).unwrap();
    assert!(off
        .weights()
        .unwrap()
        .main()
        .to_path_buf()
        .ends_with("pytorch_model.bin"));
}

#[test]
fn weights_prefer_safetensors() {
    let repo = fake_repo(&[
        ("pytorch_model.bin", b"torch"),
        ("model.safetensors", b"safe"),
    ]);
    let server = HubServer::start(&[("acme/both", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let src = ModelSource::open(&hub_ref("acme/both"), &online(&server, home.path())).unwrap();
    let w = src.weights().unwrap().main().to_path_buf();
    assert_eq!(read(&w), b"safe");
    // The .bin was never fetched.
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.contains("pytorch_model.bin")),
        "{:?}",
        server.requests()
    );
}

#[test]
fn interrupted_download_resumes_with_a_range_request() {
    let weights = weights_bytes(3);
    let repo = fake_repo(&[("model.safetensors", &weights)]);
    let server = HubServer::start(&[("acme/resume", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let opts = online(&server, home.path());
    // What an interrupted hf-hub download leaves: the first bytes in `blobs/{etag}.part`.
    let etag = server
        .etag("acme/resume", "main", "model.safetensors")
        .unwrap();
    let blobs = home.path().join("hub/models--acme--resume/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(format!("{etag}.part")), &weights[..1000]).unwrap();

    let src = ModelSource::open(&hub_ref("acme/resume"), &opts).unwrap();
    assert_eq!(read(src.weights().unwrap().main()), weights);
    assert!(!blobs.join(format!("{etag}.part")).exists());
}

#[test]
fn weights_missing_names_both() {
    let repo = fake_repo(&[("config.json", b"{}")]);
    let server = HubServer::start(&[("acme/none", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let src = ModelSource::open(&hub_ref("acme/none"), &online(&server, home.path())).unwrap();
    match src.weights() {
        Err(Error::MissingFile { file, hint, .. }) => {
            assert!(file.contains("model.safetensors") && file.contains("pytorch_model.bin"));
            assert!(hint.contains("config.json"), "{hint}");
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
}

#[test]
fn unknown_repo_is_a_clear_404() {
    let repo = fake_repo(&[("config.json", b"{}")]);
    let server = HubServer::start(&[("acme/real", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let err =
        ModelSource::open(&hub_ref("acme/not-there"), &online(&server, home.path())).unwrap_err();
    match &err {
        Error::Download {
            repo,
            endpoint,
            reason,
            ..
        } => {
            assert_eq!(repo, "acme/not-there");
            assert_eq!(endpoint, &server.endpoint());
            assert!(reason.contains("not found"), "{reason}");
            assert!(
                reason.contains("HF_ENDPOINT") && reason.contains("HF_TOKEN"),
                "{reason}"
            );
        }
        other => panic!("expected Download, got {other:?}"),
    }
    assert!(err.to_string().contains(&server.endpoint()), "{err}");
}

#[test]
fn missing_file_names_file_repo_and_contents() {
    let repo = fake_repo(&[("config.json", b"{}"), ("model.safetensors", b"w")]);
    let server = HubServer::start(&[("acme/m", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let src = ModelSource::open(&hub_ref("acme/m"), &online(&server, home.path())).unwrap();
    match src.file("vocab.json") {
        Err(Error::MissingFile {
            file,
            location,
            hint,
        }) => {
            assert_eq!(file, "vocab.json");
            assert!(location.contains("acme/m@main"), "{location}");
            assert!(location.contains(&server.endpoint()), "{location}");
            assert!(hint.contains("config.json"), "{hint}");
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    assert!(src.file("../escape").is_err());
}

#[test]
fn revisions_are_served_and_cached_separately() {
    let main = fake_repo(&[("config.json", b"main"), ("model.safetensors", b"w-main")]);
    let v1 = fake_repo(&[("config.json", b"v1"), ("pytorch_model.bin", b"w-v1")]);
    let server = HubServer::start(&[("acme/rev", main.path()), ("acme/rev@v1", v1.path())]);
    let home = tempfile::tempdir().unwrap();
    let opts = online(&server, home.path());

    let s1 = ModelSource::open(&hub_ref("acme/rev@v1"), &opts).unwrap();
    assert_eq!(read(&s1.file("config.json").unwrap()), b"v1");
    assert_eq!(read(s1.weights().unwrap().main()), b"w-v1");
    assert!(s1.describe().contains("acme/rev@v1"));
    let sm = ModelSource::open(&hub_ref("acme/rev"), &opts).unwrap();
    assert_eq!(read(&sm.file("config.json").unwrap()), b"main");
    assert_eq!(read(sm.weights().unwrap().main()), b"w-main");

    // By commit sha.
    let sha = server.commit("acme/rev", "v1").unwrap();
    let ss = ModelSource::open(&hub_ref(&format!("acme/rev@{sha}")), &opts).unwrap();
    assert_eq!(read(&ss.file("config.json").unwrap()), b"v1");

    // Offline, each revision finds its own snapshot.
    let before = server.request_count();
    let o1 = ModelSource::open(&hub_ref("acme/rev@v1"), &offline(&opts)).unwrap();
    assert_eq!(read(&o1.file("config.json").unwrap()), b"v1");
    let om = ModelSource::open(&hub_ref("acme/rev@main"), &offline(&opts)).unwrap();
    assert_eq!(read(&om.file("config.json").unwrap()), b"main");
    assert_eq!(server.request_count(), before);

    // An unknown revision is a 404 that names it.
    let err = ModelSource::open(&hub_ref("acme/rev@v9"), &opts).unwrap_err();
    assert!(err.to_string().contains("v9"), "{err}");
}

#[test]
fn offline_with_empty_cache_is_a_clear_error_and_makes_no_requests() {
    let repo = fake_repo(&[("config.json", b"{}")]);
    let server = HubServer::start(&[("acme/m", repo.path())]);
    let home = tempfile::tempdir().unwrap();
    let opts = offline(&online(&server, home.path()));
    let src = ModelSource::open(&hub_ref("acme/m"), &opts).unwrap();
    let cache = home.path().join("hub");
    match src.file("config.json") {
        Err(Error::MissingFile {
            file,
            location,
            hint,
        }) => {
            assert_eq!(file, "config.json");
            assert!(location.contains(cache.to_str().unwrap()), "{location}");
            assert!(
                hint.contains("HF_HUB_OFFLINE") && hint.contains("online"),
                "{hint}"
            );
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    // Optional files cannot be told absent without a snapshot: still an error.
    assert!(src.optional_file("config.json").is_err());
    match src.weights() {
        Err(Error::MissingFile { file, .. }) => {
            assert!(file.contains("model.safetensors") && file.contains("pytorch_model.bin"))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    assert_eq!(server.request_count(), 0);
    assert!(
        !cache.exists(),
        "offline resolution must not create the cache"
    );
}

#[test]
fn network_failure_is_a_download_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let mut opts = HubOptions::new(home.path().join("hub"));
    opts.endpoint = format!("http://127.0.0.1:{port}");
    match ModelSource::open(&hub_ref("acme/m"), &opts) {
        Err(Error::Download { reason, .. }) => {
            assert!(reason.contains("network error"), "{reason}");
            assert!(reason.contains("HF_HUB_OFFLINE"), "{reason}");
        }
        other => panic!("expected Download, got {other:?}"),
    }
}

#[test]
fn local_folder_refs() {
    let repo = fake_repo(&[("config.json", b"{}"), ("pytorch_model.bin", b"w")]);
    let s = repo.path().to_str().unwrap();
    let r: ModelRef = s.parse().unwrap();
    assert_eq!(r, ModelRef::Local(PathBuf::from(s)));
    let cache = tempfile::tempdir().unwrap();
    let opts = HubOptions::new(cache.path().join("hub"));
    let src = ModelSource::open(&r, &opts).unwrap();
    assert_eq!(
        src.file("config.json").unwrap(),
        repo.path().join("config.json")
    );
    assert_eq!(
        src.weights().unwrap().main().to_path_buf(),
        repo.path().join("pytorch_model.bin")
    );
    assert_eq!(src.optional_file("model.safetensors").unwrap(), None);
    assert!(matches!(
        src.file("vocab.json"),
        Err(Error::MissingFile { .. })
    ));
    assert!(src.describe().contains(s));

    let gone = repo.path().join("missing-subfolder");
    let err = gone.to_str().unwrap().parse::<ModelRef>().unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
