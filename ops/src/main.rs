//! `ops`: the edgeledger operator tool.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ops::devnet;

/// The edgeledger operator tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local network.
    Net {
        #[command(subcommand)]
        action: NetAction,
    },
}

#[derive(Subcommand)]
enum NetAction {
    /// Starts the whole network in one workerd process on 127.0.0.1 (Ctrl-C stops it; starting
    /// again resumes the same chain).
    Start {
        /// Validators (1 to 7).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Shards (a power of two, 1 to 256).
        #[arg(long, default_value_t = 4)]
        shards: u32,
        /// Port of the API.
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// The network folder (keys, genesis, configs, state).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Delete the folder's chain and start a new one.
        #[arg(long)]
        fresh: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Net {
            action:
                NetAction::Start {
                    validators,
                    shards,
                    port,
                    dir,
                    fresh,
                },
        } => {
            let defaults = devnet::Options::default();
            let options = devnet::Options {
                validators,
                shards,
                port,
                dir: dir.unwrap_or(defaults.dir),
                fresh,
                pinning: defaults.pinning,
            };
            let prepared = devnet::prepare(&options)?;
            println!(
                "starting {validators} validators and {shards} shards (chain {}, state in {})",
                prepared.genesis().config.chain_id,
                prepared.dir().display()
            );
            let running = prepared.spawn()?;
            // The network runs in its own process group (so it can be stopped as a whole):
            // pass Ctrl-C and termination on to it, then wait for it to exit.
            if let Some(group) = running.process_group() {
                ctrlc::set_handler(move || devnet::Running::interrupt_group(group))?;
            }
            println!("edgeledger API: {}", running.url());
            println!(
                "development accounts: the 20 of 'test test … junk', 10000 ether each; admin token in {}",
                prepared.dir().join("network.json").display()
            );
            println!("Ctrl-C stops the network; starting again resumes the chain.");
            running.wait()
        }
    }
}
