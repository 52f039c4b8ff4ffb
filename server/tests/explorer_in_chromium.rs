//! The explorer UI in a real headless Chromium: the page renders, loads the schema through
//! introspection, runs a query from the URL fragment and shows the result.
//!
//! Needs the Debian `chromium` package. Without it the test is skipped with a reason, except
//! under `CI=true`, where it fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use graft::config::Config;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Loads `url` in headless Chromium and returns the DOM after scripts ran.
async fn dump_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            // Lets fetches and timers finish before the DOM is dumped.
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium hung")
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        !dom.is_empty(),
        "chromium printed no DOM; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

fn fragment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn the_explorer_renders_runs_a_query_and_shows_the_result_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required under CI=true (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let graft = common::start(Config::default()).await;
    let query = "{ user(id: 2) { name posts { title } } }";
    let url = format!("{}#query={}&run=1", graft.graphql(), fragment(query));
    let dom = dump_dom(&browser, &url).await;
    // The page rendered (editor and Run button), the schema browser lists the graph's types,
    // and the result pane shows the upstream's data.
    assert!(dom.contains("id=\"run\""), "{dom}");
    assert!(
        dom.contains("data-schema=\"loaded\""),
        "schema not loaded:\n{dom}"
    );
    assert!(
        dom.contains("data-type=\"Post\""),
        "schema browser lacks Post:\n{dom}"
    );
    assert!(
        dom.contains("data-state=\"done\""),
        "query did not finish:\n{dom}"
    );
    assert!(
        dom.contains("Alan Turing") && dom.contains("Computing Machinery and Intelligence"),
        "{dom}"
    );
}

#[tokio::test]
async fn the_explorer_says_so_when_introspection_is_off() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required under CI=true (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let graft = common::start(Config::from_yaml("introspection: false\n").unwrap()).await;
    let dom = dump_dom(&browser, &graft.graphql()).await;
    assert!(dom.contains("Introspection is disabled"), "{dom}");
}
