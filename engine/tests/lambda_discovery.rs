//! Lambda discovery against moto's Lambda API on 127.0.0.1 (docker-less): ListFunctions
//! across pages, ListTags, exposure by tag and allowlist, schema documents, the generated
//! schema served by a gateway, and SigV4 signatures checked by moto's IAM.

mod lambda_common;

use std::path::PathBuf;

use engine::DescribeError;
use engine::upstream::lambda::{DescribeOptions, describe};
use lambda_common::{Emulator, env, error_at, moto, run, workspace};
use schema_gen::Code;
use schema_gen::ingest::lambda::{LambdaOptions, ingest};
use serde_json::{Value, json};

/// Sends one setup request to moto. Before auth is switched on, moto only reads the service
/// from the credential scope, so the signature can be a placeholder.
async fn aws(
    moto: &Emulator,
    service: &str,
    method: reqwest::Method,
    path: &str,
    body: Body,
) -> String {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    );
    let request = reqwest::Client::new()
        .request(method, format!("{}{path}", moto.url))
        .header("authorization", authorization);
    let request = match body {
        Body::Json(json) => request.json(&json),
        Body::Form(form) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            ),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    text
}

enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

async fn create_role(moto: &Emulator) {
    let form = vec![
        ("Action", "CreateRole".to_string()),
        ("Version", "2010-05-08".into()),
        ("RoleName", "fn".into()),
        (
            "AssumeRolePolicyDocument",
            r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        ),
    ];
    aws(moto, "iam", reqwest::Method::POST, "/", Body::Form(form)).await;
}

async fn create_function(moto: &Emulator, name: &str, tags: Value) {
    let body = json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::123456789012:role/fn",
        "Handler": "bootstrap",
        // An empty zip archive: docker-less moto never runs the code.
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
        "Description": format!("The {name} function."),
        "Tags": tags,
    });
    aws(
        moto,
        "lambda",
        reqwest::Method::POST,
        "/2015-03-31/functions",
        Body::Json(body),
    )
    .await;
}

/// Queues what moto's next docker-less invocations answer (else a fixed non-JSON string).
async fn queue_results(moto: &Emulator, results: &[&str]) {
    let client = reqwest::Client::new();
    let response = client
        .post(format!(
            "{}/moto-api/static/lambda-simple/response",
            moto.url
        ))
        .json(&json!({"results": results, "region": "us-east-1"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

fn schema_dir(name: &str) -> PathBuf {
    let dir = workspace()
        .join("target")
        .join(format!("lambda-schemas-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keys(key: &str, secret: &str) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    env(vec![
        ("AWS_ACCESS_KEY_ID", key.to_string()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
        ("AWS_REGION", "us-east-1".into()),
    ])
}

const INVOICE_SCHEMA: &str = r#"{
  "input": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
  "output": {"type": "object", "properties": {"id": {"type": "string"}, "total": {"type": "number"}}}
}"#;

#[tokio::test]
async fn discovery_reads_every_page_and_exposes_tagged_and_allowlisted_functions() {
    let Some(moto) = moto(false).await else {
        return;
    };
    create_role(&moto).await;
    // 55 untagged functions push the interesting ones across ListFunctions' 50-item pages.
    for i in 0..55 {
        create_function(&moto, &format!("filler-{i:02}"), json!({})).await;
    }
    create_function(
        &moto,
        "get-invoice",
        json!({"graft.dev/expose": "true", "graft.dev/schema": "invoice.json"}),
    )
    .await;
    create_function(
        &moto,
        "send-invoice",
        json!({"graft.dev/expose": "TRUE", "graft.dev/qualifier": "live"}),
    )
    .await;
    create_function(&moto, "zz-listed", json!({})).await;
    create_function(&moto, "hidden", json!({"graft.dev/expose": "false"})).await;
    create_function(
        &moto,
        "get-broken",
        json!({"graft.dev/expose": "true", "graft.dev/schema": "missing.json"}),
    )
    .await;

    let dir = schema_dir("pages");
    std::fs::write(dir.join("invoice.json"), INVOICE_SCHEMA).unwrap();
    // No tag: `<function>.json` beside the configuration is used.
    std::fs::write(
        dir.join("send-invoice.json"),
        r#"{"output": {"type": "boolean"}}"#,
    )
    .unwrap();

    let options = DescribeOptions {
        endpoint: Some(moto.url.clone()),
        allow: vec!["zz-listed".into()],
        schema_dir: Some(dir.clone()),
        ..Default::default()
    };
    let described = describe(&options, &keys("AKIDTEST", "secret"))
        .await
        .unwrap();
    let names: Vec<_> = described
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["get-broken", "get-invoice", "send-invoice", "zz-listed"]
    );
    assert_eq!(described.endpoint.as_deref(), Some(moto.url.as_str()));
    assert_eq!(described.region, "us-east-1");
    assert_eq!(
        described.diagnostics.len(),
        1,
        "{:#?}",
        described.diagnostics
    );
    assert_eq!(described.diagnostics[0].code, Code::SpecRead);
    assert!(described.diagnostics[0].message.contains("missing.json"));
    let invoice = &described.functions[1];
    assert_eq!(
        invoice.description.as_deref(),
        Some("The get-invoice function.")
    );
    assert!(
        invoice
            .schema
            .as_ref()
            .unwrap()
            .location
            .ends_with("invoice.json")
    );

    // The generated schema, with the endpoint as a variable so the snapshot is stable.
    let ingested = ingest(
        &described.functions,
        &LambdaOptions::new("billing")
            .with_region("us-east-1")
            .with_endpoint("{{env.LAMBDA_URL}}"),
    );
    let catalog = ingested.catalog.unwrap();
    insta::assert_snapshot!(schema_gen::emit::sdl(&catalog));
    std::fs::remove_dir_all(dir).unwrap();

    // Served: moto answers the invocation with the queued result.
    queue_results(&moto, &[r#"{"id": "7", "total": 12.5}"#]).await;
    let env = env(vec![
        ("LAMBDA_URL", moto.url.clone()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "secret".into()),
    ]);
    let gateway =
        engine::Gateway::build_with_env(&catalog, engine::GatewayOptions::default(), &env).unwrap();
    let out = run(
        &gateway,
        r#"{ getInvoice(id: "7") { id total } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        out["data"]["getInvoice"],
        json!({"id": "7", "total": 12.5}),
        "{out:#}"
    );
}

/// A `graft.dev/schema` tag naming an http URL: the document is fetched from it; one that
/// cannot be fetched is a warning and its function keeps JSON types.
#[tokio::test]
async fn schema_documents_named_by_url_are_fetched() {
    let Some(moto) = moto(false).await else {
        return;
    };
    create_role(&moto).await;
    let app = axum::Router::new().route(
        "/invoice.json",
        axum::routing::get(|| async { INVOICE_SCHEMA }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let tagged = |path: &str| json!({"graft.dev/expose": "true", "graft.dev/schema": format!("{served}{path}")});
    create_function(&moto, "get-invoice", tagged("/invoice.json")).await;
    create_function(&moto, "get-gone", tagged("/gone.json")).await;

    let options = DescribeOptions {
        endpoint: Some(moto.url.clone()),
        ..Default::default()
    };
    let described = describe(&options, &keys("AKIDTEST", "secret"))
        .await
        .unwrap();
    let invoice = described
        .functions
        .iter()
        .find(|f| f.name == "get-invoice")
        .unwrap();
    let schema = invoice.schema.as_ref().expect("fetched");
    assert_eq!(schema.location, format!("{served}/invoice.json"));
    assert_eq!(schema.document["input"]["required"], json!(["id"]));
    let gone = described
        .functions
        .iter()
        .find(|f| f.name == "get-gone")
        .unwrap();
    assert!(gone.schema.is_none());
    assert_eq!(
        described.diagnostics.len(),
        1,
        "{:#?}",
        described.diagnostics
    );
    assert_eq!(described.diagnostics[0].code, Code::SpecRead);
    let message = &described.diagnostics[0].message;
    assert!(
        message.contains("gone.json") && message.contains("HTTP 404"),
        "{message}"
    );
}

#[tokio::test]
async fn moto_verifies_invocation_signatures_and_refuses_unknown_keys() {
    let Some(moto) = moto(false).await else {
        return;
    };
    create_role(&moto).await;
    create_function(&moto, "get-invoice", json!({"graft.dev/expose": "true"})).await;
    // An IAM user allowed everything, whose key graft signs with once auth is on.
    let iam = |action: &str, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("Action", action.to_string()),
            ("Version", "2010-05-08".into()),
            ("UserName", "graft".into()),
        ];
        form.extend(extra);
        Body::Form(form)
    };
    aws(
        &moto,
        "iam",
        reqwest::Method::POST,
        "/",
        iam("CreateUser", vec![]),
    )
    .await;
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let put = iam(
        "PutUserPolicy",
        vec![
            ("PolicyName", "all".into()),
            ("PolicyDocument", policy.into()),
        ],
    );
    aws(&moto, "iam", reqwest::Method::POST, "/", put).await;
    let created = aws(
        &moto,
        "iam",
        reqwest::Method::POST,
        "/",
        iam("CreateAccessKey", vec![]),
    )
    .await;
    let element = |tag: &str| {
        let start = created.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let end = created[start..].find('<').unwrap();
        created[start..start + end].to_string()
    };
    let (key, secret) = (element("AccessKeyId"), element("SecretAccessKey"));
    queue_results(&moto, &[r#"{"id": "1"}"#]).await;
    let switched = reqwest::Client::new()
        .post(format!("{}/moto-api/reset-auth", moto.url))
        .header("content-type", "text/plain")
        .body("0")
        .send()
        .await
        .unwrap();
    assert!(switched.status().is_success());

    // moto 5.2 rejects every signed GET with SignatureDoesNotMatch (boto3's too), so only the
    // signed POST (Invoke) is verified here; discovery is checked against an unknown key.
    let catalog = ingest(
        &[schema_gen::ingest::lambda::LambdaFunction::new(
            "get-invoice",
        )],
        &LambdaOptions::new("fns").with_endpoint(moto.url.clone()),
    )
    .catalog
    .unwrap();
    let gateway = engine::Gateway::build_with_env(
        &catalog,
        engine::GatewayOptions::default(),
        &keys(&key, &secret),
    )
    .unwrap();
    let out = run(&gateway, "{ getInvoice(input: {id: 1}) }", json!({})).await;
    assert_eq!(out["data"]["getInvoice"], json!({"id": "1"}), "{out:#}");

    // An unknown key is refused, in discovery and in invocations.
    let options = DescribeOptions {
        endpoint: Some(moto.url.clone()),
        ..Default::default()
    };
    let refused = describe(&options, &keys("AKIDUNKNOWN", "nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DescribeError::Fetch { message, .. } if message.contains("InvalidClientTokenId")),
        "{refused}"
    );
    let gateway = engine::Gateway::build_with_env(
        &catalog,
        engine::GatewayOptions::default(),
        &keys("AKIDUNKNOWN", "nope"),
    )
    .unwrap();
    let out = run(&gateway, "{ getInvoice(input: {id: 1}) }", json!({})).await;
    let error = error_at(&out, &["getInvoice"]);
    assert_eq!(
        error["extensions"]["code"], "UPSTREAM_CREDENTIALS",
        "{out:#}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("security token included in the request is invalid"),
        "{error:#}"
    );
}
