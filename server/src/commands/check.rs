//! `graft check FILE...`: parse, merge and validate executable schemas; exit 1 on errors.

use std::path::PathBuf;
use std::process::ExitCode;

use schema_gen::Diagnostic;
use schema_gen::parse::{SdlFile, parse_files};

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per diagnostic, for people.
    #[default]
    Text,
    /// One JSON document `{"valid": bool, "diagnostics": [...]}`, for tools.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Executable schema files (merged into one graph).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Read the files; an unreadable file is itself a failure with a message.
pub fn read_files(paths: &[PathBuf]) -> Result<Vec<SdlFile>, String> {
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| SdlFile::new(path.display().to_string(), text))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .collect()
}

pub fn run(args: CheckArgs) -> ExitCode {
    let files = match read_files(&args.files) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("graft check: {message}");
            return ExitCode::from(1);
        }
    };
    let checked = parse_files(&files);
    let valid = checked.catalog.is_some();
    match args.format {
        Format::Json => {
            let report = serde_json::json!({ "valid": valid, "diagnostics": checked.diagnostics });
            println!("{report:#}");
        }
        Format::Text => {
            print_diagnostics(&checked.diagnostics);
            if let Some(catalog) = &checked.catalog {
                let fields: usize = catalog
                    .types
                    .values()
                    .map(|t| match &t.kind {
                        schema_gen::catalog::TypeKind::Object(o) => o.fields.len(),
                        _ => 0,
                    })
                    .sum();
                println!(
                    "ok: {} source(s), {} type(s), {fields} field(s)",
                    catalog.sources.len(),
                    catalog.types.len()
                );
            }
        }
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Diagnostics to stdout, one per line, followed by a count of errors and warnings.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        println!("{diagnostic}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        println!(
            "{errors} error(s), {} other diagnostic(s)",
            diagnostics.len() - errors
        );
    }
}
