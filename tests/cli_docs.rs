//! Shell completions and manual pages, written from the CLI definition (the
//! Debian package ships both).
//!
//! - `completions bash` (the real binary) is a script bash loads and
//!   completes commands, flags and values with; zsh and fish scripts name
//!   every command; an unknown shell is bad usage (exit 2).
//! - examples/man.rs (what scripts/package.sh runs) writes dpop-gateway.1
//!   and one page per command, with the text `--help` shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "../examples/man.rs"]
#[allow(dead_code)]
mod man_example;

use std::process::Command;
use std::time::Duration;

use common::run_bin;

const BOUND: Duration = Duration::from_secs(30);

/// The commands a user sees.
const COMMANDS: &[&str] = &[
    "run",
    "check",
    "demo",
    "keygen",
    "thumbprint",
    "proof",
    "token",
    "completions",
];

fn stdout_of(args: &[&str]) -> String {
    let out = run_bin(args, BOUND);
    assert_eq!(out.code(), Some(0), "{args:?}: stderr {:?}", out.stderr);
    out.stdout
}

/// What bash offers after `dpop-gateway <words…>`, with the script loaded
/// the way bash-completion loads it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = stdout_of(&["completions", "bash"]);
    let function = script
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("complete -F "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the script registers a completion function")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dpop-gateway.bash");
    std::fs::write(&path, &script).unwrap();
    let line: Vec<&str> = std::iter::once("dpop-gateway")
        .chain(words.iter().copied())
        .collect();
    let quoted: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         {function} dpop-gateway '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display(),
        quoted.join(" "),
        line.len() - 1,
        line.join(" "),
        line[line.len() - 1],
        line[line.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut offered: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_the_commands_and_their_flags() {
    let mut commands: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    commands.push("help".to_owned());
    commands.sort();
    let offered = bash_completes(&[""]);
    let offered_commands: Vec<String> = offered
        .iter()
        .filter(|w| !w.starts_with('-'))
        .cloned()
        .collect();
    assert_eq!(offered_commands, commands, "all: {offered:?}");
    assert_eq!(bash_completes(&["th"]), ["thumbprint"]);
    assert_eq!(bash_completes(&["check", "--con"]), ["--config"]);
    assert_eq!(bash_completes(&["completions", "z"]), ["zsh"]);
    assert_eq!(
        bash_completes(&["keygen", "--alg", "E"]),
        ["ES256", "ES384", "EdDSA"]
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    let zsh = stdout_of(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef dpop-gateway"), "{}", &zsh[..80]);
    let fish = stdout_of(&["completions", "fish"]);
    for command in COMMANDS {
        assert!(
            zsh.contains(&format!("'{command}:")),
            "zsh script lacks {command}"
        );
        assert!(
            fish.lines()
                .any(|l| l.starts_with("complete -c dpop-gateway")
                    && l.contains(&format!("-a \"{command}\""))),
            "fish script lacks {command}"
        );
    }
}

#[test]
fn an_unknown_shell_is_bad_usage() {
    let out = run_bin(["completions", "tcsh"], BOUND);
    assert_eq!(out.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("invalid value 'tcsh'")
            && out.stderr.contains("[possible values: bash, zsh, fish]"),
        "{}",
        out.stderr
    );
    assert_eq!(run_bin(["completions"], BOUND).code(), Some(2));
}

#[test]
fn man_pages_one_per_command_with_the_help_text() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    man_example::write_pages(&out_dir).unwrap();
    let mut pages: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("dpop-gateway-{c}.1"))
        .chain(["dpop-gateway.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);

    let main = std::fs::read_to_string(out_dir.join("dpop-gateway.1")).unwrap();
    assert!(main.contains(".TH dpop-gateway 1"), "{main}");
    for command in COMMANDS {
        assert!(
            main.contains(&format!("dpop\\-gateway\\-{command}(1)")),
            "{command}: {main}"
        );
    }
    // Each page carries its command's help: the token page the test-only
    // warning, the run page its --config flag.
    let token = std::fs::read_to_string(out_dir.join("dpop-gateway-token.1")).unwrap();
    assert!(token.contains("TEST JWT"), "{token}");
    let run = std::fs::read_to_string(out_dir.join("dpop-gateway-run.1")).unwrap();
    assert!(
        run.contains("\\fB\\-\\-config\\fR \\fI<CONFIG>\\fR\nThe TOML config file"),
        "{run}"
    );
}
