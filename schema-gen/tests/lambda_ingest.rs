//! Lambda ingest on fixture functions (`tests/fixtures/lambda/*.json` schema documents):
//! generated SDL snapshots, the Query/Mutation rule, tags, round trips and bad schemas.

use schema_gen::Code;
use schema_gen::catalog::{Call, OperationKind};
use schema_gen::ingest::lambda::{
    FunctionSchema, LambdaFunction, LambdaOptions, TAG_FIELD, TAG_OPERATION, TAG_QUALIFIER, ingest,
};

fn schema(file: &str) -> FunctionSchema {
    let path = format!(
        "{}/tests/fixtures/lambda/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    FunctionSchema {
        location: file.to_string(),
        document: serde_json::from_str(&text).unwrap(),
    }
}

fn billing() -> Vec<LambdaFunction> {
    vec![
        LambdaFunction::new("send-invoice").with_schema(schema("send-invoice.json")),
        {
            let mut f = LambdaFunction::new("get-invoice")
                .with_schema(schema("get-invoice.json"))
                .with_tag(TAG_QUALIFIER, "live");
            f.description = Some("Reads one invoice.".into());
            f
        },
        LambdaFunction::new("echo-text")
            .with_schema(schema("echo-text.json"))
            .with_tag(TAG_OPERATION, "query"),
        LambdaFunction::new("recalculate_totals"),
        LambdaFunction::new("listCustomers").with_tag(TAG_FIELD, "customers"),
    ]
}

fn options() -> LambdaOptions {
    LambdaOptions::new("billing")
        .with_region("us-east-1")
        .with_endpoint("http://127.0.0.1:9001")
}

#[test]
fn the_billing_functions_generate_the_expected_sdl() {
    let ingested = ingest(&billing(), &options());
    let catalog = ingested.catalog.expect("a catalog");
    insta::assert_snapshot!(schema_gen::emit::sdl(&catalog));
    insta::assert_yaml_snapshot!(ingested.diagnostics);
}

#[test]
fn the_generated_sdl_parses_back_into_an_equal_catalog() {
    let catalog = ingest(&billing(), &options()).catalog.expect("a catalog");
    let sdl = schema_gen::emit::sdl(&catalog);
    let checked =
        schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new("billing.graphql", &sdl)]);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{sdl}");
    assert_eq!(
        schema_gen::emit::sdl(&checked.catalog.expect("parsed")),
        sdl
    );
}

#[test]
fn read_named_functions_are_queries_and_the_rest_mutations() {
    let catalog = ingest(&billing(), &options()).catalog.unwrap();
    let query = catalog.root(OperationKind::Query).unwrap();
    let mutation = catalog.root(OperationKind::Mutation).unwrap();
    let names = |o: &schema_gen::catalog::ObjectType| o.fields.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(query), ["echoText", "getInvoice", "customers"]);
    assert_eq!(names(mutation), ["recalculateTotals", "sendInvoice"]);
}

#[test]
fn a_function_without_a_schema_takes_one_json_input_sent_as_the_payload() {
    let catalog = ingest(
        &[LambdaFunction::new("do-things")],
        &LambdaOptions::new("fns"),
    )
    .catalog
    .unwrap();
    let field = &catalog.root(OperationKind::Mutation).unwrap().fields["doThings"];
    assert_eq!(field.ty.to_string(), "JSON");
    assert_eq!(field.args.keys().collect::<Vec<_>>(), ["input"]);
    assert_eq!(field.args["input"].ty.to_string(), "JSON");
    let Call::Lambda(call) = &field.resolver.as_ref().unwrap().call else {
        panic!("not lambda")
    };
    assert_eq!(call.payload.as_ref().unwrap().to_string(), "{{args.input}}");
    // A graph of only mutations still has a Query type, so it can be served.
    assert!(catalog.root(OperationKind::Query).is_some());
}

#[test]
fn an_object_input_schema_becomes_arguments_and_the_arguments_are_the_payload() {
    let catalog = ingest(&billing(), &options()).catalog.unwrap();
    let field = &catalog.root(OperationKind::Query).unwrap().fields["getInvoice"];
    assert_eq!(field.args["id"].ty.to_string(), "String!");
    // Non-GraphQL property names are renamed and mapped back to the wire name.
    assert_eq!(field.args["include_lines"].wire(), "include-lines");
    let Call::Lambda(call) = &field.resolver.as_ref().unwrap().call else {
        panic!("not lambda")
    };
    assert_eq!(call.payload, None);
    assert_eq!(call.qualifier.as_deref(), Some("live"));
}

#[test]
fn no_functions_is_an_error_that_says_how_to_expose_one() {
    let ingested = ingest(&[], &LambdaOptions::new("fns"));
    assert!(ingested.catalog.is_none());
    assert_eq!(ingested.diagnostics[0].code, Code::NothingUsable);
    assert!(
        ingested.diagnostics[0]
            .message
            .contains("graft.dev/expose=true")
    );
}

#[test]
fn broken_references_and_bad_tags_are_warnings_and_fall_back_to_json() {
    let functions = [
        LambdaFunction::new("get-broken").with_schema(schema("broken-ref.json")),
        LambdaFunction::new("get-odd")
            .with_tag(TAG_OPERATION, "sometimes")
            .with_tag(TAG_FIELD, "odd field"),
        LambdaFunction::new("get-scalar").with_schema(FunctionSchema {
            location: "inline".into(),
            document: serde_json::json!(["not", "an object"]),
        }),
    ];
    let ingested = ingest(&functions, &LambdaOptions::new("fns"));
    let catalog = ingested.catalog.expect("a catalog despite warnings");
    insta::assert_snapshot!(schema_gen::emit::sdl(&catalog));
    insta::assert_yaml_snapshot!(ingested.diagnostics);
    assert!(ingested.diagnostics.iter().all(|d| !d.is_error()));
}

#[test]
fn colliding_field_names_get_numbered() {
    let functions = [
        LambdaFunction::new("get-user"),
        LambdaFunction::new("get_user"),
    ];
    let ingested = ingest(&functions, &LambdaOptions::new("fns"));
    let catalog = ingested.catalog.unwrap();
    let names: Vec<_> = catalog
        .root(OperationKind::Query)
        .unwrap()
        .fields
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["getUser", "getUser2"]);
    assert!(
        ingested
            .diagnostics
            .iter()
            .any(|d| d.code == Code::NameCollision)
    );
}

#[test]
fn an_endpoint_that_is_not_a_template_is_an_error() {
    let ingested = ingest(
        &[LambdaFunction::new("f")],
        &LambdaOptions::new("fns").with_endpoint("{{nope"),
    );
    assert!(ingested.catalog.is_none());
    assert_eq!(ingested.diagnostics[0].code, Code::TemplateSyntax);
}
