//! `graft config-schema`: prints the JSON Schema of the server configuration file.
//!
//! The committed copy lives in `schemas/config.schema.json`; regenerate it with
//! `graft config-schema > schemas/config.schema.json`.

use std::io::Write;
use std::process::ExitCode;

pub fn run() -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(crate::config::json_schema().as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the schema: {e}");
            ExitCode::FAILURE
        }
    }
}
