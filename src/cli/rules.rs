//! `propusk rules publish|show|accepted`: publishing a new version of the rules of
//! the environment (or the English translation of the current one), showing what is in
//! force, and who accepted which version.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::{fail, json};
use crate::app::{AppError, RulesLang};
use crate::config::Config;

#[derive(Clone, Copy, ValueEnum)]
pub enum Lang {
    /// Russian: the binding text; publishing it makes a new version everyone accepts again.
    Ru,
    /// English: the translation of the current version; nobody is asked again.
    En,
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Publish FILE (plain text or simple Markdown: `#` headings, `1.` and `-` lists).
    Publish {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "ru")]
        lang: Lang,
        #[arg(long)]
        json: bool,
    },
    /// The version in force and the earlier ones; `--text` prints the text itself.
    Show {
        #[arg(long)]
        text: bool,
        #[arg(long, value_enum, default_value = "ru")]
        lang: Lang,
        #[arg(long)]
        json: bool,
    },
    /// The versions LOGIN accepted, when and from which address.
    Accepted {
        login: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_rules(config: &Config, cmd: RulesCommand) -> ExitCode {
    let app = match super::user::open(config).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    match cmd {
        RulesCommand::Publish { file, lang, json: as_json } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("propusk: cannot read {} as UTF-8 text: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let lang = match lang {
                Lang::Ru => RulesLang::Ru,
                Lang::En => RulesLang::En,
            };
            match app.publish_rules(&super::user::actor(), &text, lang).await {
                Ok(v) if as_json => json(&serde_json::json!({
                    "version": v.number,
                    "digest": v.digest,
                    "lang": if lang == RulesLang::Ru { "ru" } else { "en" },
                })),
                Ok(v) => {
                    match lang {
                        RulesLang::Ru => println!(
                            "published version {} (sha256 {}); everyone accepts it at their next sign-in",
                            v.number, v.digest
                        ),
                        RulesLang::En => println!("English translation of version {} published", v.number),
                    }
                    ExitCode::SUCCESS
                }
                Err(AppError::NotFound(_)) => {
                    eprintln!("propusk: no version of the rules is published yet: publish the Russian text first");
                    ExitCode::from(3)
                }
                Err(e) => fail(&e),
            }
        }
        RulesCommand::Show { text, lang, json: as_json } => {
            let versions = match app.rule_versions().await {
                Ok(v) => v,
                Err(e) => return fail(&e),
            };
            if as_json {
                return json(&versions);
            }
            let Some(current) = versions.first() else {
                println!("no version of the rules is published");
                return ExitCode::SUCCESS;
            };
            if text {
                match lang {
                    Lang::Ru => println!("{}", current.text_ru),
                    Lang::En => match &current.text_en {
                        Some(t) => println!("{t}"),
                        None => {
                            eprintln!("propusk: version {} has no English translation", current.number);
                            return ExitCode::from(3);
                        }
                    },
                }
                return ExitCode::SUCCESS;
            }
            println!("version  published (UTC)     by                 translation  sha256");
            for v in &versions {
                println!(
                    "{:<8} {:<20} {:<18} {:<12} {}",
                    v.number,
                    v.published_at.to_human(),
                    v.published_by,
                    if v.text_en.is_some() { "en" } else { "-" },
                    v.digest
                );
            }
            ExitCode::SUCCESS
        }
        RulesCommand::Accepted { login, json: as_json } => {
            let account = match app.user_details(&login).await {
                Ok(d) => d.account,
                Err(e) => return fail(&e),
            };
            match app.rule_acceptances(&account.id).await {
                Ok(list) if as_json => json(&list),
                Ok(list) if list.is_empty() => {
                    println!("{login} has accepted no version of the rules");
                    ExitCode::SUCCESS
                }
                Ok(list) => {
                    for a in list {
                        println!(
                            "version {} accepted {} from {}",
                            a.version,
                            a.at.to_human(),
                            a.ip.as_deref().unwrap_or("an unknown address")
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}
