//! Criterion benches of the plan executor's hot paths (placeholder, filled in below).
fn main() {}
