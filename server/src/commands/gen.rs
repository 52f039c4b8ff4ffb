//! `graft gen <openapi|grpc|lambda>`: describe a source and write its executable schema.
//!
//! Diagnostics go to stderr, the SDL to `-o FILE` or stdout. Exit 1 when nothing usable came
//! out; warnings (skipped operations, suggested links) never fail the command.

use std::path::PathBuf;
use std::process::ExitCode;

use schema_gen::ingest::Ingested;
use schema_gen::ingest::openapi::{self, OpenApiOptions};

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    #[command(subcommand)]
    pub kind: GenKind,
}

#[derive(Debug, clap::Subcommand)]
pub enum GenKind {
    /// From an OpenAPI 3.0/3.1 or Swagger 2.0 document (JSON or YAML; a path or an http(s) URL).
    Openapi(OpenApiArgs),
    /// From a gRPC server's reflection (v1, falling back to v1alpha) or a descriptor set.
    Grpc(GrpcArgs),
    /// From the AWS Lambda API: functions tagged `graft.dev/expose=true` or listed with --allow.
    Lambda(LambdaArgs),
}

#[derive(Debug, clap::Args)]
pub struct GrpcArgs {
    /// Server address: `host:port`, `http://host:port` or `https://host:port` (TLS).
    pub addr: String,
    /// Read services from this FileDescriptorSet (`protoc --include_imports
    /// --descriptor_set_out`) instead of reflection; ADDR stays the endpoint called.
    #[arg(long)]
    pub descriptor_set: Option<PathBuf>,
    /// Source name (default: from the host).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the executable schema here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct LambdaArgs {
    /// Lambda API endpoint (default: AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL, or AWS's).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// AWS region (default: AWS_REGION, AWS_DEFAULT_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// Expose this function even without the tag (repeatable).
    #[arg(long = "allow")]
    pub allow: Vec<String>,
    /// Directory of `<function>.json` schema documents and relative `graft.dev/schema` paths.
    #[arg(long)]
    pub schema_dir: Option<PathBuf>,
    /// Source name (default: lambda).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the executable schema here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct OpenApiArgs {
    /// Path or http(s) URL of the spec.
    pub spec: String,
    /// Source name (default: from the spec's file name or host).
    #[arg(long)]
    pub name: Option<String>,
    /// Base URL of the upstream (default: servers[0], or schemes + host + basePath).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Write the executable schema here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub async fn run(args: GenArgs) -> ExitCode {
    match args.kind {
        GenKind::Openapi(args) => gen_openapi(args).await,
        GenKind::Grpc(args) => gen_grpc(args).await,
        GenKind::Lambda(args) => gen_lambda(args).await,
    }
}

/// How long `gen` waits for a reflection or Lambda API answer.
const DESCRIBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn gen_grpc(args: GrpcArgs) -> ExitCode {
    use schema_gen::ingest::grpc::{self, GrpcOptions};
    let endpoint = if args.addr.contains("://") {
        args.addr.clone()
    } else {
        format!("http://{}", args.addr)
    };
    let pool = match &args.descriptor_set {
        Some(path) => engine::upstream::grpc::describe_descriptor_set(path),
        None => engine::upstream::grpc::describe(&endpoint, DESCRIBE_TIMEOUT).await,
    };
    let pool = match pool {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("graft gen grpc: {error}");
            return ExitCode::from(1);
        }
    };
    let name = args
        .name
        .unwrap_or_else(|| default_source_name(&endpoint, "grpc"));
    let mut options = GrpcOptions::new(name, endpoint);
    if let Some(path) = &args.descriptor_set {
        // Absolute, so `serve` finds it from any working directory.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        options = options.with_descriptor_set(path.display().to_string());
    }
    finish(grpc::ingest(&pool, &options), args.output.as_ref())
}

async fn gen_lambda(args: LambdaArgs) -> ExitCode {
    use engine::upstream::lambda::{DescribeOptions, describe};
    use schema_gen::ingest::lambda::{self, LambdaOptions};
    let options = DescribeOptions {
        region: args.region,
        endpoint: args.endpoint,
        allow: args.allow,
        schema_dir: args.schema_dir,
    };
    let env = |name: &str| std::env::var(name).ok();
    let described = match tokio::time::timeout(DESCRIBE_TIMEOUT, describe(&options, &env)).await {
        Ok(Ok(described)) => described,
        Ok(Err(error)) => {
            eprintln!("graft gen lambda: {error}");
            return ExitCode::from(1);
        }
        Err(_) => {
            eprintln!(
                "graft gen lambda: the Lambda API did not answer within {}s",
                DESCRIBE_TIMEOUT.as_secs()
            );
            return ExitCode::from(1);
        }
    };
    for diagnostic in &described.diagnostics {
        eprintln!("{diagnostic}");
    }
    // `serve` invokes where `gen` discovered: the region and endpoint go into @source.
    let lambda_options = LambdaOptions {
        name: args.name.unwrap_or_else(|| "lambda".into()),
        region: Some(described.region.clone()),
        endpoint: described.endpoint.clone(),
    };
    finish(
        lambda::ingest(&described.functions, &lambda_options),
        args.output.as_ref(),
    )
}

async fn gen_openapi(args: OpenApiArgs) -> ExitCode {
    let text = match engine::upstream::http::fetch_spec(&args.spec).await {
        Ok(text) => text,
        Err(error) => {
            eprintln!("graft gen openapi: {error}");
            return ExitCode::from(1);
        }
    };
    let options = OpenApiOptions {
        name: args
            .name
            .unwrap_or_else(|| default_source_name(&args.spec, "api")),
        base_url: args.base_url,
        location: Some(args.spec.clone()),
    };
    let loader = engine::upstream::http::SpecLoader::default();
    // Ingest is CPU-bound and may load external $refs synchronously.
    let ingested =
        tokio::task::spawn_blocking(move || openapi::ingest(&text, &loader, &options)).await;
    match ingested {
        Ok(ingested) => finish(ingested, args.output.as_ref()),
        Err(error) => {
            eprintln!("graft gen openapi: internal error: {error}");
            ExitCode::from(1)
        }
    }
}

/// A source name from a location: the file stem, or the URL's first host label; `fallback`
/// when that is no name (an IP address).
fn default_source_name(location: &str, fallback: &str) -> String {
    let stem = match url::Url::parse(location) {
        Ok(url) if url.scheme().starts_with("http") => url
            .host_str()
            .unwrap_or_default()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => std::path::Path::new(location)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !stem.starts_with(|c: char| c.is_ascii_alphabetic()) || stem == "localhost" {
        return fallback.to_string();
    }
    schema_gen::naming::field_name(&stem.to_ascii_lowercase())
}

/// Print diagnostics, write the SDL, and check that what was written parses back cleanly.
fn finish(ingested: Ingested, output: Option<&PathBuf>) -> ExitCode {
    for diagnostic in &ingested.diagnostics {
        eprintln!("{diagnostic}");
    }
    let Some(catalog) = ingested.catalog else {
        eprintln!("graft gen: nothing usable was generated");
        return ExitCode::from(1);
    };
    // Links are proposed, never applied: the message carries the SDL to add.
    for suggestion in schema_gen::links::suggest(&catalog) {
        eprintln!("{suggestion}");
    }
    // Validate the catalog itself (emit → parse round-trips are covered by tests): re-parsing
    // a generated 30 MB SDL would double gen's time on the largest specs.
    let problems: Vec<_> = schema_gen::validate::validate(&catalog)
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    if !problems.is_empty() {
        for diagnostic in &problems {
            eprintln!("{diagnostic}");
        }
        eprintln!(
            "graft gen: the generated schema does not validate (a graft bug: please report it)"
        );
        return ExitCode::from(1);
    }
    let sdl = schema_gen::emit::sdl(&catalog);
    let queries = catalog
        .root(schema_gen::catalog::OperationKind::Query)
        .map_or(0, |o| o.fields.len());
    let mutations = catalog
        .root(schema_gen::catalog::OperationKind::Mutation)
        .map_or(0, |o| o.fields.len());
    let warnings = ingested
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .count();
    eprintln!(
        "graft gen: {queries} queries, {mutations} mutations, {} types, {warnings} warning(s)",
        catalog.types.len()
    );
    match output {
        Some(path) => {
            if let Err(error) = std::fs::write(path, sdl) {
                eprintln!("graft gen: cannot write {}: {error}", path.display());
                return ExitCode::from(1);
            }
        }
        None => print!("{sdl}"),
    }
    ExitCode::SUCCESS
}
