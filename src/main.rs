//! The `tolk` binary: parse flags, run the command, map failures to exit codes
//! (0 ok, 1 runtime error, 2 usage error). A closed stdout pipe is not an error.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc keeps freed pages for reuse: a decoding step allocates and frees tens of MB of
/// activations and logits, which the system allocator returned to the kernel and faulted back
/// in at every step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
