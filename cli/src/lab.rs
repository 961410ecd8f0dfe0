//! `push lab`: real Debian hosts on this machine (Docker containers with
//! systemd and sshd), an inventory to reach them, and an image registry.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use push_engine::ops;
use push_lab::commands::{LabDown, LabImages, LabStatus, LabUp};
use push_lab::{DEFAULT_HOSTS, DEFAULT_NAME};

#[derive(Args)]
#[command(after_help = "\
Exit codes: 0 ok, 1 a tool failed or a host did not boot, 4 the machine is not ready \
(Docker missing or stopped, debootstrap missing) or the name is taken, 5 a bad option value.")]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Args)]
pub struct NameArg {
    /// The lab's name: 1-20 characters from a-z, 0-9 and `-`. Hosts are NAME-1, NAME-2...
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
}

#[derive(Subcommand)]
pub enum LabCommand {
    /// Boot the lab's hosts (adding any missing) and write its inventory.
    ///
    /// The first run builds the base image with debootstrap (about a
    /// minute); later runs reuse it. Running `up` again changes nothing;
    /// with a larger --hosts it adds hosts.
    ///
    /// Each host's systemd holds about 8 inotify instances, and the hosts
    /// of all labs share the machine's fs.inotify.max_user_instances (128
    /// on Debian: 16 hosts): `up` refuses more, before booting anything
    /// (raise it with `sysctl fs.inotify.max_user_instances=1024`). When a
    /// host does not boot, the hosts this `up` created that did not boot are
    /// removed and the inventory lists the hosts that run.
    Up {
        #[command(flatten)]
        name: NameArg,
        /// How many hosts (1-50).
        #[arg(long, default_value_t = DEFAULT_HOSTS)]
        hosts: u32,
        /// Where to write hosts.yml and .ssh/ (default: inventories/NAME).
        #[arg(short = 'i', long)]
        inventory: Option<PathBuf>,
        /// Hosts with Docker already installed (for tests about something else).
        #[arg(long)]
        prepared: bool,
        /// Production's shape: the hosts on a network this machine does not
        /// reach, behind one bastion (NAME-bastion, the jump host and NAT
        /// gateway); root login off; `admin` logs in with the lab's key and
        /// sudo asks for its password, kept vaulted in the inventory's
        /// group_vars (vault password in INVENTORY/.vault-password).
        #[arg(long)]
        bastion: bool,
    },
    /// Remove the lab's hosts, registry, bastion, networks and the files `up` wrote.
    Down {
        #[command(flatten)]
        name: NameArg,
        /// The inventory folder `up` wrote (default: inventories/NAME).
        #[arg(short = 'i', long)]
        inventory: Option<PathBuf>,
    },
    /// List the lab's hosts: name, address, state.
    Status {
        #[command(flatten)]
        name: NameArg,
    },
    /// Build the example images (web v1/v2/v3, mail, webmail) and push them
    /// into the lab's registry.
    Images {
        #[command(flatten)]
        name: NameArg,
        /// Only these: web, mail, webmail (default: all).
        images: Vec<String>,
    },
}

pub fn run(args: LabArgs, printer: &push_engine::report::Printer) -> Result<i32, ops::Error> {
    let out = match args.command {
        LabCommand::Up { name, hosts, inventory, prepared, bastion } => {
            push_lab::commands::up(LabUp { name: name.name, hosts, inventory, prepared, bastion }, printer)?
        }
        LabCommand::Down { name, inventory } => push_lab::commands::down(LabDown { name: name.name, inventory })?,
        LabCommand::Status { name } => push_lab::commands::status(LabStatus { name: name.name })?,
        LabCommand::Images { name, images } => {
            push_lab::commands::images(LabImages { name: name.name, only: images }, printer)?
        }
    };
    crate::output::out(&out);
    Ok(0)
}
