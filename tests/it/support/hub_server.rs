//! A tiny std-only HTTP/1.1 server that serves local folders as Hugging Face Hub model repos,
//! for tests that must not reach the real Hub.
//!
//! It speaks what `hf-hub` 0.5's sync client sends:
//! - `GET /api/models/{repo}/revision/{rev}` -> JSON `{id, sha, siblings: [{rfilename}]}`;
//! - `GET|HEAD /{repo}/resolve/{rev}/{file}` with or without `Range: bytes=a-b` / `bytes=a-`,
//!   answered `200`/`206` with `x-repo-commit`, `etag`, `content-length`, `content-range`,
//!   `accept-ranges`; "LFS" files (`*.safetensors`, `*.bin`, `*.onnx`) are answered like the
//!   Hub does, with a `302` carrying `x-linked-etag`, `x-linked-size`, `x-repo-commit` and an
//!   absolute `Location` to `/lfs-cdn/{commit}/{etag}` on the same server, which serves the bytes;
//! - unknown repos, revisions and files get `404` with the Hub's `x-error-code`.
//!
//! A revision is served under its name and under its commit sha. It binds 127.0.0.1 only,
//! handles one connection at a time (`Connection: close`, 5 s socket timeouts, 16 KiB of
//! request head at most), counts every request, and stops when dropped.
//! It must never bind a non-loopback address or serve files outside the given folders.

#![allow(dead_code)] // not every test binary module uses every helper

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_HEAD_BYTES: usize = 16 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A running fake Hub; stops when dropped.
pub struct HubServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    repos: Vec<ServedRepo>,
    count: AtomicUsize,
    log: Mutex<Vec<String>>,
    base: String,
    /// File bodies stop (the connection closes) after this many bytes; `u64::MAX`: never.
    cut_after: AtomicU64,
}

struct ServedRepo {
    id: String,
    revision: String,
    sha: String,
    files: BTreeMap<String, ServedFile>,
}

struct ServedFile {
    path: PathBuf,
    size: u64,
    etag: String,
}

impl HubServer {
    /// Serve each folder as a repo. The id may carry a revision (`owner/name@v1`); without one
    /// it is served as `main`. Panics (it is test code) if a folder cannot be read.
    pub fn start(repos: &[(&str, &Path)]) -> HubServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        assert!(addr.ip().is_loopback());
        let served = repos
            .iter()
            .map(|(id, dir)| {
                let (id, revision) = id.split_once('@').unwrap_or((id, "main"));
                let files = list_folder(dir);
                let mut h = DefaultHasher::new();
                (id, revision).hash(&mut h);
                for (name, f) in &files {
                    (name, &f.etag).hash(&mut h);
                }
                ServedRepo {
                    id: id.to_string(),
                    revision: revision.to_string(),
                    sha: hex40(h.finish()),
                    files,
                }
            })
            .collect();
        let state = Arc::new(State {
            repos: served,
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            base: format!("http://{addr}"),
            cut_after: AtomicU64::new(u64::MAX),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = conn {
                        let _ = handle(&state, stream);
                    }
                }
            })
        };
        HubServer {
            addr,
            stop,
            state,
            thread: Some(thread),
        }
    }

    /// Base URL to use as the Hub endpoint (`http://127.0.0.1:PORT`).
    /// From now on, end every file body after `bytes` bytes (headers still announce the whole
    /// length), as a dropped connection would; `None` serves whole files again.
    pub fn cut_downloads_after(&self, bytes: Option<u64>) {
        self.state
            .cut_after
            .store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    pub fn endpoint(&self) -> String {
        self.state.base.clone()
    }

    /// How many HTTP requests have been received so far.
    pub fn request_count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Every request received so far, as `"METHOD /path"`.
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The etag (cache blob name) served for `file` of `repo` at `revision`.
    pub fn etag(&self, repo: &str, revision: &str, file: &str) -> Option<String> {
        self.state
            .repos
            .iter()
            .find(|r| r.id == repo && r.revision == revision)
            .and_then(|r| r.files.get(file))
            .map(|f| f.etag.clone())
    }

    /// The commit sha served for `repo` at `revision`.
    pub fn commit(&self, repo: &str, revision: &str) -> Option<String> {
        self.state
            .repos
            .iter()
            .find(|r| r.id == repo && r.revision == revision)
            .map(|r| r.sha.clone())
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every regular file under `dir`, by `/`-separated relative name.
fn list_folder(dir: &Path) -> BTreeMap<String, ServedFile> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read served folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let rel = path.strip_prefix(dir).expect("under folder");
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let (size, etag) = hash_file(&path);
                out.insert(name, ServedFile { path, size, etag });
            }
        }
    }
    out
}

fn hash_file(path: &Path) -> (u64, String) {
    let mut f = std::fs::File::open(path).expect("open served file");
    let mut h = DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).expect("read served file");
        if n == 0 {
            break;
        }
        buf[..n].hash(&mut h);
        size += n as u64;
    }
    (size, hex40(h.finish()))
}

/// A 40-hex-digit string derived from a hash (looks like a git sha).
fn hex40(seed: u64) -> String {
    let mut out = String::new();
    let mut x = seed;
    while out.len() < 40 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        x = h.finish();
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(40);
    out
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut reader = BufReader::new(stream.take(MAX_HEAD_BYTES as u64));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_string();
    let path = parts.next().ok_or_else(|| bad("no path"))?.to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(bad("request head too long or truncated"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    Ok(Request {
        method,
        path,
        range,
    })
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

enum Body {
    Bytes(Vec<u8>),
    File { path: PathBuf, start: u64, len: u64 },
}

fn handle(state: &State, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let req = read_request(&stream)?;
    state.count.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut log) = state.log.lock() {
        log.push(format!("{} {}", req.method, req.path));
    }
    let resp = route(state, &req);
    let cut = state.cut_after.load(Ordering::SeqCst);
    write_response(&mut stream, &req, resp, cut)
}

fn not_found(code: &str, message: &str) -> Response {
    Response {
        status: 404,
        headers: vec![
            ("x-error-code".into(), code.into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: Body::Bytes(
            serde_json::json!({ "error": message })
                .to_string()
                .into_bytes(),
        ),
    }
}

/// The repo `id` at `rev` (a revision name or its sha), or the 404 to send.
fn find_repo<'a>(state: &'a State, id: &str, rev: &str) -> Result<&'a ServedRepo, Response> {
    let mut known = false;
    for r in state.repos.iter().filter(|r| r.id == id) {
        known = true;
        if r.revision == rev || r.sha == rev {
            return Ok(r);
        }
    }
    Err(if known {
        not_found("RevisionNotFound", &format!("Invalid rev id: {rev}"))
    } else {
        not_found("RepoNotFound", "Repository not found")
    })
}

fn route(state: &State, req: &Request) -> Response {
    let path = req.path.split('?').next().unwrap_or("");
    if req.method != "GET" && req.method != "HEAD" {
        return Response {
            status: 405,
            headers: vec![],
            body: Body::Bytes(Vec::new()),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((id, rev)) = rest.rsplit_once("/revision/") else {
            return not_found("RepoNotFound", "Repository not found");
        };
        let repo = match find_repo(state, &decode(id), &decode(rev)) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let siblings: Vec<_> = repo
            .files
            .keys()
            .map(|name| serde_json::json!({ "rfilename": name }))
            .collect();
        let json = serde_json::json!({
            "_id": repo.sha[..24].to_string(),
            "id": repo.id,
            "modelId": repo.id,
            "sha": repo.sha,
            "private": false,
            "siblings": siblings,
        });
        return Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Bytes(json.to_string().into_bytes()),
        };
    }
    if let Some(rest) = path.strip_prefix("/lfs-cdn/") {
        // `/lfs-cdn/{commit}/{etag}`; Python's huggingface_hub follows the redirect and
        // wants the commit here too.
        let (sha, etag) = rest.split_once('/').unwrap_or(("", rest));
        let found = state
            .repos
            .iter()
            .filter(|r| r.sha == sha)
            .flat_map(|r| r.files.values().map(move |f| (r, f)))
            .find(|(_, f)| f.etag == etag);
        return match found {
            Some((r, f)) => serve_bytes(
                f,
                req.range.as_deref(),
                vec![("x-repo-commit".into(), r.sha.clone())],
            ),
            None => not_found("EntryNotFound", "Entry not found"),
        };
    }
    let Some((id, rest)) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once("/resolve/"))
    else {
        return not_found("RepoNotFound", "Repository not found");
    };
    let Some((rev, name)) = rest.split_once('/') else {
        return not_found("EntryNotFound", "Entry not found");
    };
    let repo = match find_repo(state, &decode(id), &decode(rev)) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let commit = ("x-repo-commit".to_string(), repo.sha.clone());
    let Some(file) = repo.files.get(&decode(name)) else {
        let mut resp = not_found("EntryNotFound", "Entry not found");
        resp.headers.push(commit);
        return resp;
    };
    let lfs = [".safetensors", ".bin", ".onnx"]
        .iter()
        .any(|ext| file.path.to_string_lossy().ends_with(ext));
    if lfs {
        return Response {
            status: 302,
            headers: vec![
                commit,
                ("x-linked-etag".into(), format!("\"{}\"", file.etag)),
                ("x-linked-size".into(), file.size.to_string()),
                ("etag".into(), format!("\"{}\"", hex40(file.size))),
                (
                    "location".into(),
                    format!("{}/lfs-cdn/{}/{}", state.base, repo.sha, file.etag),
                ),
            ],
            body: Body::Bytes(Vec::new()),
        };
    }
    serve_bytes(file, req.range.as_deref(), vec![commit])
}

/// The file's bytes, whole (`200`) or the requested range (`206`).
fn serve_bytes(
    file: &ServedFile,
    range: Option<&str>,
    mut headers: Vec<(String, String)>,
) -> Response {
    headers.push(("etag".into(), format!("\"{}\"", file.etag)));
    headers.push(("accept-ranges".into(), "bytes".into()));
    let size = file.size;
    let whole = |mut headers: Vec<(String, String)>| {
        headers.push(("content-range".into(), format!("bytes */{size}")));
        Response {
            status: 200,
            headers,
            body: Body::File {
                path: file.path.clone(),
                start: 0,
                len: size,
            },
        }
    };
    let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
        return whole(headers);
    };
    let Some((a, b)) = spec.split_once('-') else {
        return whole(headers);
    };
    let (start, end) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => (a, b.min(size.saturating_sub(1))),
        (Ok(a), Err(_)) if b.is_empty() => (a, size.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() => (size.saturating_sub(n), size.saturating_sub(1)),
        _ => return whole(headers),
    };
    if size == 0 && start == 0 {
        return whole(headers); // nothing to slice; the Hub answers 200 here
    }
    if start >= size || start > end {
        headers.push(("content-range".into(), format!("bytes */{size}")));
        return Response {
            status: 416,
            headers,
            body: Body::Bytes(Vec::new()),
        };
    }
    headers.push((
        "content-range".into(),
        format!("bytes {start}-{end}/{size}"),
    ));
    Response {
        status: 206,
        headers,
        body: Body::File {
            path: file.path.clone(),
            start,
            len: end - start + 1,
        },
    }
}

fn write_response(
    stream: &mut TcpStream,
    req: &Request,
    resp: Response,
    cut_after: u64,
) -> std::io::Result<()> {
    let reason = match resp.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        _ => "Unknown",
    };
    let len = match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File { len, .. } => *len,
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", resp.status);
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {len}\r\nconnection: close\r\n\r\n"
    ));
    stream.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        match resp.body {
            Body::Bytes(b) => stream.write_all(&b)?,
            Body::File { path, start, len } => {
                let mut f = std::fs::File::open(path)?;
                f.seek(SeekFrom::Start(start))?;
                std::io::copy(&mut f.take(len.min(cut_after)), stream)?;
            }
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Percent-decode a URL path piece (`%2F` -> `/`); invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
