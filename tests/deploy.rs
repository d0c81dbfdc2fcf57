//! The deployment files as a cluster and a container build would read them.
//!
//! - Every YAML document under deploy/kubernetes/ (every file, so examples
//!   added later are held to the same rules) validates against the
//!   Kubernetes JSON schemas of [`KUBERNETES_VERSION`] with
//!   `kubernetes-validate --strict` (target/deploy-venv, made by
//!   scripts/python-env.sh), which refuses a misspelt field.
//! - Every container of every pod template runs non-root, with a read-only
//!   root file system, no privilege escalation and all capabilities dropped;
//!   every dpop-gateway container runs the image deploy/Dockerfile builds,
//!   is probed on the admin port (/healthz alive, /readyz ready), requests
//!   resources, reads its config from a ConfigMap and its TLS material from
//!   Secrets; Services and PodDisruptionBudgets select an existing pod
//!   template.
//! - The config in each ConfigMap passes `dpop-gateway check` once the
//!   Secrets it names are in place.
//! - deploy/Dockerfile: a builder stage running `cargo build --locked
//!   --release`, a runtime stage with a numeric non-root USER, EXPOSE of the
//!   ports the manifests use, an exec-form ENTRYPOINT, no HEALTHCHECK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::process::run_command;
use common::python::repo_path;
use common::run_bin;

/// The Kubernetes release whose schemas the manifests must satisfy (the
/// oldest the examples support: `preStop.sleep` is there from 1.30 on).
const KUBERNETES_VERSION: &str = "1.31.0";
const VENV: &str = "target/deploy-venv/bin";
const BOUND: Duration = Duration::from_secs(60);

/// The image the manifests run: deploy/Dockerfile's tag.
fn image() -> String {
    format!(
        "registry.example.com/dpop-gateway:{}",
        env!("CARGO_PKG_VERSION")
    )
}

fn venv_tool(name: &str) -> PathBuf {
    let tool = repo_path(VENV).join(name);
    assert!(
        tool.is_file(),
        "{} is missing: run ./scripts/python-env.sh (./scripts/test.sh runs it)",
        tool.display()
    );
    tool
}

/// Every .yaml / .yml file under deploy/kubernetes/, sorted.
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_path("deploy/kubernetes"), &mut files);
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files
}

fn validate(files: &[PathBuf]) -> common::BinOutput {
    let mut cmd = Command::new(venv_tool("kubernetes-validate"));
    cmd.args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
        .args(files);
    run_command(cmd, BOUND)
}

/// (file, document) for every non-empty YAML document of `files`.
fn documents(files: &[PathBuf]) -> Vec<(String, Value)> {
    let program = "import json, sys, yaml\n\
                   json.dump([[f, d] for f in sys.argv[1:] \
                   for d in yaml.safe_load_all(open(f)) if d is not None], sys.stdout)";
    let mut cmd = Command::new(venv_tool("python"));
    cmd.arg("-c").arg(program).args(files);
    let out = run_command(cmd, BOUND);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let docs: Vec<(String, Value)> = serde_json::from_str(&out.stdout).unwrap();
    docs.into_iter()
        .map(|(f, d)| {
            let name = Path::new(&f).file_name().unwrap().to_string_lossy();
            (name.into_owned(), d)
        })
        .collect()
}

/// The pod template of a workload (or the spec of a bare Pod).
fn pod_spec(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Pod" => Some(&doc["spec"]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some(&doc["spec"]["template"]["spec"])
        }
        "CronJob" => Some(&doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

fn name_of(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn is_gateway(container: &Value) -> bool {
    container["image"]
        .as_str()
        .is_some_and(|i| i.contains("/dpop-gateway:"))
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let files = manifest_files();
    let out = validate(&files);
    assert_eq!(
        out.code(),
        Some(0),
        "kubernetes-validate {KUBERNETES_VERSION}:\n{}{}",
        out.stdout,
        out.stderr
    );
    // One "passed" line per document, none skipped for an unknown kind.
    let docs = documents(&files);
    let report = format!("{}{}", out.stdout, out.stderr);
    let passed = report.lines().filter(|l| l.contains(" passed ")).count();
    assert_eq!(passed, docs.len(), "{report}");

    let kinds: Vec<&str> = docs
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for kind in ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn the_validator_refuses_a_misspelt_field() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let sidecar = std::fs::read_to_string(repo_path("deploy/kubernetes/sidecar.yaml")).unwrap();
    assert!(sidecar.contains("readOnlyRootFilesystem: true"));
    std::fs::write(
        &broken,
        sidecar.replacen(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFileSystem: true",
            1,
        ),
    )
    .unwrap();
    let out = validate(&[broken]);
    assert_eq!(out.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("'readOnlyRootFileSystem' was unexpected"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn every_container_is_locked_down_and_the_gateway_is_probed_on_the_admin_port() {
    let docs = documents(&manifest_files());
    let mut gateways = 0;
    for (file, doc) in &docs {
        let Some(spec) = pod_spec(doc) else { continue };
        let at = format!("{file}: {}", name_of(doc));
        let containers = spec["containers"].as_array().unwrap();
        let init = spec["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for container in containers.iter().chain(init.iter()) {
            let name = container["name"].as_str().unwrap();
            let sc = &container["securityContext"];
            assert_eq!(sc["runAsNonRoot"], true, "{at} {name}: runAsNonRoot");
            assert_eq!(
                sc["readOnlyRootFilesystem"], true,
                "{at} {name}: readOnlyRootFilesystem"
            );
            assert_eq!(
                sc["allowPrivilegeEscalation"], false,
                "{at} {name}: allowPrivilegeEscalation"
            );
            assert_ne!(sc["privileged"], true, "{at} {name}: privileged");
            let drop = sc["capabilities"]["drop"].as_array();
            assert!(
                drop.is_some_and(|d| d.iter().any(|c| c == "ALL")),
                "{at} {name}: capabilities.drop must hold ALL"
            );
            assert!(
                container["resources"]["requests"].is_object(),
                "{at} {name}: resource requests"
            );
            if is_gateway(container) {
                gateways += 1;
                check_gateway_container(&at, container, spec);
            }
        }
    }
    assert!(gateways >= 2, "dpop-gateway containers found: {gateways}");
}

fn check_gateway_container(at: &str, container: &Value, spec: &Value) {
    assert_eq!(container["image"], image().as_str(), "{at}: image");
    assert_eq!(
        container["securityContext"]["runAsUser"], 65532,
        "{at}: the Dockerfile's user"
    );
    let admin_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .unwrap_or_else(|| panic!("{at}: no port named admin"));
    assert_eq!(admin_port["containerPort"], 9901, "{at}");
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{at}: {probe}");
        assert!(
            get["port"] == "admin" || get["port"] == 9901,
            "{at}: {probe} is not on the admin port: {get}"
        );
    }
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &args[..3],
        ["run", "--config", "/etc/dpop-gateway/config.toml"],
        "{at}"
    );
    // /etc/dpop-gateway is a ConfigMap; every other volume it mounts is a
    // Secret (or a projection of Secrets).
    let volumes = spec["volumes"].as_array().unwrap();
    let source = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{at}: no volume {name}"))
    };
    let mut secrets = 0;
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volume = source(mount["name"].as_str().unwrap());
        assert_eq!(mount["readOnly"], true, "{at}: {mount}");
        if mount["mountPath"] == "/etc/dpop-gateway" {
            assert!(
                volume["configMap"].is_object(),
                "{at}: config from {volume}"
            );
        } else {
            // A Secret, or a projection of Secrets only.
            let projected_secrets = volume["projected"]["sources"]
                .as_array()
                .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["secret"].is_object()));
            assert!(
                volume["secret"].is_object() || projected_secrets,
                "{at}: {mount} from {volume}"
            );
            secrets += 1;
        }
    }
    assert!(secrets >= 1, "{at}: no Secret mounted");
    let grace = spec["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        grace > 30,
        "{at}: grace {grace} s is not above the 30 s drain"
    );
}

#[test]
fn services_and_budgets_select_a_pod_template() {
    let docs = documents(&manifest_files());
    let templates: Vec<&Value> = docs
        .iter()
        .filter(|(_, d)| pod_spec(d).is_some() && d["kind"] != "Pod")
        .map(|(_, d)| &d["spec"]["template"]["metadata"]["labels"])
        .collect();
    let mut checked = 0;
    for (file, doc) in &docs {
        let selector = match doc["kind"].as_str() {
            Some("Service") => &doc["spec"]["selector"],
            Some("PodDisruptionBudget") => &doc["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        let selector = selector.as_object().unwrap();
        assert!(!selector.is_empty(), "{file}: {}", name_of(doc));
        assert!(
            templates
                .iter()
                .any(|labels| selector.iter().all(|(k, v)| &labels[k] == v)),
            "{file}: {} selects no pod template",
            name_of(doc)
        );
        checked += 1;
    }
    assert!(checked >= 2);
}

/// A stand-in for a Secret file the config names, by its name.
fn secret_stand_in(name: &str) -> Vec<u8> {
    let example = |f: &str| std::fs::read(repo_path(f)).unwrap();
    if name.ends_with(".crt") {
        example("examples/tls/example-localhost.crt")
    } else if name.ends_with(".key") {
        example("examples/tls/example-localhost.key")
    } else {
        b"a-secret-of-more-than-thirty-two-bytes\n".to_vec()
    }
}

#[test]
fn the_config_in_each_config_map_passes_check() {
    let docs = documents(&manifest_files());
    let mut checked = 0;
    for (file, doc) in &docs {
        if doc["kind"] != "ConfigMap" {
            continue;
        }
        let Some(config) = doc["data"]["config.toml"].as_str() else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        let secrets = dir.path().join("secrets");
        std::fs::create_dir_all(&etc).unwrap();
        // Everything else the ConfigMap holds sits beside config.toml.
        for (key, value) in doc["data"].as_object().unwrap() {
            std::fs::write(etc.join(key), value.as_str().unwrap()).unwrap();
        }
        // The Secret files it names, by absolute path, get stand-ins.
        let mut rest = config;
        while let Some(at) = rest.find("\"/run/secrets/dpop-gateway/") {
            let path = &rest[at + 1..];
            let path = &path[..path.find('"').unwrap()];
            let local = secrets.join(path.trim_start_matches("/run/secrets/dpop-gateway/"));
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(&local, secret_stand_in(path)).unwrap();
            rest = &rest[at + 1 + path.len()..];
        }
        let local_config = config
            .replace(
                "/run/secrets/dpop-gateway/",
                &format!("{}/", secrets.display()),
            )
            .replace("/etc/dpop-gateway/", &format!("{}/", etc.display()));
        let config_path = etc.join("config.toml");
        std::fs::write(&config_path, local_config).unwrap();
        let out = run_bin(["check", "--config", config_path.to_str().unwrap()], BOUND);
        assert_eq!(
            (out.code(), out.stdout.trim()),
            (Some(0), "ok"),
            "{file}: {}: {}",
            name_of(doc),
            out.stderr
        );
        checked += 1;
    }
    assert!(checked >= 2, "ConfigMaps with a config.toml: {checked}");
}

/// The instructions of a Dockerfile, continuation lines joined, comments out.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    out
}

#[test]
fn the_dockerfile_builds_locked_and_runs_non_root_without_a_healthcheck() {
    let text = std::fs::read_to_string(repo_path("deploy/Dockerfile")).unwrap();
    let lines = instructions(&text);
    let keyword = |l: &String| l.split_whitespace().next().unwrap().to_ascii_uppercase();
    let froms: Vec<usize> = (0..lines.len())
        .filter(|&i| keyword(&lines[i]) == "FROM")
        .collect();
    assert_eq!(froms.len(), 2, "two stages: {lines:#?}");
    assert!(
        lines[froms[0]]
            .to_ascii_lowercase()
            .ends_with(" as builder"),
        "{}",
        lines[froms[0]]
    );
    let builder = &lines[froms[0]..froms[1]];
    let runtime = &lines[froms[1]..];
    assert!(
        builder
            .iter()
            .any(|l| keyword(l) == "RUN" && l.contains("cargo build --locked --release")),
        "the builder runs cargo build --locked --release: {builder:#?}"
    );
    // The runtime stage takes only the binary from the builder.
    let copies: Vec<&String> = runtime
        .iter()
        .filter(|l| l.contains("--from=builder"))
        .collect();
    assert_eq!(copies.len(), 1, "{runtime:#?}");
    assert!(
        copies[0].ends_with(" /usr/bin/dpop-gateway"),
        "{}",
        copies[0]
    );

    let users: Vec<&String> = runtime.iter().filter(|l| keyword(l) == "USER").collect();
    assert_eq!(users.len(), 1, "{runtime:#?}");
    let user = users[0].split_whitespace().nth(1).unwrap();
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER");
    assert_ne!(uid, 0);
    for part in user.split(':') {
        assert_ne!(part.parse::<u32>().unwrap(), 0, "{user}");
    }

    let exposed: Vec<&str> = runtime
        .iter()
        .filter(|l| keyword(l) == "EXPOSE")
        .flat_map(|l| l.split_whitespace().skip(1))
        .collect();
    assert_eq!(exposed, ["8443", "9901"]);

    let entrypoint = runtime
        .iter()
        .find(|l| keyword(l) == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    assert_eq!(entrypoint, r#"ENTRYPOINT ["/usr/bin/dpop-gateway"]"#);
    let cmd = runtime.iter().find(|l| keyword(l) == "CMD").expect("a CMD");
    assert_eq!(
        cmd,
        r#"CMD ["run", "--config", "/etc/dpop-gateway/config.toml"]"#
    );
    assert!(
        !lines.iter().any(|l| keyword(l) == "HEALTHCHECK"),
        "no HEALTHCHECK: the probes check health"
    );
    // The manifests run the image the header says to build.
    assert!(
        text.contains(&format!("-t {} .", image())),
        "deploy/Dockerfile does not build {}",
        image()
    );
    let dockerignore = std::fs::read_to_string(repo_path(".dockerignore")).unwrap();
    assert!(dockerignore.lines().any(|l| l.trim() == "target/"));
}
