//! The side-by-side proxy benchmark (issue 26): profile `GetStore` direct, through Maitre's
//! gateway (gRPC and REST), nginx `grpc_pass`, HAProxy (HTTP/2 both sides) and grpc-gateway
//! (Go, v1), each a process this bench owns with its own generated configuration in a temp
//! directory, loaded by `h2load`. This module holds the pieces: processes, configurations,
//! `h2load` runs and their parsing, CPU from `/proc/<pid>/stat`, medians and the verdicts.

use std::{
    fmt::Write as _,
    fs,
    io::Write as _,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::report::Verdict;

/// Issue 26: REST through the gateway keeps at least this multiple of grpc-gateway's
/// throughput.
pub const REST_THROUGHPUT_FACTOR: f64 = 1.3;

/// The concurrencies measured (h2load clients, one connection and one stream in flight each).
pub const CONCURRENCIES: [usize; 3] = [1, 16, 64];

/// One of the ways of calling `GetStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contender {
    Direct,
    GatewayGrpc,
    Nginx,
    Haproxy,
    GatewayRest,
    GrpcGateway,
}

impl Contender {
    /// Every contender, in the table's order.
    pub const ALL: [Contender; 6] = [
        Contender::Direct,
        Contender::GatewayGrpc,
        Contender::Nginx,
        Contender::Haproxy,
        Contender::GatewayRest,
        Contender::GrpcGateway,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Contender::Direct => "direct gRPC (no proxy)",
            Contender::GatewayGrpc => "Maitre gateway, gRPC",
            Contender::Nginx => "nginx `grpc_pass`",
            Contender::Haproxy => "HAProxy, HTTP/2 both sides",
            Contender::GatewayRest => "Maitre gateway, REST",
            Contender::GrpcGateway => "grpc-gateway (Go, v1)",
        }
    }

    /// Whether the call is REST (`GET /v1/stores/{id}`) rather than gRPC.
    pub fn is_rest(self) -> bool {
        matches!(self, Contender::GatewayRest | Contender::GrpcGateway)
    }
}

/// A child process killed when dropped.
pub struct Owned {
    pub name: String,
    pub child: Child,
}

impl Owned {
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> Result<Owned> {
        let out = fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Owned {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has already exited (a bad configuration, a taken port).
    pub fn check_alive(&mut self, log: &Path) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let text = fs::read_to_string(log).unwrap_or_default();
            let tail: String = text.lines().rev().take(8).collect::<Vec<_>>().join(" | ");
            bail!("{} exited ({status}): {tail}", self.name);
        }
        Ok(())
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, read, released: a small race another process could win).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listening on port {port} after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `program` can be run (found on `PATH`).
pub fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
pub fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// `(ppid, utime + stime)` from the text of `/proc/<pid>/stat`.
pub fn parse_stat(text: &str) -> Option<(u32, u64)> {
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU ticks used so far by `pid` and its child processes (nginx's workers), not by anything
/// else.
pub fn cpu_ticks(pid: u32) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(other) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(text) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some((ppid, ticks)) = parse_stat(&text)
                && (other == pid || ppid == pid)
            {
                total += ticks;
            }
        }
    }
    total
}

/// The encoded `GetStoreRequest { store_id }` as one gRPC frame (uncompressed flag, length,
/// message): field 1, wire type 2, a varint length, the UTF-8 bytes.
pub fn get_store_frame(store_id: &str) -> Vec<u8> {
    let mut message = vec![0x0a];
    let mut len = store_id.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            message.push(byte);
            break;
        }
        message.push(byte | 0x80);
    }
    message.extend_from_slice(store_id.as_bytes());
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

/// What one `h2load` run reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadRun {
    pub succeeded: u64,
    pub failed: u64,
    pub elapsed_s: f64,
    /// Median of the per-request times in the log (µs).
    pub p50_us: f64,
}

impl LoadRun {
    pub fn per_s(&self) -> f64 {
        self.succeeded as f64 / self.elapsed_s.max(f64::MIN_POSITIVE)
    }
}

/// Parses h2load's summary (`finished in 2.00s, …`, `requests: … succeeded, … failed, …
/// errored, … timeout`, `status codes: … 2xx, …`).
pub fn parse_h2load(summary: &str) -> Result<(u64, u64, f64)> {
    let mut elapsed = None;
    let mut succeeded = None;
    let mut failed = 0;
    for line in summary.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("finished in ") {
            let value = rest.split(',').next().unwrap_or_default().trim();
            elapsed = Some(if let Some(ms) = value.strip_suffix("ms") {
                ms.parse::<f64>()? / 1e3
            } else if let Some(s) = value.strip_suffix('s') {
                s.parse::<f64>()?
            } else {
                bail!("h2load elapsed `{value}`")
            });
        }
        if let Some(rest) = line.strip_prefix("requests:") {
            for part in rest.split(',') {
                let mut words = part.split_whitespace();
                let (Some(n), Some(what)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse()?;
                match what {
                    "succeeded" => succeeded = Some(n),
                    "failed" | "errored" | "timeout" => failed += n,
                    _ => {}
                }
            }
        }
        if let Some(rest) = line.strip_prefix("status codes:") {
            // h2load counts any response as succeeded; only 2xx are.
            for part in rest.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(class)) = (words.next(), words.next())
                    && class != "2xx"
                {
                    failed += n.parse::<u64>()?;
                }
            }
        }
    }
    let elapsed = elapsed.context("h2load printed no `finished in`")?;
    let succeeded = succeeded.context("h2load printed no request counts")?;
    Ok((
        succeeded.saturating_sub(failed.min(succeeded)),
        failed,
        elapsed,
    ))
}

/// The median of the third column (µs to the end of the response) of h2load's
/// `--log-file`.
pub fn log_p50_us(log: &str) -> Option<f64> {
    let mut times: Vec<f64> = log
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    median(&mut times)
}

/// The median (the mean of the two middle values for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Where and how to call one contender.
#[derive(Debug, Clone)]
pub struct Target {
    pub contender: Contender,
    pub port: u16,
    /// The process whose CPU is charged (none for direct).
    pub pid: Option<u32>,
}

/// What h2load sends.
#[derive(Debug, Clone)]
pub struct Request {
    pub token: String,
    pub store_id: String,
    /// The gRPC frame file.
    pub frame: PathBuf,
}

/// Runs h2load against `target` for `window` with `clients` connections (one stream each),
/// returning the run and the CPU ticks its process used meanwhile.
pub fn h2load(
    target: &Target,
    request: &Request,
    clients: usize,
    window: Duration,
    dir: &Path,
) -> Result<(LoadRun, Option<u64>)> {
    let log = dir.join(format!("h2load-{}.log", target.port));
    let _ = fs::remove_file(&log);
    let mut command = Command::new("h2load");
    command
        .arg("-c")
        .arg(clients.to_string())
        .args(["-m", "1", "-t", "1"])
        .arg("-D")
        .arg(format!("{}", window.as_secs_f64().max(1.0).round() as u64))
        .arg(format!("--log-file={}", log.display()))
        .arg("-H")
        .arg(format!("authorization: Bearer {}", request.token));
    let url = if target.contender.is_rest() {
        format!(
            "http://127.0.0.1:{}/v1/stores/{}",
            target.port, request.store_id
        )
    } else {
        command.arg("-d").arg(&request.frame).args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
        ]);
        format!(
            "http://127.0.0.1:{}/maitre.profile.v1.ProfileService/GetStore",
            target.port
        )
    };
    command.arg(url);
    let before = target.pid.map(cpu_ticks);
    let output = command.output().context("running h2load")?;
    let cpu = target
        .pid
        .map(|pid| cpu_ticks(pid).saturating_sub(before.unwrap_or(0)));
    let summary = String::from_utf8_lossy(&output.stdout);
    let (succeeded, failed, elapsed_s) =
        parse_h2load(&summary).with_context(|| format!("h2load output: {summary}"))?;
    let p50_us = fs::read_to_string(&log)
        .ok()
        .and_then(|l| log_p50_us(&l))
        .unwrap_or(f64::NAN);
    Ok((
        LoadRun {
            succeeded,
            failed,
            elapsed_s,
            p50_us,
        },
        cpu,
    ))
}

/// nginx's configuration: two workers, upstream keepalive, an access log like the gateway's.
pub fn nginx_conf(dir: &Path, listen: u16, upstream: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log {d}/nginx-access.log;\n  client_body_temp_path {d}/nginx-body;\n\
         \x20 proxy_temp_path {d}/nginx-proxy;\n  fastcgi_temp_path {d}/nginx-fastcgi;\n\
         \x20 uwsgi_temp_path {d}/nginx-uwsgi;\n  scgi_temp_path {d}/nginx-scgi;\n\
         \x20 upstream profile {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}\n\
         \x20 server {{\n    listen 127.0.0.1:{listen} http2;\n\
         \x20   keepalive_requests 1000000;\n    location / {{ grpc_pass grpc://profile; }}\n  }}\n}}\n"
    )
}

/// HAProxy's configuration: HTTP/2 in and out, two threads, a log line per request on stdout.
pub fn haproxy_conf(listen: u16, upstream: u16) -> String {
    format!(
        "global\n  nbthread 2\n  maxconn 4000\n  log stdout format raw local0\n\
         defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 5s\n\
         \x20 timeout client 60s\n  timeout server 60s\n\
         frontend fe\n  bind 127.0.0.1:{listen} proto h2\n  default_backend be\n\
         backend be\n  server profile 127.0.0.1:{upstream} proto h2\n"
    )
}

/// grpc-gateway's `main.go`: the generated profile handlers on a `runtime.ServeMux`, HTTP/2
/// without TLS (h2c) as the gateway serves, and HTTP/1.1.
pub const GRPC_GATEWAY_MAIN: &str = r#"package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"

	profile "maitre/profile/v1"
)

func main() {
	listen, upstream := os.Args[1], os.Args[2]
	mux := runtime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := profile.RegisterProfileServiceHandlerFromEndpoint(context.Background(), mux, upstream, opts); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(listen, h2c.NewHandler(mux, &http2.Server{})))
}
"#;

/// Builds grpc-gateway for the profile service in `dir` from the Debian packages (offline,
/// GOPATH mode): Debian's protoc-gen-go (1.3, with its gRPC plugin) one file at a time (it
/// takes one Go package per run) and protoc-gen-grpc-gateway (1.6), then `main.go`. Returns the
/// binary, or why it could not.
pub fn build_grpc_gateway(dir: &Path, proto_root: &Path) -> Result<PathBuf> {
    for tool in ["go", "protoc", "protoc-gen-go", "protoc-gen-grpc-gateway"] {
        if !installed(tool) {
            bail!("`{tool}` is not installed");
        }
    }
    let gopath = dir.join("go");
    let src = gopath.join("src");
    let bin = gopath.join("bin");
    fs::create_dir_all(&bin)?;
    fs::create_dir_all(&src)?;
    let go_env = |c: &mut Command| {
        c.env("GO111MODULE", "off")
            .env("GOPATH", format!("{}:/usr/share/gocode", gopath.display()))
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOCACHE", dir.join("gocache"));
    };
    let run = |c: &mut Command, what: &str| -> Result<()> {
        let out = c.output().with_context(|| what.to_owned())?;
        if !out.status.success() {
            bail!(
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .take(6)
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        Ok(())
    };
    let files = [
        "maitre/common/v1/common.proto",
        "maitre/events/v1/events.proto",
        "maitre/profile/v1/profile.proto",
    ];
    // The contract's files have no `go_package`: each maps to a GOPATH package of its own
    // directory. The well-known types map to the Go types of the protobuf 1.3 runtime these
    // packages use (the field mask is the type grpc-gateway 1.6's runtime takes; the
    // APIv2 types that protoc's own files name panic in its unmarshaller).
    let mut mapping = String::new();
    for f in files {
        let package = f.rsplit_once('/').map_or(f, |(p, _)| p);
        let _ = write!(mapping, "M{f}={package},");
    }
    mapping.push_str(
        "Mgoogle/api/annotations.proto=google.golang.org/genproto/googleapis/api/annotations,\
         Mgoogle/api/http.proto=google.golang.org/genproto/googleapis/api/annotations,\
         Mgoogle/protobuf/field_mask.proto=google.golang.org/genproto/protobuf/field_mask,\
         Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp",
    );
    let protoc = |out: String, file: &str| {
        let mut c = Command::new("protoc");
        go_env(&mut c);
        c.arg(format!("-I{}", proto_root.display()))
            .arg("-I/usr/include")
            .arg(out)
            .arg(file);
        run(&mut c, &format!("protoc {file}"))
    };
    for file in files {
        protoc(
            format!("--go_out=plugins=grpc,{mapping}:{}", src.display()),
            file,
        )?;
    }
    protoc(
        format!("--grpc-gateway_out={mapping}:{}", src.display()),
        "maitre/profile/v1/profile.proto",
    )?;
    let main_dir = src.join("profilegw");
    fs::create_dir_all(&main_dir)?;
    fs::File::create(main_dir.join("main.go"))?.write_all(GRPC_GATEWAY_MAIN.as_bytes())?;
    let binary = bin.join("profilegw");
    let mut c = Command::new("go");
    go_env(&mut c);
    run(
        c.args(["build", "-o"]).arg(&binary).arg("profilegw"),
        "building grpc-gateway",
    )?;
    Ok(binary)
}

/// The medians of one contender at one concurrency over the rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub per_s: f64,
    /// CPU milliseconds per 1,000 calls (none for direct).
    pub cpu_ms_per_1000: Option<f64>,
    pub p50_us: f64,
}

/// One round's run and its CPU milliseconds per 1,000 calls (none for direct).
pub type Sample = (LoadRun, Option<f64>);

/// Rounds' samples folded into medians.
pub fn fold(samples: &[Sample]) -> Cell {
    let mut per_s: Vec<f64> = samples.iter().map(|(r, _)| r.per_s()).collect();
    let mut p50: Vec<f64> = samples
        .iter()
        .map(|(r, _)| r.p50_us)
        .filter(|v| v.is_finite())
        .collect();
    let mut cpu: Vec<f64> = samples.iter().filter_map(|(_, c)| *c).collect();
    Cell {
        per_s: median(&mut per_s).unwrap_or(0.0),
        cpu_ms_per_1000: median(&mut cpu),
        p50_us: median(&mut p50).unwrap_or(f64::NAN),
    }
}

/// The issue's targets from the table's cells (`cells[contender][concurrency index]`, absent
/// for a skipped contender): (description, verdict).
pub fn verdicts(cell: impl Fn(Contender, usize) -> Option<Cell>) -> Vec<(String, Verdict)> {
    let cpu = |c: Contender, i: usize| cell(c, i).and_then(|x| x.cpu_ms_per_1000);
    let judge = |ours: Option<f64>, theirs: Option<f64>, ok: &dyn Fn(f64, f64) -> bool| match (
        ours, theirs,
    ) {
        (Some(a), Some(b)) => Verdict::from_bool(ok(a, b)),
        _ => Verdict::Skipped,
    };
    let mut out = Vec::new();
    for i in [1, 2] {
        let c = CONCURRENCIES[i];
        out.push((
            format!("gateway gRPC CPU/1000 calls ≤ HAProxy's at c={c}"),
            judge(
                cpu(Contender::GatewayGrpc, i),
                cpu(Contender::Haproxy, i),
                &|a, b| a <= b,
            ),
        ));
    }
    out.push((
        "gateway gRPC p50 at c=1 ≤ nginx's".into(),
        judge(
            cell(Contender::GatewayGrpc, 0).map(|x| x.p50_us),
            cell(Contender::Nginx, 0).map(|x| x.p50_us),
            &|a, b| a <= b,
        ),
    ));
    for i in [1, 2] {
        let c = CONCURRENCIES[i];
        out.push((
            format!("gateway REST throughput ≥ {REST_THROUGHPUT_FACTOR}× grpc-gateway's at c={c}"),
            judge(
                cell(Contender::GatewayRest, i).map(|x| x.per_s),
                cell(Contender::GrpcGateway, i).map(|x| x.per_s),
                &|a, b| a >= REST_THROUGHPUT_FACTOR * b,
            ),
        ));
        out.push((
            format!("gateway REST CPU/call ≤ grpc-gateway's at c={c}"),
            judge(
                cpu(Contender::GatewayRest, i),
                cpu(Contender::GrpcGateway, i),
                &|a, b| a <= b,
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let text =
            "1234 (nginx: worker (x)) S 1200 1234 1234 0 -1 4194560 100 0 0 0 37 12 0 0 20 0 1 0";
        assert_eq!(parse_stat(text), Some((1200, 49)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn grpc_frame_is_flag_length_message() {
        let frame = get_store_frame("abc");
        assert_eq!(frame, [0, 0, 0, 0, 5, 0x0a, 3, b'a', b'b', b'c']);
        let long = "x".repeat(200);
        let frame = get_store_frame(&long);
        assert_eq!(&frame[5..8], &[0x0a, 0xc8, 0x01]);
        assert_eq!(u32::from_be_bytes(frame[1..5].try_into().unwrap()), 203);
    }

    #[test]
    fn h2load_summary_counts_only_2xx_as_succeeded() {
        let summary = "finished in 2.00s, 4861.50 req/s, 1.2MB/s\n\
            requests: 9723 total, 9724 started, 9723 done, 9723 succeeded, 0 failed, 0 errored, 0 timeout\n\
            status codes: 9700 2xx, 0 3xx, 23 4xx, 0 5xx\n";
        let (ok, failed, elapsed) = parse_h2load(summary).unwrap();
        assert_eq!((ok, failed), (9700, 23));
        assert!((elapsed - 2.0).abs() < 1e-9);
        assert!(parse_h2load("nothing").is_err());
        let ms = "finished in 900.5ms, 1 req/s\nrequests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert!((parse_h2load(ms).unwrap().2 - 0.9005).abs() < 1e-9);
    }

    #[test]
    fn p50_from_the_log_file() {
        let log =
            "1700000000000000\t200\t300\n1700000000000400\t200\t100\n1700000000000800\t200\t200\n";
        assert_eq!(log_p50_us(log), Some(200.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn targets_compare_the_gateway_with_the_proxies_and_skip_missing_ones() {
        let cell = |per_s: f64, cpu: f64, p50: f64| Cell {
            per_s,
            cpu_ms_per_1000: Some(cpu),
            p50_us: p50,
        };
        let v = verdicts(|c, _| match c {
            Contender::GatewayGrpc => Some(cell(5000.0, 70.0, 400.0)),
            Contender::Haproxy => Some(cell(5000.0, 74.0, 450.0)),
            Contender::Nginx => Some(cell(5000.0, 80.0, 444.0)),
            Contender::GatewayRest => Some(cell(6000.0, 100.0, 400.0)),
            Contender::GrpcGateway => None,
            Contender::Direct => Some(cell(9000.0, 0.0, 200.0)),
        });
        let labels: Vec<Verdict> = v.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            labels,
            [
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Skipped,
                Verdict::Skipped,
                Verdict::Skipped,
                Verdict::Skipped
            ]
        );
        let v = verdicts(|c, _| match c {
            Contender::GatewayGrpc | Contender::GatewayRest => Some(cell(5000.0, 80.0, 500.0)),
            _ => Some(cell(5000.0, 74.0, 450.0)),
        });
        assert!(v.iter().all(|(_, v)| *v == Verdict::Fail), "{v:?}");
    }
}
