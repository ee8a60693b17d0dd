//! Build-time documentation from the clap definitions the binary itself parses with (src/cli.rs,
//! compiled a second time here as a module): the man pages cognitod(1) and cognitod-SUBCOMMAND(1),
//! and the bash, zsh and fish completions. One source of truth: a new flag shows up in the man
//! pages and completions of the next build without anyone editing them.
//!
//! They are written to `$OUT_DIR/man` and `$OUT_DIR/completions`; debian/stage.sh finds OUT_DIR
//! in cargo's JSON messages and stages them for both packages.

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "src/instance.rs"]
mod instance;
#[allow(dead_code)]
#[path = "src/transport.rs"]
mod transport;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/transport.rs");
    println!("cargo:rerun-if-changed=src/instance.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (man, completions) = (out.join("man"), out.join("completions"));
    for dir in [&man, &completions] {
        // Start empty, so a removed subcommand does not leave its page behind.
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
    }

    let mut cli = cli::Cli::command().disable_help_subcommand(true);
    cli.build();
    main_page(&cli, &man)?;
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand_page(sub, &man)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cli, "cognitod", &completions)?;
    }
    Ok(())
}

/// cognitod(1): clap's sections, then what a packaged installation needs to know.
fn main_page(cli: &clap::Command, dir: &Path) -> std::io::Result<()> {
    let page = Man::new(cli.clone());
    let mut w = File::create(dir.join(page.get_filename()))?;
    page.render_title(&mut w)?;
    page.render_name_section(&mut w)?;
    page.render_synopsis_section(&mut w)?;
    page.render_description_section(&mut w)?;

    let mut roff = Roff::default();
    roff.control("PP", []);
    roff.text([roman(
        "It signs in to a Cognito user pool, exchanges the tokens at an identity pool for \
         temporary IAM credentials, keeps them fresh in memory (never on disk) and hands them, \
         or the Cognito tokens, to local clients over a unix socket, TCP or HTTP, as the JSON \
         that an AWS credential_process prints.",
    )]);
    roff.to_writer(&mut w)?;
    page.render_options_section(&mut w)?;
    page.render_subcommands_section(&mut w)?;

    let mut roff = Roff::default();
    roff.control("SH", ["SETTING IT UP"]);
    roff.text([
        roman("As root: "),
        bold("cognitod configure"),
        roman(" asks the questions and writes "),
        italic("/etc/cognitod/config.json"),
        roman(" (mode 0600); then "),
        bold("systemctl enable --now cognitod.socket"),
        roman(". Clients read credentials with "),
        bold("cognitod get"),
        roman(" or "),
        bold("nc -U /run/cognitod.sock"),
        roman("; AWS programs through ~/.aws/config:"),
    ]);
    roff.control("IP", [""]);
    roff.text([roman("credential_process = cognitod get")]);
    roff.control("PP", []);
    roff.text([
        roman("The service's log: "),
        bold("journalctl -u cognitod"),
        roman(". Change the units with drop-ins ("),
        bold("systemctl edit cognitod.socket"),
        roman("), for example SocketGroup= to let a group read credentials."),
    ]);
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/cognitod/config.json",
            "The configuration the service loads (as the systemd credential \"config\"). \
             Holds the password: root:root 0600.",
        ),
        (
            "/etc/cognitod/config.json.example",
            "A commented example; it is not read.",
        ),
        (
            "/run/cognitod.sock",
            "The unix socket (cognitod.socket); TCP port 5500 (cognitod-tcp.socket) and \
             HTTP port 8080 (cognitod-http.socket) on the loopback addresses, when enabled.",
        ),
        (
            "/usr/lib/systemd/system/cognitod.service",
            "The service and its socket units, as cognitod install writes them.",
        ),
        (
            "/etc/cognitod/NAME.json, /run/cognitod/NAME.sock",
            "The configuration and the unix socket of template instance NAME \
             (cognitod@NAME.socket, cognitod@NAME.service; cognitod configure --instance NAME, \
             cognitod get --instance NAME); it runs as the user cognitod-NAME and logs as \
             cognitod@NAME.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }
    see_also(
        &mut roff,
        &["systemd.socket(5)", "systemd.exec(5)", "journalctl(1)"],
    );
    roff.to_writer(&mut w)?;
    page.render_version_section(&mut w)?;
    w.flush()
}

/// cognitod-SUBCOMMAND(1): clap's page, and a way back.
fn subcommand_page(sub: &clap::Command, dir: &Path) -> std::io::Result<()> {
    let page = Man::new(sub.clone());
    let mut w = File::create(dir.join(page.get_filename()))?;
    page.render(&mut w)?;
    let mut roff = Roff::default();
    see_also(&mut roff, &["cognitod(1)"]);
    roff.to_writer(&mut w)?;
    w.flush()
}

fn see_also(roff: &mut Roff, pages: &[&str]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut inlines = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        let (name, section) = page.split_once('(').expect("name(section)");
        inlines.push(bold(name));
        inlines.push(roman(format!("({section}")));
    }
    roff.text(inlines);
}
